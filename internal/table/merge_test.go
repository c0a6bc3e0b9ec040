package table_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/filter"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/table"
)

var mergeSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "price", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, nil)

// mrow is one row of mergeSchema; nil fields are null.
type mrow struct {
	id    *int64
	name  *string
	price *float64
}

func r(id int64, name string, price float64) mrow { return mrow{&id, &name, &price} }

func (m mrow) String() string {
	f := func(p any) string {
		switch v := p.(type) {
		case *int64:
			if v != nil {
				return fmt.Sprint(*v)
			}
		case *string:
			if v != nil {
				return *v
			}
		case *float64:
			if v != nil {
				return fmt.Sprint(*v)
			}
		}
		return "null"
	}
	return f(m.id) + "/" + f(m.name) + "/" + f(m.price)
}

func mergeBatch(mem memory.Allocator, rows []mrow) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, mergeSchema)
	defer b.Release()
	for _, r := range rows {
		if r.id == nil {
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.Int64Builder).Append(*r.id)
		}
		if r.name == nil {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(*r.name)
		}
		if r.price == nil {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.Float64Builder).Append(*r.price)
		}
	}
	return b.NewRecordBatch()
}

func mergeReader(t *testing.T, mem memory.Allocator, rows []mrow) array.RecordReader {
	t.Helper()
	rec := mergeBatch(mem, rows)
	defer rec.Release()
	rr, err := array.NewRecordReader(mergeSchema, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// contents returns the table's rows as sorted strings.
func contents(t *testing.T, s *table.Snapshot) []string {
	t.Helper()
	rec := collect(t, s, table.ScanOptions{})
	defer rec.Release()
	var out []string
	for i := range int(rec.NumRows()) {
		var parts []string
		for c := range int(rec.NumCols()) {
			parts = append(parts, rec.Column(c).ValueStr(i))
		}
		out = append(out, strings.Join(parts, "/"))
	}
	sort.Strings(out)
	return out
}

func rowStrings(rows ...mrow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strings.ReplaceAll(r.String(), "null", "(null)")
	}
	sort.Strings(out)
	return out
}

// newMergeTable creates a table holding rows, split into several fragments.
func newMergeTable(t *testing.T, b objstore.Bucket, opts table.Options, mem memory.Allocator, rows []mrow) *table.Table {
	t.Helper()
	opts.MaxRowsPerFile = 2
	rr := mergeReader(t, mem, rows)
	defer rr.Release()
	tb, _, err := table.Create(context.Background(), b, "t.lance", mergeSchema, rr, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func merge(t *testing.T, tb *table.Table, mem memory.Allocator, opts table.MergeInsertOptions, rows ...mrow) (table.MergeResult, error) {
	t.Helper()
	rr := mergeReader(t, mem, rows)
	defer rr.Release()
	return tb.MergeInsert(context.Background(), opts, rr)
}

func TestMergeInsert(t *testing.T) {
	null := mrow{}
	base := []mrow{r(1, "a", 1.5), r(2, "b", 25), r(3, "a", 3.5), r(4, "c", 4.5), r(5, "b", 55)}
	nullKey := func(name string) mrow { n := name; return mrow{name: &n} }
	cases := []struct {
		name   string
		opts   table.MergeInsertOptions
		source []mrow
		want   []mrow
		ins    int64
		upd    int64
		del    int64
	}{
		{
			name:   "upsert",
			opts:   table.MergeInsertOptions{On: []string{"id"}, WhenMatchedUpdateAll: true, WhenNotMatchedInsertAll: true},
			source: []mrow{r(3, "a2", 30), r(9, "new", 9.5), r(4, "c2", 40)},
			want:   []mrow{r(1, "a", 1.5), r(2, "b", 25), r(3, "a2", 30), r(4, "c2", 40), r(5, "b", 55), r(9, "new", 9.5)},
			ins:    1, upd: 2,
		},
		{
			name:   "condition on both sides",
			opts:   table.MergeInsertOptions{On: []string{"id"}, WhenMatchedUpdateAll: true, WhenMatchedCondition: "target.price < source.price", WhenNotMatchedInsertAll: true},
			source: []mrow{r(2, "b2", 1), r(3, "a2", 100), r(9, "new", 9.5)},
			want:   []mrow{r(1, "a", 1.5), r(2, "b", 25), r(3, "a2", 100), r(4, "c", 4.5), r(5, "b", 55), r(9, "new", 9.5)},
			ins:    1, upd: 1,
		},
		{
			name:   "condition on the source only",
			opts:   table.MergeInsertOptions{On: []string{"id"}, WhenMatchedUpdateAll: true, WhenMatchedCondition: "source.name = 'yes'"},
			source: []mrow{r(1, "yes", 0), r(2, "no", 0)},
			want:   []mrow{r(1, "yes", 0), r(2, "b", 25), r(3, "a", 3.5), r(4, "c", 4.5), r(5, "b", 55)},
			upd:    1,
		},
		{
			name:   "delete by source with filter",
			opts:   table.MergeInsertOptions{On: []string{"id"}, WhenMatchedUpdateAll: true, WhenNotMatchedBySourceDelete: true, WhenNotMatchedBySourceFilter: "id >= 4"},
			source: []mrow{r(1, "a", 1.5)},
			want:   []mrow{r(1, "a", 1.5), r(2, "b", 25), r(3, "a", 3.5)},
			upd:    1, del: 2,
		},
		{
			name:   "replace everything",
			opts:   table.MergeInsertOptions{On: []string{"id"}, WhenMatchedUpdateAll: true, WhenNotMatchedInsertAll: true, WhenNotMatchedBySourceDelete: true},
			source: []mrow{r(2, "x", 2), r(7, "y", 7)},
			want:   []mrow{r(2, "x", 2), r(7, "y", 7)},
			ins:    1, upd: 1, del: 4,
		},
		{
			name:   "find or create",
			opts:   table.MergeInsertOptions{On: []string{"id"}, WhenNotMatchedInsertAll: true},
			source: []mrow{r(1, "ignored", 0), r(6, "f", 6)},
			want:   append(slices.Clone(base), r(6, "f", 6)),
			ins:    1,
		},
		{
			name:   "unmatched duplicates are all inserted",
			opts:   table.MergeInsertOptions{On: []string{"id"}, WhenMatchedUpdateAll: true, WhenNotMatchedInsertAll: true},
			source: []mrow{r(8, "x", 1), r(8, "y", 2)},
			want:   append(slices.Clone(base), r(8, "x", 1), r(8, "y", 2)),
			ins:    2,
		},
		{
			name:   "duplicates of which the condition keeps one",
			opts:   table.MergeInsertOptions{On: []string{"id"}, WhenMatchedUpdateAll: true, WhenMatchedCondition: "source.price > 10"},
			source: []mrow{r(1, "x", 1), r(1, "y", 20)},
			want:   []mrow{r(1, "y", 20), r(2, "b", 25), r(3, "a", 3.5), r(4, "c", 4.5), r(5, "b", 55)},
			upd:    1,
		},
		{
			name:   "null keys never match",
			opts:   table.MergeInsertOptions{On: []string{"id"}, WhenMatchedUpdateAll: true, WhenNotMatchedInsertAll: true},
			source: []mrow{nullKey("n1"), r(5, "b5", 5)},
			want:   []mrow{r(1, "a", 1.5), r(2, "b", 25), r(3, "a", 3.5), r(4, "c", 4.5), r(5, "b5", 5), nullKey("n1")},
			ins:    1, upd: 1,
		},
		{
			name:   "two key columns",
			opts:   table.MergeInsertOptions{On: []string{"id", "name"}, WhenMatchedUpdateAll: true, WhenNotMatchedInsertAll: true},
			source: []mrow{r(1, "a", 100), r(2, "zz", 200)},
			want:   append([]mrow{r(1, "a", 100), r(2, "zz", 200)}, base[1:]...),
			ins:    1, upd: 1,
		},
		{
			name:   "nothing matches, nothing to do",
			opts:   table.MergeInsertOptions{On: []string{"id"}, WhenMatchedUpdateAll: true},
			source: []mrow{r(42, "x", 1)},
			want:   base,
		},
		{
			name:   "empty source deletes all by source",
			opts:   table.MergeInsertOptions{On: []string{"id"}, WhenNotMatchedBySourceDelete: true, WhenNotMatchedBySourceFilter: "name = 'b'"},
			source: nil,
			want:   []mrow{r(1, "a", 1.5), r(3, "a", 3.5), r(4, "c", 4.5)},
			del:    2,
		},
	}
	_ = null
	buckets(t, func(t *testing.T, b objstore.Bucket) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				opts, mem := checkedOpts(t)
				tb := newMergeTable(t, b, opts, mem, base)
				defer func() {
					for a := range b.List(context.Background(), "") {
						_ = b.Delete(context.Background(), a.Key)
					}
				}()
				res, err := merge(t, tb, mem, tc.opts, tc.source...)
				if err != nil {
					t.Fatal(err)
				}
				if res.Inserted != tc.ins || res.Updated != tc.upd || res.Deleted != tc.del || res.Attempts != 1 {
					t.Errorf("result %+v, want inserted %d updated %d deleted %d", res, tc.ins, tc.upd, tc.del)
				}
				// A merge commits even when it changes nothing, as Lance does.
				if res.Version != 2 {
					t.Errorf("version %d, want 2", res.Version)
				}
				s, err := tb.Latest(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if got, want := contents(t, s), rowStrings(tc.want...); !slices.Equal(got, want) {
					t.Errorf("rows\n got %v\nwant %v", got, want)
				}
				if s.Version() != res.Version {
					t.Errorf("latest version %d, result says %d", s.Version(), res.Version)
				}
			})
		}
	})
}

