// Package objstore is Sarissa's storage boundary: a small Bucket interface over
// object stores (local filesystem, memory, Azure Blob) with the one primitive the
// Lance commit protocol needs, an atomic create-if-absent put.
//
// Every implementation runs the conformance suite in objstoretest.
package objstore

import (
	"context"
	"errors"
	"io"
	"iter"
	"time"
)

var (
	// ErrNotExist reports that the object does not exist.
	ErrNotExist = errors.New("object does not exist")
	// ErrExists reports that a PutIfAbsent lost: the object already exists.
	ErrExists = errors.New("object already exists")
)

// Attrs describes one stored object.
type Attrs struct {
	Key          string // full key relative to the bucket root, '/'-separated
	Size         int64
	ETag         string // opaque; changes whenever the content changes
	LastModified time.Time
}

// Bucket is a flat keyspace of immutable-ish objects. Keys are '/'-separated,
// relative, without a leading slash, and never contain "." or ".." segments;
// ValidateKey states the exact rules, and every method rejects other keys
// with ErrInvalidKey.
//
// Backends with real directories (the local filesystem, Azure accounts with a
// hierarchical namespace) cannot hold both "a" and "a/b": the second write
// fails with an error that is neither ErrExists nor ErrNotExist. Lance layouts
// never need both.
//
// Every method that blocks honors ctx; a canceled context yields an error
// wrapping ctx.Err().
//
// Implementations are safe for concurrent use. Readers returned by Get and
// GetRange are owned by the caller, who must Close them. A Put is atomic: a
// concurrent reader sees the old object or the new one, never a mix.
type Bucket interface {
	// Get streams the whole object. Missing → ErrNotExist (wrapped).
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// GetRange streams length bytes starting at off; length < 0 reads to the end.
	// A range past the end is truncated to the object's end.
	GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)
	// Stat returns the object's attributes. Missing → ErrNotExist.
	Stat(ctx context.Context, key string) (Attrs, error)
	// Put creates or replaces the object with the content of r.
	Put(ctx context.Context, key string, r io.Reader) error
	// PutIfAbsent creates the object only if no object has the key; otherwise it
	// writes nothing and returns ErrExists. Exactly one of any number of
	// concurrent PutIfAbsent calls for a key succeeds.
	PutIfAbsent(ctx context.Context, key string, r io.Reader) error
	// List yields the objects whose keys start with prefix, in lexical key order.
	// Iteration stops at the first error, which is yielded with zero Attrs.
	List(ctx context.Context, prefix string) iter.Seq2[Attrs, error]
	// Delete removes the object. Deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
}
