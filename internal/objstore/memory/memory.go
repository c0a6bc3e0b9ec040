// Package memory is an in-memory objstore.Bucket for tests and the embedded
// single-process mode. Content lives only as long as the Bucket value.
package memory

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/internal/ctxio"
)

// Bucket is an in-memory objstore.Bucket. The zero value is not usable; call New.
type Bucket struct {
	now func() time.Time

	mu      sync.RWMutex
	objects map[string]object
	gen     uint64 // bumped by every write; source of unique ETags
}

// object is immutable once stored: Put replaces it, so readers may keep a
// reference to data without holding the lock.
type object struct {
	data    []byte
	etag    string
	modTime time.Time
}

var _ objstore.Bucket = (*Bucket)(nil)

// Option configures a Bucket.
type Option func(*Bucket)

// WithClock sets the clock used for LastModified (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(b *Bucket) { b.now = now }
}

// New returns an empty bucket.
func New(opts ...Option) *Bucket {
	b := &Bucket{now: time.Now, objects: make(map[string]object)}
	for _, o := range opts {
		o(b)
	}
	return b
}

func (b *Bucket) lookup(ctx context.Context, op, key string) (object, error) {
	if err := ctx.Err(); err != nil {
		return object{}, err
	}
	if err := objstore.ValidateKey(key); err != nil {
		return object{}, err
	}
	b.mu.RLock()
	o, ok := b.objects[key]
	b.mu.RUnlock()
	if !ok {
		return object{}, fmt.Errorf("%s %q: %w", op, key, objstore.ErrNotExist)
	}
	return o, nil
}

// Get implements objstore.Bucket.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	o, err := b.lookup(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(o.data)), nil
}

// GetRange implements objstore.Bucket.
func (b *Bucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("get %q range: negative offset %d", key, off)
	}
	o, err := b.lookup(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	size := int64(len(o.data))
	start := min(off, size)
	end := size
	if length >= 0 && length < size-start {
		end = start + length
	}
	return io.NopCloser(bytes.NewReader(o.data[start:end])), nil
}

// Stat implements objstore.Bucket.
func (b *Bucket) Stat(ctx context.Context, key string) (objstore.Attrs, error) {
	o, err := b.lookup(ctx, "stat", key)
	if err != nil {
		return objstore.Attrs{}, err
	}
	return o.attrs(key), nil
}

func (o object) attrs(key string) objstore.Attrs {
	return objstore.Attrs{Key: key, Size: int64(len(o.data)), ETag: o.etag, LastModified: o.modTime}
}

// Put implements objstore.Bucket.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader) error {
	return b.put(ctx, "put", key, r, false)
}

// PutIfAbsent implements objstore.Bucket.
func (b *Bucket) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	return b.put(ctx, "put-if-absent", key, r, true)
}

func (b *Bucket) put(ctx context.Context, op, key string, r io.Reader, ifAbsent bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := objstore.ValidateKey(key); err != nil {
		return err
	}
	// Read before locking: the reader may be slow, and other keys should not wait.
	data, err := io.ReadAll(ctxio.Reader(ctx, r))
	if err != nil {
		return fmt.Errorf("%s %q: read content: %w", op, key, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.objects[key]; ok && ifAbsent {
		return fmt.Errorf("%s %q: %w", op, key, objstore.ErrExists)
	}
	b.gen++
	b.objects[key] = object{data: data, etag: strconv.FormatUint(b.gen, 10), modTime: b.now()}
	return nil
}

// List implements objstore.Bucket. It yields a snapshot taken when iteration
// starts; later writes do not affect it.
func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[objstore.Attrs, error] {
	return func(yield func(objstore.Attrs, error) bool) {
		if err := objstore.ValidatePrefix(prefix); err != nil {
			yield(objstore.Attrs{}, err)
			return
		}
		var snap []objstore.Attrs
		b.mu.RLock()
		for k, o := range b.objects {
			if strings.HasPrefix(k, prefix) {
				snap = append(snap, o.attrs(k))
			}
		}
		b.mu.RUnlock()
		slices.SortFunc(snap, func(x, y objstore.Attrs) int { return strings.Compare(x.Key, y.Key) })
		for _, a := range snap {
			if err := ctx.Err(); err != nil {
				yield(objstore.Attrs{}, err)
				return
			}
			if !yield(a, nil) {
				return
			}
		}
	}
}

// Delete implements objstore.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := objstore.ValidateKey(key); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.objects, key)
	b.mu.Unlock()
	return nil
}
