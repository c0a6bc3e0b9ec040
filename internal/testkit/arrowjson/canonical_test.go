package arrowjson_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/testkit/arrowjson"
	"github.com/sarissa-db/sarissa/internal/testkit/nodejs"
)

// TestCanonicalMatchesApacheArrowJS is the proof that the two canonicalisers
// agree: Go writes an Arrow IPC file covering every supported type (nulls,
// NaN payloads, invalid UTF-8, sliced batches), apache-arrow reads it back in
// Node, and both canonical documents must be identical bytes.
func TestCanonicalMatchesApacheArrowJS(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	schema, full := allTypesRecord(t, mem, rand.New(rand.NewPCG(7, 11)), 700)
	defer full.Release()
	// Two slices of one record: exercises array offsets on the Go side and a
	// multi-batch file on the Node side.
	parts := []arrow.RecordBatch{full.NewSlice(0, 250), full.NewSlice(250, 700)}
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()

	path := filepath.Join(t.TempDir(), "all-types.arrow")
	writeIPCFile(t, mem, path, schema, parts)
	ctx := context.Background()

	for _, tc := range []struct {
		name    string
		orderBy string
	}{
		{name: "scan order"},
		{name: "order by int16", orderBy: "i16"},
		{name: "order by utf8", orderBy: "name"},
		{name: "order by timestamp", orderBy: "ts_ns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{path}
			if tc.orderBy != "" {
				args = append(args, "--order-by", tc.orderBy)
			}
			want := nodejs.RunScript(t, ctx, "ipc-dump.mjs", args...)
			got, err := arrowjson.CanonicalWith(schema, parts, arrowjson.Options{OrderBy: tc.orderBy})
			if err != nil {
				t.Fatalf("CanonicalWith: %v", err)
			}
			if d := arrowjson.Diff(got, want); d != "" {
				t.Fatalf("Go and apache-arrow canonical documents differ:\n%s", d)
			}
			if n := strings.Count(string(got), "\n"); n != 700+2 {
				t.Fatalf("document has %d lines, want one per row plus head and tail (702)", n)
			}
		})
	}
}

// TestCanonicalExact pins the format itself with a hand-written document, so a
// change that both canonicalisers made together would still be caught.
func TestCanonicalExact(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Uint64},
		{Name: "x", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int8), Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.Uint64Builder).AppendValues([]uint64{math.MaxUint64, 0}, nil)
	b.Field(1).(*array.Float32Builder).Append(float32(math.Copysign(0, -1)))
	b.Field(1).(*array.Float32Builder).AppendNull()
	b.Field(2).(*array.StringBuilder).Append("a\"\\\n\x01<&>\u2028é")
	b.Field(2).(*array.StringBuilder).Append(string([]byte{0xff, 'x'}))
	lb := b.Field(3).(*array.ListBuilder)
	lb.Append(true)
	lb.ValueBuilder().(*array.Int8Builder).Append(-128)
	lb.ValueBuilder().(*array.Int8Builder).AppendNull()
	lb.Append(true)
	b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(-1))
	b.Field(4).(*array.TimestampBuilder).AppendNull()
	rec := b.NewRecordBatch()
	defer rec.Release()

	v := uint64(3)
	got, err := arrowjson.CanonicalWith(schema, []arrow.RecordBatch{rec}, arrowjson.Options{Version: &v})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":3,"schema":[{"name":"id","type":"uint64","nullable":false},` +
		`{"name":"x","type":"float32","nullable":true},{"name":"s","type":"utf8","nullable":true},` +
		`{"name":"l","type":"list<int8>","nullable":true},{"name":"ts","type":"timestamp[ns,UTC]","nullable":true}],` +
		`"count":2,"rows":[` + "\n" +
		`["18446744073709551615","0x80000000","a\"\\\n\u0001<&>` + "\u2028é" + `",["-128",null],"-1"],` + "\n" +
		`["0",null,{"utf8_invalid":"/3g="},[],null]` + "\n" +
		"]}\n"
	if string(got) != want {
		t.Fatalf("canonical document:\n got: %s\nwant: %s", got, want)
	}

	empty, err := arrowjson.Canonical(schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(empty), `"count":0,"rows":[`+"\n]}\n") {
		t.Fatalf("empty document ends %q", empty[max(0, len(empty)-30):])
	}
}

func TestCanonicalErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	t.Run("unsupported type", func(t *testing.T) {
		dt := &arrow.Decimal128Type{Precision: 10, Scale: 2}
		schema := arrow.NewSchema([]arrow.Field{{Name: "d", Type: dt}}, nil)
		b := array.NewDecimal128Builder(mem, dt)
		defer b.Release()
		b.Append(decimal128.FromI64(5))
		col := b.NewArray()
		defer col.Release()
		rec := array.NewRecordBatch(schema, []arrow.Array{col}, 1)
		defer rec.Release()
		_, err := arrowjson.Canonical(schema, []arrow.RecordBatch{rec})
		if !errors.Is(err, arrowjson.ErrUnsupportedType) || !strings.Contains(err.Error(), `"d"`) {
			t.Fatalf("err = %v, want ErrUnsupportedType naming column d", err)
		}
	})

	t.Run("batch schema mismatch", func(t *testing.T) {
		s1 := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int32}}, nil)
		s2 := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}}, nil)
		b := array.NewInt64Builder(mem)
		defer b.Release()
		b.Append(1)
		col := b.NewArray()
		defer col.Release()
		rec := array.NewRecordBatch(s2, []arrow.Array{col}, 1)
		defer rec.Release()
		_, err := arrowjson.Canonical(s1, []arrow.RecordBatch{rec})
		if err == nil || !strings.Contains(err.Error(), "record batch 0") {
			t.Fatalf("err = %v, want a mismatch error naming batch 0", err)
		}
	})

	t.Run("dictionary index out of range", func(t *testing.T) {
		dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
		ib := array.NewInt8Builder(mem)
		defer ib.Release()
		ib.AppendValues([]int8{0, 5}, nil)
		idx := ib.NewArray()
		defer idx.Release()
		sb := array.NewStringBuilder(mem)
		defer sb.Release()
		sb.Append("only")
		dict := sb.NewArray()
		defer dict.Release()
		col := array.NewDictionaryArray(dt, idx, dict)
		defer col.Release()
		schema := arrow.NewSchema([]arrow.Field{{Name: "c", Type: dt}}, nil)
		rec := array.NewRecordBatch(schema, []arrow.Array{col}, 2)
		defer rec.Release()
		_, err := arrowjson.Canonical(schema, []arrow.RecordBatch{rec})
		if err == nil || !strings.Contains(err.Error(), "dictionary index 5 at row 1") {
			t.Fatalf("err = %v, want an out-of-range dictionary index error", err)
		}
	})

	t.Run("order by unknown column", func(t *testing.T) {
		schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int32}}, nil)
		_, err := arrowjson.CanonicalWith(schema, nil, arrowjson.Options{OrderBy: "nope"})
		if err == nil || !strings.Contains(err.Error(), `"nope"`) {
			t.Fatalf("err = %v, want an error naming the column", err)
		}
	})
}

