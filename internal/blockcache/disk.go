package blockcache

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DiskConfig configures a DiskTier.
type DiskConfig struct {
	// Dir holds the entries; it is created if missing. One process at a
	// time should use a directory: two would not corrupt each other (every
	// entry is checked when read) but would each count only their own
	// entries against the budget.
	Dir string
	// Budget bounds the bytes the entries occupy, counted in 4 KiB units
	// per file as a typical filesystem allocates them.
	Budget int64
	// Now is the clock that orders entries across restarts (default
	// time.Now).
	Now func() time.Time
	// TouchEvery bounds how often a hit rewrites an entry's modification
	// time, which is what the LRU order is rebuilt from after a restart
	// (default one minute): recency within that window is lost on restart,
	// in exchange for not turning every hit into a metadata write.
	TouchEvery time.Duration
}

// DiskTier is the local-disk tier, shared by every decorated bucket of a
// process: one file per block or attributes record under Dir, evicted least
// recently used first once their size exceeds the budget. It survives
// restarts: OpenDiskTier rebuilds the index from the directory, discarding
// damaged or partial files. It is safe for concurrent use.
type DiskTier struct {
	dir        string
	budget     int64
	now        func() time.Time
	touchEvery time.Duration
	log        *slog.Logger

	mu        sync.Mutex
	index     map[entryID]*list.Element
	order     *list.List // of *diskEntry, most recently used first
	used      int64
	lastStamp time.Time

	hits, misses, evictions, corrupt atomic.Int64
}

// entryID is the SHA-256 of a cache key's byte form; it names the file.
type entryID [sha256.Size]byte

type diskEntry struct {
	id      entryID
	size    int64     // accounted bytes
	stamp   time.Time // last modification time written to the file
	version uint64    // bumped on replacement, so a stale drop is ignored
}

const (
	diskAllocUnit = 4096
	entrySuffix   = ".blk"
	tmpDir        = "tmp"
	tmpPattern    = "entry-*.tmp"
)

func accounted(n int) int64 {
	return (int64(n) + diskAllocUnit - 1) / diskAllocUnit * diskAllocUnit
}

// OpenDiskTier opens (or creates) the tier in cfg.Dir and rebuilds its index
// from the entries found there. Entries that are damaged, partial, of
// another format version or misnamed are deleted; leftovers of writes that
// never completed are deleted too. Metrics are registered on reg with
// tier="disk" (reg may be nil); log may be nil.
func OpenDiskTier(ctx context.Context, cfg DiskConfig, reg prometheus.Registerer, log *slog.Logger) (*DiskTier, error) {
	if cfg.Dir == "" {
		return nil, errors.New("block cache disk tier: no directory")
	}
	if cfg.Budget <= 0 {
		return nil, fmt.Errorf("block cache disk tier %s: budget %d is not positive", cfg.Dir, cfg.Budget)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &DiskTier{
		dir: cfg.Dir, budget: cfg.Budget, now: cfg.Now, touchEvery: cfg.TouchEvery, log: log,
		index: map[entryID]*list.Element{}, order: list.New(),
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.touchEvery <= 0 {
		d.touchEvery = time.Minute
	}
	if err := d.load(ctx); err != nil {
		return nil, fmt.Errorf("block cache disk tier %s: %w", cfg.Dir, err)
	}
	if err := registerMetrics(reg, "disk", d.Stats); err != nil {
		return nil, err
	}
	return d, nil
}

// Stats returns the tier's state and counters.
func (d *DiskTier) Stats() TierStats {
	d.mu.Lock()
	entries, used := len(d.index), d.used
	d.mu.Unlock()
	return TierStats{
		Entries: entries, Bytes: used, Budget: d.budget,
		Hits: d.hits.Load(), Misses: d.misses.Load(), Evictions: d.evictions.Load(), Corrupt: d.corrupt.Load(),
	}
}

func (d *DiskTier) path(id entryID) string {
	h := hex.EncodeToString(id[:])
	return filepath.Join(d.dir, h[:2], h[2:]+entrySuffix)
}

// load creates the directory layout, removes temporary files and indexes
// every valid entry, oldest modification time first.
func (d *DiskTier) load(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(d.dir, tmpDir), 0o755); err != nil {
		return err
	}
	tmps, err := filepath.Glob(filepath.Join(d.dir, tmpDir, tmpPattern))
	if err != nil {
		return err
	}
	for _, p := range tmps {
		// A write that was cut short; it was never indexed.
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove unfinished entry: %w", err)
		}
	}
	var found []*diskEntry
	var discarded int
	for b := range 256 {
		if err := ctx.Err(); err != nil {
			return err
		}
		sub := filepath.Join(d.dir, fmt.Sprintf("%02x", b))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		des, err := os.ReadDir(sub)
		if err != nil {
			return err
		}
		for _, de := range des {
			id, ok := parseEntryName(byte(b), de.Name())
			if !ok || !de.Type().IsRegular() {
				continue // not ours: leave it alone
			}
			p := filepath.Join(sub, de.Name())
			e, err := checkEntryFile(p, id)
			if err != nil {
				d.log.Debug("block cache: discarding disk entry", "path", p, "err", err)
				if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
					return fmt.Errorf("remove damaged entry: %w", rerr)
				}
				discarded++
				continue
			}
			found = append(found, e)
		}
	}
	d.corrupt.Add(int64(discarded))
	slices.SortFunc(found, func(a, b *diskEntry) int { return a.stamp.Compare(b.stamp) })
	for _, e := range found {
		d.index[e.id] = d.order.PushFront(e)
		d.used += e.size
		if e.stamp.After(d.lastStamp) {
			d.lastStamp = e.stamp
		}
	}
	d.mu.Lock()
	victims := d.evictLocked() // the budget may have shrunk since the last run
	d.mu.Unlock()
	d.log.Info("block cache: disk tier opened", "dir", d.dir, "entries", len(d.index),
		"bytes", d.used, "budget", d.budget, "discarded", discarded, "evicted", len(victims))
	return nil
}

