package query

import (
	"container/list"
	"context"
	"sync"
)

// Cache holds decoded column data shared by all queries: an LRU bounded by
// bytes. It is safe for concurrent use. A nil *Cache caches nothing.
//
// Values are immutable once stored, so a query keeps using an entry it got
// even if the entry is evicted meanwhile; the budget can therefore be
// exceeded briefly by data still in use, never by data only the cache holds.
type Cache struct {
	mu      sync.Mutex
	max     int64
	used    int64
	lru     *list.List // of *cacheEntry, most recently used first
	entries map[cacheKey]*list.Element
	loading map[cacheKey]*pendingLoad

	hits, misses, evictions int64
}

// CacheStats is a snapshot of a cache's counters.
type CacheStats struct {
	Entries                 int
	Bytes, MaxBytes         int64
	Hits, Misses, Evictions int64
}

type cacheKind uint8

const (
	kindVectors cacheKind = iota + 1 // a vector column of one data file
	kindLive                         // the live-row mask of one deletion file
	kindColumn                       // a scalar column of one data file
)

// cacheKey names immutable data: files are never rewritten in place.
type cacheKey struct {
	table string // Options.TableURI: location of the table's storage
	file  string // data or deletion file path within the table
	field int32
	kind  cacheKind
}

type cacheValue interface {
	// sizeBytes is what the value costs against the budget.
	sizeBytes() int64
}

type cacheEntry struct {
	key   cacheKey
	value cacheValue
	size  int64
}

type pendingLoad struct {
	done  chan struct{}
	value cacheValue
	err   error
}

// NewCache returns a cache that holds at most maxBytes of decoded data
// (maxBytes ≤ 0 returns nil: no caching).
func NewCache(maxBytes int64) *Cache {
	if maxBytes <= 0 {
		return nil
	}
	return &Cache{
		max:     maxBytes,
		lru:     list.New(),
		entries: map[cacheKey]*list.Element{},
		loading: map[cacheKey]*pendingLoad{},
	}
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	if c == nil {
		return CacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{
		Entries: len(c.entries), Bytes: c.used, MaxBytes: c.max,
		Hits: c.hits, Misses: c.misses, Evictions: c.evictions,
	}
}

// Purge drops every entry (for tests and operators).
func (c *Cache) Purge() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Init()
	clear(c.entries)
	c.used = 0
}

// get returns the value for key, calling load on a miss. Concurrent misses
// for one key share a single load. A nil cache or an empty table identity
// calls load every time.
func (c *Cache) get(ctx context.Context, key cacheKey, load func(context.Context) (cacheValue, error)) (cacheValue, error) {
	if c == nil || key.table == "" {
		return load(ctx)
	}
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.lru.MoveToFront(el)
		c.hits++
		v := el.Value.(*cacheEntry).value
		c.mu.Unlock()
		return v, nil
	}
	if p, ok := c.loading[key]; ok {
		c.mu.Unlock()
		select {
		case <-p.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if p.err != nil {
			// The loader's failure may be its own cancellation; try again
			// under this caller's context rather than inherit it.
			return c.get(ctx, key, load)
		}
		return p.value, nil
	}
	c.misses++
	p := &pendingLoad{done: make(chan struct{})}
	c.loading[key] = p
	c.mu.Unlock()

	p.value, p.err = load(ctx)

	c.mu.Lock()
	delete(c.loading, key)
	if p.err == nil {
		c.put(key, p.value)
	}
	c.mu.Unlock()
	close(p.done)
	return p.value, p.err
}

// peek returns the value cached for key, if any, without loading it: for
// work that is worth doing from memory but not worth a load.
func (c *Cache) peek(key cacheKey) (cacheValue, bool) {
	if c == nil || key.table == "" {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cacheEntry).value, true
}

// replace stores value for key, dropping any previous value.
func (c *Cache) replace(key cacheKey, value cacheValue) {
	if c == nil || key.table == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put(key, value)
}

// put stores a value, evicting least recently used entries to stay within
// budget. Values larger than the whole budget are not stored. c.mu is held.
func (c *Cache) put(key cacheKey, value cacheValue) {
	size := value.sizeBytes()
	if el, ok := c.entries[key]; ok {
		c.used -= el.Value.(*cacheEntry).size
		c.lru.Remove(el)
		delete(c.entries, key)
	}
	if size > c.max {
		return
	}
	for c.used+size > c.max {
		last := c.lru.Back()
		e := last.Value.(*cacheEntry)
		c.lru.Remove(last)
		delete(c.entries, e.key)
		c.used -= e.size
		c.evictions++
	}
	c.entries[key] = c.lru.PushFront(&cacheEntry{key: key, value: value, size: size})
	c.used += size
}
