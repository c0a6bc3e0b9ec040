package table

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"

	"github.com/sarissa-db/sarissa/internal/filter"
	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"google.golang.org/protobuf/proto"
)

// Delete removes the rows matching predicate and returns the new version and
// the number of rows deleted. Rows are marked in deletion files; data files
// are never rewritten. As in Lance, a new version is committed even when
// nothing matches.
func (t *Table) Delete(ctx context.Context, predicate string) (*Snapshot, int64, error) {
	if strings.TrimSpace(predicate) == "" {
		return nil, 0, fmt.Errorf("%w: delete needs a predicate", ErrInvalidArgument)
	}
	return t.onLatest(ctx, func(base *Snapshot) (*Snapshot, int64, error) {
		hits, n, err := base.matchingRows(ctx, predicate)
		if err != nil {
			return nil, 0, err
		}
		// Like Lance, a delete that matches nothing still commits a version.
		updated, removed, err := base.applyDeletions(ctx, hits)
		if err != nil {
			return nil, 0, err
		}
		s, err := t.commit(ctx, base, "delete", lance.NewDelete(updated, removed, predicate))
		return s, n, err
	})
}

// matchingRows returns, per fragment id, the physical offsets of live rows
// matching predicate, and their total.
func (s *Snapshot) matchingRows(ctx context.Context, predicate string) (map[uint64]*lance.DeletionVector, int64, error) {
	sc, err := s.Scan(ctx, ScanOptions{Columns: []string{}, Filter: predicate, WithRowID: true})
	if err != nil {
		return nil, 0, err
	}
	defer sc.Close()
	hits := map[uint64]*lance.DeletionVector{}
	var n int64
	for {
		rec, err := sc.Next(ctx)
		if errors.Is(err, io.EOF) {
			return hits, n, nil
		}
		if err != nil {
			return nil, 0, err
		}
		addHits(hits, rec.Column(int(rec.NumCols())-1).(*array.Uint64))
		n += rec.NumRows()
		rec.Release()
	}
}

func addHits(hits map[uint64]*lance.DeletionVector, addrs *array.Uint64) {
	for _, a := range addrs.Uint64Values() {
		frag, off := SplitRowAddress(a)
		dv := hits[frag]
		if dv == nil {
			dv = lance.NewDeletionVector()
			hits[frag] = dv
		}
		dv.Add(off)
	}
}

// applyDeletions merges new deletions into the fragments' deletion vectors and
// writes the new deletion files. It returns the updated fragments and the ids
// of fragments whose every row is now deleted.
func (s *Snapshot) applyDeletions(ctx context.Context, hits map[uint64]*lance.DeletionVector) ([]*tablepb.DataFragment, []uint64, error) {
	var (
		updated []*tablepb.DataFragment
		removed []uint64
	)
	for _, frag := range s.ls.Fragments() {
		add, ok := hits[frag.GetId()]
		if !ok {
			continue
		}
		dv, err := s.t.lt.ReadDeletionVector(ctx, frag.GetId(), frag.GetDeletionFile())
		if err != nil {
			return nil, nil, err
		}
		dv.Union(add)
		if dv.Len() >= frag.GetPhysicalRows() {
			removed = append(removed, frag.GetId())
			continue
		}
		df, err := s.t.lt.WriteDeletionFile(ctx, frag.GetId(), s.Version(), dv)
		if err != nil {
			return nil, nil, err
		}
		nf := proto.Clone(frag).(*tablepb.DataFragment)
		nf.DeletionFile = df
		updated = append(updated, nf)
	}
	return updated, removed, nil
}

// SetClause assigns the value of a SQL expression to a column.
type SetClause struct {
	Column string
	Expr   string
}

// Update rewrites the rows matching predicate (all rows if empty) with the
// SET expressions evaluated on each row. Updated rows move to new fragments
// and are deleted from their old ones (Lance's REWRITE_ROWS mode).
func (t *Table) Update(ctx context.Context, predicate string, sets []SetClause) (*Snapshot, int64, error) {
	if len(sets) == 0 {
		return nil, 0, fmt.Errorf("%w: update needs at least one column to set", ErrInvalidArgument)
	}
	return t.onLatest(ctx, func(base *Snapshot) (*Snapshot, int64, error) {
		return t.update(ctx, base, predicate, sets)
	})
}

