package blockcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
)

const dataKey = "db/t.lance/data/0110100011000001011001012bd5d6d5c3c74cd1b2b0d2a0e7.lance"

func TestNewValidates(t *testing.T) {
	mem := newMemTier(t, 1<<20)
	inner := memory.New()
	for _, tc := range []struct {
		name string
		cfg  Config
		deps Deps
	}{
		{"no namespace", Config{}, Deps{Memory: mem}},
		{"no memory tier", Config{Namespace: "mem://x"}, Deps{}},
		{"negative block size", Config{Namespace: "mem://x", BlockSize: -1}, Deps{Memory: mem}},
		{"huge block size", Config{Namespace: "mem://x", BlockSize: 1 << 30}, Deps{Memory: mem}},
	} {
		if _, err := New(inner, tc.cfg, tc.deps); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
	if _, err := New(nil, Config{Namespace: "mem://x"}, Deps{Memory: mem}); err == nil {
		t.Error("New without an inner bucket succeeded")
	}
	if _, err := NewMemoryTier(-1, nil); err == nil {
		t.Error("NewMemoryTier(-1) succeeded")
	}
	if _, err := OpenDiskTier(t.Context(), DiskConfig{Dir: t.TempDir()}, nil, nil); err == nil {
		t.Error("OpenDiskTier without a budget succeeded")
	}
}

func TestSecondReadMakesNoInnerRequests(t *testing.T) {
	inner := newCounting()
	data := content(1, 10_000)
	mustPut(t, inner, dataKey, data)
	c := newCache(t, inner, Config{BlockSize: 1000}, Deps{Memory: newMemTier(t, 1<<20)})

	wantRange(t, c, dataKey, 1500, 2000, data[1500:3500])
	if inner.stats.Load() != 1 || inner.ranges.Load() != 1 {
		t.Fatalf("first read: %d stats and %d ranged reads, want 1 and 1 (blocks 1-3 in one read)", inner.stats.Load(), inner.ranges.Load())
	}
	if got := inner.readBytes.Load(); got != 3000 {
		t.Fatalf("first read fetched %d bytes, want the 3 blocks it touches (3000)", got)
	}
	inner.reset()
	wantRange(t, c, dataKey, 1500, 2000, data[1500:3500])
	wantRange(t, c, dataKey, 1000, 3000, data[1000:4000])
	if _, err := c.Stat(t.Context(), dataKey); err != nil {
		t.Fatal(err)
	}
	if n := inner.requests(); n != 0 {
		t.Fatalf("reads of cached blocks made %d inner requests, want 0", n)
	}
	st := c.Stats()
	if st.Inner.Reads != 1 || st.Inner.Stats != 1 || st.Inner.ReadBytes != 3000 || st.Memory.Hits < 6 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMissingRunsReadOnce(t *testing.T) {
	inner := newCounting()
	data := content(2, 10_050) // the last block is short
	mustPut(t, inner, dataKey, data)
	c := newCache(t, inner, Config{BlockSize: 1000}, Deps{Memory: newMemTier(t, 1<<20)})

	wantRange(t, c, dataKey, 2000, 1000, data[2000:3000]) // block 2
	wantRange(t, c, dataKey, 5500, 10, data[5500:5510])   // block 5
	inner.reset()
	// Blocks 0-1, 3-4 and 6-10 are missing: three runs, three reads.
	wantRange(t, c, dataKey, 0, -1, data)
	if got := inner.ranges.Load(); got != 3 {
		t.Fatalf("whole read with 2 cached blocks: %d inner reads, want 3 (one per missing run)", got)
	}
	if got, want := inner.readBytes.Load(), int64(len(data)-2000); got != want {
		t.Fatalf("inner read %d bytes, want %d", got, want)
	}
	// Truncation past the end, and ranges entirely past it.
	wantRange(t, c, dataKey, 10_000, 500, data[10_000:])
	wantRange(t, c, dataKey, 10_050, 10, nil)
	wantRange(t, c, dataKey, 99_999, -1, nil)
	wantRange(t, c, dataKey, 3, 0, nil)
	if got := inner.ranges.Load(); got != 3 {
		t.Fatalf("reads of cached and empty ranges went to the inner bucket (%d reads)", got)
	}
}

func TestMemoryBudgetEvictsLeastRecentlyUsed(t *testing.T) {
	inner := newCounting()
	const bs = 1000
	data := content(3, 10*bs)
	mustPut(t, inner, dataKey, data)
	a, err := inner.Stat(t.Context(), dataKey)
	if err != nil {
		t.Fatal(err)
	}
	probe := &Bucket{ns: "mem://test", bs: bs}
	blockCost := probe.blockKey(a, 0).memSize() + bs
	attrsCost := attrsKey("mem://test", dataKey).memSize() + int64(len(a.ETag))
	mem := newMemTier(t, attrsCost+3*blockCost) // the attributes and three blocks
	c := newCache(t, inner, Config{BlockSize: bs}, Deps{Memory: mem})

	read := func(block int64) {
		t.Helper()
		wantRange(t, c, dataKey, block*bs, bs, data[block*bs:(block+1)*bs])
	}
	read(0)
	read(1)
	read(2)
	read(0) // block 1 is now the least recently used
	read(3) // evicts it
	if st := mem.Stats(); st.Evictions != 1 || st.Entries != 4 || st.Bytes > st.Budget {
		t.Fatalf("memory tier %+v, want 1 eviction, 4 entries within budget", st)
	}
	inner.reset()
	read(0)
	read(2)
	read(3)
	if n := inner.requests(); n != 0 {
		t.Fatalf("blocks 0, 2, 3 should have stayed: %d inner requests", n)
	}
	read(1)
	if got := inner.ranges.Load(); got != 1 {
		t.Fatalf("evicted block 1: %d inner reads, want 1", got)
	}
}

func TestNamespacesNeverShare(t *testing.T) {
	mem := newMemTier(t, 1<<20)
	disk := openDisk(t, DiskConfig{Dir: t.TempDir(), Budget: 1 << 20})
	// Two stores with the same key, and (memory buckets number ETags
	// alike) the same ETag and size: only the namespace differs.
	innerA, innerB := memory.New(), memory.New()
	dataA, dataB := content(4, 3000), content(5, 3000)
	mustPut(t, innerA, dataKey, dataA)
	mustPut(t, innerB, dataKey, dataB)
	ea, _ := innerA.Stat(t.Context(), dataKey)
	eb, _ := innerB.Stat(t.Context(), dataKey)
	if ea.ETag != eb.ETag {
		t.Fatalf("test premise: ETags %q and %q differ", ea.ETag, eb.ETag)
	}
	a := newCache(t, innerA, Config{Namespace: "az://acct1/ctr", BlockSize: 1000}, Deps{Memory: mem, Disk: disk})
	b := newCache(t, innerB, Config{Namespace: "az://acct2/ctr", BlockSize: 1000}, Deps{Memory: mem, Disk: disk})
	for range 2 {
		wantRange(t, a, dataKey, 0, -1, dataA)
		wantRange(t, b, dataKey, 0, -1, dataB)
	}
	// Namespaces that would collide if joined naively stay apart too.
	c1 := newCache(t, innerA, Config{Namespace: "az://x", BlockSize: 1000}, Deps{Memory: mem, Disk: disk})
	c2 := newCache(t, innerB, Config{Namespace: "az://x/", BlockSize: 1000}, Deps{Memory: mem, Disk: disk})
	wantRange(t, c1, dataKey, 0, -1, dataA)
	wantRange(t, c2, dataKey, 0, -1, dataB)
}

func TestBlockSizesSharingTiersNeverMix(t *testing.T) {
	mem := newMemTier(t, 1<<20)
	inner := memory.New()
	data := content(6, 5000)
	mustPut(t, inner, dataKey, data)
	small := newCache(t, inner, Config{BlockSize: 100}, Deps{Memory: mem})
	large := newCache(t, inner, Config{BlockSize: 1000}, Deps{Memory: mem})
	wantRange(t, small, dataKey, 300, 100, data[300:400]) // small block 3
	wantRange(t, large, dataKey, 3000, 100, data[3000:3100])
	wantRange(t, small, dataKey, 0, -1, data)
	wantRange(t, large, dataKey, 0, -1, data)
}

func TestUncacheableKeyIsAlwaysReadFresh(t *testing.T) {
	inner := newCounting()
	c := newCache(t, inner, Config{BlockSize: 4}, Deps{Memory: newMemTier(t, 1<<20)})
	for _, key := range []string{"db/t.lance/_versions/_latest.manifest", "db/t.lance/_refs/tags/prod.json"} {
		for i := range 3 {
			v := fmt.Appendf(nil, "version %d of %s", i, key)
			mustPut(t, inner, key, v) // behind the cache's back
			wantRange(t, c, key, 0, -1, v)
			wantRange(t, c, key, 8, 3, v[8:11])
			a, err := c.Stat(t.Context(), key)
			if err != nil || a.Size != int64(len(v)) {
				t.Fatalf("Stat(%q) = %+v, %v after version %d", key, a, err, i)
			}
		}
		if err := inner.Delete(t.Context(), key); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Stat(t.Context(), key); !errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("Stat(%q) after a delete behind the cache: %v", key, err)
		}
	}
	if st := c.Stats(); st.Memory.Entries != 0 || st.Inner.Passthrough == 0 {
		t.Fatalf("uncacheable keys left cache entries or bypassed nothing: %+v", st)
	}
}

func TestMissingObjectIsNotCached(t *testing.T) {
	inner := newCounting()
	c := newCache(t, inner, Config{}, Deps{Memory: newMemTier(t, 1<<20)})
	for range 2 {
		if _, err := c.GetRange(t.Context(), dataKey, 0, 10); !errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("GetRange(missing): %v", err)
		}
	}
	if got := inner.stats.Load(); got != 2 {
		t.Fatalf("%d Stats for two reads of a missing object, want 2 (no negative caching)", got)
	}
	data := content(7, 100)
	mustPut(t, inner, dataKey, data) // appears behind the cache's back
	wantRange(t, c, dataKey, 0, -1, data)
}

