package vindex

import (
	"container/list"
	"context"
	"errors"
	"sync"
)

// cache is an LRU cache bounded by the bytes its values report. Concurrent
// gets of a missing key share one load (single flight). Values are immutable
// once loaded, so they are handed out without copying; eviction only drops
// the cache's reference.
type cache struct {
	mu       sync.Mutex
	budget   int64
	used     int64
	lru      *list.List // front = most recently used; values *cacheItem
	items    map[string]*list.Element
	inflight map[string]*flight

	hits, misses, evictions int64
}

type cacheItem struct {
	key  string
	val  any
	size int64
}

type flight struct {
	done chan struct{}
	val  any
	err  error
}

func newCache(budget int64) *cache {
	return &cache{
		budget:   budget,
		lru:      list.New(),
		items:    map[string]*list.Element{},
		inflight: map[string]*flight{},
	}
}

// get returns the value of key, loading it with load when it is missing.
// load returns the value and its size in bytes. A value larger than the
// whole budget is returned but not kept.
func (c *cache) get(ctx context.Context, key string, load func(ctx context.Context) (any, int64, error)) (any, error) {
	for {
		c.mu.Lock()
		if el, ok := c.items[key]; ok {
			c.lru.MoveToFront(el)
			c.hits++
			c.mu.Unlock()
			return el.Value.(*cacheItem).val, nil
		}
		if f, ok := c.inflight[key]; ok {
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if f.err != nil && isCtxErr(f.err) && ctx.Err() == nil {
				// The loading caller gave up; this one still wants the
				// value, so it loads again itself.
				continue
			}
			return f.val, f.err
		}
		f := &flight{done: make(chan struct{})}
		c.inflight[key] = f
		c.misses++
		c.mu.Unlock()

		val, size, err := load(ctx)
		f.val, f.err = val, err

		c.mu.Lock()
		delete(c.inflight, key)
		if err == nil && size <= c.budget {
			c.insertLocked(key, val, size)
		}
		c.mu.Unlock()
		close(f.done)
		return val, err
	}
}

func (c *cache) insertLocked(key string, val any, size int64) {
	if el, ok := c.items[key]; ok {
		it := el.Value.(*cacheItem)
		c.used -= it.size
		c.lru.Remove(el)
		delete(c.items, key)
	}
	for c.used+size > c.budget && c.lru.Len() > 0 {
		el := c.lru.Back()
		it := el.Value.(*cacheItem)
		c.lru.Remove(el)
		delete(c.items, it.key)
		c.used -= it.size
		c.evictions++
	}
	c.items[key] = c.lru.PushFront(&cacheItem{key: key, val: val, size: size})
	c.used += size
}

// removePrefix drops every entry whose key starts with prefix (an index file
// that was replaced or dropped).
func (c *cache) removePrefix(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.items {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			c.used -= el.Value.(*cacheItem).size
			c.lru.Remove(el)
			delete(c.items, k)
		}
	}
}

// CacheStats reports the partition cache's state.
type CacheStats struct {
	Bytes, Budget           int64
	Entries                 int
	Hits, Misses, Evictions int64
}

func (c *cache) stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Bytes: c.used, Budget: c.budget, Entries: len(c.items), Hits: c.hits, Misses: c.misses, Evictions: c.evictions}
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