func (t *Table) update(ctx context.Context, base *Snapshot, predicate string, sets []SetClause) (*Snapshot, int64, error) {
	setCols := make([]int, len(sets))
	exprs := make([]*filter.Bound, len(sets))
	var modified []uint32
	for i, sc := range sets {
		idx := base.schema.FieldIndex(sc.Column)
		if idx < 0 {
			return nil, 0, fmt.Errorf("%w: update: no column %q in table", ErrInvalidArgument, sc.Column)
		}
		if slices.Contains(setCols[:i], idx) {
			return nil, 0, fmt.Errorf("%w: update: column %q is set twice", ErrInvalidArgument, sc.Column)
		}
		b, err := compileExpr(sc.Expr, base.arrow)
		if err != nil {
			return nil, 0, fmt.Errorf("update column %q: %w", sc.Column, err)
		}
		setCols[i], exprs[i] = idx, b
		for _, id := range fieldIDs(base.schema.Fields[idx]) {
			modified = append(modified, uint32(id))
		}
	}
	sc, err := base.Scan(ctx, ScanOptions{Filter: predicate, WithRowID: true})
	if err != nil {
		return nil, 0, err
	}
	defer sc.Close()
	w := t.fragmentWriter(base.schema, base.arrow)
	defer w.abort()
	hits := map[uint64]*lance.DeletionVector{}
	var n int64
	for {
		rec, err := sc.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		out, err := t.applySets(ctx, base.arrow, rec, setCols, exprs)
		if err == nil {
			err = w.add(ctx, out)
			out.Release()
		}
		if err == nil {
			addHits(hits, rec.Column(int(rec.NumCols())-1).(*array.Uint64))
			n += rec.NumRows()
		}
		rec.Release()
		if err != nil {
			return nil, 0, err
		}
	}
	newFrags, err := w.close()
	if err != nil {
		return nil, 0, err
	}
	// Like Lance, an update that matches nothing still commits a version.
	updated, removed, err := base.applyDeletions(ctx, hits)
	if err != nil {
		return nil, 0, err
	}
	s, err := t.commit(ctx, base, "update", lance.NewUpdate(removed, updated, newFrags, modified))
	return s, n, err
}

// applySets returns rec (table columns followed by _rowid) with the set
// columns replaced by their expressions, without the _rowid column.
func (t *Table) applySets(ctx context.Context, sch *arrow.Schema, rec arrow.RecordBatch, setCols []int, exprs []*filter.Bound) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, sch.NumFields())
	defer releaseAll(cols)
	for i := range cols {
		c := rec.Column(i)
		c.Retain()
		cols[i] = c
	}
	for k, idx := range setCols {
		v, err := exprs[k].Eval(ctx, rec, t.opts.Allocator)
		if err != nil {
			return nil, fmt.Errorf("update column %q: %w", sch.Field(idx).Name, err)
		}
		c, err := castTo(ctx, t, v, sch.Field(idx))
		v.Release()
		if err != nil {
			return nil, err
		}
		cols[idx].Release()
		cols[idx] = c
	}
	for i, f := range sch.Fields() {
		if err := checkNulls(f.Name, f, cols[i].Data()); err != nil {
			return nil, err
		}
	}
	return array.NewRecordBatch(sch, cols, rec.NumRows()), nil
}

// castTo converts an expression result to a column's type.
func castTo(ctx context.Context, t *Table, v arrow.Array, f arrow.Field) (arrow.Array, error) {
	if arrow.TypeEqual(v.DataType(), f.Type) {
		v.Retain()
		return v, nil
	}
	if compatibleType(f.Name, f.Type, v.DataType()) == nil {
		return asType(v, f.Type)
	}
	out, err := compute.CastArray(compute.WithAllocator(ctx, t.opts.Allocator), v, compute.SafeCastOptions(f.Type))
	if err != nil {
		return nil, fmt.Errorf("%w: cannot store a value of type %s in column %q of type %s: %w", ErrInvalidArgument, v.DataType(), f.Name, f.Type, err)
	}
	return out, nil
}

// compileExpr parses and binds a value expression (SET and new-column
// expressions; filters go through filter.Compile, which demands a boolean).
func compileExpr(src string, sch *arrow.Schema) (*filter.Bound, error) {
	e, err := filter.Parse(src)
	if err != nil {
		return nil, err
	}
	return filter.Bind(e, sch)
}
