package vindex

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// scanBatchRows is the batch size of build scans: large enough to amortise
// per-batch work, small enough that one batch is a few MiB.
const scanBatchRows = 8192

// vectorColumn describes an indexable column of a snapshot.
type vectorColumn struct {
	name    string
	fieldID int32
	dim     int
	half    bool // float16 elements
}

// resolveColumn checks that column exists in snap and is a
// FixedSizeList<float32|float16>.
func resolveColumn(snap *table.Snapshot, column string) (vectorColumn, error) {
	sch := snap.Schema()
	idx := sch.FieldIndices(column)
	if len(idx) == 0 {
		return vectorColumn{}, fmt.Errorf("column %q does not exist: %w", column, ErrInvalid)
	}
	f := sch.Field(idx[0])
	fsl, ok := f.Type.(*arrow.FixedSizeListType)
	if !ok {
		return vectorColumn{}, fmt.Errorf("column %q has type %s; a vector index needs a fixed size list of float32 or float16: %w", column, f.Type, ErrInvalid)
	}
	vc := vectorColumn{name: column, dim: int(fsl.Len())}
	switch fsl.Elem().ID() {
	case arrow.FLOAT32:
	case arrow.FLOAT16:
		vc.half = true
	default:
		return vectorColumn{}, fmt.Errorf("column %q has type %s; a vector index needs a fixed size list of float32 or float16: %w", column, f.Type, ErrInvalid)
	}
	if vc.dim <= 0 {
		return vectorColumn{}, fmt.Errorf("column %q has dimension %d: %w", column, vc.dim, ErrInvalid)
	}
	lf := snap.LanceSchema().FieldByName(column)
	if lf == nil {
		return vectorColumn{}, fmt.Errorf("column %q has no Lance field id: %w", column, ErrInvalid)
	}
	vc.fieldID = lf.ID
	return vc, nil
}

// scanVectors streams the live rows of the given fragments (nil: all) of
// snap and calls fn with each batch's usable vectors: rows whose vector is
// null or holds a NaN or infinity are skipped (no distance to them is
// defined, and they would poison k-means). fn must not keep the slices.
func scanVectors(ctx context.Context, snap *table.Snapshot, vc vectorColumn, fragments []uint64,
	fn func(addrs []uint64, vecs []float32) error) error {
	if fragments != nil && len(fragments) == 0 {
		return nil
	}
	sc, err := snap.Scan(ctx, table.ScanOptions{
		Columns:   []string{vc.name},
		WithRowID: true,
		Fragments: fragments,
		BatchRows: scanBatchRows,
	})
	if err != nil {
		return fmt.Errorf("scan column %q: %w", vc.name, err)
	}
	defer sc.Close()
	var addrs []uint64
	var vecs []float32
	for {
		rec, err := sc.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("scan column %q: %w", vc.name, err)
		}
		addrs, vecs, err = extractVectors(rec, vc, addrs[:0], vecs[:0])
		rec.Release()
		if err != nil {
			return err
		}
		if len(addrs) == 0 {
			continue
		}
		if err := fn(addrs, vecs); err != nil {
			return err
		}
	}
}

// extractVectors appends the usable rows of rec (vector column first, row
// address column last) to addrs and vecs.
func extractVectors(rec arrow.RecordBatch, vc vectorColumn, addrs []uint64, vecs []float32) ([]uint64, []float32, error) {
	if rec.NumCols() < 2 {
		return nil, nil, fmt.Errorf("scan of %q returned %d columns, want the vector and %s", vc.name, rec.NumCols(), table.RowIDColumn)
	}
	list, ok := rec.Column(0).(*array.FixedSizeList)
	if !ok {
		return nil, nil, fmt.Errorf("scan of %q returned %s, not a fixed size list", vc.name, rec.Column(0).DataType())
	}
	ids, ok := rec.Column(int(rec.NumCols()) - 1).(*array.Uint64)
	if !ok {
		return nil, nil, fmt.Errorf("scan of %q returned row ids of type %s", vc.name, rec.Column(int(rec.NumCols())-1).DataType())
	}
	dim := vc.dim
	var f32 []float32
	var f16 *array.Float16
	switch v := list.ListValues().(type) {
	case *array.Float32:
		f32 = v.Float32Values()
	case *array.Float16:
		f16 = v
	default:
		return nil, nil, fmt.Errorf("scan of %q returned elements of type %s", vc.name, v.DataType())
	}
	for i := 0; i < list.Len(); i++ {
		if list.IsNull(i) {
			continue
		}
		start, _ := list.ValueOffsets(i)
		base := len(vecs)
		if f32 != nil {
			if int(start)+dim > len(f32) {
				return nil, nil, fmt.Errorf("scan of %q: row %d lies outside its values", vc.name, i)
			}
			vecs = append(vecs, f32[start:int(start)+dim]...)
		} else {
			if int(start)+dim > f16.Len() {
				return nil, nil, fmt.Errorf("scan of %q: row %d lies outside its values", vc.name, i)
			}
			for j := 0; j < dim; j++ {
				vecs = append(vecs, vector.HalfToFloat32(f16.Value(int(start)+j).Uint16()))
			}
		}
		if !finite(vecs[base:]) {
			vecs = vecs[:base]
			continue
		}
		addrs = append(addrs, ids.Value(i))
	}
	return addrs, vecs, nil
}

func finite(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}
