package query

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Working batches hold the table columns a query reads plus the system
// columns (_rowid, _rowoffset, _distance) it needs, located by name. Filters
// and computed columns are evaluated over them, then project shapes the
// output.

// withColumns returns rec with extra columns appended. It takes ownership of
// the extra arrays; rec keeps its own reference.
func withColumns(rec arrow.RecordBatch, fields []arrow.Field, cols []arrow.Array) arrow.RecordBatch {
	allFields := append(append([]arrow.Field(nil), rec.Schema().Fields()...), fields...)
	allCols := append(append([]arrow.Array(nil), rec.Columns()...), cols...)
	out := array.NewRecordBatch(arrow.NewSchema(allFields, nil), allCols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out
}

// takeRows returns the rows of rec at idx, in order (idx nil: all of rec,
// as a new reference).
func takeRows(ctx context.Context, mem memory.Allocator, rec arrow.RecordBatch, idx []int32) (arrow.RecordBatch, error) {
	if idx == nil {
		rec.Retain()
		return rec, nil
	}
	b := array.NewInt32Builder(mem)
	b.AppendValues(idx, nil)
	ia := b.NewArray()
	b.Release()
	defer ia.Release()
	cols := make([]arrow.Array, 0, rec.NumCols())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for i, col := range rec.Columns() {
		t, err := compute.TakeArray(compute.WithAllocator(ctx, mem), col, ia)
		if err != nil {
			return nil, fmt.Errorf("select rows of %q: %w", rec.ColumnName(i), err)
		}
		cols = append(cols, t)
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(len(idx))), nil
}

// project builds the output batch from a working batch. queryIndex ≥ 0
// prepends the query_index column.
func (p *plan) project(ctx context.Context, mem memory.Allocator, work arrow.RecordBatch, queryIndex int) (arrow.RecordBatch, error) {
	n := int(work.NumRows())
	cols := make([]arrow.Array, 0, len(p.out)+1)
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	if p.vec != nil && p.req.MultiVector {
		b := array.NewInt32Builder(mem)
		b.Reserve(n)
		for range n {
			b.UnsafeAppend(int32(queryIndex))
		}
		cols = append(cols, b.NewArray())
		b.Release()
	}
	for _, o := range p.out {
		var src string
		switch o.kind {
		case outExpr:
			a, err := o.bound.Eval(ctx, work, mem)
			if err != nil {
				return nil, fmt.Errorf("%w: column %q: %w", ErrInvalidRequest, o.name, err)
			}
			cols = append(cols, a)
			continue
		case outTable:
			src = o.src
		case outDistance:
			src = colDistance
		case outRowID:
			src = colRowID
		case outRowOffset:
			src = colRowOffset
		}
		idx := work.Schema().FieldIndices(src)
		if len(idx) == 0 {
			return nil, fmt.Errorf("query: working batch lacks column %q", src)
		}
		c := work.Column(idx[0])
		c.Retain()
		cols = append(cols, c)
	}
	return array.NewRecordBatch(p.outSchema, cols, int64(n)), nil
}

// selected returns the indices of the rows a predicate mask selects.
func selected(mask *array.Boolean) []int32 {
	idx := make([]int32, 0, mask.Len())
	for i := range mask.Len() {
		if mask.Value(i) {
			idx = append(idx, int32(i))
		}
	}
	return idx
}

// uint64Array builds a UInt64 array.
func uint64Array(mem memory.Allocator, vals []uint64) arrow.Array {
	b := array.NewUint64Builder(mem)
	b.AppendValues(vals, nil)
	a := b.NewArray()
	b.Release()
	return a
}

// float32Array builds a Float32 array.
func float32Array(mem memory.Allocator, vals []float32) arrow.Array {
	b := array.NewFloat32Builder(mem)
	b.AppendValues(vals, nil)
	a := b.NewArray()
	b.Release()
	return a
}
