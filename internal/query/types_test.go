package query

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"

	memstore "github.com/sarissa-db/sarissa/internal/objstore/memory"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// typedFixture creates a table with id int32 and one vector column per
// element type given, filled by fill(column, row, position).
func typedFixture(t *testing.T, n, dim int, cols map[string]arrow.DataType) *fixture {
	t.Helper()
	mem := checked(t)
	names := make([]string, 0, len(cols))
	for name := range cols {
		names = append(names, name)
	}
	slices.Sort(names)
	fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}}
	for _, name := range names {
		fields = append(fields, arrow.Field{Name: name, Type: arrow.FixedSizeListOf(int32(dim), cols[name]), Nullable: true})
	}
	sch := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	for r := range n {
		b.Field(0).(*array.Int32Builder).Append(int32(r))
		for c := range names {
			lb := b.Field(c + 1).(*array.FixedSizeListBuilder)
			lb.Append(true)
			for j := range dim {
				v := float64((r*7+j*3)%11) / 2 // 0 .. 5 in halves: exact in every float type
				switch vb := lb.ValueBuilder().(type) {
				case *array.Float16Builder:
					vb.Append(float16.New(float32(v)))
				case *array.Float32Builder:
					vb.Append(float32(v))
				case *array.Float64Builder:
					vb.Append(v)
				case *array.Uint8Builder:
					vb.Append(uint8(r*37 + j*101))
				case *array.Int8Builder:
					vb.Append(int8(j))
				case *array.Int32Builder:
					vb.Append(int32(j))
				}
			}
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	rr := reader(rec)
	defer rr.Release()
	tbl, snap, err := table.Create(context.Background(), memstore.New(), "t.lance", sch, rr, table.Options{Allocator: mem, MaxRowsPerFile: int64(n/3 + 1)})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, tbl: tbl, snap: snap, mem: mem, dim: dim}
}

// TestFloatElementTypes searches float16, float32 and float64 columns that
// hold the same values: all three must give the same answer.
func TestFloatElementTypes(t *testing.T) {
	f := typedFixture(t, 50, 6, map[string]arrow.DataType{
		"h": arrow.FixedWidthTypes.Float16, "s": arrow.PrimitiveTypes.Float32, "d": arrow.PrimitiveTypes.Float64,
	})
	for _, metric := range []string{"l2", "cosine", "dot"} {
		var first []float64
		for _, col := range []string{"s", "h", "d"} {
			_, rows := f.mustRun(body(map[string]any{
				"vector": []float32{1, 0.5, 2, 0, 3, 1.5}, "vector_column": col, "k": 12,
				"distance_type": metric, "columns": []string{"id"},
			}), Options{Cache: NewCache(1 << 20), TableURI: "mem://t"})
			got := floats(rows, "_distance")
			if len(got) != 12 {
				t.Fatalf("%s/%s: %d rows", metric, col, len(got))
			}
			if first == nil {
				first = got
				continue
			}
			if !slices.Equal(got, first) {
				t.Fatalf("%s: column %s gives %v, float32 column gives %v", metric, col, got, first)
			}
		}
	}
	// Several vector columns of the query's dimension: LanceDB refuses to guess.
	_, err := f.run(`{"vector":[1,2,3,4,5,6]}`, Options{})
	if err == nil || !strings.Contains(err.Error(), `More than one vector columns found, please specify which column to create index or query: ["d", "h", "s"]`) {
		t.Fatalf("ambiguous column: %v", err)
	}
}