func TestWriteThroughForgetsAttributes(t *testing.T) {
	inner := newCounting()
	disk := openDisk(t, DiskConfig{Dir: t.TempDir(), Budget: 1 << 20})
	c := newCache(t, inner, Config{BlockSize: 10}, Deps{Memory: newMemTier(t, 1<<20), Disk: disk})
	v1, v2 := content(8, 95), content(9, 64)
	mustPut(t, c, dataKey, v1)
	wantRange(t, c, dataKey, 0, -1, v1)
	mustPut(t, c, dataKey, v2)
	wantRange(t, c, dataKey, 0, -1, v2)
	if err := c.Delete(t.Context(), dataKey); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(t.Context(), dataKey); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Stat after Delete through the cache: %v", err)
	}
	if err := c.PutIfAbsent(t.Context(), dataKey, bytes.NewReader(v1)); err != nil {
		t.Fatal(err)
	}
	wantRange(t, c, dataKey, 0, -1, v1)
}

// TestWritesThroughDecoratorsNeverLeaveStaleData overwrites a cacheable key
// through one decorator while readers read it through another sharing the
// tiers and namespace: every read is one version whole, and once the writes
// stop, both decorators serve the last one.
func TestWritesThroughDecoratorsNeverLeaveStaleData(t *testing.T) {
	inner := memory.New()
	mem := newMemTier(t, 1<<20)
	disk := openDisk(t, DiskConfig{Dir: t.TempDir(), Budget: 1 << 20})
	cfg := Config{BlockSize: 64, Cacheable: func(string) bool { return true }}
	writer := newCache(t, inner, cfg, Deps{Memory: mem, Disk: disk})
	reader := newCache(t, inner, cfg, Deps{Memory: mem, Disk: disk})
	versions := make([][]byte, 40)
	for i := range versions {
		versions[i] = content(byte(100+i), 300+i*7)
	}
	mustPut(t, writer, dataKey, versions[0])
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for _, v := range versions[1:] {
			if err := writer.Put(t.Context(), dataKey, bytes.NewReader(v)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := objstore.ReadAll(t.Context(), reader, dataKey)
				if err != nil {
					t.Error(err)
					return
				}
				match := false
				for _, v := range versions {
					match = match || bytes.Equal(got, v)
				}
				if !match {
					t.Errorf("read %d bytes matching no version", len(got))
					return
				}
			}
		})
	}
	wg.Wait()
	last := versions[len(versions)-1]
	for _, c := range []*Bucket{reader, writer} {
		wantRange(t, c, dataKey, 0, -1, last)
		if a, err := c.Stat(t.Context(), dataKey); err != nil || a.Size != int64(len(last)) {
			t.Fatalf("Stat after the writes: %+v, %v", a, err)
		}
	}
}