func TestDiff(t *testing.T) {
	base := `{"version":2,"schema":[{"name":"id","type":"int64","nullable":false},{"name":"f","type":"float32","nullable":true}],"count":3,"rows":[
["0","0x3f800000"],
["1","0x40000000"],
["2",null]
]}
`
	if d := arrowjson.Diff([]byte(base), []byte(base)); d != "" {
		t.Fatalf("Diff of equal documents = %q, want empty", d)
	}
	for _, tc := range []struct {
		name   string
		got    string
		expect []string
	}{
		{
			name:   "cell",
			got:    strings.Replace(base, `"0x40000000"`, `"0x40400000"`, 1),
			expect: []string{"1 of the first 3 differ", "row 1", "column f (float32)", `"0x40400000" (3)`, `"0x40000000" (2)`},
		},
		{
			name:   "version",
			got:    strings.Replace(base, `"version":2`, `"version":5`, 1),
			expect: []string{"version: got 5, want 2"},
		},
		{
			name:   "schema",
			got:    strings.Replace(base, `"type":"float32"`, `"type":"float64"`, 1),
			expect: []string{"schema column 1", "float64", "float32"},
		},
		{
			name:   "missing row",
			got:    strings.Replace(strings.Replace(base, "[\"2\",null]\n", "", 1), `["1","0x40000000"],`, `["1","0x40000000"]`, 1),
			expect: []string{"count: got 3 (2 rows), want 3 (3 rows)"},
		},
		{
			name:   "not json",
			got:    "oops",
			expect: []string{"got does not parse"},
		},
		{
			name:   "layout only",
			got:    strings.Replace(base, `"count":3,`, `"count": 3,`, 1),
			expect: []string{"differ in layout", "offset"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := arrowjson.Diff([]byte(tc.got), []byte(base))
			for _, e := range tc.expect {
				if !strings.Contains(d, e) {
					t.Errorf("Diff message lacks %q:\n%s", e, d)
				}
			}
		})
	}
}

