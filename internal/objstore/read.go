package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ReadAll returns the whole content of the object at key.
func ReadAll(ctx context.Context, b Bucket, key string) ([]byte, error) {
	rc, err := b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", key, err)
	}
	return data, nil
}

// ReadRange returns exactly n bytes of the object at key starting at off.
// Unlike GetRange, which truncates at the object's end, a range that does not
// fit inside the object is an error wrapping io.ErrUnexpectedEOF: callers
// reading a footer or page at a known offset must notice a truncated file
// instead of decoding short data.
func ReadRange(ctx context.Context, b Bucket, key string, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("read %q range [%d, +%d): negative offset or length", key, off, n)
	}
	rc, err := b.GetRange(ctx, key, off, n)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	got, err := io.ReadFull(rc, buf)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, io.EOF) {
		// io.ReadFull reports a range that starts at or past the end as
		// plain EOF; to the caller it is the same truncation.
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, fmt.Errorf("read %q range [%d, +%d): got %d bytes: %w", key, off, n, got, err)
	}
	return buf, nil
}
