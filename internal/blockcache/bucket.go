package blockcache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"

	"github.com/sarissa-db/sarissa/internal/objstore"
)

// Config configures one decorated bucket.
type Config struct {
	// Namespace identifies the underlying storage unambiguously, e.g.
	// "az://account/container/prefix" or "file:///root". It is part of
	// every cache key, so buckets of different tenants, accounts or
	// containers sharing tiers never see each other's data. Required.
	Namespace string
	// BlockSize is the unit reads are cached in (default 1 MiB, at most
	// 64 MiB). Blocks are aligned to multiples of it.
	BlockSize int64
	// Cacheable reports whether key holds immutable content: written once
	// and, while it exists, changed only by writes through a decorator
	// that shares this one's MemoryTier. Only those keys are cached; all
	// others go straight to the underlying bucket. It must depend on the
	// key alone. Default LanceImmutable.
	Cacheable func(key string) bool
}

// DefaultBlockSize is the BlockSize used when Config leaves it zero.
const DefaultBlockSize = 1 << 20

// Deps are the tiers a decorated bucket caches in. Create one MemoryTier and
// at most one DiskTier per process and pass them to every decorator; each
// tier has its own byte budget, shared by all of them.
type Deps struct {
	// Memory is required: besides memory blocks it holds the coordination
	// (single flight, writes) that decorators of one namespace share.
	Memory *MemoryTier
	// Disk is optional.
	Disk *DiskTier
	// Logger receives problems that do not fail a read, such as a disk
	// entry that could not be written (nil: discarded).
	Logger *slog.Logger
}

// Bucket is an objstore.Bucket that caches reads of immutable objects in
// aligned blocks, in memory and on local disk, in front of another bucket.
//
// For a cacheable key, the object's attributes (size, ETag) are learned by
// one Stat and remembered, also on disk, so that a restarted process with a
// warm disk tier serves the object without any request to the underlying
// bucket; Stat answers from them too. Blocks are keyed by ETag, so a new
// version is never served from an old version's blocks. Put, PutIfAbsent
// and Delete through the decorator forget the attributes; a change made
// behind the cache's back to a cacheable key is not noticed, which is why
// only keys whose content never changes may be cacheable. A missing object
// is never cached.
//
// List, and everything about keys that are not cacheable, goes straight to
// the underlying bucket. Bucket is safe for concurrent use.
type Bucket struct {
	inner     objstore.Bucket
	ns        string
	bs        int64
	window    int64 // blocks fetched per refill of a reader
	cacheable func(string) bool
	mem       *MemoryTier
	disk      *DiskTier
	log       *slog.Logger
	counts    innerCounters
}

var _ objstore.Bucket = (*Bucket)(nil)

// readWindow bounds how much of a range one refill loads, and so how much a
// reader holds: a Get of a large object streams in windows of this size.
const readWindow = 8 << 20

// New returns inner decorated with a cache in deps' tiers.
func New(inner objstore.Bucket, cfg Config, deps Deps) (*Bucket, error) {
	if inner == nil {
		return nil, errors.New("block cache: no underlying bucket")
	}
	if cfg.Namespace == "" {
		return nil, errors.New("block cache: Namespace is required: it tells apart the storage behind buckets sharing the tiers")
	}
	if deps.Memory == nil {
		return nil, fmt.Errorf("block cache %s: no memory tier", cfg.Namespace)
	}
	bs := cfg.BlockSize
	if bs == 0 {
		bs = DefaultBlockSize
	}
	if bs < 0 || bs > maxBlockSize {
		return nil, fmt.Errorf("block cache %s: block size %d is outside 1..%d", cfg.Namespace, bs, maxBlockSize)
	}
	cacheable := cfg.Cacheable
	if cacheable == nil {
		cacheable = LanceImmutable
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bucket{
		inner: inner, ns: cfg.Namespace, bs: bs, window: max(1, readWindow/bs),
		cacheable: cacheable, mem: deps.Memory, disk: deps.Disk, log: log,
	}, nil
}

// Stats is a snapshot of a decorated bucket and its tiers.
type Stats struct {
	// Inner counts this bucket's requests to the underlying bucket.
	Inner InnerStats
	// Memory and Disk are the shared tiers' (Disk is zero without one).
	Memory, Disk TierStats
}

// Stats returns the bucket's counters and its tiers' state.
func (b *Bucket) Stats() Stats {
	st := Stats{Inner: b.counts.snapshot(), Memory: b.mem.Stats()}
	if b.disk != nil {
		st.Disk = b.disk.Stats()
	}
	return st
}

// Get implements objstore.Bucket.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if !b.cacheable(key) {
		b.counts.passthrough.Add(1)
		b.mem.inner.passthrough.Add(1)
		return b.inner.Get(ctx, key)
	}
	return b.GetRange(ctx, key, 0, -1)
}