func writeIPCFile(t *testing.T, mem memory.Allocator, path string, schema *arrow.Schema, recs []arrow.RecordBatch) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := ipc.NewFileWriter(f, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatalf("write batch: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// allTypesRecord builds n rows over every type the canonical format knows.
// Values come from r only, so a failure reproduces.
func allTypesRecord(t *testing.T, mem memory.Allocator, r *rand.Rand, n int) (*arrow.Schema, arrow.RecordBatch) {
	t.Helper()
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}
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
		{Name: "text", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "blob", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "lblob", Type: arrow.BinaryTypes.LargeBinary, Nullable: true},
		{Name: "fsb", Type: &arrow.FixedSizeBinaryType{ByteWidth: 3}, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "d64", Type: arrow.FixedWidthTypes.Date64, Nullable: true},
		{Name: "t32", Type: arrow.FixedWidthTypes.Time32ms, Nullable: true},
		{Name: "t64", Type: arrow.FixedWidthTypes.Time64ns, Nullable: true},
		{Name: "dur", Type: arrow.FixedWidthTypes.Duration_us, Nullable: true},
		{Name: "ts_s", Type: &arrow.TimestampType{Unit: arrow.Second}, Nullable: true},
		{Name: "ts_ms", Type: &arrow.TimestampType{Unit: arrow.Millisecond}, Nullable: true},
		{Name: "ts_us", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
		{Name: "ts_ns", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true},
		{Name: "ts_utc", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "vec", Type: arrow.FixedSizeListOf(8, arrow.PrimitiveTypes.Float32), Nullable: true},
		{Name: "quad", Type: arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Uint8), Nullable: true},
		{Name: "ints", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
		{Name: "words", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		{Name: "pair", Type: arrow.StructOf(
			arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
		), Nullable: true},
		{Name: "pairs", Type: arrow.ListOf(arrow.StructOf(
			arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		)), Nullable: true},
		{Name: "category", Type: dictType, Nullable: true},
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()

	null := func() bool { return r.IntN(10) == 0 }
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		for c, fb := range b.Fields() {
			if c == 0 {
				continue
			}
			if null() {
				fb.AppendNull()
				continue
			}
			appendRandom(fb, r, i)
		}
	}
	rec := b.NewRecordBatch()
	return schema, rec
}

var words = []string{"", "alpha", "beta", "Ω", "日本語", "😀🦀", "tab\there", "quote\"back\\slash", "nul\x00", "ctl\x1f\x7f", "\u2028\u2029", "<&>", "é"}

func randomString(r *rand.Rand) string {
	if r.IntN(20) == 0 {
		return string([]byte{0xc3, 0x28, 'x'}) // invalid UTF-8
	}
	var sb strings.Builder
	for range r.IntN(4) {
		sb.WriteString(words[r.IntN(len(words))])
	}
	return sb.String()
}

func randomBytes(r *rand.Rand, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(r.Uint32())
	}
	return out
}

func randomFloat32(r *rand.Rand) float32 {
	if r.IntN(5) == 0 {
		return math.Float32frombits(r.Uint32()) // NaN payloads, infinities, subnormals
	}
	return float32(r.NormFloat64() * 100)
}

func randomFloat64(r *rand.Rand) float64 {
	if r.IntN(5) == 0 {
		return math.Float64frombits(r.Uint64())
	}
	return r.NormFloat64() * 1e9
}

func appendRandom(fb array.Builder, r *rand.Rand, row int) {
	switch b := fb.(type) {
	case *array.Int8Builder:
		b.Append(int8(r.Uint32()))
	case *array.Int16Builder:
		b.Append(int16(r.IntN(40) - 20)) // few values: sorting must keep ties stable
	case *array.Int32Builder:
		b.Append(int32(r.Uint32()))
	case *array.Int64Builder:
		b.Append(int64(r.Uint64()))
	case *array.Uint8Builder:
		b.Append(uint8(r.Uint32()))
	case *array.Uint16Builder:
		b.Append(uint16(r.Uint32()))
	case *array.Uint32Builder:
		b.Append(r.Uint32())
	case *array.Uint64Builder:
		b.Append(r.Uint64())
	case *array.Float16Builder:
		b.Append(float16.FromBits(uint16(r.Uint32())))
	case *array.Float32Builder:
		b.Append(randomFloat32(r))
	case *array.Float64Builder:
		b.Append(randomFloat64(r))
	case *array.BooleanBuilder:
		b.Append(r.IntN(2) == 0)
	case *array.StringBuilder:
		b.Append(randomString(r))
	case *array.LargeStringBuilder:
		b.Append(randomString(r))
	case *array.BinaryBuilder:
		b.Append(randomBytes(r, r.IntN(20)))
	case *array.FixedSizeBinaryBuilder:
		b.Append(randomBytes(r, 3))
	case *array.Date32Builder:
		b.Append(arrow.Date32(r.IntN(60001) - 30000))
	case *array.Date64Builder:
		b.Append(arrow.Date64(r.Int64N(1<<45) - 1<<44))
	case *array.Time32Builder:
		b.Append(arrow.Time32(r.IntN(86_400_000)))
	case *array.Time64Builder:
		b.Append(arrow.Time64(r.Int64N(86_400_000_000_000)))
	case *array.DurationBuilder:
		b.Append(arrow.Duration(int64(r.Uint64())))
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(int64(r.Uint64())))
	case *array.FixedSizeListBuilder:
		b.Append(true)
		n := int(b.Type().(*arrow.FixedSizeListType).Len())
		for range n {
			appendNullableChild(b.ValueBuilder(), r, row)
		}
	case *array.ListBuilder:
		b.Append(true)
		for range r.IntN(5) {
			appendNullableChild(b.ValueBuilder(), r, row)
		}
	case *array.StructBuilder:
		b.Append(true)
		for k := range b.NumField() {
			appendNullableChild(b.FieldBuilder(k), r, row)
		}
	case *array.BinaryDictionaryBuilder:
		if err := b.AppendString([]string{"red", "green", "blue", ""}[r.IntN(4)]); err != nil {
			panic(err) // cannot happen: the dictionary stays far below int16 range
		}
	default:
		panic("allTypesRecord: no generator for " + fb.Type().String())
	}
}

func appendNullableChild(b array.Builder, r *rand.Rand, row int) {
	if r.IntN(8) == 0 {
		b.AppendNull()
		return
	}
	appendRandom(b, r, row)
}