// TestConcurrentReadersShareOneLoad holds the first load of a block in the
// inner bucket until every other reader is waiting for it.
func TestConcurrentReadersShareOneLoad(t *testing.T) {
	inner := newCounting()
	data := content(10, 5000)
	mustPut(t, inner, dataKey, data)
	mem := newMemTier(t, 1<<20)
	c := newCache(t, inner, Config{BlockSize: 1000}, Deps{Memory: mem})
	if _, err := c.Stat(t.Context(), dataKey); err != nil { // attributes are not single-flighted
		t.Fatal(err)
	}
	const readers = 8
	waiting := make(chan struct{}, readers)
	mem.onWait = func() { waiting <- struct{}{} }
	inner.gate, inner.entered = make(chan struct{}), make(chan struct{}, readers)

	var wg sync.WaitGroup
	results := make([][]byte, readers)
	read := func(i int) {
		rc, err := c.GetRange(t.Context(), dataKey, 1200, 500)
		if err != nil {
			t.Errorf("reader %d: %v", i, err)
			return
		}
		defer rc.Close()
		results[i], err = io.ReadAll(rc)
		if err != nil {
			t.Errorf("reader %d: %v", i, err)
		}
	}
	wg.Go(func() { read(0) })
	<-inner.entered // reader 0 owns the load and is inside the inner bucket
	for i := 1; i < readers; i++ {
		wg.Go(func() { read(i) })
	}
	for range readers - 1 {
		<-waiting
	}
	close(inner.gate)
	wg.Wait()
	for i, r := range results {
		if !bytes.Equal(r, data[1200:1700]) {
			t.Fatalf("reader %d got wrong bytes", i)
		}
	}
	if got := inner.ranges.Load(); got != 1 {
		t.Fatalf("%d concurrent readers of one block made %d inner reads, want 1", readers, got)
	}
}

