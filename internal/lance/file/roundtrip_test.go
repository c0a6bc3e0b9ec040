package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/lance/schema"
)

func nullable(name string, dt arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: dt, Nullable: true}
}

// allTypes is every type the writer supports, nested ones included.
func allTypes() *arrow.Schema {
	md := arrow.NewMetadata([]string{"owner"}, []string{"tests"})
	return arrow.NewSchema([]arrow.Field{
		nullable("i8", arrow.PrimitiveTypes.Int8),
		nullable("i16", arrow.PrimitiveTypes.Int16),
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32}, // not nullable
		nullable("i64", arrow.PrimitiveTypes.Int64),
		nullable("u8", arrow.PrimitiveTypes.Uint8),
		nullable("u16", arrow.PrimitiveTypes.Uint16),
		nullable("u32", arrow.PrimitiveTypes.Uint32),
		nullable("u64", arrow.PrimitiveTypes.Uint64),
		nullable("f16", arrow.FixedWidthTypes.Float16),
		nullable("f32", arrow.PrimitiveTypes.Float32),
		nullable("f64", arrow.PrimitiveTypes.Float64),
		nullable("b", arrow.FixedWidthTypes.Boolean),
		nullable("s", arrow.BinaryTypes.String),
		nullable("cat", arrow.BinaryTypes.String),
		{Name: "zs", Type: arrow.BinaryTypes.String, Nullable: true,
			Metadata: arrow.NewMetadata([]string{CompressionKey, CompressionLevelKey}, []string{"zstd", "3"})},
		nullable("ls", arrow.BinaryTypes.LargeString),
		nullable("bin", arrow.BinaryTypes.Binary),
		nullable("lbin", arrow.BinaryTypes.LargeBinary),
		nullable("d32", arrow.FixedWidthTypes.Date32),
		nullable("d64", arrow.FixedWidthTypes.Date64),
		nullable("t32", arrow.FixedWidthTypes.Time32ms),
		nullable("t64", arrow.FixedWidthTypes.Time64ns),
		nullable("dur", arrow.FixedWidthTypes.Duration_us),
		nullable("ts_s", &arrow.TimestampType{Unit: arrow.Second}),
		nullable("ts_ms", &arrow.TimestampType{Unit: arrow.Millisecond}),
		nullable("ts_us", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}),
		nullable("ts_ns", &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "Asia/Tokyo"}),
		nullable("dec", &arrow.Decimal128Type{Precision: 38, Scale: 4}),
		nullable("fsb", &arrow.FixedSizeBinaryType{ByteWidth: 5}),
		nullable("vec", arrow.FixedSizeListOf(8, arrow.PrimitiveTypes.Float32)),
		nullable("vec16", arrow.FixedSizeListOf(4, arrow.FixedWidthTypes.Float16)),
		nullable("vecu8", arrow.FixedSizeListOf(16, arrow.PrimitiveTypes.Uint8)),
		nullable("veci8", arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Int8)),
		nullable("vecb", arrow.FixedSizeListOf(3, arrow.FixedWidthTypes.Boolean)),
		nullable("mat", arrow.FixedSizeListOf(2, arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Int16))),
		nullable("li", arrow.ListOf(arrow.PrimitiveTypes.Int32)),
		nullable("lstr", arrow.ListOf(arrow.BinaryTypes.String)),
		nullable("llf", arrow.LargeListOf(arrow.PrimitiveTypes.Float64)),
		nullable("lli", arrow.ListOf(arrow.ListOf(arrow.PrimitiveTypes.Int64))),
		nullable("lvec", arrow.ListOf(arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float32))),
		nullable("lst", arrow.ListOf(arrow.StructOf(nullable("a", arrow.PrimitiveTypes.Int32), nullable("b", arrow.BinaryTypes.String)))),
		{Name: "st", Type: arrow.StructOf(
			nullable("x", arrow.PrimitiveTypes.Int64),
			nullable("y", arrow.BinaryTypes.String),
			nullable("z", arrow.ListOf(arrow.PrimitiveTypes.Int8)),
			nullable("inner", arrow.StructOf(nullable("q", arrow.FixedWidthTypes.Boolean))),
		)},
		nullable("nul", arrow.Null),
		nullable("none_s", arrow.BinaryTypes.String),
		nullable("none_i", arrow.PrimitiveTypes.Int32),
	}, &md)
}

