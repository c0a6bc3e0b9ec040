package blockcache

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
)

// countingBucket counts the reads that reach the bucket it wraps. When gate
// is set, GetRange signals entered and then waits for gate to close (or for
// its context to end), so a test can hold a load in flight.
type countingBucket struct {
	objstore.Bucket
	gets, ranges, stats atomic.Int64
	readBytes           atomic.Int64

	gate    chan struct{}
	entered chan struct{}
}

func (c *countingBucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.Bucket.Get(ctx, key)
}

func (c *countingBucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	c.ranges.Add(1)
	if c.gate != nil {
		c.entered <- struct{}{}
		select {
		case <-c.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	rc, err := c.Bucket.GetRange(ctx, key, off, length)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	c.readBytes.Add(int64(len(data)))
	return io.NopCloser(bytes.NewReader(data)), err
}

func (c *countingBucket) Stat(ctx context.Context, key string) (objstore.Attrs, error) {
	c.stats.Add(1)
	return c.Bucket.Stat(ctx, key)
}

// requests is every read-side request the wrapped bucket saw.
func (c *countingBucket) requests() int64 { return c.gets.Load() + c.ranges.Load() + c.stats.Load() }

func (c *countingBucket) reset() {
	c.gets.Store(0)
	c.ranges.Store(0)
	c.stats.Store(0)
	c.readBytes.Store(0)
}

func newCounting() *countingBucket { return &countingBucket{Bucket: memory.New()} }

func newMemTier(t testing.TB, budget int64) *MemoryTier {
	t.Helper()
	m, err := NewMemoryTier(budget, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func openDisk(t testing.TB, cfg DiskConfig) *DiskTier {
	t.Helper()
	d, err := OpenDiskTier(context.Background(), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newCache(t testing.TB, inner objstore.Bucket, cfg Config, deps Deps) *Bucket {
	t.Helper()
	if cfg.Namespace == "" {
		cfg.Namespace = "mem://test"
	}
	b, err := New(inner, cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustPut(t testing.TB, b objstore.Bucket, key string, data []byte) {
	t.Helper()
	if err := b.Put(context.Background(), key, bytes.NewReader(data)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func readRange(t testing.TB, b objstore.Bucket, key string, off, n int64) []byte {
	t.Helper()
	rc, err := b.GetRange(context.Background(), key, off, n)
	if err != nil {
		t.Fatalf("GetRange(%q, %d, %d): %v", key, off, n, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("GetRange(%q, %d, %d): read: %v", key, off, n, err)
	}
	return data
}

func wantRange(t testing.TB, b objstore.Bucket, key string, off, n int64, want []byte) {
	t.Helper()
	if got := readRange(t, b, key, off, n); !bytes.Equal(got, want) {
		t.Fatalf("GetRange(%q, %d, %d): got %d bytes, want %d (content differs: %v)", key, off, n, len(got), len(want), len(got) == len(want))
	}
}

// content returns n deterministic bytes that differ per seed.
func content(seed byte, n int) []byte {
	out := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range out {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out[i] = byte(x)
	}
	return out
}
