package blockcache

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
)

// fakeClock hands out minutes, so every disk hit is past TouchEvery.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time {
	c.t = c.t.Add(time.Minute)
	return c.t
}

// entryPath is where d stores the entry for k.
func entryPath(d *DiskTier, k cacheKey) string {
	return d.path(entryID(sha256.Sum256(k.appendBinary(nil))))
}

func TestDiskTierSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	inner := newCounting()
	data := content(20, 5500)
	mustPut(t, inner, dataKey, data)
	cfg := Config{Namespace: "az://acct/ctr", BlockSize: 1000}
	before := newCache(t, inner, cfg, Deps{Memory: newMemTier(t, 1<<20), Disk: openDisk(t, DiskConfig{Dir: dir, Budget: 1 << 20})})
	wantRange(t, before, dataKey, 0, -1, data)
	wantAttrs, err := before.Stat(t.Context(), dataKey)
	if err != nil {
		t.Fatal(err)
	}

	// A new process: fresh memory tier, disk tier reopened over the same
	// directory, and a decorator that has never seen the object.
	inner.reset()
	disk := openDisk(t, DiskConfig{Dir: dir, Budget: 1 << 20})
	if st := disk.Stats(); st.Entries != 7 || st.Corrupt != 0 { // 6 blocks + attributes
		t.Fatalf("reopened disk tier: %+v, want 7 entries", st)
	}
	after := newCache(t, inner, cfg, Deps{Memory: newMemTier(t, 1<<20), Disk: disk})
	wantRange(t, after, dataKey, 0, -1, data)
	wantRange(t, after, dataKey, 4321, 999, data[4321:5320])
	a, err := after.Stat(t.Context(), dataKey)
	if err != nil {
		t.Fatal(err)
	}
	if a.Key != wantAttrs.Key || a.Size != wantAttrs.Size || a.ETag != wantAttrs.ETag || !a.LastModified.Equal(wantAttrs.LastModified) {
		t.Fatalf("Stat after restart = %+v, want %+v", a, wantAttrs)
	}
	if n := inner.requests(); n != 0 {
		t.Fatalf("a warm disk tier after restart made %d inner requests (Stat %d), want 0", n, inner.stats.Load())
	}
	if st := disk.Stats(); st.Hits != 6 {
		t.Fatalf("disk hits %d, want 6 (each block once, then memory)", st.Hits)
	}
	// Another namespace over the same disk shares nothing.
	other := newCache(t, inner, Config{Namespace: "az://acct/other", BlockSize: 1000}, Deps{Memory: newMemTier(t, 1<<20), Disk: disk})
	wantRange(t, other, dataKey, 0, 10, data[:10])
	if inner.stats.Load() != 1 || inner.ranges.Load() != 1 {
		t.Fatalf("another namespace was served from the first one's entries")
	}
}

func TestDiskEntriesDamagedAreRefetched(t *testing.T) {
	dir := t.TempDir()
	inner := newCounting()
	data := content(21, 4000)
	mustPut(t, inner, dataKey, data)
	cfg := Config{BlockSize: 1000}
	disk := openDisk(t, DiskConfig{Dir: dir, Budget: 1 << 20})
	// No memory budget: every read goes to the disk tier.
	c := newCache(t, inner, cfg, Deps{Memory: newMemTier(t, 0), Disk: disk})
	wantRange(t, c, dataKey, 0, -1, data)
	a, _ := inner.Stat(t.Context(), dataKey)

	// Flip a payload byte of block 1: the header is intact, so only a read
	// can notice, and it must.
	p1 := entryPath(disk, c.blockKey(a, 1))
	raw, err := os.ReadFile(p1)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-10] ^= 0x40
	if err := os.WriteFile(p1, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	inner.reset()
	wantRange(t, c, dataKey, 1000, 1000, data[1000:2000])
	if inner.ranges.Load() != 1 || disk.Stats().Corrupt != 1 {
		t.Fatalf("corrupt block: %d inner reads, %d corrupt, want 1 and 1", inner.ranges.Load(), disk.Stats().Corrupt)
	}
	inner.reset()
	wantRange(t, c, dataKey, 1000, 1000, data[1000:2000])
	if inner.ranges.Load() != 0 {
		t.Fatal("the re-fetched block was not cached again")
	}

	// Damage more entries in other ways, plus leftovers, then restart.
	truncate := func(k cacheKey, n int64) {
		t.Helper()
		if err := os.Truncate(entryPath(disk, k), n); err != nil {
			t.Fatal(err)
		}
	}
	truncate(c.blockKey(a, 2), 500) // cut inside the payload
	truncate(c.blockKey(a, 3), 10)  // cut inside the header
	p0 := entryPath(disk, c.blockKey(a, 0))
	raw, _ = os.ReadFile(p0)
	raw[entryHeaderSize+2] ^= 1 // inside the key: header checksum fails
	os.WriteFile(p0, raw, 0o644)
	// A valid entry under another entry's name (a misplaced file).
	good, _ := os.ReadFile(p1)
	misplaced := entryPath(disk, c.blockKey(a, 7))
	os.MkdirAll(filepath.Dir(misplaced), 0o755)
	os.WriteFile(misplaced, good, 0o644)
	tmp := filepath.Join(dir, tmpDir, "entry-123.tmp")
	os.WriteFile(tmp, []byte("half an entry"), 0o644)
	foreign := filepath.Join(dir, "00", "README")
	os.WriteFile(foreign, []byte("not ours"), 0o644)

	disk2 := openDisk(t, DiskConfig{Dir: dir, Budget: 1 << 20})
	if st := disk2.Stats(); st.Entries != 2 || st.Corrupt != 4 { // attributes and block 1 survive
		t.Fatalf("reopened: %+v, want 2 entries and 4 discarded", st)
	}
	for _, p := range []string{tmp, misplaced} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived the restart: %v", p, err)
		}
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("a file that is not an entry was touched: %v", err)
	}
	inner.reset()
	c2 := newCache(t, inner, cfg, Deps{Memory: newMemTier(t, 0), Disk: disk2})
	wantRange(t, c2, dataKey, 0, -1, data)
	if inner.stats.Load() != 0 || inner.ranges.Load() != 2 { // blocks 0 and 2-3
		t.Fatalf("after restart: %d stats, %d reads; want 0 and 2", inner.stats.Load(), inner.ranges.Load())
	}
}

