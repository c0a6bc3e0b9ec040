package blockcache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sarissa-db/sarissa/internal/lru"
	"github.com/sarissa-db/sarissa/internal/objstore"
)

// MemoryTier is the in-memory tier, shared by every decorated bucket of a
// process. Besides the byte-budgeted LRU of blocks and attributes it holds
// what decorators of one namespace must agree on: the single-flight table of
// block loads and the write stripes (see stripe). Decorators that share a
// namespace must therefore share the MemoryTier, which is why it, unlike
// the disk tier, is required. It is safe for concurrent use.
type MemoryTier struct {
	lru   *lru.Cache[cacheKey, memValue]
	seed  maphash.Seed
	hits  atomic.Int64
	miss  atomic.Int64
	inner innerCounters // totals over every bucket using this tier

	flightMu sync.Mutex
	flights  map[flightKey]*flight

	stripes [numStripes]stripe

	// onWait, a test hook, runs when a caller starts waiting for a block
	// another caller is loading.
	onWait func()
}

// memValue is a block's bytes or an object's attributes. Both are shared
// with readers and never modified once stored.
type memValue struct {
	data  []byte
	attrs objstore.Attrs
}

// memEntryOverhead approximates the LRU's per-entry bookkeeping (list
// element, map slot, key and value headers), so that a budget filled with
// small items still bounds memory.
const memEntryOverhead = 160

func (k cacheKey) memSize() int64 {
	return memEntryOverhead + int64(len(k.ns)+len(k.key)+len(k.etag))
}

// NewMemoryTier returns a memory tier holding at most budget bytes. A zero
// budget keeps nothing in memory but still coordinates single flight and
// writes, so a disk-only cache uses one too. Metrics are registered on reg
// with tier="memory" (reg may be nil).
func NewMemoryTier(budget int64, reg prometheus.Registerer) (*MemoryTier, error) {
	if budget < 0 {
		return nil, fmt.Errorf("block cache memory tier: negative budget %d", budget)
	}
	m := &MemoryTier{
		lru:     lru.New[cacheKey, memValue](budget),
		seed:    maphash.MakeSeed(),
		flights: map[flightKey]*flight{},
	}
	if err := registerMetrics(reg, "memory", m.Stats); err != nil {
		return nil, err
	}
	if err := registerInnerMetrics(reg, &m.inner); err != nil {
		return nil, err
	}
	return m, nil
}

// Stats returns the tier's state and counters. Hits and misses count block
// lookups; attributes lookups are not counted.
func (m *MemoryTier) Stats() TierStats {
	st := m.lru.Stats()
	return TierStats{
		Entries: st.Entries, Bytes: st.Bytes, Budget: st.Budget,
		Hits: m.hits.Load(), Misses: m.miss.Load(), Evictions: st.Evictions,
	}
}

// InnerStats returns the reads that every bucket using this tier sent to its
// underlying bucket.
func (m *MemoryTier) InnerStats() InnerStats { return m.inner.snapshot() }

func (m *MemoryTier) block(k cacheKey) ([]byte, bool) {
	v, ok := m.lru.Peek(k)
	if ok {
		m.hits.Add(1)
	} else {
		m.miss.Add(1)
	}
	return v.data, ok
}

// peekBlock is block without counting, for the re-check after claiming a
// flight: that lookup was already counted as a miss.
func (m *MemoryTier) peekBlock(k cacheKey) ([]byte, bool) {
	v, ok := m.lru.Peek(k)
	return v.data, ok
}

func (m *MemoryTier) putBlock(k cacheKey, data []byte) {
	m.lru.Put(k, memValue{data: data}, k.memSize()+int64(cap(data)))
}

func (m *MemoryTier) attrs(k cacheKey) (objstore.Attrs, bool) {
	v, ok := m.lru.Peek(k)
	return v.attrs, ok
}

func (m *MemoryTier) putAttrs(k cacheKey, a objstore.Attrs) {
	m.lru.Put(k, memValue{attrs: a}, k.memSize()+int64(len(a.ETag)))
}

// TierStats is a snapshot of one tier.
type TierStats struct {
	Entries       int
	Bytes, Budget int64
	// Hits and Misses count block lookups in this tier.
	Hits, Misses int64
	Evictions    int64
	// Corrupt counts disk entries found damaged and discarded, at start or
	// on read (disk tier only).
	Corrupt int64
}