// makeBatch generates a batch for the schema as the Lance schema maps it
// back to Arrow (so types match exactly).
func makeBatch(seed uint64, mem memory.Allocator, as *arrow.Schema, n int) arrow.RecordBatch {
	cols := make([]arrow.Array, len(as.Fields()))
	for i, f := range as.Fields() {
		g := newGen(seed+uint64(i)*7919, mem)
		switch f.Name {
		case "cat":
			g.lowCard = true
		case "none_s", "none_i":
			g.nullPct = 100
		}
		if !f.Nullable {
			g.nullPct = 0
		}
		cols[i] = g.array(f.Type, n)
	}
	rec := array.NewRecordBatch(as, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

func writeFile(t testing.TB, s *schema.Schema, recs []arrow.RecordBatch, opts WriterOptions) ([]byte, FileInfo) {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := w.Write(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	info, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if info.SizeBytes != uint64(out.Len()) {
		t.Fatalf("info says %d bytes, wrote %d", info.SizeBytes, out.Len())
	}
	return out.Bytes(), info
}

func concatColumn(t *testing.T, mem memory.Allocator, recs []arrow.RecordBatch, i int) arrow.Array {
	t.Helper()
	parts := make([]arrow.Array, len(recs))
	for j, r := range recs {
		parts[j] = r.Column(i)
	}
	out, err := array.Concatenate(parts, mem)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sliceEqual(t *testing.T, what string, want arrow.Array, wi, wj int64, got arrow.Array, gi, gj int64) {
	t.Helper()
	a := array.NewSlice(want, wi, wj)
	b := array.NewSlice(got, gi, gj)
	defer a.Release()
	defer b.Release()
	if !array.Equal(a, b) {
		t.Errorf("%s: rows [%d,%d) differ\n got %v\nwant %v", what, wi, wj, b, a)
	}
}

func TestRoundTripAllTypes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pageSize int64
	}{{"small pages", 4 << 10}, {"one page", 0}} {
		t.Run(tc.name, func(t *testing.T) { roundTripAllTypes(t, tc.pageSize) })
	}
}

func roundTripAllTypes(t *testing.T, pageSize int64) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ls, err := schema.FromArrow(allTypes(), 0)
	if err != nil {
		t.Fatal(err)
	}
	as, err := ls.ToArrow()
	if err != nil {
		t.Fatal(err)
	}
	// Batches of odd sizes, an empty one, and a slice (non-zero offsets
	// at every level).
	big := makeBatch(5, mem, as, 1300)
	defer big.Release()
	recs := []arrow.RecordBatch{makeBatch(1, mem, as, 1000), makeBatch(2, mem, as, 1), makeBatch(3, mem, as, 0), big.NewSlice(37, 1237)}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	data, info := writeFile(t, ls, recs, WriterOptions{Path: "all.lance", PageSize: pageSize})
	var total int64
	for _, r := range recs {
		total += r.NumRows()
	}
	if info.NumRows != uint64(total) || info.NumColumns != len(ls.Flatten()) {
		t.Errorf("info %+v", info)
	}

	ctx := context.Background()
	r, err := Open(ctx, ReaderAtSource{bytes.NewReader(data)}, int64(len(data)), ReaderOptions{Path: "all.lance", Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	if r.NumRows() != total || !r.ArrowSchema().Equal(as) || !r.ArrowSchema().Metadata().Equal(as.Metadata()) {
		t.Fatalf("rows %d schema %s", r.NumRows(), r.ArrowSchema())
	}
	if pageSize > 0 {
		// Small pages: several per column, and dictionary pages for "cat".
		vec := r.nodes[ls.FieldIndex("vec")].col
		if len(vec.pages) < 3 {
			t.Errorf("vec has %d pages", len(vec.pages))
		}
		if c := r.nodes[ls.FieldIndex("zs")].col.pages[0].enc.GetBinary().GetBytes().GetFlat().GetCompression(); c.GetScheme() != "zstd" || c.GetLevel() != 3 {
			t.Errorf("zs compression: %v", c)
		}
		dict := 0
		for _, pg := range r.nodes[ls.FieldIndex("cat")].col.pages {
			if pg.enc.GetDictionary() != nil {
				dict++
			}
		}
		if dict == 0 {
			t.Error("no dictionary page for the low-cardinality column")
		}
	}

	want := make([]arrow.Array, len(as.Fields()))
	for i := range want {
		want[i] = concatColumn(t, mem, recs, i)
		defer want[i].Release()
	}

	rec, err := r.Read(ctx, nil, 0, total)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range as.Fields() {
		sliceEqual(t, "read "+f.Name, want[i], 0, total, rec.Column(i), 0, total)
	}
	rec.Release()

	// Windows crossing page boundaries, a single row, and empty reads.
	for _, w := range [][2]int64{{0, 1}, {999, 1003}, {1500, 1800}, {total - 1, total}, {5, 5}, {0, 0}} {
		rec, err := r.Read(ctx, nil, w[0], w[1])
		if err != nil {
			t.Fatal(err)
		}
		if rec.NumRows() != w[1]-w[0] {
			t.Errorf("window %v: %d rows", w, rec.NumRows())
		}
		for i, f := range as.Fields() {
			sliceEqual(t, "window "+f.Name, want[i], w[0], w[1], rec.Column(i), 0, w[1]-w[0])
		}
		rec.Release()
	}

	// Take: sorted, with repeats and runs, plus the ends; projection with
	// reordering.
	g := newGen(99, mem)
	var rows []uint64
	for range 150 {
		rows = append(rows, uint64(g.rnd.Int64N(total)))
	}
	rows = append(rows, 0, uint64(total-1), 17, 18, 19, 20, 17)
	slices.Sort(rows)
	proj := []int{ls.FieldIndex("lst"), ls.FieldIndex("cat"), ls.FieldIndex("vec"), ls.FieldIndex("st"), 0, ls.FieldIndex("s")}
	taken, err := r.Take(ctx, proj, rows)
	if err != nil {
		t.Fatal(err)
	}
	if taken.NumRows() != int64(len(rows)) || taken.NumCols() != int64(len(proj)) {
		t.Fatalf("take: %d rows %d cols", taken.NumRows(), taken.NumCols())
	}
	for k, row := range rows {
		for j, p := range proj {
			sliceEqual(t, "take "+as.Field(p).Name, want[p], int64(row), int64(row)+1, taken.Column(j), int64(k), int64(k)+1)
		}
	}
	taken.Release()

	// Take and Read agree on a dense run.
	run := []uint64{400, 401, 402, 403, 404, 405}
	tk, err := r.Take(ctx, nil, run)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := r.Read(ctx, nil, 400, 406)
	if err != nil {
		t.Fatal(err)
	}
	if !array.RecordEqual(tk, rd) {
		t.Error("Take and Read disagree")
	}
	tk.Release()
	rd.Release()

	// Empty projection still reports the rows.
	e, err := r.Read(ctx, []int{}, 3, 9)
	if err != nil {
		t.Fatal(err)
	}
	if e.NumCols() != 0 || e.NumRows() != 6 {
		t.Errorf("empty projection: %d cols %d rows", e.NumCols(), e.NumRows())
	}
	e.Release()
}

func TestReadArgumentErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ls, _ := schema.FromArrow(arrow.NewSchema([]arrow.Field{nullable("x", arrow.PrimitiveTypes.Int32)}, nil), 0)
	as, _ := ls.ToArrow()
	rec := makeBatch(1, mem, as, 10)
	defer rec.Release()
	data, _ := writeFile(t, ls, []arrow.RecordBatch{rec}, WriterOptions{})
	ctx := context.Background()
	r, err := Open(ctx, ReaderAtSource{bytes.NewReader(data)}, int64(len(data)), ReaderOptions{Path: "x.lance", Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, _ arrow.RecordBatch, err error) {
		t.Helper()
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: got %v, want ErrInvalidArgument", what, err)
		}
	}
	b, err := r.Read(ctx, nil, 5, 11)
	check("read past end", b, err)
	b, err = r.Read(ctx, nil, 6, 5)
	check("reversed", b, err)
	b, err = r.Read(ctx, []int{1}, 0, 1)
	check("projection", b, err)
	b, err = r.Take(ctx, nil, []uint64{3, 2})
	check("unsorted take", b, err)
	b, err = r.Take(ctx, nil, []uint64{10})
	check("take past end", b, err)
}

func TestWriterRejectsBadBatches(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ls, _ := schema.FromArrow(arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int32}}, nil), 0)
	w, err := NewWriter(&bytes.Buffer{}, ls, WriterOptions{Path: "bad.lance"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, s := range map[string]*arrow.Schema{
		"type":  arrow.NewSchema([]arrow.Field{nullable("x", arrow.PrimitiveTypes.Int64)}, nil),
		"name":  arrow.NewSchema([]arrow.Field{nullable("y", arrow.PrimitiveTypes.Int32)}, nil),
		"nulls": arrow.NewSchema([]arrow.Field{nullable("x", arrow.PrimitiveTypes.Int32)}, nil),
	} {
		g := newGen(1, mem)
		g.nullPct = 50
		col := g.array(s.Field(0).Type, 20)
		rec := array.NewRecordBatch(s, []arrow.Array{col}, 20)
		col.Release()
		if err := w.Write(ctx, rec); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: got %v", name, err)
		}
		rec.Release()
	}
	// Arrow dictionary arrays have a Lance type but no 2.0 writer support.
	ds, _ := schema.FromArrow(arrow.NewSchema([]arrow.Field{nullable("d", &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String})}, nil), 0)
	if _, err := NewWriter(&bytes.Buffer{}, ds, WriterOptions{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("dictionary: %v", err)
	}
	if _, err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finish(); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("second Finish: %v", err)
	}
}

