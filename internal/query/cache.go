package query

import (
	"context"

	"github.com/sarissa-db/sarissa/internal/lru"
)

// Cache holds decoded column data shared by all queries: an LRU bounded by
// bytes (internal/lru). It is safe for concurrent use. A nil *Cache caches
// nothing.
//
// Values are immutable once stored, so a query keeps using an entry it got
// even if the entry is evicted meanwhile; the budget can therefore be
// exceeded briefly by data still in use, never by data only the cache holds.
type Cache struct {
	c *lru.Cache[cacheKey, cacheValue]
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

// NewCache returns a cache that holds at most maxBytes of decoded data
// (maxBytes ≤ 0 returns nil: no caching).
func NewCache(maxBytes int64) *Cache {
	if maxBytes <= 0 {
		return nil
	}
	return &Cache{c: lru.New[cacheKey, cacheValue](maxBytes)}
}

// budget is the cache's size limit in bytes (c must not be nil).
func (c *Cache) budget() int64 { return c.c.Budget() }

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	if c == nil {
		return CacheStats{}
	}
	st := c.c.Stats()
	return CacheStats{
		Entries: st.Entries, Bytes: st.Bytes, MaxBytes: st.Budget,
		Hits: st.Hits, Misses: st.Misses, Evictions: st.Evictions,
	}
}

// Purge drops every entry (for tests and operators).
func (c *Cache) Purge() {
	if c != nil {
		c.c.Purge()
	}
}

// get returns the value for key, calling load on a miss. Concurrent misses
// for one key share a single load. A nil cache or an empty table identity
// calls load every time.
func (c *Cache) get(ctx context.Context, key cacheKey, load func(context.Context) (cacheValue, error)) (cacheValue, error) {
	if c == nil || key.table == "" {
		return load(ctx)
	}
	return c.c.Get(ctx, key, func(ctx context.Context) (cacheValue, int64, error) {
		v, err := load(ctx)
		if err != nil {
			return nil, 0, err
		}
		return v, v.sizeBytes(), nil
	})
}

// peek returns the value cached for key, if any, without loading it: for
// work that is worth doing from memory but not worth a load.
func (c *Cache) peek(key cacheKey) (cacheValue, bool) {
	if c == nil || key.table == "" {
		return nil, false
	}
	return c.c.Peek(key)
}

// replace stores value for key, dropping any previous value.
func (c *Cache) replace(key cacheKey, value cacheValue) {
	if c == nil || key.table == "" {
		return
	}
	c.c.Put(key, value, value.sizeBytes())
}