// InnerStats counts the requests a cache sent to the bucket it decorates.
type InnerStats struct {
	Reads     int64 // GetRange calls made to fill blocks
	ReadBytes int64 // bytes those calls returned
	Stats     int64 // Stat calls made to learn an object's ETag and size
	// Passthrough counts reads served by the inner bucket directly: keys
	// that are not cacheable, objects being written, fallbacks.
	Passthrough int64
}

type innerCounters struct {
	reads, readBytes, stats, passthrough atomic.Int64
}

func (c *innerCounters) snapshot() InnerStats {
	return InnerStats{Reads: c.reads.Load(), ReadBytes: c.readBytes.Load(),
		Stats: c.stats.Load(), Passthrough: c.passthrough.Load()}
}

// registerMetrics exposes a tier's Stats as metrics labelled with the tier.
// The values are read from stats at scrape time, so the metrics and Stats
// can never disagree.
func registerMetrics(reg prometheus.Registerer, tier string, stats func() TierStats) error {
	return register(reg, prometheus.Labels{"tier": tier}, func(f promauto.Factory) {
		f.NewCounterFunc(prometheus.CounterOpts{
			Name: "sarissa_blockcache_hits_total",
			Help: "Block lookups answered by the tier.",
		}, func() float64 { return float64(stats().Hits) })
		f.NewCounterFunc(prometheus.CounterOpts{
			Name: "sarissa_blockcache_misses_total",
			Help: "Block lookups the tier could not answer.",
		}, func() float64 { return float64(stats().Misses) })
		f.NewCounterFunc(prometheus.CounterOpts{
			Name: "sarissa_blockcache_evictions_total",
			Help: "Entries dropped to stay within the tier's budget.",
		}, func() float64 { return float64(stats().Evictions) })
		f.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sarissa_blockcache_bytes",
			Help: "Bytes the tier holds, counted against its budget.",
		}, func() float64 { return float64(stats().Bytes) })
		f.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sarissa_blockcache_budget_bytes",
			Help: "The tier's byte budget.",
		}, func() float64 { return float64(stats().Budget) })
		f.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sarissa_blockcache_entries",
			Help: "Blocks and attribute records the tier holds.",
		}, func() float64 { return float64(stats().Entries) })
		if tier == "disk" {
			f.NewCounterFunc(prometheus.CounterOpts{
				Name: "sarissa_blockcache_corrupt_entries_total",
				Help: "Disk entries found damaged or partial and discarded.",
			}, func() float64 { return float64(stats().Corrupt) })
		}
	})
}

func registerInnerMetrics(reg prometheus.Registerer, c *innerCounters) error {
	return register(reg, nil, func(f promauto.Factory) {
		f.NewCounterFunc(prometheus.CounterOpts{
			Name: "sarissa_blockcache_inner_read_requests_total",
			Help: "Ranged reads sent to the underlying buckets to fill cache misses.",
		}, func() float64 { return float64(c.reads.Load()) })
		f.NewCounterFunc(prometheus.CounterOpts{
			Name: "sarissa_blockcache_inner_read_bytes_total",
			Help: "Bytes read from the underlying buckets to fill cache misses.",
		}, func() float64 { return float64(c.readBytes.Load()) })
		f.NewCounterFunc(prometheus.CounterOpts{
			Name: "sarissa_blockcache_inner_stat_requests_total",
			Help: "Stat calls sent to the underlying buckets to learn ETags.",
		}, func() float64 { return float64(c.stats.Load()) })
		f.NewCounterFunc(prometheus.CounterOpts{
			Name: "sarissa_blockcache_passthrough_reads_total",
			Help: "Reads of uncacheable keys, or of objects being written, sent straight to the underlying buckets.",
		}, func() float64 { return float64(c.passthrough.Load()) })
	})
}

// register runs fn against a factory for reg. promauto panics when a
// metric is registered twice (two tiers on one registry); that is a
// configuration error, so it is returned rather than crashing the process.
func register(reg prometheus.Registerer, labels prometheus.Labels, fn func(promauto.Factory)) (err error) {
	if reg != nil && labels != nil {
		reg = prometheus.WrapRegistererWith(labels, reg)
	}
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok {
				err = fmt.Errorf("block cache: register metrics: %w", e)
			} else {
				err = fmt.Errorf("block cache: register metrics: %v", p)
			}
		}
	}()
	fn(promauto.With(reg))
	return nil
}

