package filter

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// fixtureSchema covers every column type the evaluator supports. Each
// column has 5 rows; row 3 is NULL in most columns.
func fixtureSchema() *arrow.Schema {
	tsUnit := func(u arrow.TimeUnit, tz string) arrow.DataType { return &arrow.TimestampType{Unit: u, TimeZone: tz} }
	inner := arrow.StructOf(arrow.Field{Name: "z", Type: arrow.FixedWidthTypes.Boolean, Nullable: true})
	st := arrow.StructOf(
		arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "y", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "inner", Type: inner, Nullable: true},
	)
	f := func(name string, dt arrow.DataType) arrow.Field {
		return arrow.Field{Name: name, Type: dt, Nullable: true}
	}
	return arrow.NewSchema([]arrow.Field{
		f("i8", arrow.PrimitiveTypes.Int8), f("i16", arrow.PrimitiveTypes.Int16),
		f("i32", arrow.PrimitiveTypes.Int32), f("i64", arrow.PrimitiveTypes.Int64),
		f("u8", arrow.PrimitiveTypes.Uint8), f("u16", arrow.PrimitiveTypes.Uint16),
		f("u32", arrow.PrimitiveTypes.Uint32), f("u64", arrow.PrimitiveTypes.Uint64),
		f("f16", arrow.FixedWidthTypes.Float16), f("f32", arrow.PrimitiveTypes.Float32),
		f("f64", arrow.PrimitiveTypes.Float64), f("b", arrow.FixedWidthTypes.Boolean),
		f("s", arrow.BinaryTypes.String), f("ls", arrow.BinaryTypes.LargeString),
		f("bin", arrow.BinaryTypes.Binary), f("d", arrow.FixedWidthTypes.Date32),
		f("ts_s", tsUnit(arrow.Second, "")), f("ts_ms", tsUnit(arrow.Millisecond, "")),
		f("ts_us", tsUnit(arrow.Microsecond, "UTC")), f("ts_ns", tsUnit(arrow.Nanosecond, "")),
		f("tags", arrow.ListOf(arrow.BinaryTypes.String)),
		f("nums", arrow.LargeListOf(arrow.PrimitiveTypes.Int32)),
		f("vec", arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float32)),
		f("st", st),
		f("color", &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}),
		f("my col", arrow.PrimitiveTypes.Int64),
		f("Mixed", arrow.PrimitiveTypes.Int64),
		f("dup", arrow.PrimitiveTypes.Int64), f("DUP", arrow.PrimitiveTypes.Int64),
	}, nil)
}

var fixValid = []bool{true, true, true, false, true}