func TestMergeInsertErrors(t *testing.T) {
	buckets(t, func(t *testing.T, b objstore.Bucket) {
		opts, mem := checkedOpts(t)
		base := []mrow{r(1, "a", 1), r(2, "b", 2), r(3, "c", 3)}
		tb := newMergeTable(t, b, opts, mem, base)
		upsert := table.MergeInsertOptions{On: []string{"id"}, WhenMatchedUpdateAll: true, WhenNotMatchedInsertAll: true}
		with := func(f func(*table.MergeInsertOptions)) table.MergeInsertOptions {
			o := upsert
			o.On = slices.Clone(o.On)
			f(&o)
			return o
		}
		cases := []struct {
			name   string
			opts   table.MergeInsertOptions
			source []mrow
			is     error
			msg    string
		}{
			{"no key", with(func(o *table.MergeInsertOptions) { o.On = nil }), nil, table.ErrInvalidArgument, "at least one key column"},
			{"unknown key", with(func(o *table.MergeInsertOptions) { o.On = []string{"nope"} }), nil, table.ErrInvalidArgument, `"nope" is not in the table`},
			{"key twice", with(func(o *table.MergeInsertOptions) { o.On = []string{"id", "id"} }), nil, table.ErrInvalidArgument, "given twice"},
			{"nothing to do", table.MergeInsertOptions{On: []string{"id"}}, nil, table.ErrInvalidArgument, "would not change anything"},
			{"ambiguous", upsert, []mrow{r(2, "x", 1), r(2, "y", 2)}, table.ErrAmbiguousMerge, "(id = 2)"},
			{"ambiguous with condition", with(func(o *table.MergeInsertOptions) { o.WhenMatchedCondition = "source.price > 0" }), []mrow{r(3, "x", 1), r(3, "y", 2)}, table.ErrAmbiguousMerge, "2 source rows"},
			{"condition syntax", with(func(o *table.MergeInsertOptions) { o.WhenMatchedCondition = "target.price >>> 1" }), []mrow{r(1, "x", 1)}, filter.ErrInvalid, "condition"},
			{"condition not boolean", with(func(o *table.MergeInsertOptions) { o.WhenMatchedCondition = "source.price + 1" }), []mrow{r(1, "x", 1)}, table.ErrInvalidArgument, "not boolean"},
			{"unqualified column in condition", with(func(o *table.MergeInsertOptions) { o.WhenMatchedCondition = "price > 1" }), []mrow{r(1, "x", 1)}, filter.ErrInvalid, "source.<name>"},
			{"unknown target column", with(func(o *table.MergeInsertOptions) { o.WhenMatchedCondition = "target.nope > 1" }), []mrow{r(1, "x", 1)}, table.ErrInvalidArgument, `no column "nope"`},
			{"bad delete filter", table.MergeInsertOptions{On: []string{"id"}, WhenNotMatchedBySourceDelete: true, WhenNotMatchedBySourceFilter: "nope = 1"}, nil, filter.ErrInvalid, "when_not_matched_by_source_delete"},
			{"filter without delete", with(func(o *table.MergeInsertOptions) { o.WhenNotMatchedBySourceFilter = "id = 1" }), nil, table.ErrInvalidArgument, "needs when_not_matched_by_source_delete"},
		}
		for _, tc := range cases {
			_, err := merge(t, tb, mem, tc.opts, tc.source...)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s: error %v, want %v containing %q", tc.name, err, tc.is, tc.msg)
			}
		}
		// A source without the table's columns.
		other := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
		ib := array.NewInt64Builder(mem)
		ib.Append(1)
		col := ib.NewArray()
		ib.Release()
		rec := array.NewRecordBatch(other, []arrow.Array{col}, 1)
		col.Release()
		rr, err := array.NewRecordReader(other, []arrow.RecordBatch{rec})
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		_, err = tb.MergeInsert(context.Background(), upsert, rr)
		rr.Release()
		if !errors.Is(err, table.ErrSchemaMismatch) {
			t.Errorf("source lacking columns: %v", err)
		}
		// Nothing was committed by any of the failures.
		s, err := tb.Latest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if s.Version() != 1 || !slices.Equal(contents(t, s), rowStrings(base...)) {
			t.Errorf("after failed merges: version %d rows %v", s.Version(), contents(t, s))
		}
	})
}

