package table

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/lance/schema"
)

// Take returns the rows at the given row addresses, in the order given, with
// the requested columns (nil: all). Addresses of deleted rows are skipped;
// addresses outside the table are an error. Only the pages holding the rows
// are read.
func (s *Snapshot) Take(ctx context.Context, addrs []uint64, columns []string) (arrow.RecordBatch, error) {
	fields, types, out, err := s.projection(columns)
	if err != nil {
		return nil, err
	}
	frags := make(map[uint64]*tablepb.DataFragment, len(s.ls.Fragments()))
	for _, f := range s.ls.Fragments() {
		frags[f.GetId()] = f
	}
	byFrag := map[uint64][]uint64{}
	var order []uint64 // fragments in first-seen order
	for _, a := range addrs {
		fid, off := SplitRowAddress(a)
		f, ok := frags[fid]
		if !ok || uint64(off) >= f.GetPhysicalRows() {
			return nil, fmt.Errorf("%w: row address %d (fragment %d, row %d) is not in version %d", ErrInvalidArgument, a, fid, off, s.Version())
		}
		if _, seen := byFrag[fid]; !seen {
			order = append(order, fid)
		}
		byFrag[fid] = append(byFrag[fid], uint64(off))
	}
	mem := s.t.opts.Allocator
	var parts []arrow.RecordBatch
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	rowOf := make(map[uint64]int32, len(addrs)) // row address → row in the concatenation
	var next int32
	for _, fid := range order {
		fr := newFragmentReader(s, frags[fid])
		dv, err := fr.deletions(ctx)
		if err != nil {
			return nil, err
		}
		offs := slices.Clone(byFrag[fid])
		slices.Sort(offs)
		offs = slices.Compact(offs)
		offs = slices.DeleteFunc(offs, func(o uint64) bool { return dv != nil && dv.Contains(uint32(o)) })
		if len(offs) == 0 {
			continue
		}
		plan, err := fr.plan(ctx, fields)
		if err != nil {
			return nil, err
		}
		cols, err := fr.take(ctx, fields, types, plan, offs)
		if err != nil {
			return nil, err
		}
		parts = append(parts, array.NewRecordBatch(out, cols, int64(len(offs))))
		releaseAll(cols)
		for _, o := range offs {
			rowOf[RowAddress(fid, uint32(o))] = next
			next++
		}
	}
	gather := make([]int32, 0, len(addrs))
	for _, a := range addrs {
		if r, ok := rowOf[a]; ok {
			gather = append(gather, r)
		}
	}
	return gatherRows(ctx, mem, out, parts, gather)
}

// gatherRows concatenates parts and picks the rows at gather, in order.
func gatherRows(ctx context.Context, mem memory.Allocator, sch *arrow.Schema, parts []arrow.RecordBatch, gather []int32) (arrow.RecordBatch, error) {
	ib := array.NewInt32Builder(mem)
	ib.AppendValues(gather, nil)
	idx := ib.NewArray()
	ib.Release()
	defer idx.Release()
	cols := make([]arrow.Array, sch.NumFields())
	defer releaseAll(cols)
	for c := range cols {
		pieces := make([]arrow.Array, len(parts))
		for i, p := range parts {
			pieces[i] = p.Column(c)
		}
		var whole arrow.Array
		var err error
		if len(pieces) == 0 {
			whole = array.MakeArrayOfNull(mem, sch.Field(c).Type, 0)
		} else {
			whole, err = array.Concatenate(pieces, mem)
			if err != nil {
				return nil, fmt.Errorf("take column %q: %w", sch.Field(c).Name, err)
			}
		}
		taken, err := compute.TakeArray(compute.WithAllocator(ctx, mem), whole, idx)
		whole.Release()
		if err != nil {
			return nil, fmt.Errorf("take column %q: %w", sch.Field(c).Name, err)
		}
		cols[c] = taken
	}
	return array.NewRecordBatch(sch, cols, int64(len(gather))), nil
}

// projection resolves top-level column names (nil: all) to Lance fields,
// their Arrow types and the output schema.
func (s *Snapshot) projection(columns []string) ([]*schema.Field, []arrow.DataType, *arrow.Schema, error) {
	if columns == nil {
		columns = s.columnNames()
	}
	fields := make([]*schema.Field, len(columns))
	types := make([]arrow.DataType, len(columns))
	afs := make([]arrow.Field, len(columns))
	for i, name := range columns {
		idx := s.schema.FieldIndex(name)
		if idx < 0 || slices.Index(columns, name) != i {
			return nil, nil, nil, fmt.Errorf("%w: unknown or repeated column %q (columns: %s)", ErrInvalidArgument, name, quoteList(s.columnNames()))
		}
		fields[i] = s.schema.Fields[idx]
		afs[i] = s.arrow.Field(idx)
		types[i] = afs[i].Type
	}
	return fields, types, arrow.NewSchema(afs, nil), nil
}

// fieldIDs lists the ids of f and all its descendants, depth-first.
func fieldIDs(f *schema.Field) []int32 {
	ids := []int32{f.ID}
	for _, c := range f.Children {
		ids = append(ids, fieldIDs(c)...)
	}
	return ids
}