func TestDiskBudgetEvictsLeastRecentlyUsed(t *testing.T) {
	inner := newCounting()
	const bs = 1000
	data := content(22, 10*bs)
	mustPut(t, inner, dataKey, data)
	// Every entry here occupies one 4 KiB unit: the attributes and three
	// blocks fit.
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	dir := t.TempDir()
	dcfg := DiskConfig{Dir: dir, Budget: 4 * diskAllocUnit, Now: clock.now}
	disk := openDisk(t, dcfg)
	cfg := Config{BlockSize: bs}
	c := newCache(t, inner, cfg, Deps{Memory: newMemTier(t, 0), Disk: disk})
	read := func(c *Bucket, block int64) {
		t.Helper()
		wantRange(t, c, dataKey, block*bs, bs, data[block*bs:(block+1)*bs])
	}
	read(c, 0)
	read(c, 1)
	read(c, 2)
	read(c, 0) // block 1 is now the least recently used
	read(c, 3) // evicts it
	if st := disk.Stats(); st.Evictions != 1 || st.Entries != 4 || st.Bytes > st.Budget {
		t.Fatalf("disk tier %+v, want 1 eviction, 4 entries within budget", st)
	}
	inner.reset()
	read(c, 0)
	read(c, 2)
	read(c, 3) // least recently used first: block 0, 2, 3
	if n := inner.requests(); n != 0 {
		t.Fatalf("blocks 0, 2, 3 should have stayed: %d inner requests", n)
	}

	// The order survives a restart: reopened with room for the attributes
	// and two blocks, the least recently used block (0) goes.
	dcfg.Budget = 3 * diskAllocUnit
	disk2 := openDisk(t, dcfg)
	if st := disk2.Stats(); st.Entries != 3 || st.Evictions != 1 {
		t.Fatalf("reopened with a smaller budget: %+v", st)
	}
	inner.reset()
	c2 := newCache(t, inner, cfg, Deps{Memory: newMemTier(t, 0), Disk: disk2})
	read(c2, 2)
	read(c2, 3)
	if n := inner.requests(); n != 0 {
		t.Fatalf("recently used blocks were evicted on restart: %d inner requests", n)
	}
	read(c2, 0)
	if inner.ranges.Load() != 1 {
		t.Fatal("the least recently used block survived the restart")
	}
}

func TestDiskTierSkipsWhatCannotFit(t *testing.T) {
	disk := openDisk(t, DiskConfig{Dir: t.TempDir(), Budget: diskAllocUnit})
	k := cacheKey{kind: kindBlock, ns: "n", key: "k", etag: "e", blockSize: 8192, index: 0}
	if err := disk.put(k, make([]byte, 8192)); err != nil {
		t.Fatal(err)
	}
	if st := disk.Stats(); st.Entries != 0 || st.Bytes != 0 {
		t.Fatalf("an entry larger than the budget was stored: %+v", st)
	}
	small := cacheKey{kind: kindBlock, ns: "n", key: "k", etag: "e", blockSize: 8192, index: 1}
	if err := disk.put(small, []byte("tail")); err != nil {
		t.Fatal(err)
	}
	if err := disk.put(small, []byte("tail, again")); err != nil { // replace in place
		t.Fatal(err)
	}
	if got, ok := disk.get(small); !ok || string(got) != "tail, again" {
		t.Fatalf("get = %q, %v", got, ok)
	}
	if st := disk.Stats(); st.Entries != 1 || st.Bytes != diskAllocUnit {
		t.Fatalf("stats %+v", st)
	}
	// A key the decoder would refuse is not written at all, budget or not.
	roomy := openDisk(t, DiskConfig{Dir: t.TempDir(), Budget: 1 << 20})
	huge := cacheKey{kind: kindAttrs, ns: "n", key: string(make([]byte, maxKeyLen))}
	if err := roomy.put(huge, nil); err != nil {
		t.Fatal(err)
	}
	if roomy.Stats().Entries != 0 {
		t.Fatal("an entry with an oversized key was stored")
	}
}

