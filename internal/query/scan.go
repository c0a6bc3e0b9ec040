package query

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sarissa-db/sarissa/internal/table"
)

// scanWork streams working batches over the live rows of the given
// fragments (nil: all) in scan order (fragments in manifest order, rows by
// offset): the given table columns, plus _rowid and _rowoffset when the
// plan needs them. _rowoffset counts live rows from the start of the
// table, so a scan of some fragments needs frags (liveFragments) to place
// them; a scan of all fragments counts as it goes. fn owns nothing;
// returning false stops the scan.
func (x *executor) scanWork(ctx context.Context, cols []string, fragments []uint64, frags []fragVectors, withRowID bool, fn func(work arrow.RecordBatch) (bool, error)) error {
	p := x.p
	if cols == nil {
		cols = []string{}
	}
	needRowID := withRowID || p.needRowID || (p.needRowOf && fragments != nil)
	sc, err := p.snap.Scan(ctx, table.ScanOptions{Columns: cols, WithRowID: needRowID, Fragments: fragments})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	defer sc.Close()
	var offset uint64
	for {
		rec, err := sc.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		work := rec
		if p.needRowOf {
			var offs []uint64
			if fragments == nil {
				offs = make([]uint64, rec.NumRows())
				for i := range offs {
					offs[i] = offset + uint64(i)
				}
			} else {
				addrs := rec.Column(rec.Schema().FieldIndices(colRowID)[0]).(*array.Uint64).Uint64Values()
				offs = rowOffsets(frags, addrs)
			}
			work = withColumns(rec, []arrow.Field{rowOffsetField()}, []arrow.Array{uint64Array(x.opts.Allocator, offs)})
			rec.Release()
		}
		offset += uint64(work.NumRows())
		more, err := fn(work)
		work.Release()
		if err != nil || !more {
			return err
		}
	}
}

// filterMasks evaluates the filter over the whole snapshot and returns, per
// fragment, the set of physical offsets whose rows match.
func (x *executor) filterMasks(ctx context.Context) (map[uint64]bitset, error) {
	masks := map[uint64]bitset{}
	for _, f := range x.p.snap.Lance().Fragments() {
		masks[f.GetId()] = newBitset(int(f.GetPhysicalRows()))
	}
	err := x.scanWork(ctx, x.p.filterCols, nil, nil, true, func(work arrow.RecordBatch) (bool, error) {
		mask, err := x.p.filter.EvalPredicate(ctx, work, x.opts.Allocator)
		if err != nil {
			return false, fmt.Errorf("%w: filter %q: %w", ErrInvalidRequest, x.p.req.Filter, err)
		}
		defer mask.Release()
		addrs := work.Column(work.Schema().FieldIndices(colRowID)[0]).(*array.Uint64).Uint64Values()
		for i, a := range addrs {
			if mask.Value(i) {
				fid, off := table.SplitRowAddress(a)
				if m, ok := masks[fid]; ok && int(off) < len(m)*64 {
					m.set(int(off))
				}
			}
		}
		return true, nil
	})
	return masks, err
}

// scanTask runs the scan part of a plain query on a plan executor: the
// task's fragments in manifest order, filtered, until offset + k rows
// matched. The rows keep the columns the projection reads, _rowid (the
// query node orders parts by it) and _rowoffset when the plan reads it.
func (x *executor) scanTask(ctx context.Context, t Task) (*Result, error) {
	p, req, mem := x.p, x.p.req, x.opts.Allocator
	schema := x.partialSchema(p.readCols, false)
	res := &Result{Schema: schema}
	if req.K == 0 || len(p.out) == 0 || len(t.Fragments) == 0 {
		return res, nil
	}
	var frags []fragVectors
	if p.needRowOf {
		var err error
		if frags, err = x.liveFragments(ctx); err != nil {
			return nil, err
		}
	}
	cols := p.readCols
	for _, c := range p.filterCols {
		cols = appendUnique(cols, c)
	}
	left := satAdd(req.Offset, req.K)
	err := x.scanWork(ctx, cols, t.Fragments, frags, true, func(work arrow.RecordBatch) (bool, error) {
		var idx []int32
		if p.filter != nil {
			mask, err := p.filter.EvalPredicate(ctx, work, mem)
			if err != nil {
				return false, fmt.Errorf("%w: filter %q: %w", ErrInvalidRequest, req.Filter, err)
			}
			idx = selected(mask)
			mask.Release()
			if len(idx) == 0 {
				return true, nil
			}
		}
		n := work.NumRows()
		if idx != nil {
			n = int64(len(idx))
		}
		if left < n {
			if idx == nil {
				idx = make([]int32, work.NumRows())
				for i := range idx {
					idx[i] = int32(i)
				}
			}
			idx = idx[:left]
		}
		sub, err := takeRows(ctx, mem, work, idx)
		if err != nil {
			return false, err
		}
		out, err := reshape(sub, schema)
		sub.Release()
		if err != nil {
			return false, err
		}
		res.Batches = append(res.Batches, out)
		left -= out.NumRows()
		return left > 0, nil
	})
	if err != nil {
		res.Release()
		return nil, err
	}
	return res, nil
}

// reshape returns the columns of rec that schema names, in its order.
func reshape(rec arrow.RecordBatch, schema *arrow.Schema) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		idx := rec.Schema().FieldIndices(f.Name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("query: working batch lacks column %q", f.Name)
		}
		cols[i] = rec.Column(idx[len(idx)-1])
	}
	return array.NewRecordBatch(schema, cols, rec.NumRows()), nil
}
