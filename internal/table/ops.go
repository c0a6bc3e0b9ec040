package table

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/lance/schema"
)

func (t *Table) fragmentWriter(sch *schema.Schema, target *arrow.Schema) *fragmentWriter {
	return &fragmentWriter{bucket: t.lt.Bucket(), root: t.lt.Root(), opts: t.opts, schema: sch, target: target,
		newName: t.lt.NewDataFileName}
}

func newNameFunc(entropy io.Reader) func() (string, error) {
	if entropy == nil {
		entropy = crand.Reader
	}
	return func() (string, error) { return lance.NewDataFileName(entropy) }
}

// Append writes the batches of r as new fragments and commits them as the
// next version. Concurrent appends never conflict.
func (t *Table) Append(ctx context.Context, r array.RecordReader) (*Snapshot, int64, error) {
	base, err := t.writableLatest(ctx)
	if err != nil {
		return nil, 0, err
	}
	w := t.fragmentWriter(base.schema, base.arrow)
	frags, err := w.writeAll(ctx, r)
	if err != nil {
		return nil, 0, err
	}
	if len(frags) == 0 {
		return base, 0, nil
	}
	s, err := t.commit(ctx, base, "append", lance.NewAppend(frags...))
	return s, w.rowsWritten, err
}

// Overwrite replaces the table's schema and content with r (nil for an empty
// table of schema sch; sch nil keeps the reader's schema).
func (t *Table) Overwrite(ctx context.Context, sch *arrow.Schema, r array.RecordReader) (*Snapshot, int64, error) {
	base, err := t.writableLatest(ctx)
	if err != nil {
		return nil, 0, err
	}
	if sch == nil {
		if r == nil {
			return nil, 0, fmt.Errorf("%w: overwrite needs a schema or data", ErrInvalidArgument)
		}
		sch = r.Schema()
	}
	ls, err := schema.FromArrow(sch, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	w := t.fragmentWriter(ls, sch)
	frags, err := w.writeAll(ctx, r)
	if err != nil {
		return nil, 0, err
	}
	fields, meta := ls.ToProto()
	s, err := t.commit(ctx, base, "overwrite", lance.NewOverwrite(fields, meta, frags, nil))
	return s, w.rowsWritten, err
}

// Count returns the number of live rows matching filter (all rows if empty).
func (s *Snapshot) Count(ctx context.Context, filter string) (int64, error) {
	if filter == "" {
		return s.NumRows(), nil
	}
	return s.CountFragments(ctx, filter, nil)
}

// CountFragments returns the number of live rows of the given fragments
// (nil: all) matching filter (all rows if empty).
func (s *Snapshot) CountFragments(ctx context.Context, filter string, fragments []uint64) (int64, error) {
	sc, err := s.Scan(ctx, ScanOptions{Columns: []string{}, Filter: filter, Fragments: fragments})
	if err != nil {
		return 0, err
	}
	defer sc.Close()
	var n int64
	for {
		rec, err := sc.Next(ctx)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
		n += rec.NumRows()
		rec.Release()
	}
}

// onLatest runs a read-modify-write operation on the newest writable
// version, re-planning it on incompatible conflicts (see retryOp). op returns
// the committed version and the number of rows it affected.
func (t *Table) onLatest(ctx context.Context, op func(base *Snapshot) (*Snapshot, int64, error)) (*Snapshot, int64, error) {
	type result struct {
		s *Snapshot
		n int64
	}
	r, err := retryOp(ctx, func() (result, error) {
		base, err := t.writableLatest(ctx)
		if err != nil {
			return result{}, err
		}
		s, n, err := op(base)
		return result{s, n}, err
	})
	return r.s, r.n, err
}

// retryOp re-executes a read-modify-write operation when its commit lost
// against an incompatible concurrent change (e.g. another delete of the same
// rows): the operation is re-planned on the newest version, as Lance does for
// delete, update and merge_insert.
func retryOp[T any](ctx context.Context, op func() (T, error)) (T, error) {
	var zero T
	var err error
	for range defaultOpRetries {
		var v T
		v, err = op()
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, lance.ErrIncompatibleConflict) {
			return zero, err
		}
		if cerr := ctx.Err(); cerr != nil {
			return zero, cerr
		}
	}
	return zero, err
}
