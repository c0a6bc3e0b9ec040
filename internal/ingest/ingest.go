// Package ingest reads data files (Parquet, Arrow IPC, CSV, JSON Lines) as a
// stream of Arrow record batches for `sarissa import`. Files are never loaded
// whole: Parquet is read a batch at a time within row groups, Arrow IPC a
// record batch at a time, and CSV and JSON Lines keep only the rows they
// sample for type inference. Bytes read are counted for progress reporting.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Format names an input file format.
type Format string

// Supported formats.
const (
	Parquet   Format = "parquet"
	ArrowIPC  Format = "arrow" // file or stream, told apart by the magic
	CSV       Format = "csv"
	JSONLines Format = "jsonl"
)

// Formats lists the supported formats in the order help texts show them.
var Formats = []Format{Parquet, ArrowIPC, CSV, JSONLines}

var (
	// ErrFormat reports a format that is unknown or cannot be determined.
	ErrFormat = errors.New("unknown input format")
	// ErrInput reports malformed file contents; the message names the file
	// and the line, row or batch where the problem was found.
	ErrInput = errors.New("bad input")
)

// Defaults for Options.
const (
	DefaultBatchRows = 8192
	DefaultInferRows = 1000
)

// Options configures Open. Zero values select defaults.
type Options struct {
	// Format is the file format; empty means detect it from the file name
	// and, failing that, from the first bytes.
	Format Format
	// BatchRows is the number of rows per batch.
	BatchRows int
	// InferRows is how many rows of a CSV or JSON Lines file are sampled to
	// infer the column types.
	InferRows int
	// VectorColumns are the columns whose arrays of numbers become vectors
	// (FixedSizeList<Float32, dim>): in CSV and JSON Lines, and variable-size
	// lists in Parquet and Arrow files. nil means {"vector"}, as LanceDB's
	// clients infer.
	VectorColumns []string
	// Delimiter separates CSV fields; 0 means ',' (tab for .tsv files).
	Delimiter rune
	// Allocator allocates the batches; nil means the Go allocator.
	Allocator memory.Allocator
}

func (o Options) withDefaults() Options {
	if o.BatchRows <= 0 {
		o.BatchRows = DefaultBatchRows
	}
	if o.InferRows <= 0 {
		o.InferRows = DefaultInferRows
	}
	if o.VectorColumns == nil {
		o.VectorColumns = []string{"vector"}
	}
	if o.Allocator == nil {
		o.Allocator = memory.NewGoAllocator()
	}
	return o
}

// source is one format's batch stream.
type source interface {
	schema() *arrow.Schema
	// next returns the next batch, owned by the caller, or io.EOF.
	next() (arrow.RecordBatch, error)
	close()
}

// Reader streams the batches of one file. It implements array.RecordReader,
// so it can be handed to table.Create and Table.Append; errors are reported
// by Err after Next returns false. It is not safe for concurrent use, except
// BytesRead and Rows, which a progress reporter may call from another
// goroutine.
type Reader struct {
	refs   atomic.Int64
	path   string
	format Format
	file   *countingFile
	src    source
	schema *arrow.Schema
	cur    arrow.RecordBatch
	rows   atomic.Int64
	err    error
	done   bool
}

var _ array.RecordReader = (*Reader)(nil)

// Open opens the file at path and reads enough of it to know its schema.
func Open(ctx context.Context, path string, opts Options) (*Reader, error) {
	opts = opts.withDefaults()
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, inputError(path, "", "is a directory")
	}
	cf := &countingFile{f: f, size: fi.Size()}
	format, err := detect(path, opts.Format, cf)
	if err != nil {
		f.Close()
		return nil, err
	}
	if opts.Delimiter == 0 {
		opts.Delimiter = ','
		if filepath.Ext(path) == ".tsv" {
			opts.Delimiter = '\t'
		}
	}
	// A corrupt or hostile file can claim buffers of any size; no single
	// allocation may exceed what the file could plausibly decompress to.
	opts.Allocator = newBoundedAllocator(opts.Allocator, allocLimit(fi.Size()))
	r := &Reader{path: path, format: format, file: cf}
	r.refs.Store(1)
	err = r.guard(func() error {
		var err error
		switch format {
		case Parquet:
			r.src, err = openParquet(ctx, path, cf, opts)
		case ArrowIPC:
			r.src, err = openIPC(path, cf, opts)
		case CSV:
			r.src, err = openCSV(path, cf, opts)
		case JSONLines:
			r.src, err = openJSONLines(path, cf, opts)
		}
		if err == nil && (format == Parquet || format == ArrowIPC) {
			r.src, err = vectorize(path, r.src, opts)
		}
		return err
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	r.schema = r.src.schema()
	return r, nil
}

// guard runs fn and turns a panic inside a decoder (corrupt input reaching
// an assertion in a library, or an allocation over the bound) into ErrInput.
func (r *Reader) guard(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = inputError(r.path, "", "corrupt %s file: %v", r.format, p)
		}
	}()
	return fn()
}