// TestConcurrentColdReadersShareOneStat starts readers of an object the
// cache has never seen: whatever the interleaving, each either joins the
// first one's loads or finds their results, so there is one Stat and one
// read.
func TestConcurrentColdReadersShareOneStat(t *testing.T) {
	inner := newCounting()
	data := content(16, 5000)
	mustPut(t, inner, dataKey, data)
	c := newCache(t, inner, Config{BlockSize: 1000}, Deps{Memory: newMemTier(t, 1<<20)})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			rc, err := c.GetRange(t.Context(), dataKey, 100, 3000)
			if err != nil {
				t.Error(err)
				return
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data[100:3100]) {
				t.Errorf("wrong read: %d bytes, %v", len(got), err)
			}
		})
	}
	wg.Wait()
	if inner.stats.Load() != 1 || inner.ranges.Load() != 1 {
		t.Fatalf("8 cold readers: %d Stats, %d reads; want 1 and 1", inner.stats.Load(), inner.ranges.Load())
	}
}

// TestConcurrentRangesStayCorrect reads random overlapping ranges from many
// goroutines through a cache too small to hold the object, under -race.
func TestConcurrentRangesStayCorrect(t *testing.T) {
	inner := memory.New()
	data := content(11, 200_000)
	mustPut(t, inner, dataKey, data)
	disk := openDisk(t, DiskConfig{Dir: t.TempDir(), Budget: 64 << 10})
	c := newCache(t, inner, Config{BlockSize: 4096}, Deps{Memory: newMemTier(t, 48<<10), Disk: disk})
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 50 {
				off := rng.Int64N(int64(len(data)) + 100)
				n := rng.Int64N(20_000)
				rc, err := c.GetRange(t.Context(), dataKey, off, n)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Error(err)
					return
				}
				start := min(off, int64(len(data)))
				end := min(start+n, int64(len(data)))
				if !bytes.Equal(got, data[start:end]) {
					t.Errorf("GetRange(%d, %d): wrong bytes", off, n)
					return
				}
			}
		})
	}
	wg.Wait()
	st := c.Stats()
	if st.Memory.Bytes > st.Memory.Budget || st.Disk.Bytes > st.Disk.Budget {
		t.Fatalf("budgets exceeded: %+v", st)
	}
}

