package table

import (
	"context"
	"fmt"
	"io"

	"github.com/sarissa-db/sarissa/internal/lance/file"
	"github.com/sarissa-db/sarissa/internal/objstore"
)

// bucketSource reads byte ranges of one object for the Lance file reader.
type bucketSource struct {
	bucket objstore.Bucket
	key    string
}

var (
	_ file.RangeReader   = bucketSource{}
	_ file.RangeReaderAt = bucketSource{}
)

func (s bucketSource) ReadRange(ctx context.Context, off, n int64) ([]byte, error) {
	return objstore.ReadRange(ctx, s.bucket, s.key, off, n)
}

// ReadRangeAt lets the reader place large fixed-width reads directly into the
// Arrow buffers they end up in.
func (s bucketSource) ReadRangeAt(ctx context.Context, dst []byte, off int64) error {
	rc, err := s.bucket.GetRange(ctx, s.key, off, int64(len(dst)))
	if err != nil {
		return err
	}
	got, err := io.ReadFull(rc, dst)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("read %q range [%d, +%d): got %d bytes: %w", s.key, off, len(dst), got, err)
	}
	return nil
}