// Path returns the file name; Format its format.
func (r *Reader) Path() string   { return r.path }
func (r *Reader) Format() Format { return r.format }

// Size returns the file size in bytes.
func (r *Reader) Size() int64 { return r.file.size }

// BytesRead returns how many bytes of the file were read so far (at most
// Size). Safe to call from any goroutine.
func (r *Reader) BytesRead() int64 { return min(r.file.n.Load(), r.file.size) }

// Rows returns the number of rows returned so far. Safe to call from any
// goroutine.
func (r *Reader) Rows() int64 { return r.rows.Load() }

// Schema returns the schema of every batch.
func (r *Reader) Schema() *arrow.Schema { return r.schema }

// Next advances to the next non-empty batch.
func (r *Reader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	for !r.done {
		var rec arrow.RecordBatch
		err := r.guard(func() error {
			var err error
			rec, err = r.src.next()
			return err
		})
		if err != nil {
			r.done = true
			if !errors.Is(err, io.EOF) {
				r.err = err
				return false
			}
			// Everything is processed even if some bytes (footers, padding)
			// were never read: progress ends at 100%.
			r.file.n.Store(r.file.size)
			return false
		}
		if rec.NumRows() == 0 {
			rec.Release()
			continue
		}
		r.cur = rec
		r.rows.Add(rec.NumRows())
		return true
	}
	return false
}

// RecordBatch returns the current batch; it is valid until the next call to
// Next (Retain it to keep it).
func (r *Reader) RecordBatch() arrow.RecordBatch { return r.cur }

// Record returns the current batch.
//
// Deprecated: use RecordBatch; kept for array.RecordReader.
func (r *Reader) Record() arrow.RecordBatch { return r.cur }

// Err returns the error that stopped Next, if any.
func (r *Reader) Err() error { return r.err }

// Retain adds a reference.
func (r *Reader) Retain() { r.refs.Add(1) }

// Release drops a reference; the last one closes the file.
func (r *Reader) Release() {
	if r.refs.Add(-1) == 0 {
		r.Close()
	}
}

// Close releases the current batch and closes the file. It is safe to call
// more than once.
func (r *Reader) Close() {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.src != nil {
		r.src.close()
		r.src = nil
	}
	if r.file != nil && r.file.f != nil {
		r.file.f.Close()
		r.file.f = nil
	}
	r.done = true
}

// InputError is malformed file contents at a position. It matches ErrInput
// with errors.Is.
type InputError struct {
	Path string
	// Pos is where the problem is ("12" for a line, "12:5" for a line and
	// column, "row group 3"), or empty for the whole file.
	Pos string
	Msg string
}

func (e *InputError) Error() string {
	switch {
	case e.Pos == "":
		return e.Path + ": " + e.Msg
	case e.Pos[0] >= '0' && e.Pos[0] <= '9':
		return e.Path + ":" + e.Pos + ": " + e.Msg // file:line:col, as compilers print
	}
	return e.Path + ": " + e.Pos + ": " + e.Msg
}

// Is makes errors.Is(err, ErrInput) true.
func (e *InputError) Is(target error) bool { return target == ErrInput }

// inputError builds an InputError.
func inputError(path, pos string, format string, a ...any) error {
	return &InputError{Path: path, Pos: pos, Msg: fmt.Sprintf(format, a...)}
}