func parseEntryName(first byte, name string) (entryID, bool) {
	var id entryID
	stem, ok := strings.CutSuffix(name, entrySuffix)
	if !ok || len(stem) != 2*(sha256.Size-1) {
		return id, false
	}
	if _, err := hex.Decode(id[1:], []byte(stem)); err != nil {
		return id, false
	}
	id[0] = first
	return id, true
}

// checkEntryFile validates an entry by its head only: header and key
// checksum, exact file size, and a key that hashes to the file's name. The
// payload checksum is left to the first read, so a restart does not read
// the whole cache.
func checkEntryFile(p string, id entryID) (*diskEntry, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var hb [entryHeaderSize]byte
	if _, err := io.ReadFull(f, hb[:]); err != nil {
		return nil, corruptf("read header: %v", err)
	}
	h, err := parseHeader(hb[:])
	if err != nil {
		return nil, err
	}
	if fi.Size() != h.size() {
		return nil, corruptf("%d bytes, the header says %d", fi.Size(), h.size())
	}
	head := make([]byte, entryHeaderSize+h.keyLen)
	copy(head, hb[:])
	if _, err := io.ReadFull(f, head[entryHeaderSize:]); err != nil {
		return nil, corruptf("read key: %v", err)
	}
	if _, err := h.checkHead(head); err != nil {
		return nil, err
	}
	if entryID(sha256.Sum256(head[entryHeaderSize:])) != id {
		return nil, corruptf("key does not match the file name")
	}
	return &diskEntry{id: id, size: accounted(int(fi.Size())), stamp: fi.ModTime()}, nil
}

