package vindex

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCacheLRUByBytes(t *testing.T) {
	ctx := t.Context()
	c := newCache(100)
	loads := 0
	get := func(k string, size int64) {
		t.Helper()
		v, err := c.get(ctx, k, func(context.Context) (any, int64, error) {
			loads++
			return "v" + k, size, nil
		})
		if err != nil || v != "v"+k {
			t.Fatalf("get %s: %v %v", k, v, err)
		}
	}
	get("a", 40)
	get("b", 40)
	get("a", 40) // hit; a becomes most recent
	get("c", 40) // evicts b
	if loads != 3 {
		t.Fatalf("loads %d, want 3", loads)
	}
	get("a", 40)
	if loads != 3 {
		t.Fatalf("a was evicted instead of b")
	}
	get("b", 40)
	if loads != 4 {
		t.Fatalf("b was not evicted")
	}
	st := c.stats()
	if st.Bytes > 100 || st.Entries != 2 || st.Evictions != 2 {
		t.Fatalf("stats %+v", st)
	}
	// Larger than the budget: returned, not kept.
	get("huge", 1000)
	get("huge", 1000)
	if loads != 6 {
		t.Fatalf("oversized value was cached")
	}
	c.removePrefix("a")
	if c.stats().Entries != 1 {
		t.Fatalf("removePrefix left %d entries", c.stats().Entries)
	}
}

func TestCacheSingleFlight(t *testing.T) {
	ctx := t.Context()
	c := newCache(1 << 20)
	var loads atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			v, err := c.get(ctx, fmt.Sprint("k", i%2), func(context.Context) (any, int64, error) {
				loads.Add(1)
				<-release
				return 7, 8, nil
			})
			if err != nil || v != 7 {
				t.Errorf("get: %v %v", v, err)
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := loads.Load(); n != 2 {
		t.Fatalf("%d loads for 2 keys", n)
	}
}

func TestCacheErrorsAreNotCached(t *testing.T) {
	ctx := t.Context()
	c := newCache(1 << 20)
	boom := errors.New("boom")
	if _, err := c.get(ctx, "k", func(context.Context) (any, int64, error) { return nil, 0, boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	v, err := c.get(ctx, "k", func(context.Context) (any, int64, error) { return 1, 1, nil })
	if err != nil || v != 1 {
		t.Fatalf("after a failed load: %v %v", v, err)
	}
}

func TestCacheCanceledLoaderDoesNotFailWaiters(t *testing.T) {
	c := newCache(1 << 20)
	started := make(chan struct{})
	ctx1, cancel := context.WithCancel(t.Context())
	go func() {
		_, _ = c.get(ctx1, "k", func(ctx context.Context) (any, int64, error) {
			close(started)
			<-ctx.Done()
			return nil, 0, ctx.Err()
		})
	}()
	<-started
	done := make(chan error)
	go func() {
		v, err := c.get(t.Context(), "k", func(context.Context) (any, int64, error) { return 2, 1, nil })
		if err == nil && v != 2 {
			err = fmt.Errorf("value %v", v)
		}
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("waiter failed with the loader's cancellation: %v", err)
	}
}

func TestCacheConcurrentMixed(t *testing.T) {
	ctx := t.Context()
	c := newCache(1000)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := fmt.Sprint((i*7 + w) % 50)
				v, err := c.get(ctx, k, func(context.Context) (any, int64, error) { return k, 64, nil })
				if err != nil || v != k {
					t.Errorf("get %s: %v %v", k, v, err)
					return
				}
				if i%100 == 0 {
					c.removePrefix("1")
				}
			}
		})
	}
	wg.Wait()
	if st := c.stats(); st.Bytes > 1000 || st.Bytes != int64(st.Entries)*64 {
		t.Fatalf("accounting off: %+v", st)
	}
}
