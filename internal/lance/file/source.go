package file

import (
	"context"
	"fmt"
	"io"
)

// RangeReader is where a Reader gets its bytes: an object in a bucket, a
// local file, memory.
//
// ReadRange returns exactly n bytes starting at off, or an error. The caller
// owns the returned slice and may keep it (the reader hands page bytes to
// Arrow arrays without copying), so implementations must not reuse it. It must
// be safe for concurrent use.
type RangeReader interface {
	ReadRange(ctx context.Context, off, n int64) ([]byte, error)
}

// RangeReaderAt is an optional capability of a RangeReader: reading straight
// into caller memory. When the source has it, large fixed-width reads land
// directly in the Arrow buffers they end up in.
type RangeReaderAt interface {
	ReadRangeAt(ctx context.Context, dst []byte, off int64) error
}

// ReaderAtSource adapts an io.ReaderAt (an *os.File, a bytes.Reader) to
// RangeReader and RangeReaderAt.
type ReaderAtSource struct {
	R io.ReaderAt
}

var (
	_ RangeReader   = ReaderAtSource{}
	_ RangeReaderAt = ReaderAtSource{}
)

// ReadRange implements RangeReader.
func (s ReaderAtSource) ReadRange(ctx context.Context, off, n int64) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("read range at %d: negative length %d", off, n)
	}
	b := make([]byte, n)
	if err := s.ReadRangeAt(ctx, b, off); err != nil {
		return nil, err
	}
	return b, nil
}

// ReadRangeAt implements RangeReaderAt.
func (s ReaderAtSource) ReadRangeAt(ctx context.Context, dst []byte, off int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n, err := s.R.ReadAt(dst, off)
	if n == len(dst) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read %d bytes at %d: got %d: %w", len(dst), off, n, err)
}