func TestContextCancellation(t *testing.T) {
	inner := newCounting()
	data := content(12, 3000)
	mustPut(t, inner, dataKey, data)
	mem := newMemTier(t, 1<<20)
	c := newCache(t, inner, Config{BlockSize: 1000}, Deps{Memory: mem})
	wantRange(t, c, dataKey, 0, 1000, data[:1000])

	// A canceled context fails even reads the cache could answer.
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.GetRange(canceled, dataKey, 0, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetRange of a cached block with a canceled context: %v", err)
	}
	if _, err := c.Stat(canceled, dataKey); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stat of a cached object with a canceled context: %v", err)
	}

	// The loader is canceled while another reader waits for its load: the
	// waiter loads again under its own context instead of failing.
	waiting := make(chan struct{}, 4)
	mem.onWait = func() { waiting <- struct{}{} }
	inner.gate, inner.entered = make(chan struct{}), make(chan struct{}, 4)
	loaderCtx, cancelLoader := context.WithCancel(t.Context())
	loaderErr := make(chan error, 1)
	go func() {
		_, err := c.GetRange(loaderCtx, dataKey, 1000, 10)
		loaderErr <- err
	}()
	<-inner.entered
	waiterDone := make(chan []byte, 1)
	go func() {
		rc, err := c.GetRange(t.Context(), dataKey, 1000, 10)
		if err != nil {
			t.Errorf("waiter: %v", err)
			waiterDone <- nil
			return
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		waiterDone <- got
	}()
	<-waiting
	cancelLoader()
	if err := <-loaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled loader: %v", err)
	}
	<-inner.entered // the waiter's own load
	close(inner.gate)
	if got := <-waiterDone; !bytes.Equal(got, data[1000:1010]) {
		t.Fatalf("waiter got %q", got)
	}

	// A waiter whose own context ends stops waiting.
	inner.gate = make(chan struct{})
	go func() {
		rc, err := c.GetRange(t.Context(), dataKey, 2000, 10)
		if err == nil {
			rc.Close()
		}
		loaderErr <- err
	}()
	<-inner.entered
	waiterCtx, cancelWaiter := context.WithCancel(t.Context())
	waitErr := make(chan error, 1)
	go func() {
		_, err := c.GetRange(waiterCtx, dataKey, 2000, 10)
		waitErr <- err
	}()
	<-waiting
	cancelWaiter()
	if err := <-waitErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled waiter: %v", err)
	}
	close(inner.gate)
	if err := <-loaderErr; err != nil {
		t.Fatalf("loader: %v", err)
	}
}

