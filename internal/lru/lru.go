// Package lru is the byte-budgeted cache the query node keeps decoded data
// in (vector and scalar columns, deletion masks, index partitions): least
// recently used entries go first once the sizes the values report exceed the
// budget, and concurrent misses of one key share a single load.
//
// Values are treated as immutable: they are handed out without copying and
// eviction only drops the cache's reference, so a caller may keep using a
// value that was evicted meanwhile. The budget can therefore be exceeded
// briefly by data still in use, never by data only the cache holds.
package lru

import (
	"container/list"
	"context"
	"errors"
	"sync"
)

// Cache is safe for concurrent use.
type Cache[K comparable, V any] struct {
	mu       sync.Mutex
	budget   int64
	used     int64
	order    *list.List // of *entry[K, V], most recently used first
	entries  map[K]*list.Element
	inflight map[K]*flight[V]

	hits, misses, evictions int64
}

type entry[K comparable, V any] struct {
	key  K
	val  V
	size int64
}

type flight[V any] struct {
	done chan struct{}
	val  V
	err  error
}

// Stats is a snapshot of a cache's state and counters.
type Stats struct {
	Entries                 int
	Bytes, Budget           int64
	Hits, Misses, Evictions int64
}

// New returns a cache holding at most budget bytes.
func New[K comparable, V any](budget int64) *Cache[K, V] {
	return &Cache[K, V]{
		budget:   budget,
		order:    list.New(),
		entries:  map[K]*list.Element{},
		inflight: map[K]*flight[V]{},
	}
}

// Budget is the cache's size limit in bytes.
func (c *Cache[K, V]) Budget() int64 { return c.budget }

// Get returns the value of key, calling load on a miss; load returns the
// value and its size in bytes. Failed loads are not cached, and a value
// larger than the whole budget is returned but not kept. A caller waiting on
// another's load that was cancelled loads again under its own context rather
// than inherit the cancellation.
func (c *Cache[K, V]) Get(ctx context.Context, key K, load func(context.Context) (V, int64, error)) (V, error) {
	for {
		c.mu.Lock()
		if el, ok := c.entries[key]; ok {
			c.order.MoveToFront(el)
			c.hits++
			c.mu.Unlock()
			return el.Value.(*entry[K, V]).val, nil
		}
		if f, ok := c.inflight[key]; ok {
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				var zero V
				return zero, ctx.Err()
			}
			if f.err != nil && isCtxErr(f.err) && ctx.Err() == nil {
				continue
			}
			return f.val, f.err
		}
		f := &flight[V]{done: make(chan struct{})}
		c.inflight[key] = f
		c.misses++
		c.mu.Unlock()

		val, size, err := load(ctx)
		f.val, f.err = val, err

		c.mu.Lock()
		delete(c.inflight, key)
		if err == nil {
			c.putLocked(key, val, size)
		}
		c.mu.Unlock()
		close(f.done)
		return val, err
	}
}

// Peek returns the value cached for key without loading it, and marks it
// recently used.
func (c *Cache[K, V]) Peek(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*entry[K, V]).val, true
}

// Put stores val (of size bytes) for key, replacing any previous value.
func (c *Cache[K, V]) Put(key K, val V, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(key, val, size)
}

func (c *Cache[K, V]) putLocked(key K, val V, size int64) {
	if el, ok := c.entries[key]; ok {
		c.removeLocked(el)
	}
	if size > c.budget {
		return
	}
	for c.used+size > c.budget && c.order.Len() > 0 {
		c.removeLocked(c.order.Back())
		c.evictions++
	}
	c.entries[key] = c.order.PushFront(&entry[K, V]{key: key, val: val, size: size})
	c.used += size
}

func (c *Cache[K, V]) removeLocked(el *list.Element) {
	e := el.Value.(*entry[K, V])
	c.order.Remove(el)
	delete(c.entries, e.key)
	c.used -= e.size
}

// Remove drops the entry of key, if any, and reports whether there was one.
// Unlike RemoveIf it does not scan the whole cache, so callers may forget
// single keys on a hot path.
func (c *Cache[K, V]) Remove(key K) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if ok {
		c.removeLocked(el)
	}
	return ok
}

// RemoveIf drops every entry whose key satisfies drop.
func (c *Cache[K, V]) RemoveIf(drop func(K) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.entries {
		if drop(k) {
			c.removeLocked(el)
		}
	}
}

// Purge drops every entry; the counters stay.
func (c *Cache[K, V]) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	clear(c.entries)
	c.used = 0
}

// Stats returns the cache's state and counters.
func (c *Cache[K, V]) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Entries: len(c.entries), Bytes: c.used, Budget: c.budget,
		Hits: c.hits, Misses: c.misses, Evictions: c.evictions}
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
