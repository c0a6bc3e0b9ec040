package table_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/filesystem"
	memstore "github.com/sarissa-db/sarissa/internal/objstore/memory"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/testkit/datagen"
)

// buckets runs f against every local bucket implementation.
func buckets(t *testing.T, f func(t *testing.T, b objstore.Bucket)) {
	t.Run("memory", func(t *testing.T) { f(t, memstore.New()) })
	t.Run("filesystem", func(t *testing.T) {
		b, err := filesystem.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		f(t, b)
	})
}

func checkedOpts(t *testing.T) (table.Options, *memory.CheckedAllocator) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return table.Options{Allocator: mem, MaxRowsPerFile: 700}, mem
}

func collect(t *testing.T, s *table.Snapshot, opts table.ScanOptions) arrow.RecordBatch {
	t.Helper()
	recs, sch, err := s.Collect(context.Background(), opts)
	if err != nil {
		t.Fatalf("scan %+v: %v", opts, err)
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	return concat(t, sch, recs)
}

func concat(t *testing.T, sch *arrow.Schema, recs []arrow.RecordBatch) arrow.RecordBatch {
	t.Helper()
	tbl := array.NewTableFromRecords(sch, recs)
	defer tbl.Release()
	cols := make([]arrow.Array, sch.NumFields())
	for i := range cols {
		chunks := tbl.Column(i).Data().Chunks()
		if len(chunks) == 0 {
			cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, sch.Field(i).Type, 0)
			continue
		}
		c, err := array.Concatenate(chunks, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		cols[i] = c
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	return array.NewRecordBatch(sch, cols, tbl.NumRows())
}

func int64s(t *testing.T, rec arrow.RecordBatch, col string) []int64 {
	t.Helper()
	idx := rec.Schema().FieldIndices(col)
	if len(idx) != 1 {
		t.Fatalf("no column %q", col)
	}
	return slices.Clone(rec.Column(idx[0]).(*array.Int64).Int64Values())
}

func TestCreateScanRoundTripAllTypes(t *testing.T) {
	buckets(t, func(t *testing.T, b objstore.Bucket) {
		ctx := context.Background()
		opts, mem := checkedOpts(t)
		in := datagen.AllTypes(mem, 7, 0, 1600)
		defer in.Release()
		a, b2 := in.NewSlice(0, 900), in.NewSlice(900, 1600)
		rr, err := array.NewRecordReader(in.Schema(), []arrow.RecordBatch{a, b2})
		a.Release()
		b2.Release()
		if err != nil {
			t.Fatal(err)
		}
		tb, snap, err := table.Create(ctx, b, "db/t.lance", in.Schema(), rr, opts)
		rr.Release()
		if err != nil {
			t.Fatal(err)
		}
		if snap.Version() != 1 || snap.NumRows() != 1600 {
			t.Fatalf("version %d rows %d, want 1 and 1600", snap.Version(), snap.NumRows())
		}
		// 1600 rows with at most 700 per file: 3 fragments.
		if n := len(snap.Lance().Fragments()); n != 3 {
			t.Errorf("fragments = %d, want 3", n)
		}
		got := collect(t, snap, table.ScanOptions{})
		defer got.Release()
		if !array.RecordEqual(got, in) {
			t.Fatalf("scan differs from input:\n got %v\nwant %v", got.Column(13), in.Column(13))
		}
		latest, err := tb.Latest(ctx)
		if err != nil || latest.Version() != 1 {
			t.Fatalf("latest = %v, %v", latest, err)
		}
	})
}

func TestScanProjectionFilterLimitOffset(t *testing.T) {
	ctx := context.Background()
	opts, mem := checkedOpts(t)
	rr := datagen.Reader(mem, 1, 0, 2000, 500)
	_, snap, err := table.Create(ctx, memstore.New(), "t.lance", datagen.AllTypesSchema(), rr, opts)
	rr.Release()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opts table.ScanOptions
		want []int64
	}{
		{"filter", table.ScanOptions{Columns: []string{"id"}, Filter: "id >= 695 AND id < 705"}, seq(695, 705)},
		{"limit", table.ScanOptions{Columns: []string{"id"}, Limit: 3}, seq(0, 3)},
		{"offset limit across files", table.ScanOptions{Columns: []string{"id"}, Offset: 698, Limit: 4}, seq(698, 702)},
		{"filter offset", table.ScanOptions{Columns: []string{"id"}, Filter: "id % 100 = 0", Offset: 2, Limit: 3}, []int64{200, 300, 400}},
		{"filter on other column", table.ScanOptions{Columns: []string{"id"}, Filter: "id < 50 AND category = 'beta'"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := collect(t, snap, c.opts)
			defer got.Release()
			if got.NumCols() != 1 || got.ColumnName(0) != "id" {
				t.Fatalf("columns = %v, want [id]", got.Schema())
			}
			ids := int64s(t, got, "id")
			if c.want != nil && !slices.Equal(ids, c.want) {
				t.Fatalf("ids = %v, want %v", ids, c.want)
			}
		})
	}
	// The category filter must agree with evaluating it row by row.
	all := collect(t, snap, table.ScanOptions{Columns: []string{"id", "category"}})
	defer all.Release()
	cat := all.Column(1).(*array.String)
	var want []int64
	for i := range int(all.NumRows()) {
		if i < 50 && cat.IsValid(i) && cat.Value(i) == "beta" {
			want = append(want, int64(i))
		}
	}
	got := collect(t, snap, cases[4].opts)
	defer got.Release()
	if ids := int64s(t, got, "id"); !slices.Equal(ids, want) || len(want) == 0 {
		t.Fatalf("category filter ids = %v, want %v", ids, want)
	}
	n, err := snap.Count(ctx, "category = 'beta' AND id < 50")
	if err != nil || n != int64(len(want)) {
		t.Fatalf("count = %d, %v; want %d", n, err, len(want))
	}
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestRowIDAndTake(t *testing.T) {
	ctx := context.Background()
	opts, mem := checkedOpts(t)
	rr := datagen.Reader(mem, 2, 0, 1500, 1500)
	tb, snap, err := table.Create(ctx, memstore.New(), "t.lance", datagen.AllTypesSchema(), rr, opts)
	rr.Release()
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, snap, table.ScanOptions{Columns: []string{"id"}, Filter: "id IN (3, 701, 1499)", WithRowID: true})
	defer got.Release()
	addrs := got.Column(1).(*array.Uint64).Uint64Values()
	// Fragments hold 700 rows each: row 701 is fragment 1, offset 1.
	want := []uint64{table.RowAddress(0, 3), table.RowAddress(1, 1), table.RowAddress(2, 99)}
	if !slices.Equal(addrs, want) {
		t.Fatalf("row ids = %v, want %v", addrs, want)
	}
	rev := []uint64{want[2], want[0], want[1], want[0]}
	taken, err := snap.Take(ctx, rev, []string{"id", "name"})
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Release()
	if ids := int64s(t, taken, "id"); !slices.Equal(ids, []int64{1499, 3, 701, 3}) {
		t.Fatalf("take ids = %v", ids)
	}
	if _, err := snap.Take(ctx, []uint64{table.RowAddress(9, 0)}, nil); !errors.Is(err, table.ErrInvalidArgument) {
		t.Fatalf("take of a missing fragment: err = %v", err)
	}
	// Deleted rows are skipped.
	s2, n, err := tb.Delete(ctx, "id = 3")
	if err != nil || n != 1 {
		t.Fatalf("delete: %d, %v", n, err)
	}
	taken2, err := s2.Take(ctx, rev, []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	defer taken2.Release()
	if ids := int64s(t, taken2, "id"); !slices.Equal(ids, []int64{1499, 701}) {
		t.Fatalf("take after delete ids = %v", ids)
	}
}

func TestAppendDeleteUpdateVersions(t *testing.T) {
	buckets(t, func(t *testing.T, b objstore.Bucket) {
		ctx := context.Background()
		opts, mem := checkedOpts(t)
		rr := datagen.Reader(mem, 3, 0, 1000, 250)
		tb, _, err := table.Create(ctx, b, "db/t.lance", datagen.AllTypesSchema(), rr, opts)
		rr.Release()
		if err != nil {
			t.Fatal(err)
		}
		rr = datagen.Reader(mem, 3, 1000, 500, 250)
		s2, added, err := tb.Append(ctx, rr)
		rr.Release()
		if err != nil || added != 500 || s2.Version() != 2 || s2.NumRows() != 1500 {
			t.Fatalf("append: version %v rows %v added %d err %v", s2.Version(), s2.NumRows(), added, err)
		}
		s3, deleted, err := tb.Delete(ctx, "id % 7 = 3")
		if err != nil {
			t.Fatal(err)
		}
		wantDeleted := int64(len(slices.DeleteFunc(seq(0, 1500), func(i int64) bool { return i%7 != 3 })))
		if deleted != wantDeleted || s3.NumRows() != 1500-wantDeleted {
			t.Fatalf("deleted %d rows (snapshot %d), want %d", deleted, s3.NumRows(), wantDeleted)
		}
		if n, err := s3.Count(ctx, "id % 7 = 3"); err != nil || n != 0 {
			t.Fatalf("deleted rows still visible: %d, %v", n, err)
		}
		// Deleting a whole fragment removes it.
		s4, _, err := tb.Delete(ctx, "id < 700")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range s4.Lance().Fragments() {
			if f.GetId() == 0 {
				t.Fatalf("fragment 0 should be gone after all its rows were deleted")
			}
		}
		s5, updated, err := tb.Update(ctx, "id >= 1400", []table.SetClause{{Column: "i32", Expr: "id * 2"}, {Column: "name", Expr: "'updated'"}})
		if err != nil {
			t.Fatal(err)
		}
		if updated != 100-14 {
			t.Fatalf("updated %d rows, want 86", updated)
		}
		if n, err := s5.Count(ctx, "name = 'updated' AND i32 = id * 2"); err != nil || n != updated {
			t.Fatalf("count of updated rows = %d, %v", n, err)
		}
		if s5.NumRows() != s4.NumRows() {
			t.Fatalf("update changed the row count: %d → %d", s4.NumRows(), s5.NumRows())
		}
		// Old versions stay readable.
		old, err := tb.Checkout(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := old.Count(ctx, "id % 7 = 3"); err != nil || n != wantDeleted {
			t.Fatalf("version 2 count = %d, %v", n, err)
		}
		vs, err := tb.Lance().ListVersions(ctx)
		if err != nil || len(vs) != 5 {
			t.Fatalf("versions = %v, %v", vs, err)
		}
		// Restore makes version 2 the content of a new version 6.
		r, err := tb.Restore(ctx, 2)
		if err != nil || r.Version() != 6 || r.NumRows() != 1500 {
			t.Fatalf("restore: %v %v %v", r.Version(), r.NumRows(), err)
		}
	})
}

func TestSchemaEvolution(t *testing.T) {
	buckets(t, func(t *testing.T, b objstore.Bucket) {
		ctx := context.Background()
		opts, mem := checkedOpts(t)
		rr := datagen.Reader(mem, 4, 0, 1000, 1000)
		tb, _, err := table.Create(ctx, b, "t.lance", datagen.AllTypesSchema(), rr, opts)
		rr.Release()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := tb.Delete(ctx, "id = 5"); err != nil {
			t.Fatal(err)
		}
		s, err := tb.AddColumns(ctx, []table.NewColumn{{Name: "double_id", Expr: "id * 2"}, {Name: "lname", Expr: "lower(name)"}})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := s.Count(ctx, "lname = lower(name) OR (lname IS NULL AND name IS NULL)"); err != nil || n != 999 {
			t.Fatalf("lname rows = %d, %v", n, err)
		}
		if n, err := s.Count(ctx, "double_id = id * 2"); err != nil || n != 999 {
			t.Fatalf("double_id rows = %d, %v", n, err)
		}
		// Rename, nullability, cast.
		newName := "twice"
		s, err = tb.AlterColumns(ctx, []table.Alteration{{Path: "double_id", Rename: &newName}})
		if err != nil {
			t.Fatal(err)
		}
		if !s.Schema().HasField("twice") || s.Schema().HasField("double_id") {
			t.Fatalf("rename did not take: %v", s.Schema())
		}
		s, err = tb.AlterColumns(ctx, []table.Alteration{{Path: "i32", DataType: arrow.PrimitiveTypes.Float64}})
		if err != nil {
			t.Fatal(err)
		}
		if f, _ := s.Schema().FieldsByName("i32"); len(f) != 1 || f[0].Type.ID() != arrow.FLOAT64 {
			t.Fatalf("i32 after cast: %v", s.Schema())
		}
		before := collect(t, mustCheckout(t, tb, 2), table.ScanOptions{Columns: []string{"i32"}})
		defer before.Release()
		after := collect(t, s, table.ScanOptions{Columns: []string{"i32", "twice"}})
		defer after.Release()
		bi, af := before.Column(0).(*array.Int32), after.Column(0).(*array.Float64)
		if bi.Len() != af.Len() {
			t.Fatalf("row counts differ after cast: %d vs %d", bi.Len(), af.Len())
		}
		for i := range bi.Len() {
			if bi.IsNull(i) != af.IsNull(i) || (bi.IsValid(i) && float64(bi.Value(i)) != af.Value(i)) {
				t.Fatalf("row %d: %v became %v", i, bi.GetOneForMarshal(i), af.GetOneForMarshal(i))
			}
		}
		notNull := false
		if _, err := tb.AlterColumns(ctx, []table.Alteration{{Path: "name", Nullable: &notNull}}); !errors.Is(err, table.ErrInvalidArgument) {
			t.Fatalf("making a column with nulls non-nullable: err = %v", err)
		}
		s, err = tb.DropColumns(ctx, []string{"twice", "blob"})
		if err != nil {
			t.Fatal(err)
		}
		if s.Schema().HasField("blob") || s.Schema().HasField("twice") {
			t.Fatalf("dropped columns still present: %v", s.Schema())
		}
		// A new column must not reuse the dropped column's field id (its data
		// still sits in old files).
		s, err = tb.AddColumns(ctx, []table.NewColumn{{Name: "again", Expr: "id + 1"}})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := s.Count(ctx, "again = id + 1"); err != nil || n != 999 {
			t.Fatalf("again rows = %d, %v", n, err)
		}
	})
}

func mustCheckout(t *testing.T, tb *table.Table, v uint64) *table.Snapshot {
	t.Helper()
	s, err := tb.Checkout(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBadInputIsRejectedWithoutCommit(t *testing.T) {
	ctx := context.Background()
	opts, mem := checkedOpts(t)
	rr := datagen.Reader(mem, 5, 0, 100, 100)
	tb, _, err := table.Create(ctx, memstore.New(), "t.lance", datagen.AllTypesSchema(), rr, opts)
	rr.Release()
	if err != nil {
		t.Fatal(err)
	}
	// Wrong schema.
	other := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}}, nil)
	bld := array.NewRecordBuilder(mem, other)
	bld.Field(0).(*array.StringBuilder).Append("x")
	rec := bld.NewRecordBatch()
	bld.Release()
	bad, _ := array.NewRecordReader(other, []arrow.RecordBatch{rec})
	rec.Release()
	_, _, err = tb.Append(ctx, bad)
	bad.Release()
	if !errors.Is(err, table.ErrSchemaMismatch) {
		t.Fatalf("append with wrong schema: err = %v", err)
	}
	// Nulls in a non-nullable column.
	sch := datagen.AllTypesSchema()
	in := datagen.AllTypes(mem, 5, 100, 10)
	cols := slices.Clone(in.Columns())
	cols[0] = array.MakeArrayOfNull(mem, arrow.PrimitiveTypes.Int64, 10)
	withNulls := array.NewRecordBatch(sch, cols, 10)
	cols[0].Release()
	in.Release()
	rr2, _ := array.NewRecordReader(sch, []arrow.RecordBatch{withNulls})
	withNulls.Release()
	_, _, err = tb.Append(ctx, rr2)
	rr2.Release()
	if !errors.Is(err, table.ErrSchemaMismatch) {
		t.Fatalf("nulls in non-nullable id: err = %v", err)
	}
	// Bad filters name the problem.
	for _, f := range []string{"id >", "nope = 1", "id = 'x' AND"} {
		if _, _, err := tb.Delete(ctx, f); err == nil {
			t.Errorf("delete %q succeeded", f)
		} else {
			t.Logf("delete %q: %v", f, err)
		}
	}
	if _, _, err := tb.Update(ctx, "", []table.SetClause{{Column: "missing", Expr: "1"}}); !errors.Is(err, table.ErrInvalidArgument) {
		t.Errorf("update of a missing column: %v", err)
	}
	s, err := tb.Latest(ctx)
	if err != nil || s.Version() != 1 {
		t.Fatalf("a rejected request committed something: version %v, %v", s.Version(), err)
	}
	_, _, err = table.Create(ctx, tb.Lance().Bucket(), "t.lance", sch, nil, opts)
	if !errors.Is(err, lance.ErrTableExists) {
		t.Fatalf("create over an existing table: %v", err)
	}
}

func TestConcurrentAppendsAndDeletes(t *testing.T) {
	buckets(t, func(t *testing.T, b objstore.Bucket) { concurrentWriters(t, b) })
}

// concurrentWriters runs 8 appenders × 25 commits plus a deleter and checks
// that every commit is present and versions are contiguous.
func concurrentWriters(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	opts, _ := checkedOpts(t)
	mem := opts.Allocator
	sch := arrow.NewSchema([]arrow.Field{{Name: "writer", Type: arrow.PrimitiveTypes.Int64}, {Name: "seq", Type: arrow.PrimitiveTypes.Int64}}, nil)
	tb, _, err := table.Create(ctx, b, "c.lance", sch, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	const writers, commits = 8, 25
	errs := make(chan error, writers+1)
	for w := range writers {
		go func() {
			for i := range commits {
				bld := array.NewRecordBuilder(mem, sch)
				bld.Field(0).(*array.Int64Builder).AppendValues([]int64{int64(w), int64(w)}, nil)
				bld.Field(1).(*array.Int64Builder).AppendValues([]int64{int64(i), int64(i + 1000)}, nil)
				rec := bld.NewRecordBatch()
				bld.Release()
				rr, _ := array.NewRecordReader(sch, []arrow.RecordBatch{rec})
				rec.Release()
				_, _, err := tb.Append(ctx, rr)
				rr.Release()
				if err != nil {
					errs <- fmt.Errorf("writer %d commit %d: %w", w, i, err)
					return
				}
			}
			errs <- nil
		}()
	}
	// A deleter removes the "seq >= 1000" twin rows while appends go on.
	go func() {
		for range 10 {
			if _, _, err := tb.Delete(ctx, "seq >= 1000"); err != nil {
				errs <- fmt.Errorf("delete: %w", err)
				return
			}
		}
		errs <- nil
	}()
	for range writers + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := tb.Delete(ctx, "seq >= 1000"); err != nil {
		t.Fatal(err)
	}
	s, err := tb.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := tb.Lance().ListVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		if v.Version != uint64(i+1) {
			t.Fatalf("versions not contiguous at %d: %v", i, v.Version)
		}
	}
	if len(vs) < 1+writers*commits {
		t.Fatalf("%d versions, want at least %d", len(vs), 1+writers*commits)
	}
	if n, _ := s.Count(ctx, "seq >= 1000"); n != 0 {
		t.Fatalf("%d twin rows survived the deletes", n)
	}
	for w := range writers {
		n, err := s.Count(ctx, fmt.Sprintf("writer = %d", w))
		if err != nil || n != commits {
			t.Fatalf("writer %d has %d rows (%v), want %d", w, n, err, commits)
		}
	}
}

func TestOverwriteReplacesSchemaAndData(t *testing.T) {
	buckets(t, func(t *testing.T, b objstore.Bucket) {
		ctx := context.Background()
		opts, mem := checkedOpts(t)
		rr := datagen.Reader(mem, 6, 0, 800, 800)
		tb, _, err := table.Create(ctx, b, "t.lance", datagen.AllTypesSchema(), rr, opts)
		rr.Release()
		if err != nil {
			t.Fatal(err)
		}
		sch := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.BinaryTypes.String}}, nil)
		bld := array.NewRecordBuilder(mem, sch)
		bld.Field(0).(*array.StringBuilder).AppendValues([]string{"a", "b", "c"}, nil)
		rec := bld.NewRecordBatch()
		bld.Release()
		rr2, _ := array.NewRecordReader(sch, []arrow.RecordBatch{rec})
		rec.Release()
		s, n, err := tb.Overwrite(ctx, nil, rr2)
		rr2.Release()
		if err != nil || n != 3 || s.Version() != 2 || s.NumRows() != 3 {
			t.Fatalf("overwrite: version %v rows %v written %d err %v", s.Version(), s.NumRows(), n, err)
		}
		if !s.Schema().Equal(sch) {
			t.Fatalf("schema after overwrite = %v", s.Schema())
		}
		got := collect(t, s, table.ScanOptions{})
		defer got.Release()
		if v := got.Column(0).(*array.String); v.Value(0) != "a" || v.Value(2) != "c" {
			t.Fatalf("rows after overwrite: %v", v)
		}
		// The old version is still there.
		old := mustCheckout(t, tb, 1)
		if old.NumRows() != 800 || old.Schema().NumFields() != datagen.AllTypesSchema().NumFields() {
			t.Fatalf("version 1 changed: %d rows, %d columns", old.NumRows(), old.Schema().NumFields())
		}
		// An empty overwrite keeps a schema and no rows.
		s, _, err = tb.Overwrite(ctx, sch, nil)
		if err != nil || s.NumRows() != 0 || len(s.Lance().Fragments()) != 0 {
			t.Fatalf("empty overwrite: %v rows, %v", s.NumRows(), err)
		}
	})
}