func TestReadAfterCloseFails(t *testing.T) {
	inner := memory.New()
	mustPut(t, inner, dataKey, content(13, 100))
	c := newCache(t, inner, Config{}, Deps{Memory: newMemTier(t, 1<<20)})
	rc, err := c.GetRange(t.Context(), dataKey, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if _, err := rc.Read(make([]byte, 10)); err == nil {
		t.Fatal("Read after Close succeeded")
	}
}

// TestLargeGetStreamsInWindows reads an object larger than one read window
// and checks that the inner reads stay bounded by the window.
func TestLargeGetStreamsInWindows(t *testing.T) {
	inner := newCounting()
	const bs, window = 1000, 4
	data := content(14, 2*window*bs+123)
	mustPut(t, inner, dataKey, data)
	c := newCache(t, inner, Config{BlockSize: bs}, Deps{Memory: newMemTier(t, 1<<20)})
	c.window = window
	if d := newCache(t, inner, Config{}, Deps{Memory: newMemTier(t, 0)}); d.window*d.bs != readWindow {
		t.Fatalf("default window %d blocks of %d bytes, want %d bytes", d.window, d.bs, readWindow)
	}
	rc, err := c.Get(t.Context(), dataKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := inner.readBytes.Load(); got != window*bs {
		t.Fatalf("Get fetched %d bytes before the first Read, want one window (%d)", got, window*bs)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get: %d bytes, %v", len(got), err)
	}
	if n := inner.ranges.Load(); n != 3 {
		t.Fatalf("%d inner reads, want 3 windows", n)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	mem, err := NewMemoryTier(1<<20, reg)
	if err != nil {
		t.Fatal(err)
	}
	disk, err := OpenDiskTier(t.Context(), DiskConfig{Dir: t.TempDir(), Budget: 1 << 20}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMemoryTier(1<<20, reg); err == nil {
		t.Fatal("a second memory tier on one registry registered its metrics")
	}
	inner := memory.New()
	data := content(15, 2500)
	mustPut(t, inner, dataKey, data)
	c := newCache(t, inner, Config{BlockSize: 1000}, Deps{Memory: mem, Disk: disk})
	wantRange(t, c, dataKey, 0, -1, data)
	wantRange(t, c, dataKey, 0, -1, data)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			got[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"sarissa_blockcache_hits_total{tier=memory}":          3,
		"sarissa_blockcache_misses_total{tier=memory}":        3,
		"sarissa_blockcache_misses_total{tier=disk}":          3,
		"sarissa_blockcache_hits_total{tier=disk}":            0,
		"sarissa_blockcache_entries{tier=disk}":               4,
		"sarissa_blockcache_inner_read_requests_total":        1,
		"sarissa_blockcache_inner_read_bytes_total":           2500,
		"sarissa_blockcache_inner_stat_requests_total":        1,
		"sarissa_blockcache_evictions_total{tier=disk}":       0,
		"sarissa_blockcache_budget_bytes{tier=memory}":        1 << 20,
		"sarissa_blockcache_corrupt_entries_total{tier=disk}": 0,
	}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", name, g, ok, v)
		}
	}
	if got["sarissa_blockcache_bytes{tier=memory}"] <= 2500 {
		t.Errorf("memory bytes gauge %v, want the blocks' size and more", got["sarissa_blockcache_bytes{tier=memory}"])
	}
	if t.Failed() {
		var names []string
		for n := range got {
			names = append(names, n)
		}
		t.Logf("gathered: %s", strings.Join(names, " "))
	}
}
