package vindex

import (
	"context"
	"strings"

	"github.com/sarissa-db/sarissa/internal/lru"
)

// cache holds loaded index files and partitions: an LRU bounded by the bytes
// the values report, with concurrent misses of one key sharing a load
// (internal/lru).
type cache struct {
	c *lru.Cache[string, any]
}

func newCache(budget int64) *cache {
	return &cache{c: lru.New[string, any](budget)}
}

// get returns the value of key, loading it with load when it is missing.
// load returns the value and its size in bytes. A value larger than the
// whole budget is returned but not kept.
func (c *cache) get(ctx context.Context, key string, load func(ctx context.Context) (any, int64, error)) (any, error) {
	return c.c.Get(ctx, key, load)
}

// removePrefix drops every entry whose key starts with prefix (an index file
// that was replaced or dropped).
func (c *cache) removePrefix(prefix string) {
	c.c.RemoveIf(func(k string) bool { return strings.HasPrefix(k, prefix) })
}

// CacheStats reports the partition cache's state.
type CacheStats struct {
	Bytes, Budget           int64
	Entries                 int
	Hits, Misses, Evictions int64
}

func (c *cache) stats() CacheStats {
	st := c.c.Stats()
	return CacheStats{Bytes: st.Bytes, Budget: st.Budget, Entries: st.Entries, Hits: st.Hits, Misses: st.Misses, Evictions: st.Evictions}
}