// evictLocked removes least recently used entries until the rest fit the
// budget, and returns them; their files are deleted under the lock so that a
// later store of the same key cannot be deleted by a late removal.
func (d *DiskTier) evictLocked() []*diskEntry {
	var victims []*diskEntry
	for d.used > d.budget && d.order.Len() > 0 {
		e := d.order.Remove(d.order.Back()).(*diskEntry)
		delete(d.index, e.id)
		d.used -= e.size
		victims = append(victims, e)
		if err := os.Remove(d.path(e.id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("block cache: remove evicted disk entry", "err", err)
		}
	}
	d.evictions.Add(int64(len(victims)))
	return victims
}

// stampLocked returns a modification time later than every one handed out
// before, so entries written in one clock tick still restore in order.
func (d *DiskTier) stampLocked() time.Time {
	t := d.now()
	if !t.After(d.lastStamp) {
		t = d.lastStamp.Add(time.Microsecond)
	}
	d.lastStamp = t
	return t
}

// get returns the payload stored for k, verified. A damaged entry is
// deleted and reported as a miss, so the caller fetches the data afresh.
func (d *DiskTier) get(k cacheKey) ([]byte, bool) {
	kb := k.appendBinary(nil)
	id := entryID(sha256.Sum256(kb))
	// As in the memory tier, hits and misses count block lookups only.
	counter := func(c *atomic.Int64) {
		if k.kind == kindBlock {
			c.Add(1)
		}
	}
	d.mu.Lock()
	el, ok := d.index[id]
	if !ok {
		d.mu.Unlock()
		counter(&d.misses)
		return nil, false
	}
	d.order.MoveToFront(el)
	e := el.Value.(*diskEntry)
	version := e.version
	var touch time.Time
	if d.now().Sub(e.stamp) >= d.touchEvery {
		touch = d.stampLocked()
		e.stamp = touch
	}
	d.mu.Unlock()

	p := d.path(id)
	data, err := os.ReadFile(p)
	if err == nil {
		var got cacheKey
		var payload []byte
		if got, payload, err = decodeEntry(data); err == nil && got != k {
			err = corruptf("entry holds another key")
		}
		if err == nil {
			if !touch.IsZero() {
				// Best effort: a lost touch only ages the entry after a restart.
				_ = os.Chtimes(p, touch, touch)
			}
			counter(&d.hits)
			return payload, true
		}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		d.corrupt.Add(1)
		d.log.Warn("block cache: discarding unreadable disk entry", "path", p, "err", err)
	}
	d.drop(id, version)
	counter(&d.misses)
	return nil, false
}

// drop removes the entry id if it is still the version the caller read.
func (d *DiskTier) drop(id entryID, version uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	el, ok := d.index[id]
	if !ok || el.Value.(*diskEntry).version != version {
		return
	}
	d.removeLocked(el)
}

func (d *DiskTier) removeLocked(el *list.Element) {
	e := d.order.Remove(el).(*diskEntry)
	delete(d.index, e.id)
	d.used -= e.size
	if err := os.Remove(d.path(e.id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.log.Warn("block cache: remove disk entry", "err", err)
	}
}

// forget removes the entry of k, if any.
func (d *DiskTier) forget(k cacheKey) {
	id := entryID(sha256.Sum256(k.appendBinary(nil)))
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.index[id]; ok {
		d.removeLocked(el)
	}
}

// pendingEntry is an entry written to a temporary file, not yet visible.
// Splitting the write from the commit lets a caller commit while holding a
// lock without doing the slow part under it.
type pendingEntry struct {
	d    *DiskTier
	id   entryID
	tmp  string
	size int64
}

// prepare writes the entry for k to a temporary file. It returns nil, nil
// when the entry could never fit the budget, or could not be read back
// (a key beyond the decoder's limit).
func (d *DiskTier) prepare(k cacheKey, payload []byte) (*pendingEntry, error) {
	head := encodeHead(k, payload)
	size := accounted(len(head) + len(payload))
	if size > d.budget || len(head)-entryHeaderSize > maxKeyLen || len(payload) > maxPayloadLen {
		return nil, nil
	}
	f, err := os.CreateTemp(filepath.Join(d.dir, tmpDir), tmpPattern)
	if err != nil {
		return nil, fmt.Errorf("block cache: write disk entry: %w", err)
	}
	_, err = f.Write(head)
	if err == nil {
		_, err = f.Write(payload)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("block cache: write disk entry: %w", err)
	}
	return &pendingEntry{d: d, id: sha256.Sum256(head[entryHeaderSize:]), tmp: f.Name(), size: size}, nil
}

// commit renames the entry into place and indexes it, evicting as needed.
// No fsync: after a crash a file may hold garbage, which the checksums
// catch on the next read.
func (p *pendingEntry) commit() error {
	d := p.d
	d.mu.Lock()
	final := d.path(p.id)
	if err := os.Rename(p.tmp, final); err != nil {
		d.mu.Unlock()
		os.Remove(p.tmp)
		return fmt.Errorf("block cache: commit disk entry: %w", err)
	}
	stamp := d.stampLocked()
	if el, ok := d.index[p.id]; ok {
		e := el.Value.(*diskEntry)
		d.used -= e.size
		e.size, e.stamp = p.size, stamp
		e.version++
		d.order.MoveToFront(el)
	} else {
		d.index[p.id] = d.order.PushFront(&diskEntry{id: p.id, size: p.size, stamp: stamp})
	}
	d.used += p.size
	// The new entry is at the front; evictLocked takes from the back and
	// the entry fits the budget, so it is never its own victim.
	d.evictLocked()
	d.mu.Unlock()
	// Best effort, as in get: the stamp only orders entries after a restart.
	_ = os.Chtimes(final, stamp, stamp)
	return nil
}

// abort discards a prepared entry.
func (p *pendingEntry) abort() { os.Remove(p.tmp) }

// put stores payload for k.
func (d *DiskTier) put(k cacheKey, payload []byte) error {
	p, err := d.prepare(k, payload)
	if err != nil || p == nil {
		return err
	}
	return p.commit()
}
