// Package datagen builds deterministic Arrow test data covering every column
// type Sarissa stores, with nulls in every nullable column.
package datagen

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// AllTypesSchema is a schema with one column of each supported type. "id" is
// a non-nullable int64 equal to the row number.
func AllTypesSchema() *arrow.Schema {
	tsTypes := []arrow.DataType{
		&arrow.TimestampType{Unit: arrow.Second},
		&arrow.TimestampType{Unit: arrow.Millisecond},
		&arrow.TimestampType{Unit: arrow.Microsecond},
		&arrow.TimestampType{Unit: arrow.Nanosecond},
		&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"},
	}
	fields := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
		{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "f16", Type: arrow.FixedWidthTypes.Float16, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "flag", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "category", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "large_text", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "blob", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "ts_s", Type: tsTypes[0], Nullable: true},
		{Name: "ts_ms", Type: tsTypes[1], Nullable: true},
		{Name: "ts_us", Type: tsTypes[2], Nullable: true},
		{Name: "ts_ns", Type: tsTypes[3], Nullable: true},
		{Name: "ts_tz", Type: tsTypes[4], Nullable: true},
		{Name: "vec", Type: arrow.FixedSizeListOf(8, arrow.PrimitiveTypes.Float32), Nullable: true},
		{Name: "vec16", Type: arrow.FixedSizeListOf(4, arrow.FixedWidthTypes.Float16), Nullable: true},
		{Name: "code", Type: arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Uint8), Nullable: true},
		{Name: "qvec", Type: arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Int8), Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		{Name: "nums", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
		{Name: "info", Type: arrow.StructOf(
			arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
		), Nullable: true},
	}
	return arrow.NewSchema(fields, nil)
}

// AllTypes returns n rows of AllTypesSchema starting at row id first. The
// content is a pure function of (seed, row id); roughly one value in nine of
// every nullable column is null.
func AllTypes(mem memory.Allocator, seed uint64, first, n int) arrow.RecordBatch {
	sch := AllTypesSchema()
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for r := first; r < first+n; r++ {
		rng := rand.New(rand.NewPCG(seed, uint64(r)))
		null := func() bool { return rng.IntN(9) == 0 }
		for ci, f := range sch.Fields() {
			fb := b.Field(ci)
			if ci == 0 {
				fb.(*array.Int64Builder).Append(int64(r))
				continue
			}
			// Lance 2.0 files cannot encode struct validity, so structs are
			// never null themselves (their members are).
			if null() && f.Type.ID() != arrow.STRUCT {
				fb.AppendNull()
				continue
			}
			appendValue(fb, f.Name, rng, r, base)
		}
	}
	return b.NewRecordBatch()
}

var categories = []string{"alpha", "beta", "gamma", "delta"}

func appendValue(fb array.Builder, name string, rng *rand.Rand, r int, base int64) {
	switch b := fb.(type) {
	case *array.Int8Builder:
		b.Append(int8(rng.IntN(256) - 128))
	case *array.Int16Builder:
		b.Append(int16(rng.IntN(65536) - 32768))
	case *array.Int32Builder:
		b.Append(rng.Int32() - 1<<30)
	case *array.Int64Builder:
		b.Append(rng.Int64() - 1<<62)
	case *array.Uint8Builder:
		b.Append(uint8(rng.IntN(256)))
	case *array.Uint16Builder:
		b.Append(uint16(rng.IntN(65536)))
	case *array.Uint32Builder:
		b.Append(rng.Uint32())
	case *array.Uint64Builder:
		b.Append(rng.Uint64())
	case *array.Float16Builder:
		b.Append(float16.New(float32(rng.IntN(2000)-1000) / 8))
	case *array.Float32Builder:
		b.Append(rng.Float32()*200 - 100)
	case *array.Float64Builder:
		b.Append(rng.NormFloat64() * 1e6)
	case *array.BooleanBuilder:
		b.Append(rng.IntN(2) == 1)
	case *array.StringBuilder:
		if name == "category" {
			b.Append(categories[rng.IntN(len(categories))])
		} else {
			b.Append(fmt.Sprintf("row-%d-%x", r, rng.Uint32()))
		}
	case *array.LargeStringBuilder:
		b.Append(fmt.Sprintf("large text %d: %s", r, string(rune('a'+rng.IntN(26)))))
	case *array.BinaryBuilder:
		buf := make([]byte, rng.IntN(12))
		for i := range buf {
			buf[i] = byte(rng.IntN(256))
		}
		b.Append(buf)
	case *array.Date32Builder:
		b.Append(arrow.Date32(19000 + rng.IntN(2000)))
	case *array.TimestampBuilder:
		secs := base + int64(rng.IntN(1<<24))
		switch b.Type().(*arrow.TimestampType).Unit {
		case arrow.Second:
			b.Append(arrow.Timestamp(secs))
		case arrow.Millisecond:
			b.Append(arrow.Timestamp(secs*1e3 + int64(rng.IntN(1000))))
		case arrow.Microsecond:
			b.Append(arrow.Timestamp(secs*1e6 + int64(rng.IntN(1e6))))
		default:
			b.Append(arrow.Timestamp(secs*1e9 + int64(rng.IntN(1e9))))
		}
	case *array.FixedSizeListBuilder:
		b.Append(true)
		n := int(b.Type().(*arrow.FixedSizeListType).Len())
		for range n {
			vb := b.ValueBuilder()
			if rng.IntN(40) == 0 {
				vb.AppendNull()
				continue
			}
			appendValue(vb, name, rng, r, base)
		}
	case *array.ListBuilder:
		b.Append(true)
		for range rng.IntN(4) {
			vb := b.ValueBuilder()
			if rng.IntN(10) == 0 {
				vb.AppendNull()
				continue
			}
			if sb, ok := vb.(*array.StringBuilder); ok {
				sb.Append(categories[rng.IntN(len(categories))])
				continue
			}
			appendValue(vb, name, rng, r, base)
		}
	case *array.StructBuilder:
		b.Append(true)
		for i := range b.NumField() {
			fb := b.FieldBuilder(i)
			if rng.IntN(9) == 0 {
				fb.AppendNull()
				continue
			}
			appendValue(fb, name, rng, r, base)
		}
	default:
		panic(fmt.Sprintf("datagen: no generator for %T", fb))
	}
}

// Reader returns a RecordReader over batches of AllTypes covering rows
// [first, first+n) in batches of batch rows.
func Reader(mem memory.Allocator, seed uint64, first, n, batch int) array.RecordReader {
	var recs []arrow.RecordBatch
	for off := 0; off < n; off += batch {
		recs = append(recs, AllTypes(mem, seed, first+off, min(batch, n-off)))
	}
	rr, err := array.NewRecordReader(AllTypesSchema(), recs)
	for _, r := range recs {
		r.Release()
	}
	if err != nil {
		panic(err) // schemas are identical by construction
	}
	return rr
}