// Float keys: -0 matches 0, NaN matches nothing (it is inserted).
func TestMergeInsertFloatKeys(t *testing.T) {
	buckets(t, func(t *testing.T, b objstore.Bucket) {
		opts, mem := checkedOpts(t)
		tb := newMergeTable(t, b, opts, mem, []mrow{r(1, "zero", 0), r(2, "nan", math.NaN())})
		res, err := merge(t, tb, mem, table.MergeInsertOptions{On: []string{"price"}, WhenMatchedUpdateAll: true, WhenNotMatchedInsertAll: true},
			r(10, "negzero", math.Copysign(0, -1)), r(20, "nan2", math.NaN()))
		if err != nil {
			t.Fatal(err)
		}
		if res.Updated != 1 || res.Inserted != 1 {
			t.Fatalf("result %+v, want 1 update (-0 = 0) and 1 insert (NaN matches nothing)", res)
		}
	})
}

// Concurrent merges of different keys all land, re-planning when their
// commits conflict.
func TestMergeInsertConcurrent(t *testing.T) {
	buckets(t, func(t *testing.T, b objstore.Bucket) {
		opts, mem := checkedOpts(t)
		var base []mrow
		for i := range int64(16) {
			base = append(base, r(i, "old", float64(i)))
		}
		base = append(base, r(100, "old", 100))
		tb := newMergeTable(t, b, opts, mem, base)
		const workers = 4
		var wg sync.WaitGroup
		errs := make([]error, workers)
		attempts := make([]int, workers)
		for w := range workers {
			wg.Go(func() {
				var src []mrow
				for i := int64(w); i < 16; i += workers {
					src = append(src, r(i, fmt.Sprintf("w%d", w), float64(i)))
				}
				// Every worker also replaces row 100: those commits
				// conflict and must be re-planned, or row 100 would be
				// duplicated.
				src = append(src, r(100+int64(w)+1, "new", 0), r(100, fmt.Sprintf("w%d", w), 100))
				rec := mergeBatch(mem, src)
				rr, err := array.NewRecordReader(mergeSchema, []arrow.RecordBatch{rec})
				rec.Release()
				if err != nil {
					errs[w] = err
					return
				}
				res, err := tb.MergeInsert(context.Background(), table.MergeInsertOptions{On: []string{"id"}, WhenMatchedUpdateAll: true, WhenNotMatchedInsertAll: true}, rr)
				rr.Release()
				errs[w], attempts[w] = err, res.Attempts
			})
		}
		wg.Wait()
		for w, err := range errs {
			if err != nil {
				t.Fatalf("worker %d: %v", w, err)
			}
		}
		s, err := tb.Latest(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var want []mrow
		for i := range int64(16) {
			want = append(want, r(i, fmt.Sprintf("w%d", i%workers), float64(i)))
		}
		for w := range int64(workers) {
			want = append(want, r(100+w+1, "new", 0))
		}
		got := contents(t, s)
		var last string // row 100: whichever worker committed last
		for _, g := range got {
			if strings.HasPrefix(g, "100/") {
				if last != "" {
					t.Fatalf("row 100 appears twice: %v", got)
				}
				last = g
			}
		}
		want = append(want, r(100, strings.Split(last, "/")[1], 100))
		if !slices.Equal(got, rowStrings(want...)) {
			t.Fatalf("rows after concurrent merges:\n got %v\nwant %v", got, rowStrings(want...))
		}
		if total := attempts[0] + attempts[1] + attempts[2] + attempts[3]; total <= workers {
			t.Logf("attempts per worker: %v (no conflict this run)", attempts)
		} else {
			t.Logf("attempts per worker: %v", attempts)
		}
	})
}
