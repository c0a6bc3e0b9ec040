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

// scanWork streams working batches over every live row in scan order
// (fragments in manifest order, rows by offset): the given table columns,
// plus _rowid and _rowoffset when the plan needs them. fn owns nothing;
// returning false stops the scan.
func (x *executor) scanWork(ctx context.Context, cols []string, withRowID bool, fn func(work arrow.RecordBatch) (bool, error)) error {
	p := x.p
	if cols == nil {
		cols = []string{}
	}
	sc, err := p.snap.Scan(ctx, table.ScanOptions{Columns: cols, WithRowID: withRowID || p.needRowID})
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
			offs := make([]uint64, rec.NumRows())
			for i := range offs {
				offs[i] = offset + uint64(i)
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
	err := x.scanWork(ctx, x.p.filterCols, true, func(work arrow.RecordBatch) (bool, error) {
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

// runScan executes a query without a vector: rows in scan order, filtered,
// then offset and limit (k), then projected.
func (x *executor) runScan(ctx context.Context) (*Result, error) {
	p, req, mem := x.p, x.p.req, x.opts.Allocator
	res := &Result{Schema: p.outSchema}
	if req.K == 0 || len(p.out) == 0 {
		// LanceDB returns no rows for limit 0 and for an empty selection.
		return res, nil
	}
	cols := p.readCols
	for _, c := range p.filterCols {
		cols = appendUnique(cols, c)
	}
	skip, left := req.Offset, req.K
	err := x.scanWork(ctx, cols, false, func(work arrow.RecordBatch) (bool, error) {
		var idx []int32
		if p.filter != nil {
			mask, err := p.filter.EvalPredicate(ctx, work, mem)
			if err != nil {
				return false, fmt.Errorf("%w: filter %q: %w", ErrInvalidRequest, req.Filter, err)
			}
			idx = selected(mask)
			mask.Release()
		}
		n := int64(work.NumRows())
		if idx != nil {
			n = int64(len(idx))
		}
		if skip >= n {
			skip -= n
			return true, nil
		}
		if skip > 0 || left < n {
			if idx == nil {
				idx = make([]int32, work.NumRows())
				for i := range idx {
					idx[i] = int32(i)
				}
			}
			idx = cut(idx, skip, left)
			skip = 0
		}
		if idx != nil && len(idx) == 0 {
			return left > 0, nil
		}
		sub, err := takeRows(ctx, mem, work, idx)
		if err != nil {
			return false, err
		}
		out, err := p.project(ctx, mem, sub, -1)
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