// GetRange implements objstore.Bucket. For a cacheable key the first window
// of the range is loaded before it returns, so that errors surface here; the
// rest streams as the caller reads.
func (b *Bucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %q: %w", key, err)
	}
	if err := objstore.ValidateKey(key); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fmt.Errorf("get %q range: negative offset %d", key, off)
	}
	if !b.cacheable(key) {
		return b.passthrough(ctx, key, off, length)
	}
	sn := b.mem.snapshot(b.ns, key)
	if !sn.clean {
		// A write through a decorator is running: neither the cache nor
		// what the inner bucket returns now may be mixed, so read it whole.
		return b.passthrough(ctx, key, off, length)
	}
	a, err := b.attrs(ctx, key, sn)
	if err != nil {
		return nil, err
	}
	if a.ETag == "" {
		// Without an ETag a new version could not be told from the old.
		return b.passthrough(ctx, key, off, length)
	}
	start := min(off, a.Size)
	end := a.Size
	if length >= 0 && length < a.Size-start {
		end = start + length
	}
	r := &reader{ctx: ctx, b: b, key: key, attrs: a, sn: sn, pos: start, end: end}
	if start == end {
		return r, nil
	}
	if err := r.fill(); err != nil {
		if ctx.Err() == nil && (errors.Is(err, errChanged) || errors.Is(err, errInconsistent) || errors.Is(err, objstore.ErrNotExist)) {
			// Nothing delivered yet, so the inner bucket's own atomic read
			// of the whole range is still a correct answer.
			return b.passthrough(ctx, key, off, length)
		}
		return nil, fmt.Errorf("get %q range [%d, %d): %w", key, start, end, err)
	}
	return r, nil
}

func (b *Bucket) passthrough(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	b.counts.passthrough.Add(1)
	b.mem.inner.passthrough.Add(1)
	return b.inner.GetRange(ctx, key, off, length)
}

// Stat implements objstore.Bucket. For a cacheable key it answers from the
// remembered attributes when it can.
func (b *Bucket) Stat(ctx context.Context, key string) (objstore.Attrs, error) {
	if err := ctx.Err(); err != nil {
		return objstore.Attrs{}, fmt.Errorf("stat %q: %w", key, err)
	}
	if err := objstore.ValidateKey(key); err != nil {
		return objstore.Attrs{}, err
	}
	if !b.cacheable(key) {
		return b.inner.Stat(ctx, key)
	}
	return b.attrs(ctx, key, b.mem.snapshot(b.ns, key))
}

// attrs returns key's attributes from the memory tier, the disk tier or the
// inner bucket, remembering what it learns in the tiers above, unless a
// write began since sn (see stripe). Concurrent misses with the same
// snapshot share one Stat.
func (b *Bucket) attrs(ctx context.Context, key string, sn snapshot) (objstore.Attrs, error) {
	k := attrsKey(b.ns, key)
	for {
		if a, ok := b.cachedAttrs(k, key, sn); ok {
			return a, nil
		}
		if !sn.clean {
			return b.statInner(ctx, key)
		}
		fk := flightKey{cacheKey: k, gen: sn.gen}
		owned, fl := b.mem.claim([]flightKey{fk})
		f := fl[0]
		if !owned[0] {
			retry, err := wait(ctx, f)
			switch {
			case retry:
				continue
			case errors.Is(err, errChanged):
				// A write began after the loader's Stat, and so after our
				// snapshot: learn the attributes ourselves, uncached.
				return b.statInner(ctx, key)
			case err != nil:
				return objstore.Attrs{}, err
			}
			a := f.attrs
			a.Key = key
			return a, nil
		}
		a, err := b.loadAttrs(ctx, k, key, sn)
		f.attrs, f.err = a, err
		b.mem.finish(fk, f)
		if errors.Is(err, errChanged) {
			err = nil // the attributes are still a correct answer for us
		}
		return a, err
	}
}

