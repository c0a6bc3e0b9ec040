package query

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/table"
)

type sized int64

func (s sized) sizeBytes() int64 { return int64(s) }

func TestCacheLRUByBytes(t *testing.T) {
	c := NewCache(100)
	ctx := context.Background()
	loads := 0
	get := func(name string, size int64) {
		t.Helper()
		_, err := c.get(ctx, cacheKey{table: "t", file: name}, func(context.Context) (cacheValue, error) {
			loads++
			return sized(size), nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	get("a", 40)
	get("b", 40)
	get("a", 40) // hit; a becomes most recent
	if loads != 2 {
		t.Fatalf("%d loads, want 2", loads)
	}
	get("c", 40) // evicts b, the least recently used
	if st := c.Stats(); st.Bytes != 80 || st.Entries != 2 || st.Evictions != 1 {
		t.Fatalf("stats %+v, want 80 bytes in 2 entries after 1 eviction", st)
	}
	get("a", 40)
	if loads != 3 {
		t.Fatalf("a was evicted instead of b (%d loads)", loads)
	}
	get("b", 40)
	if loads != 4 {
		t.Fatalf("b was not evicted (%d loads)", loads)
	}
	get("huge", 1000) // larger than the budget: returned, not stored
	if st := c.Stats(); st.Bytes > 100 {
		t.Fatalf("cache holds %d bytes, over its 100-byte budget", st.Bytes)
	}
	get("huge", 1000)
	if loads != 6 {
		t.Fatalf("oversized value was cached (%d loads)", loads)
	}
	// Different tables never share entries.
	_, _ = c.get(ctx, cacheKey{table: "other", file: "a"}, func(context.Context) (cacheValue, error) { loads++; return sized(1), nil })
	if loads != 7 {
		t.Fatal("entry of another table was returned")
	}
}

func TestCacheSharesConcurrentLoads(t *testing.T) {
	c := NewCache(1 << 20)
	ctx := context.Background()
	var mu sync.Mutex
	loads := 0
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.get(ctx, cacheKey{table: "t", file: "f"}, func(context.Context) (cacheValue, error) {
				mu.Lock()
				loads++
				mu.Unlock()
				<-release
				return sized(10), nil
			})
			if err != nil || v.(sized) != 10 {
				t.Errorf("get: %v, %v", v, err)
			}
		}()
	}
	close(release)
	wg.Wait()
	if loads != 1 {
		t.Fatalf("%d loads for one key, want 1", loads)
	}
}

func TestCacheLoadErrorsAreNotCached(t *testing.T) {
	c := NewCache(1 << 20)
	ctx := context.Background()
	boom := errors.New("boom")
	_, err := c.get(ctx, cacheKey{table: "t", file: "f"}, func(context.Context) (cacheValue, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	v, err := c.get(ctx, cacheKey{table: "t", file: "f"}, func(context.Context) (cacheValue, error) { return sized(3), nil })
	if err != nil || v.(sized) != 3 {
		t.Fatalf("retry after error: %v, %v", v, err)
	}
}

func TestNilCacheLoadsEveryTime(t *testing.T) {
	var c *Cache
	loads := 0
	for range 2 {
		_, _ = c.get(context.Background(), cacheKey{table: "t"}, func(context.Context) (cacheValue, error) { loads++; return sized(1), nil })
	}
	if loads != 2 || c.Stats() != (CacheStats{}) || NewCache(0) != nil {
		t.Fatal("nil cache stored something")
	}
}

// TestCacheAcrossVersions checks that cached vectors stay correct as the
// table changes: new fragments, deletions after caching, and reading an
// older version (fewer deletions) after a newer one.
func TestCacheAcrossVersions(t *testing.T) {
	f := newFixture(t, 3, lanceRows(), 4)
	cache := NewCache(1 << 20)
	opts := Options{Cache: cache, TableURI: "mem://acct/db/t.lance"}
	q := `{"vector":[1,1,1],"k":20,"columns":["id"]}`
	_, rows := f.mustRun(q, opts)
	want := []int64{1, 10, 0, 2, 8, 3, 4, 5, 6, 7}
	if got := ints(rows, "id"); !slices.Equal(got, want) {
		t.Fatalf("v1: %v, want %v", got, want)
	}
	st := cache.Stats()
	if st.Misses == 0 || st.Entries == 0 {
		t.Fatalf("nothing cached: %+v", st)
	}
	f.mustRun(q, opts)
	if st2 := cache.Stats(); st2.Misses != st.Misses || st2.Hits <= st.Hits {
		t.Fatalf("second query missed the cache: before %+v after %+v", st, st2)
	}
	v1 := f.snap

	f.delete("id = 1 OR id = 5")
	_, rows = f.mustRun(q, opts)
	want = []int64{10, 0, 2, 8, 3, 4, 6, 7}
	if got := ints(rows, "id"); !slices.Equal(got, want) {
		t.Fatalf("after delete: %v, want %v", got, want)
	}
	f.appendRows([]row{{id: 11, text: "new", vec: []float32{1, 1, 1.5}}})
	_, rows = f.mustRun(q, opts)
	want = []int64{10, 11, 0, 2, 8, 3, 4, 6, 7}
	if got := ints(rows, "id"); !slices.Equal(got, want) {
		t.Fatalf("after append: %v, want %v", got, want)
	}
	vLatest := f.snap

	// A fresh cache first loads the fragments with deletions (partial
	// blocks); then the older version, whose rows those blocks lack.
	cache2 := NewCache(1 << 20)
	opts2 := Options{Cache: cache2, TableURI: "mem://acct/db/t.lance"}
	f.mustRun(q, opts2)
	f.snap = v1
	_, rows = f.mustRun(q, opts2)
	want = []int64{1, 10, 0, 2, 8, 3, 4, 5, 6, 7}
	if got := ints(rows, "id"); !slices.Equal(got, want) {
		t.Fatalf("old version after new: %v, want %v", got, want)
	}
	f.snap = vLatest
	_, rows = f.mustRun(q, opts2)
	want = []int64{10, 11, 0, 2, 8, 3, 4, 6, 7}
	if got := ints(rows, "id"); !slices.Equal(got, want) {
		t.Fatalf("new version again: %v, want %v", got, want)
	}
}

// TestCacheKeyedByTable runs one query on two tables whose data files have
// the same names (deterministic entropy, as a copied table would) but
// different vectors, with one shared cache: entries of one table must never
// answer for the other.
func TestCacheKeyedByTable(t *testing.T) {
	sameNames := func() table.Options {
		return table.Options{MaxRowsPerFile: 100, Lance: lance.Options{Entropy: rand.NewChaCha8([32]byte{7})}}
	}
	a := newFixtureWith(t, 3, lanceRows(), sameNames())
	other := lanceRows()
	for i := range other {
		if other[i].vec != nil {
			other[i].vec = []float32{-other[i].vec[0], 5, 5}
		}
	}
	b := newFixtureWith(t, 3, other, sameNames())
	pa := a.snap.Lance().Fragments()[0].GetFiles()[0].GetPath()
	pb := b.snap.Lance().Fragments()[0].GetFiles()[0].GetPath()
	if pa != pb {
		t.Fatalf("data files %q and %q differ; the test needs equal names", pa, pb)
	}
	q := `{"vector":[1,1,1],"k":3,"columns":["id"]}`
	_, want := b.mustRun(q, Options{})
	cache := NewCache(1 << 20)
	a.mustRun(q, Options{Cache: cache, TableURI: "mem://tenant-a/db/t.lance"})
	_, got := b.mustRun(q, Options{Cache: cache, TableURI: "mem://tenant-b/db/t.lance"})
	if !slices.Equal(floats(got, "_distance"), floats(want, "_distance")) {
		t.Fatalf("table b with a shared cache: %v, alone: %v", floats(got, "_distance"), floats(want, "_distance"))
	}
	// The same identity for both would serve a's vectors for b: that is why
	// TableURI must name the storage location.
	_, wrong := b.mustRun(q, Options{Cache: cache, TableURI: "mem://tenant-a/db/t.lance"})
	if slices.Equal(floats(wrong, "_distance"), floats(want, "_distance")) {
		t.Fatal("a shared identity did not mix the tables up; the test data should make it visible")
	}
}

// TestConcurrentQueriesShareCache runs many queries at once on one cache
// (under -race in CI) and checks each against the uncached answer.
func TestConcurrentQueriesShareCache(t *testing.T) {
	f := randomFixture(t, 9, 2000, 8)
	bodies := []string{
		`{"vector":[1,2,3,4,5,6,7,8],"k":7,"columns":["id"]}`,
		`{"vector":[1,0,1,0,1,0,1,0],"k":5,"distance_type":"cosine","filter":"id % 4 = 1","columns":["id"]}`,
		`{"vector":[2,2,2,2,0,0,0,0],"k":9,"distance_type":"dot","filter":"id > 500","prefilter":false,"columns":["id"]}`,
		`{"vector":[],"k":20,"filter":"id % 97 = 3","columns":["id"]}`,
	}
	want := make([][]int64, len(bodies))
	for i, b := range bodies {
		_, rows := f.mustRun(b, Options{})
		want[i] = ints(rows, "id")
	}
	cache := NewCache(1 << 20)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 6 {
				k := (g + i) % len(bodies)
				req, err := ParseRequest([]byte(bodies[k]))
				if err != nil {
					t.Error(err)
					return
				}
				res, err := Execute(context.Background(), f.snap, req, Options{Cache: cache, TableURI: "mem://c/t.lance", Allocator: f.mem, Parallelism: 2})
				if err != nil {
					t.Error(err)
					return
				}
				_, rows := resultRows(t, res)
				res.Release()
				if got := ints(rows, "id"); !slices.Equal(got, want[k]) {
					t.Errorf("query %d: %v, want %v", k, got, want[k])
				}
			}
		}()
	}
	wg.Wait()
	if st := cache.Stats(); st.Hits == 0 {
		t.Fatalf("no cache hits: %+v", st)
	}
}
