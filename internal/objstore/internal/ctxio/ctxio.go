// Package ctxio makes plain readers observe context cancellation, so a Put
// fed by a slow or endless reader stops when its context ends.
package ctxio

import (
	"context"
	"io"
)

// Reader returns r wrapped so that every Read first checks ctx and fails with
// ctx's error once it is done.
func Reader(ctx context.Context, r io.Reader) io.Reader {
	if ctx.Done() == nil {
		return r
	}
	return &reader{ctx: ctx, r: r}
}

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c *reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