// Writes through a decorator and reads that fill the cache coordinate
// through stripes, so that neither attributes nor blocks of an object that a
// concurrent write is replacing end up cached under the old ETag. Every
// write of a cacheable key bumps gen and holds writers above zero while the
// underlying write runs; it forgets the object's attributes before it
// leaves. A reader takes a snapshot first, and
//   - stores attributes only while holding the stripe and only if the
//     snapshot is unchanged (no write began since), so a stale ETag can
//     never be stored after the write's forget;
//   - stores blocks read from the underlying bucket only if the snapshot is
//     unchanged after the read: then no write ran during it, and the bytes
//     are the ETag's.
//
// Stripes are shared by keys that hash alike; a write to one makes readers
// of the others fall back to the underlying bucket, which is correct, only
// slower, and writes through a read-side cache are rare.
const numStripes = 256

type stripe struct {
	mu      sync.Mutex
	gen     uint64
	writers int
}

type snapshot struct {
	s   *stripe
	gen uint64
	// clean is false when a write of the stripe was running: the reader
	// must not use the cache at all.
	clean bool
}

func (m *MemoryTier) stripeOf(ns, key string) *stripe {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteString(ns)
	h.WriteByte(0)
	h.WriteString(key)
	return &m.stripes[h.Sum64()%numStripes]
}

func (m *MemoryTier) snapshot(ns, key string) snapshot {
	s := m.stripeOf(ns, key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return snapshot{s: s, gen: s.gen, clean: s.writers == 0}
}

// unchanged reports whether no write began since the snapshot.
func (sn snapshot) unchanged() bool {
	sn.s.mu.Lock()
	defer sn.s.mu.Unlock()
	return sn.clean && sn.s.writers == 0 && sn.s.gen == sn.gen
}

// ifUnchanged runs fn while holding the stripe if no write began since the
// snapshot, and reports whether it ran.
func (sn snapshot) ifUnchanged(fn func()) bool {
	sn.s.mu.Lock()
	defer sn.s.mu.Unlock()
	if !sn.clean || sn.s.writers != 0 || sn.s.gen != sn.gen {
		return false
	}
	fn()
	return true
}

// beginWrite marks a write of (ns, key) as running; the returned function
// ends it.
func (m *MemoryTier) beginWrite(ns, key string) (end func()) {
	s := m.stripeOf(ns, key)
	s.mu.Lock()
	s.gen++
	s.writers++
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.gen++
		s.writers--
		s.mu.Unlock()
	}
}

// flight is one load in progress; waiters block on done. A block flight
// delivers data, an attributes flight attrs.
type flight struct {
	done  chan struct{}
	data  []byte
	attrs objstore.Attrs
	err   error
}

// flightKey names a load. Blocks are keyed by their cache key alone: a
// block flight delivers bytes only if they are the ETag's (see stripe), so
// anyone wanting that block may take them. Attributes loads also carry the
// stripe generation the loader's snapshot saw, so that only readers with
// the same snapshot share a Stat: a reader whose snapshot follows a write
// must not be handed attributes learned before it.
type flightKey struct {
	cacheKey
	gen uint64
}

// claim returns, for each key, either a flight the caller now owns and must
// finish, or one another caller owns that the caller may wait on.
func (m *MemoryTier) claim(keys []flightKey) (owned []bool, fl []*flight) {
	owned, fl = make([]bool, len(keys)), make([]*flight, len(keys))
	m.flightMu.Lock()
	defer m.flightMu.Unlock()
	for i, k := range keys {
		if f, ok := m.flights[k]; ok {
			fl[i] = f
			continue
		}
		f := &flight{done: make(chan struct{})}
		m.flights[k] = f
		fl[i], owned[i] = f, true
	}
	return owned, fl
}

// finish publishes the result of an owned flight. A successful load is
// already in the memory tier (when it fits), so a caller that finds no
// flight either finds the result or loads it afresh.
func (m *MemoryTier) finish(k flightKey, f *flight) {
	m.flightMu.Lock()
	delete(m.flights, k)
	m.flightMu.Unlock()
	close(f.done)
}

// wait waits for f or for ctx, and reports whether the caller should load
// again itself: the loader gave up because its own context ended.
func wait(ctx context.Context, f *flight) (retry bool, err error) {
	select {
	case <-f.done:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	if f.err != nil && isCtxErr(f.err) && ctx.Err() == nil {
		return true, nil
	}
	return false, f.err
}

// errChanged reports that a write through the decorator overlapped a read
// that needed the underlying bucket; the read is retried uncached.
var errChanged = errors.New("object written while being read")
