package ingest

import (
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// vectorizeSource turns variable-length numeric list columns named as vector
// columns into FixedSizeList<Float32, dim>, the type vector search needs.
// Parquet writers other than Arrow's (Spark, DuckDB, Hugging Face datasets)
// store embeddings as plain lists; LanceDB's Python client converts them the
// same way. The dimension comes from the first non-null value, so batches
// are read ahead until one is found.
type vectorizeSource struct {
	path    string
	inner   source
	mem     memory.Allocator
	sch     *arrow.Schema
	dims    map[int]int // column index → dimension
	pending []arrow.RecordBatch
	row     int64 // rows converted so far, for error positions
}

// isNumericList reports whether t is a list of numbers.
func isNumericList(t arrow.DataType) bool {
	var elem arrow.DataType
	switch lt := t.(type) {
	case *arrow.ListType:
		elem = lt.Elem()
	case *arrow.LargeListType:
		elem = lt.Elem()
	default:
		return false
	}
	return arrow.IsInteger(elem.ID()) || arrow.IsFloating(elem.ID())
}

// vectorize wraps src if any vector column of it is a numeric list.
func vectorize(path string, src source, opts Options) (source, error) {
	sch := src.schema()
	var cols []int
	for i, f := range sch.Fields() {
		if slices.Contains(opts.VectorColumns, f.Name) && isNumericList(f.Type) {
			cols = append(cols, i)
		}
	}
	if len(cols) == 0 {
		return src, nil
	}
	v := &vectorizeSource{path: path, inner: src, mem: opts.Allocator, dims: map[int]int{}}
	for len(v.dims) < len(cols) {
		rec, err := src.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			v.close()
			return nil, err
		}
		v.pending = append(v.pending, rec)
		for _, c := range cols {
			if _, ok := v.dims[c]; ok {
				continue
			}
			if n, ok := firstListLen(rec.Column(c)); ok {
				if n == 0 {
					v.close()
					return nil, inputError(path, "", "vector column %q holds an empty list", sch.Field(c).Name)
				}
				v.dims[c] = n
			}
		}
	}
	fields := slices.Clone(sch.Fields())
	for _, c := range cols {
		dim, ok := v.dims[c]
		if !ok {
			delete(v.dims, c) // only nulls: keep the list type
			continue
		}
		fields[c].Type = arrow.FixedSizeListOf(int32(dim), arrow.PrimitiveTypes.Float32)
	}
	md := sch.Metadata()
	v.sch = arrow.NewSchema(fields, &md)
	return v, nil
}

// firstListLen returns the length of the first non-null list in a.
func firstListLen(a arrow.Array) (int, bool) {
	l := a.(array.ListLike)
	for i := range a.Len() {
		if a.IsValid(i) {
			start, end := l.ValueOffsets(i)
			return int(end - start), true
		}
	}
	return 0, false
}

func (v *vectorizeSource) schema() *arrow.Schema { return v.sch }

func (v *vectorizeSource) next() (arrow.RecordBatch, error) {
	var rec arrow.RecordBatch
	if len(v.pending) > 0 {
		rec, v.pending = v.pending[0], v.pending[1:]
	} else {
		var err error
		if rec, err = v.inner.next(); err != nil {
			return nil, err
		}
	}
	defer rec.Release()
	cols := slices.Clone(rec.Columns())
	var made []arrow.Array
	defer func() {
		for _, a := range made {
			a.Release()
		}
	}()
	for c, dim := range v.dims {
		a, err := v.toVectors(rec.Column(c), dim, v.sch.Field(c).Name)
		if err != nil {
			return nil, err
		}
		made = append(made, a)
		cols[c] = a
	}
	v.row += rec.NumRows()
	return array.NewRecordBatch(v.sch, cols, rec.NumRows()), nil
}

// toVectors converts one list column to FixedSizeList<Float32, dim>.
func (v *vectorizeSource) toVectors(a arrow.Array, dim int, name string) (arrow.Array, error) {
	l := a.(array.ListLike)
	values := l.ListValues()
	b := array.NewFixedSizeListBuilder(v.mem, int32(dim), arrow.PrimitiveTypes.Float32)
	defer b.Release()
	vb := b.ValueBuilder().(*array.Float32Builder)
	b.Reserve(a.Len())
	vb.Reserve(a.Len() * dim)
	for i := range a.Len() {
		if a.IsNull(i) {
			b.AppendNull()
			continue
		}
		start, end := l.ValueOffsets(i)
		if int(end-start) != dim {
			return nil, inputError(v.path, fmt.Sprintf("row %d", v.row+int64(i)), "vector column %q has %d values; the column holds %d-dimensional vectors", name, end-start, dim)
		}
		b.Append(true)
		for j := start; j < end; j++ {
			if values.IsNull(int(j)) {
				vb.AppendNull()
				continue
			}
			vb.Append(numberAt(values, int(j)))
		}
	}
	return b.NewArray(), nil
}

// numberAt reads element i of a numeric array as float32.
func numberAt(a arrow.Array, i int) float32 {
	switch a := a.(type) {
	case *array.Float32:
		return a.Value(i)
	case *array.Float64:
		return float32(a.Value(i))
	case *array.Float16:
		return a.Value(i).Float32()
	case *array.Int8:
		return float32(a.Value(i))
	case *array.Int16:
		return float32(a.Value(i))
	case *array.Int32:
		return float32(a.Value(i))
	case *array.Int64:
		return float32(a.Value(i))
	case *array.Uint8:
		return float32(a.Value(i))
	case *array.Uint16:
		return float32(a.Value(i))
	case *array.Uint32:
		return float32(a.Value(i))
	case *array.Uint64:
		return float32(a.Value(i))
	}
	panic(fmt.Sprintf("numberAt: %s is not numeric", a.DataType())) // isNumericList admitted it
}

func (v *vectorizeSource) close() {
	for _, r := range v.pending {
		r.Release()
	}
	v.pending = nil
	v.inner.close()
}