func TestUint8Hamming(t *testing.T) {
	f := typedFixture(t, 30, 4, map[string]arrow.DataType{"b": arrow.PrimitiveTypes.Uint8})
	q := []float32{1, 200, 3, 77}
	// Without distance_type LanceDB searches uint8 vectors by hamming.
	for _, dt := range []any{nil, "hamming"} {
		req := map[string]any{"vector": q, "k": 30, "columns": []string{"id"}}
		if dt != nil {
			req["distance_type"] = dt
		}
		_, rows := f.mustRun(body(req), Options{})
		ids, dists := ints(rows, "id"), floats(rows, "_distance")
		if len(ids) != 30 {
			t.Fatalf("%d rows, want 30", len(ids))
		}
		for i, id := range ids {
			want := 0
			for j, qv := range q {
				want += popcount8(byte(qv) ^ uint8(int(id)*37+j*101))
			}
			if dists[i] != float64(want) {
				t.Fatalf("id %d: distance %v, want %d", id, dists[i], want)
			}
			if i > 0 && (dists[i] < dists[i-1] || dists[i] == dists[i-1] && id < ids[i-1]) {
				t.Fatalf("not ordered at %d: %v %v", i, ids, dists)
			}
		}
	}
	for _, tc := range []struct{ body, want string }{
		{`{"vector":[1,2,3,4],"distance_type":"l2"}`, "Distance type l2 does not support UInt8 vectors"},
		{`{"vector":[1,2,3,4],"distance_type":"cosine"}`, "Distance type cosine does not support UInt8 vectors"},
		{`{"vector":[1,2,300,4]}`, "not a byte"},
		{`{"vector":[1,2,-1,4]}`, "not a byte"},
	} {
		_, err := f.run(tc.body, Options{})
		if err == nil || !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.body, err, tc.want)
		}
	}
}

func popcount8(b byte) int {
	n := 0
	for ; b != 0; b &= b - 1 {
		n++
	}
	return n
}

func TestUnsupportedElementTypes(t *testing.T) {
	f := typedFixture(t, 5, 2, map[string]arrow.DataType{"i8": arrow.PrimitiveTypes.Int8, "i32": arrow.PrimitiveTypes.Int32})
	for _, tc := range []struct{ body, want string }{
		{`{"vector":[1,2],"vector_column":"i8"}`, "Column i8 has element type Int8 and the query vector is Float32"},
		{`{"vector":[1,2],"vector_column":"i32"}`, "vector element is not expected type (Float16/Float32/Float64 or UInt8): int32"},
	} {
		_, err := f.run(tc.body, Options{})
		if err == nil || !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.body, err, tc.want)
		}
	}
}

// TestFloat16QueryIsRounded: LanceDB casts the query to float16 before
// searching a float16 column, so searching it with q must equal searching
// the same values stored as float32 with q rounded to float16.
func TestFloat16QueryIsRounded(t *testing.T) {
	f := typedFixture(t, 40, 6, map[string]arrow.DataType{"h": arrow.FixedWidthTypes.Float16, "s": arrow.PrimitiveTypes.Float32})
	q := []float32{0.1, 1.3, 2.7, 0.33, 3.14159, 1e-5}
	rounded := make([]float32, len(q))
	for i, v := range q {
		// Not arrow-go's float16 here: it truncates instead of rounding and
		// mis-decodes subnormals such as 1e-5.
		rounded[i] = vector.HalfToFloat32(vector.Float32ToHalf(v))
		if rounded[i] == v {
			t.Fatalf("%v is exact in float16; pick values that round", v)
		}
	}
	for _, metric := range []string{"l2", "cosine", "dot"} {
		_, onH := f.mustRun(body(map[string]any{"vector": q, "vector_column": "h", "k": 40, "distance_type": metric, "columns": []string{"id"}}), Options{})
		_, onS := f.mustRun(body(map[string]any{"vector": rounded, "vector_column": "s", "k": 40, "distance_type": metric, "columns": []string{"id"}}), Options{})
		if !slices.Equal(floats(onH, "_distance"), floats(onS, "_distance")) || !slices.Equal(ints(onH, "id"), ints(onS, "id")) {
			t.Fatalf("%s: float16 column %v, float32 column with rounded query %v", metric, floats(onH, "_distance"), floats(onS, "_distance"))
		}
	}
}
