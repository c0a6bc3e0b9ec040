package ingest

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// countingFile counts the bytes read through it, sequentially or at offsets.
type countingFile struct {
	f    *os.File
	size int64
	n    atomic.Int64
}

func (c *countingFile) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.f.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingFile) Seek(off int64, whence int) (int64, error) {
	return c.f.Seek(off, whence)
}

var _ io.ReadSeeker = (*countingFile)(nil)
var _ io.ReaderAt = (*countingFile)(nil)

// allocLimit bounds a single allocation while decoding a file of the given
// size. Uncompressed buffers are never larger than the file; compressed ones
// rarely expand more than 64-fold. The floor keeps small files with highly
// compressible columns working; the ceiling keeps a hostile length from
// taking the machine's memory.
func allocLimit(fileSize int64) int {
	const floor, ceiling = 64 << 20, 4 << 30
	return int(min(max(fileSize*64, floor), ceiling))
}

// allocTooLarge is the panic value of boundedAllocator; Reader.guard turns it
// into an input error.
type allocTooLarge struct{ size, limit int }

func (a allocTooLarge) String() string {
	return fmt.Sprintf("a buffer of %d bytes is claimed, more than the %d a file of this size can hold", a.size, a.limit)
}

// boundedAllocator refuses single allocations over limit. Allocators cannot
// return errors, so it panics; every decoder call runs under Reader.guard.
type boundedAllocator struct {
	memory.Allocator
	limit int
}

func newBoundedAllocator(a memory.Allocator, limit int) *boundedAllocator {
	return &boundedAllocator{Allocator: a, limit: limit}
}

func (b *boundedAllocator) Allocate(size int) []byte {
	if size > b.limit || size < 0 {
		panic(allocTooLarge{size, b.limit})
	}
	return b.Allocator.Allocate(size)
}

func (b *boundedAllocator) Reallocate(size int, buf []byte) []byte {
	if size > b.limit || size < 0 {
		panic(allocTooLarge{size, b.limit})
	}
	return b.Allocator.Reallocate(size, buf)
}