// TestWarmRestartDoesNotServeDeletedThroughCache checks that a delete
// through the decorator also forgets the persisted attributes.
func TestWarmRestartDoesNotServeDeletedThroughCache(t *testing.T) {
	dir := t.TempDir()
	inner := memory.New()
	data := content(23, 300)
	mustPut(t, inner, dataKey, data)
	c := newCache(t, inner, Config{BlockSize: 100}, Deps{Memory: newMemTier(t, 1<<20), Disk: openDisk(t, DiskConfig{Dir: dir, Budget: 1 << 20})})
	wantRange(t, c, dataKey, 0, -1, data)
	if err := c.Delete(t.Context(), dataKey); err != nil {
		t.Fatal(err)
	}
	c2 := newCache(t, inner, Config{BlockSize: 100}, Deps{Memory: newMemTier(t, 1<<20), Disk: openDisk(t, DiskConfig{Dir: dir, Budget: 1 << 20})})
	if _, err := c2.GetRange(t.Context(), dataKey, 0, -1); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("GetRange after Delete and restart: %v", err)
	}
}

func TestEntryRoundTrip(t *testing.T) {
	keys := []cacheKey{
		{kind: kindBlock, ns: "az://a/c", key: dataKey, etag: `"0x8DC"`, blockSize: 1 << 20, index: 12},
		{kind: kindBlock, ns: "", key: "k", etag: "e", blockSize: 1, index: 0},
		attrsKey("file:///root", "x/y"),
	}
	for _, k := range keys {
		payload := []byte("payload of " + k.key)
		got, gotPayload, err := decodeEntry(encodeEntry(k, payload))
		if err != nil || got != k || !bytes.Equal(gotPayload, payload) {
			t.Fatalf("round trip of %+v: %+v %q %v", k, got, gotPayload, err)
		}
	}
	a := objstore.Attrs{Key: "x/y", Size: 12345, ETag: "etag", LastModified: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))}
	enc, err := encodeAttrs(a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeAttrs("x/y", enc)
	if err != nil || got.Size != a.Size || got.ETag != a.ETag || !got.LastModified.Equal(a.LastModified) {
		t.Fatalf("attrs round trip: %+v, %v", got, err)
	}
	// Every truncation of a valid entry is refused.
	full := encodeEntry(keys[0], []byte("some payload"))
	for n := range len(full) {
		if _, _, err := decodeEntry(full[:n]); !errors.Is(err, errCorrupt) {
			t.Fatalf("entry cut to %d of %d bytes: %v", n, len(full), err)
		}
	}
}

// FuzzDecodeEntry checks that the disk entry decoder never panics, and that
// whatever it accepts is exactly what encoding the result gives back: one
// byte form per entry, so a damaged file cannot pass as another key.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(cacheKey{kind: kindBlock, ns: "az://a/c", key: dataKey, etag: "e", blockSize: 1 << 20, index: 3}, []byte("block")))
	attrs, _ := encodeAttrs(objstore.Attrs{Key: "k", Size: 5, ETag: "e", LastModified: time.Unix(1, 2)})
	f.Add(encodeEntry(attrsKey("mem://x", "k"), attrs))
	f.Add([]byte(entryMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, payload, err := decodeEntry(data)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("error %v does not wrap errCorrupt", err)
			}
			return
		}
		if again := encodeEntry(k, payload); !bytes.Equal(again, data) {
			t.Fatalf("accepted a non-canonical entry for %+v", k)
		}
		if k.kind == kindAttrs {
			decodeAttrs(k.key, payload) // must not panic
		}
	})
}

// FuzzParseCacheKey checks the key decoder alone, which the fuzzer cannot
// reach through decodeEntry's checksums: accepted keys are canonical.
func FuzzParseCacheKey(f *testing.F) {
	f.Add(cacheKey{kind: kindBlock, ns: "az://a/c", key: dataKey, etag: "e", blockSize: 1 << 20, index: 3}.appendBinary(nil))
	f.Add(attrsKey("mem://x", "k").appendBinary(nil))
	f.Add([]byte{byte(kindBlock), 0x80, 0x00, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := parseCacheKey(data)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("error %v does not wrap errCorrupt", err)
			}
			return
		}
		if again := k.appendBinary(nil); !bytes.Equal(again, data) {
			t.Fatalf("accepted a non-canonical key %x for %+v", data, k)
		}
	})
}