// An FSL whose item field differs from Lance's ("item", nullable) is
// accepted: Lance does not store the item field.
func TestWriterAcceptsFSLItemNames(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dt := arrow.FixedSizeListOfField(2, arrow.Field{Name: "element", Type: arrow.PrimitiveTypes.Float32})
	as := arrow.NewSchema([]arrow.Field{nullable("v", dt)}, nil)
	ls, _ := schema.FromArrow(as, 0)
	g := newGen(3, mem)
	col := g.array(dt, 50)
	rec := array.NewRecordBatch(as, []arrow.Array{col}, 50)
	col.Release()
	defer rec.Release()
	data, _ := writeFile(t, ls, []arrow.RecordBatch{rec}, WriterOptions{})
	r, err := Open(context.Background(), ReaderAtSource{bytes.NewReader(data)}, int64(len(data)), ReaderOptions{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Read(context.Background(), nil, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	gv := got.Column(0).(*array.FixedSizeList).ListValues()
	wv := rec.Column(0).(*array.FixedSizeList).ListValues()
	if !array.Equal(gv, wv) || got.Column(0).NullN() != rec.Column(0).NullN() {
		t.Error("values differ")
	}
}

// Lance 2.0 cannot store struct-level validity; null structs are refused
// (as current Lance does) instead of being silently replaced.
func TestStructNullsAreRefused(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	st := arrow.StructOf(nullable("a", arrow.PrimitiveTypes.Int32))
	as := arrow.NewSchema([]arrow.Field{nullable("s", st)}, nil)
	ls, _ := schema.FromArrow(as, 0)
	b := array.NewStructBuilder(mem, st)
	b.Append(true)
	b.FieldBuilder(0).(*array.Int32Builder).Append(7)
	b.AppendNull()
	b.Append(true)
	b.FieldBuilder(0).(*array.Int32Builder).AppendNull()
	col := b.NewArray()
	b.Release()
	rec := array.NewRecordBatch(as, []arrow.Array{col}, 3)
	col.Release()
	defer rec.Release()

	w, err := NewWriter(&bytes.Buffer{}, ls, WriterOptions{Path: "s.lance"})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Write(context.Background(), rec)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `lance file s.lance: field "s": 1 null structs`) {
		t.Fatalf("got %v", err)
	}
	// The rows around the null struct are fine, including a null member.
	ok1, ok2 := rec.NewSlice(0, 1), rec.NewSlice(2, 3)
	defer ok1.Release()
	defer ok2.Release()
	data, _ := writeFile(t, ls, []arrow.RecordBatch{ok1, ok2}, WriterOptions{})
	r, err := Open(context.Background(), ReaderAtSource{bytes.NewReader(data)}, int64(len(data)), ReaderOptions{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Read(context.Background(), nil, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	s := got.Column(0).(*array.Struct)
	if s.NullN() != 0 || s.Field(0).(*array.Int32).Value(0) != 7 || s.Field(0).IsValid(1) {
		t.Errorf("got %v", s)
	}
	if pg := r.nodes[0].col.pages; len(pg) != 1 || pg[0].enc.GetStruct() == nil || pg[0].rows != 2 {
		t.Errorf("struct header pages: %v", pg)
	}
}

func TestEmptyFile(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ls, _ := schema.FromArrow(allTypes(), 0)
	data, info := writeFile(t, ls, nil, WriterOptions{})
	if info.NumRows != 0 || info.NumColumns != len(ls.Flatten()) {
		t.Errorf("info %+v", info)
	}
	r, err := Open(context.Background(), ReaderAtSource{bytes.NewReader(data)}, int64(len(data)), ReaderOptions{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Read(context.Background(), nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if rec.NumRows() != 0 || rec.NumCols() != int64(len(ls.Fields)) {
		t.Errorf("%d rows %d cols", rec.NumRows(), rec.NumCols())
	}
}

// One Reader serves many goroutines at once (run with -race).
func TestConcurrentReads(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ls, _ := schema.FromArrow(allTypes(), 0)
	as, _ := ls.ToArrow()
	rec := makeBatch(21, mem, as, 3000)
	defer rec.Release()
	data, _ := writeFile(t, ls, []arrow.RecordBatch{rec}, WriterOptions{PageSize: 8 << 10})
	r, err := Open(context.Background(), ReaderAtSource{bytes.NewReader(data)}, int64(len(data)), ReaderOptions{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 5 {
				start := int64((g*397 + i*113) % 2900)
				got, err := r.Read(context.Background(), nil, start, start+100)
				if err != nil {
					errs <- err
					return
				}
				for c := range as.Fields() {
					want := array.NewSlice(rec.Column(c), start, start+100)
					if !array.Equal(want, got.Column(c)) {
						errs <- fmt.Errorf("goroutine %d: column %s differs", g, as.Field(c).Name)
					}
					want.Release()
				}
				got.Release()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