// cachedAttrs looks key's attributes up in the tiers, promoting a disk hit.
func (b *Bucket) cachedAttrs(k cacheKey, key string, sn snapshot) (objstore.Attrs, bool) {
	if a, ok := b.mem.attrs(k); ok {
		a.Key = key
		return a, true
	}
	if b.disk == nil {
		return objstore.Attrs{}, false
	}
	payload, ok := b.disk.get(k)
	if !ok {
		return objstore.Attrs{}, false
	}
	a, err := decodeAttrs(key, payload)
	if err != nil {
		// The checksums held but the content does not parse: a bug or a
		// foreign writer; never trust it.
		b.log.Warn("block cache: discarding undecodable attributes", "namespace", b.ns, "key", key, "err", err)
		b.disk.forget(k)
		return objstore.Attrs{}, false
	}
	sn.ifUnchanged(func() { b.mem.putAttrs(k, a) })
	return a, true
}

func (b *Bucket) statInner(ctx context.Context, key string) (objstore.Attrs, error) {
	b.counts.stats.Add(1)
	b.mem.inner.stats.Add(1)
	a, err := b.inner.Stat(ctx, key)
	if err != nil {
		return objstore.Attrs{}, err // missing objects are never remembered
	}
	a.Key = key
	return a, nil
}

// loadAttrs Stats key and remembers the result. It returns the attributes
// with errChanged when a write made them unfit to share or store.
func (b *Bucket) loadAttrs(ctx context.Context, k cacheKey, key string, sn snapshot) (objstore.Attrs, error) {
	// The attributes may have landed between the lookup and the claim.
	if a, ok := b.mem.attrs(k); ok {
		a.Key = key
		return a, nil
	}
	a, err := b.statInner(ctx, key)
	if err != nil || a.ETag == "" {
		return a, err
	}
	var pending *pendingEntry
	if b.disk != nil {
		if payload, err := encodeAttrs(a); err != nil {
			b.log.Warn("block cache: attributes not cached on disk", "namespace", b.ns, "key", key, "err", err)
		} else if pending, err = b.disk.prepare(k, payload); err != nil {
			b.log.Warn("block cache: attributes not cached on disk", "namespace", b.ns, "key", key, "err", err)
		}
	}
	// Storing while holding the stripe is what keeps a stale ETag out: a
	// write that begins later forgets what is stored here.
	stored := sn.ifUnchanged(func() {
		b.mem.putAttrs(k, a)
		if pending != nil {
			if err := pending.commit(); err != nil {
				b.log.Warn("block cache: attributes not cached on disk", "namespace", b.ns, "key", key, "err", err)
			}
		}
	})
	if !stored {
		if pending != nil {
			pending.abort()
		}
		return a, errChanged
	}
	return a, nil
}

// forget drops what the tiers remember about key's attributes. Its blocks
// need no forgetting: they are keyed by the old ETag, which nothing will
// ask for again, and age out.
func (b *Bucket) forget(key string) {
	k := attrsKey(b.ns, key)
	b.mem.lru.Remove(k)
	if b.disk != nil {
		b.disk.forget(k)
	}
}

// write runs a write of key through the stripe protocol.
func (b *Bucket) write(key string, op func() error) error {
	if !b.cacheable(key) {
		return op()
	}
	end := b.mem.beginWrite(b.ns, key)
	defer end()
	err := op()
	// Forget even when op failed: a failed write may still have landed.
	b.forget(key)
	return err
}

// Put implements objstore.Bucket.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader) error {
	return b.write(key, func() error { return b.inner.Put(ctx, key, r) })
}

// PutIfAbsent implements objstore.Bucket.
func (b *Bucket) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	return b.write(key, func() error { return b.inner.PutIfAbsent(ctx, key, r) })
}

// Delete implements objstore.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	return b.write(key, func() error { return b.inner.Delete(ctx, key) })
}

// List implements objstore.Bucket; listings are never cached.
func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[objstore.Attrs, error] {
	return b.inner.List(ctx, prefix)
}