func fixtureRecord(t testing.TB, mem memory.Allocator) arrow.RecordBatch {
	t.Helper()
	sc := fixtureSchema()
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	v := fixValid
	b.Field(0).(*array.Int8Builder).AppendValues([]int8{1, -2, 3, 0, 100}, v)
	b.Field(1).(*array.Int16Builder).AppendValues([]int16{1, -2, 3, 0, 1000}, v)
	b.Field(2).(*array.Int32Builder).AppendValues([]int32{1, -2, 3, 0, 100000}, v)
	b.Field(3).(*array.Int64Builder).AppendValues([]int64{1, -2, 3, 0, math.MaxInt64}, v)
	b.Field(4).(*array.Uint8Builder).AppendValues([]uint8{1, 2, 3, 0, 255}, v)
	b.Field(5).(*array.Uint16Builder).AppendValues([]uint16{1, 2, 3, 0, 65535}, v)
	b.Field(6).(*array.Uint32Builder).AppendValues([]uint32{1, 2, 3, 0, 4000000000}, v)
	b.Field(7).(*array.Uint64Builder).AppendValues([]uint64{1, 2, 3, 0, math.MaxUint64}, v)
	b.Field(8).(*array.Float16Builder).AppendValues([]float16.Num{
		float16.New(1.5), float16.New(-2.5), float16.New(3), float16.New(0), float16.New(0.25)}, v)
	b.Field(9).(*array.Float32Builder).AppendValues([]float32{1.5, -2.5, float32(math.NaN()), 0, 0.25}, v)
	b.Field(10).(*array.Float64Builder).AppendValues([]float64{1.5, -2.5, math.NaN(), 0, math.Inf(1)}, v)
	b.Field(11).(*array.BooleanBuilder).AppendValues([]bool{true, false, true, false, false}, []bool{true, true, false, true, true})
	strs := []string{"apple", "Banana", "cherry", "", ""}
	b.Field(12).(*array.StringBuilder).AppendValues(strs, v)
	b.Field(13).(*array.LargeStringBuilder).AppendValues(strs, v)
	b.Field(14).(*array.BinaryBuilder).AppendValues([][]byte{{1, 2}, {}, []byte("abc"), nil, {0xff}}, v)
	day := func(s string) arrow.Date32 {
		d, err := parseDateText(s)
		if err != nil {
			t.Fatal(err)
		}
		return arrow.Date32(d)
	}
	b.Field(15).(*array.Date32Builder).AppendValues([]arrow.Date32{
		day("2020-01-01"), day("2021-06-15"), day("1969-12-31"), 0, day("2024-02-29")}, v)
	nanos := []string{"2020-01-01 00:00:00", "2021-06-15 12:30:00.5", "1969-12-31 23:59:59", "1970-01-01", "2024-02-29 23:59:59.999999"}
	for k, u := range []arrow.TimeUnit{arrow.Second, arrow.Millisecond, arrow.Microsecond, arrow.Nanosecond} {
		tb := b.Field(16 + k).(*array.TimestampBuilder)
		for i, s := range nanos {
			ns, err := parseTimestampText(s)
			if err != nil {
				t.Fatal(err)
			}
			if !v[i] {
				tb.AppendNull()
				continue
			}
			tb.Append(arrow.Timestamp(floorDiv(ns, nanosPerSecond/unitsPerSecond(u))))
		}
	}
	tags := b.Field(20).(*array.ListBuilder)
	tv := tags.ValueBuilder().(*array.StringBuilder)
	tags.Append(true)
	tv.AppendValues([]string{"a", "b"}, nil)
	tags.Append(true)
	tags.Append(true)
	tv.AppendValues([]string{"c", ""}, []bool{true, false})
	tags.AppendNull()
	tags.Append(true)
	tv.Append("a")
	nums := b.Field(21).(*array.LargeListBuilder)
	nv := nums.ValueBuilder().(*array.Int32Builder)
	nums.Append(true)
	nv.AppendValues([]int32{1, 2, 3}, nil)
	nums.Append(true)
	nv.Append(4)
	nums.Append(true)
	nums.AppendNull()
	nums.Append(true)
	nv.AppendValues([]int32{0, 5}, []bool{false, true})
	vec := b.Field(22).(*array.FixedSizeListBuilder)
	vv := vec.ValueBuilder().(*array.Float32Builder)
	for i := range 5 {
		if !v[i] {
			vec.AppendNull() // appends placeholder child values itself
			continue
		}
		vec.Append(true)
		vv.AppendValues([]float32{float32(i), float32(-i)}, nil)
	}
	st := b.Field(23).(*array.StructBuilder)
	sx := st.FieldBuilder(0).(*array.Int64Builder)
	sy := st.FieldBuilder(1).(*array.StringBuilder)
	sin := st.FieldBuilder(2).(*array.StructBuilder)
	sz := sin.FieldBuilder(0).(*array.BooleanBuilder)
	for i := range 5 {
		st.Append(v[i])
		if !v[i] {
			continue // Append(false) already gave every child a NULL
		}
		sx.Append(int64(i * 10))
		if i == 1 {
			sy.AppendNull()
		} else {
			sy.Append(strings.Repeat("y", i))
		}
		sin.Append(true)
		sz.Append(i%2 == 0)
	}
	col := b.Field(24).(*array.BinaryDictionaryBuilder)
	for i, c := range []string{"red", "green", "", "red", "blue"} {
		if i == 2 {
			col.AppendNull()
			continue
		}
		if err := col.AppendString(c); err != nil {
			t.Fatal(err)
		}
	}
	for k := 25; k < 29; k++ {
		b.Field(k).(*array.Int64Builder).AppendValues([]int64{10, 20, 30, 40, 50}, nil)
	}
	return b.NewRecordBatch()
}

// evalTri evaluates filter over rec with Eval and returns one of "T", "F"
// or "N" per row; it also checks that EvalPredicate agrees (NULL → false).
func evalTri(t *testing.T, mem memory.Allocator, rec arrow.RecordBatch, filter string) string {
	t.Helper()
	bd, err := Compile(filter, rec.Schema())
	if err != nil {
		t.Fatalf("Compile(%q): %v", filter, err)
	}
	ctx := context.Background()
	out, err := bd.Eval(ctx, rec, mem)
	if err != nil {
		t.Fatalf("Eval(%q): %v", filter, err)
	}
	defer out.Release()
	mask, err := bd.EvalPredicate(ctx, rec, mem)
	if err != nil {
		t.Fatalf("EvalPredicate(%q): %v", filter, err)
	}
	defer mask.Release()
	if out.Len() != int(rec.NumRows()) || mask.Len() != out.Len() || mask.NullN() != 0 {
		t.Fatalf("%q: lengths %d/%d, mask nulls %d", filter, out.Len(), mask.Len(), mask.NullN())
	}
	var sb strings.Builder
	for i := 0; i < out.Len(); i++ {
		c := "N"
		if !nullAt(out, i) {
			c = "F"
			if out.(*array.Boolean).Value(i) {
				c = "T"
			}
		}
		if mask.Value(i) != (c == "T") {
			t.Errorf("%q row %d: Eval gives %s but EvalPredicate %v", filter, i, c, mask.Value(i))
		}
		sb.WriteString(c)
	}
	return sb.String()
}

func newChecked(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}
