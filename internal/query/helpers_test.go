package query

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	memstore "github.com/sarissa-db/sarissa/internal/objstore/memory"
	"github.com/sarissa-db/sarissa/internal/table"
)

// checked returns an allocator that fails the test if anything allocated
// through it is still held when the test ends.
func checked(t testing.TB) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// row is one test row: id, text and a vector (nil: null vector).
type row struct {
	id   int32
	text string
	vec  []float32
}

// testSchema is id int32 (not null), text utf8, vec fixed_size_list<float32>[dim].
func testSchema(dim int) *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int32},
		{Name: "text", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "vec", Type: arrow.FixedSizeListOfField(int32(dim), arrow.Field{Name: "item", Type: arrow.PrimitiveTypes.Float32, Nullable: true}), Nullable: true},
	}, nil)
}

func rowsBatch(mem memory.Allocator, dim int, rows []row) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, testSchema(dim))
	defer b.Release()
	ids := b.Field(0).(*array.Int32Builder)
	texts := b.Field(1).(*array.StringBuilder)
	vb := b.Field(2).(*array.FixedSizeListBuilder)
	fb := vb.ValueBuilder().(*array.Float32Builder)
	for _, r := range rows {
		ids.Append(r.id)
		texts.Append(r.text)
		if r.vec == nil {
			vb.AppendNull() // also appends dim null values to the child
			continue
		}
		vb.Append(true)
		fb.AppendValues(r.vec, nil)
	}
	return b.NewRecordBatch()
}

func reader(rec arrow.RecordBatch) array.RecordReader {
	rr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	if err != nil {
		panic(err)
	}
	return rr
}

// fixture is a table in a memory bucket with checked allocators.
type fixture struct {
	t    testing.TB
	tbl  *table.Table
	snap *table.Snapshot
	mem  *memory.CheckedAllocator
	dim  int
	rows []row // every row ever written, by id
}

// newFixture creates a table from rows, split into fragments of at most
// rowsPerFile rows.
func newFixture(t testing.TB, dim int, rows []row, rowsPerFile int64) *fixture {
	t.Helper()
	return newFixtureWith(t, dim, rows, table.Options{MaxRowsPerFile: rowsPerFile})
}

// newFixtureWith is newFixture with table options (allocator and batch size
// are set here).
func newFixtureWith(t testing.TB, dim int, rows []row, topts table.Options) *fixture {
	t.Helper()
	mem := checked(t)
	ctx := context.Background()
	rec := rowsBatch(mem, dim, rows)
	defer rec.Release()
	rr := reader(rec)
	defer rr.Release()
	topts.Allocator, topts.BatchRows = mem, 97
	tbl, snap, err := table.Create(ctx, memstore.New(), "db/t.lance", rec.Schema(), rr, topts)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, tbl: tbl, snap: snap, mem: mem, dim: dim, rows: append([]row(nil), rows...)}
}

func (f *fixture) appendRows(rows []row) {
	f.t.Helper()
	rec := rowsBatch(f.mem, f.dim, rows)
	defer rec.Release()
	rr := reader(rec)
	defer rr.Release()
	snap, _, err := f.tbl.Append(context.Background(), rr)
	if err != nil {
		f.t.Fatal(err)
	}
	f.snap = snap
	f.rows = append(f.rows, rows...)
}

func (f *fixture) delete(pred string) {
	f.t.Helper()
	snap, _, err := f.tbl.Delete(context.Background(), pred)
	if err != nil {
		f.t.Fatal(err)
	}
	f.snap = snap
}

// run parses body and executes it on the current snapshot.
func (f *fixture) run(body string, opts Options) (*Result, error) {
	f.t.Helper()
	req, err := ParseRequest([]byte(body))
	if err != nil {
		return nil, err
	}
	if opts.Allocator == nil {
		opts.Allocator = f.mem
	}
	return Execute(context.Background(), f.snap, req, opts)
}

// mustRun is run that fails the test on error and returns the result as
// rows of JSON-ish values, releasing the Arrow data.
func (f *fixture) mustRun(body string, opts Options) ([]string, []map[string]any) {
	f.t.Helper()
	res, err := f.run(body, opts)
	if err != nil {
		f.t.Fatalf("%s: %v", body, err)
	}
	defer res.Release()
	return resultRows(f.t, res)
}

// resultRows converts a result into its column names and one map per row.
func resultRows(t testing.TB, res *Result) ([]string, []map[string]any) {
	t.Helper()
	names := make([]string, res.Schema.NumFields())
	for i, fl := range res.Schema.Fields() {
		names[i] = fl.Name
	}
	var out []map[string]any
	for _, b := range res.Batches {
		if !b.Schema().Equal(res.Schema) {
			t.Fatalf("batch schema %v differs from result schema %v", b.Schema(), res.Schema)
		}
		for r := range int(b.NumRows()) {
			m := map[string]any{}
			for c, col := range b.Columns() {
				m[names[c]] = cell(col, r)
			}
			out = append(out, m)
		}
	}
	return names, out
}

func cell(col arrow.Array, r int) any {
	if col.IsNull(r) {
		return nil
	}
	switch a := col.(type) {
	case *array.Int32:
		return int64(a.Value(r))
	case *array.Int64:
		return a.Value(r)
	case *array.Uint64:
		return a.Value(r)
	case *array.Float32:
		return float64(a.Value(r))
	case *array.Float64:
		return a.Value(r)
	case *array.String:
		return a.Value(r)
	case *array.FixedSizeList:
		vals := a.ListValues()
		n := int(a.DataType().(*arrow.FixedSizeListType).Len())
		start := (a.Offset() + r) * n
		out := make([]any, n)
		for i := range n {
			out[i] = cell(vals, start+i)
		}
		return out
	}
	return col.ValueStr(r)
}

func ints(rows []map[string]any, col string) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		switch v := r[col].(type) {
		case int64:
			out[i] = v
		case uint64:
			out[i] = int64(v)
		default:
			out[i] = math.MinInt64
		}
	}
	return out
}

func floats(rows []map[string]any, col string) []float64 {
	out := make([]float64, len(rows))
	for i, r := range rows {
		v, ok := r[col].(float64)
		if !ok {
			v = math.NaN()
		}
		out[i] = v
	}
	return out
}

// body renders a query body from a map, for table-driven tests.
func body(m map[string]any) string {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func randVec(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(rng.IntN(21)-10) / 4 // coarse values: many exact ties
	}
	return v
}
