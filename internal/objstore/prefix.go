package objstore

import (
	"context"
	"fmt"
	"io"
	"iter"
	"strings"
)

// WithPrefix returns a view of b restricted to the keys under the directory
// prefix: key k in the view is key prefix+"/"+k in b, and List yields keys
// relative to the prefix. A trailing '/' on prefix is optional; an empty
// prefix returns b itself.
//
// The prefix must be a valid key (see ValidateKey). An invalid prefix yields a
// bucket whose every operation fails with ErrInvalidKey, so that a bad
// configured location surfaces on first use rather than silently widening the
// view.
func WithPrefix(b Bucket, prefix string) Bucket {
	dir := strings.TrimSuffix(prefix, "/")
	if dir == "" {
		return b
	}
	if err := ValidateKey(dir); err != nil {
		return errBucket{fmt.Errorf("bucket prefix: %w", err)}
	}
	return &prefixed{b: b, prefix: dir + "/"}
}

type prefixed struct {
	b      Bucket
	prefix string // ends with '/'
}

var _ Bucket = (*prefixed)(nil)

// full maps a view key to the underlying key. The underlying bucket would
// reject any invalid key after joining too, but validating first makes the
// error name the key the caller passed.
func (p *prefixed) full(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return p.prefix + key, nil
}

func (p *prefixed) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	k, err := p.full(key)
	if err != nil {
		return nil, err
	}
	return p.b.Get(ctx, k)
}

func (p *prefixed) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	k, err := p.full(key)
	if err != nil {
		return nil, err
	}
	return p.b.GetRange(ctx, k, off, length)
}

func (p *prefixed) Stat(ctx context.Context, key string) (Attrs, error) {
	k, err := p.full(key)
	if err != nil {
		return Attrs{}, err
	}
	a, err := p.b.Stat(ctx, k)
	if err != nil {
		return Attrs{}, err
	}
	a.Key = key
	return a, nil
}

func (p *prefixed) Put(ctx context.Context, key string, r io.Reader) error {
	k, err := p.full(key)
	if err != nil {
		return err
	}
	return p.b.Put(ctx, k, r)
}

func (p *prefixed) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	k, err := p.full(key)
	if err != nil {
		return err
	}
	return p.b.PutIfAbsent(ctx, k, r)
}

func (p *prefixed) List(ctx context.Context, prefix string) iter.Seq2[Attrs, error] {
	return func(yield func(Attrs, error) bool) {
		if err := ValidatePrefix(prefix); err != nil {
			yield(Attrs{}, err)
			return
		}
		for a, err := range p.b.List(ctx, p.prefix+prefix) {
			if err != nil {
				yield(Attrs{}, err)
				return
			}
			rel, ok := strings.CutPrefix(a.Key, p.prefix)
			if !ok {
				yield(Attrs{}, fmt.Errorf("list %q: underlying bucket returned key %q outside prefix %q", prefix, a.Key, p.prefix))
				return
			}
			a.Key = rel
			if !yield(a, nil) {
				return
			}
		}
	}
}

func (p *prefixed) Delete(ctx context.Context, key string) error {
	k, err := p.full(key)
	if err != nil {
		return err
	}
	return p.b.Delete(ctx, k)
}

// errBucket fails every operation with err.
type errBucket struct{ err error }

var _ Bucket = errBucket{}

func (e errBucket) Get(context.Context, string) (io.ReadCloser, error) { return nil, e.err }
func (e errBucket) GetRange(context.Context, string, int64, int64) (io.ReadCloser, error) {
	return nil, e.err
}
func (e errBucket) Stat(context.Context, string) (Attrs, error)  { return Attrs{}, e.err }
func (e errBucket) Put(context.Context, string, io.Reader) error { return e.err }
func (e errBucket) PutIfAbsent(context.Context, string, io.Reader) error {
	return e.err
}
func (e errBucket) List(context.Context, string) iter.Seq2[Attrs, error] {
	return func(yield func(Attrs, error) bool) { yield(Attrs{}, e.err) }
}
func (e errBucket) Delete(context.Context, string) error { return e.err }
