package table

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/lance/file"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/lance/schema"
	"github.com/sarissa-db/sarissa/internal/objstore"
)

// fragmentWriter streams Arrow batches into new data files under
// <root>/data/, rolling over to a new file (and fragment) whenever the
// current one reaches the row or byte bound. Nothing is committed: the caller
// puts the returned fragments into a transaction. Fragment ids are left 0;
// the commit assigns them.
type fragmentWriter struct {
	bucket  objstore.Bucket
	root    string
	opts    Options
	schema  *schema.Schema // Lance schema (with field ids) of the written columns
	target  *arrow.Schema  // Arrow schema the batches are conformed to
	newName func() (string, error)
	// rowsWritten counts rows over all files.
	rowsWritten int64
	cur         *openDataFile
	frags       []*tablepb.DataFragment
}

// writeAll consumes every batch of r (nil writes nothing) and returns one
// fragment per data file written.
func (w *fragmentWriter) writeAll(ctx context.Context, r array.RecordReader) ([]*tablepb.DataFragment, error) {
	if r == nil {
		return nil, nil
	}
	conf, err := newConformer(w.target, r.Schema())
	if err != nil {
		return nil, err
	}
	defer w.abort()
	for r.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rec, err := conf.apply(r.RecordBatch())
		if err != nil {
			return nil, err
		}
		err = w.add(ctx, rec)
		rec.Release()
		if err != nil {
			return nil, err
		}
	}
	if err := r.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read input: %w", err)
	}
	return w.close()
}

// add writes one batch that already has the target schema.
func (w *fragmentWriter) add(ctx context.Context, rec arrow.RecordBatch) error {
	return w.writeBatch(ctx, &w.cur, &w.frags, rec)
}

// close finishes the open file and returns every fragment written.
func (w *fragmentWriter) close() ([]*tablepb.DataFragment, error) {
	if w.cur != nil {
		f, err := w.cur.finish()
		w.cur = nil
		if err != nil {
			return nil, err
		}
		w.frags = append(w.frags, f)
	}
	frags := w.frags
	w.frags = nil
	return frags, nil
}

// abort cancels an unfinished file; files already finished stay behind
// unreferenced until cleanup removes them.
func (w *fragmentWriter) abort() {
	if w.cur != nil {
		w.cur.abort(errors.New("write abandoned"))
		w.cur = nil
	}
}

// writeBatch appends rec (already conformed) to the current file, splitting it
// at file boundaries.
func (w *fragmentWriter) writeBatch(ctx context.Context, cur **openDataFile, frags *[]*tablepb.DataFragment, rec arrow.RecordBatch) error {
	n := rec.NumRows()
	if n == 0 {
		return nil
	}
	rowBytes := max(recordBytes(rec)/n, 1)
	for off := int64(0); off < n; {
		if *cur == nil {
			f, err := w.open(ctx)
			if err != nil {
				return err
			}
			*cur = f
		}
		f := *cur
		room := min(w.opts.MaxRowsPerFile-f.rows, max((w.opts.MaxBytesPerFile-f.bytes)/rowBytes, 1))
		take := min(room, n-off)
		part := rec
		if take != n {
			part = rec.NewSlice(off, off+take)
		}
		err := f.w.Write(ctx, part)
		if part != rec {
			part.Release()
		}
		if err != nil {
			return fmt.Errorf("write data file %s: %w", f.key, err)
		}
		f.rows += take
		f.bytes += take * rowBytes
		w.rowsWritten += take
		off += take
		if f.rows >= w.opts.MaxRowsPerFile || f.bytes >= w.opts.MaxBytesPerFile {
			frag, err := f.finish()
			*cur = nil
			if err != nil {
				return err
			}
			*frags = append(*frags, frag)
		}
	}
	return nil
}

// openDataFile is a data file being streamed to the bucket through a pipe.
type openDataFile struct {
	name, key   string
	w           *file.Writer
	pw          *io.PipeWriter
	buf         *bufio.Writer
	put         chan error
	rows, bytes int64
}

func (w *fragmentWriter) open(ctx context.Context) (*openDataFile, error) {
	name, err := w.newName()
	if err != nil {
		return nil, fmt.Errorf("name data file: %w", err)
	}
	key := w.root + "/" + lance.DataFilePath(name)
	pr, pw := io.Pipe()
	put := make(chan error, 1)
	go func() {
		err := w.bucket.Put(ctx, key, pr)
		// Unblock the writer if the upload stopped early.
		pr.CloseWithError(errors.Join(err, errors.New("upload ended")))
		put <- err
	}()
	buf := bufio.NewWriterSize(pw, 1<<20)
	fw, err := file.NewWriter(buf, w.schema, file.WriterOptions{Path: key})
	if err != nil {
		pw.CloseWithError(err)
		<-put
		return nil, fmt.Errorf("data file %s: %w", key, err)
	}
	return &openDataFile{name: name, key: key, w: fw, pw: pw, buf: buf, put: put}, nil
}

// finish completes the file, waits for the upload and returns its fragment.
func (f *openDataFile) finish() (*tablepb.DataFragment, error) {
	info, err := f.w.Finish()
	if err == nil {
		err = f.buf.Flush()
	}
	if err != nil {
		f.abort(err)
		return nil, fmt.Errorf("finish data file %s: %w", f.key, err)
	}
	f.pw.Close()
	if err := <-f.put; err != nil {
		return nil, fmt.Errorf("upload data file %s: %w", f.key, err)
	}
	return &tablepb.DataFragment{
		Files: []*tablepb.DataFile{{
			Path:             f.name,
			Fields:           info.FieldIDs,
			ColumnIndices:    info.ColumnIndices,
			FileMajorVersion: info.MajorVersion,
			FileMinorVersion: info.MinorVersion,
			FileSizeBytes:    info.SizeBytes,
		}},
		PhysicalRows: info.NumRows,
	}, nil
}

// abort cancels the upload; the store never sees a partial object because
// every Bucket.Put is atomic.
func (f *openDataFile) abort(cause error) {
	f.pw.CloseWithError(cause)
	<-f.put
}

// recordBytes estimates the in-memory size of rec's data, for the file size
// bound.
func recordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, c := range rec.Columns() {
		n += dataBytes(c.Data())
	}
	return n
}

func dataBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataBytes(c)
	}
	return n
}
