// Package arrowhttp decodes Arrow IPC stream request bodies safely and
// encodes Arrow IPC file responses, as the LanceDB REST protocol uses them:
// clients send create/insert/merge_insert data as (usually LZ4-compressed)
// IPC streams and read query results as uncompressed IPC files.
//
// Request bodies are untrusted. Every length a stream claims is checked
// before arrow-go sees the message (see guard), and every decoded batch is
// checked for buffers too small for the lengths it claims (see validate)
// before it is handed to the caller, so that a hostile body yields an error
// wrapping ErrInvalid instead of a huge allocation or a panic later on.
package arrowhttp

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ErrInvalid is wrapped by every error caused by the body's content:
// malformed or truncated streams, lengths beyond the limits, batches that do
// not match their schema.
var ErrInvalid = errors.New("invalid arrow ipc body")

// ErrTooLarge is wrapped (next to ErrInvalid) when the stream exceeds a size
// limit: a message longer than MaxMessageBytes or more decoded data than
// MaxDecodedBytes. HTTP callers answer it with 413.
var ErrTooLarge = errors.New("arrow ipc body too large")

// Limits bound what one stream may make the server hold.
type Limits struct {
	// MaxMetadataBytes bounds one message's flatbuffer metadata (4 MiB).
	MaxMetadataBytes int64
	// MaxMessageBytes bounds one message's body as sent (1 GiB).
	MaxMessageBytes int64
	// MaxDecodedBytes bounds the decoded size of the whole stream: buffer
	// bytes after decompression plus a bit per row (1 GiB).
	MaxDecodedBytes int64
	// MaxNestingDepth bounds the schema's type nesting (32).
	MaxNestingDepth int
}

func (l Limits) withDefaults() Limits {
	if l.MaxMetadataBytes <= 0 {
		l.MaxMetadataBytes = 4 << 20
	}
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = 1 << 30
	}
	if l.MaxDecodedBytes <= 0 {
		l.MaxDecodedBytes = 1 << 30
	}
	if l.MaxNestingDepth <= 0 {
		l.MaxNestingDepth = 32
	}
	return l
}

// StreamReader is an array.RecordReader over an Arrow IPC stream body.
// Batches are validated before Next returns true. The batch returned by
// RecordBatch is valid until the next call to Next; retain it to keep it.
type StreamReader struct {
	refs atomic.Int64
	g    *guard
	r    *ipc.Reader
	cur  arrow.RecordBatch
	err  error
	rows int64
}

var _ array.RecordReader = (*StreamReader)(nil)

// NewStreamReader reads the schema message of body and returns a reader for
// its batches. Errors caused by the content wrap ErrInvalid; an
// *http.MaxBytesError from the body is passed through (wrapped) so that the
// caller can answer 413.
func NewStreamReader(body io.Reader, lim Limits, mem memory.Allocator) (*StreamReader, error) {
	lim = lim.withDefaults()
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	g := &guard{r: body, lim: lim}
	r, err := newIPCReader(g, lim, mem)
	if err != nil {
		return nil, g.cause(err)
	}
	if err := validateSchema(r.Schema(), lim.MaxNestingDepth); err != nil {
		r.Release()
		return nil, err
	}
	if err := g.setLayouts(r.Schema()); err != nil {
		r.Release()
		return nil, err
	}
	sr := &StreamReader{g: g, r: r}
	sr.refs.Store(1)
	return sr, nil
}

func newIPCReader(g *guard, lim Limits, mem memory.Allocator) (r *ipc.Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("%w: schema: %v", ErrInvalid, p)
		}
	}()
	return ipc.NewReader(g,
		ipc.WithAllocator(mem),
		ipc.WithMetadataSizeLimit(lim.MaxMetadataBytes),
		ipc.WithBodySizeLimit(lim.MaxMessageBytes),
	)
}

// cause returns the guard's own error when it stopped the stream (arrow-go
// buries it under its own context), else err classified.
func (g *guard) cause(err error) error {
	if g.err != nil {
		return classify(g.err)
	}
	return classify(err)
}

// classify makes sure an error from decoding wraps ErrInvalid, unless it is
// the body size limit, which callers report differently.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrInvalid) {
		return err
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrInvalid, err)
}

// Schema returns the stream's schema.
func (s *StreamReader) Schema() *arrow.Schema { return s.r.Schema() }

// Next advances to the next batch; false at the end or on an error (see Err).
func (s *StreamReader) Next() bool {
	if s.err != nil {
		return false
	}
	s.cur = nil
	if !s.r.Next() {
		if err := s.r.Err(); err != nil {
			s.err = s.g.cause(err)
		} else if !s.g.done {
			// arrow-go treats a stream cut at a message boundary as
			// complete; only the end-of-stream marker proves it is.
			s.err = fmt.Errorf("%w: stream ends at byte %d without the end-of-stream marker (truncated body?)", ErrInvalid, s.g.offset)
		}
		return false
	}
	rec := s.r.RecordBatch()
	if err := validateRecord(rec); err != nil {
		s.err = fmt.Errorf("%w: batch %d (after %d rows): %w", ErrInvalid, s.g.msgs, s.rows, err)
		return false
	}
	s.rows += rec.NumRows()
	s.cur = rec
	return true
}

// RecordBatch returns the current batch.
func (s *StreamReader) RecordBatch() arrow.RecordBatch { return s.cur }

// Record returns the current batch.
//
// Deprecated: use RecordBatch.
func (s *StreamReader) Record() arrow.RecordBatch { return s.cur }

// Err returns the error that ended the stream, nil at a clean end.
func (s *StreamReader) Err() error { return s.err }

// Rows returns the number of rows handed out so far.
func (s *StreamReader) Rows() int64 { return s.rows }

// Retain adds a reference.
func (s *StreamReader) Retain() { s.refs.Add(1) }

// Release drops a reference; the last one frees the reader's memory.
func (s *StreamReader) Release() {
	if s.refs.Add(-1) == 0 {
		s.cur = nil
		s.r.Release()
	}
}

// WriteFile writes batches of schema sch as one uncompressed Arrow IPC file
// (what the LanceDB client expects from query/). An empty result is still a
// valid file carrying the schema.
func WriteFile(w io.Writer, sch *arrow.Schema, batches []arrow.RecordBatch, mem memory.Allocator) error {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	fw, err := ipc.NewFileWriter(w, ipc.WithSchema(sch), ipc.WithAllocator(mem))
	if err != nil {
		return fmt.Errorf("arrow file: %w", err)
	}
	if len(batches) == 0 {
		// A zero-row batch, not none: the Node client derives the result
		// table's schema from the batches it receives, so a file without
		// batches reaches the user as a table without columns.
		cols := emptyColumns(sch, mem)
		empty := array.NewRecordBatch(sch, cols, 0)
		for _, c := range cols {
			c.Release()
		}
		defer empty.Release()
		batches = []arrow.RecordBatch{empty}
	}
	for i, b := range batches {
		if err := fw.Write(b); err != nil {
			fw.Close()
			return fmt.Errorf("arrow file: batch %d: %w", i, err)
		}
	}
	if err := fw.Close(); err != nil {
		return fmt.Errorf("arrow file: %w", err)
	}
	return nil
}

func emptyColumns(sch *arrow.Schema, mem memory.Allocator) []arrow.Array {
	cols := make([]arrow.Array, sch.NumFields())
	for i, f := range sch.Fields() {
		// A builder, not MakeArrayOfNull: its empty nested arrays lack
		// the single offset the IPC writer needs.
		b := array.NewBuilder(mem, f.Type)
		cols[i] = b.NewArray()
		b.Release()
	}
	return cols
}
