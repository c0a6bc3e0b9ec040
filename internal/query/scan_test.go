package query

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sarissa-db/sarissa/internal/table"
)

// rowsWithDeletes is lanceRows in fragments of 4 with ids 2 and 8 deleted,
// as in the LanceDB session the expectations come from.
func rowsWithDeletes(t *testing.T) *fixture {
	f := newFixture(t, 3, lanceRows(), 4)
	f.delete("id = 2 OR id = 8")
	return f
}

func TestSystemColumnsInScans(t *testing.T) {
	f := rowsWithDeletes(t)
	addr := func(id int) uint64 { return table.RowAddress(uint64(id/4), uint32(id%4)) }

	_, rows := f.mustRun(`{"vector":[],"k":100,"columns":["id","_rowoffset"]}`, Options{})
	if got, want := ints(rows, "_rowoffset"), []int64{0, 1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(got, want) {
		t.Fatalf("_rowoffset %v, want %v", got, want)
	}
	if got, want := ints(rows, "id"), []int64{0, 1, 3, 4, 5, 6, 7, 9, 10}; !slices.Equal(got, want) {
		t.Fatalf("ids %v, want %v", got, want)
	}
	// takeRowIds / takeOffsets as the client sends them.
	_, rows = f.mustRun(fmt.Sprintf(`{"vector":[],"k":9223372036854775807,"filter":"_rowid IN (%d, %d)","with_row_id":true}`, addr(1), addr(9)), Options{})
	if got := ints(rows, "id"); !slices.Equal(got, []int64{1, 9}) {
		t.Fatalf("take by row id: %v", got)
	}
	if got := ints(rows, "_rowid"); uint64(got[1]) != addr(9) {
		t.Fatalf("_rowid %v, want %d last", got, addr(9))
	}
	_, rows = f.mustRun(`{"vector":[],"k":9223372036854775807,"filter":"_rowoffset IN (0, 5, 7)","columns":["id","text","_rowoffset"]}`, Options{})
	if got := ints(rows, "id"); !slices.Equal(got, []int64{0, 6, 9}) {
		t.Fatalf("take by offset: %v", got)
	}
	// Row id filters in a vector search, before and after the top-k, from
	// storage and from cached columns.
	cache := NewCache(1 << 20)
	for _, tc := range []struct {
		pre  bool
		opts Options
	}{{true, Options{}}, {false, Options{}}, {true, Options{Cache: cache, TableURI: "mem://s"}}, {false, Options{Cache: cache, TableURI: "mem://s"}}} {
		pre := tc.pre
		_, rows = f.mustRun(fmt.Sprintf(`{"vector":[1,1,1],"k":3,"prefilter":%v,"filter":"_rowid > %d AND _rowoffset < 100 AND id >= 0","columns":["id","_rowoffset"]}`, pre, addr(3)), tc.opts)
		want := []int64{10, 4, 5}
		if !pre {
			want = []int64{10} // top 3 are ids 1, 10, 0; only 10 passes
		}
		if got := ints(rows, "id"); !slices.Equal(got, want) {
			t.Fatalf("prefilter=%v: %v, want %v", pre, got, want)
		}
		if pre {
			if got := ints(rows, "_rowoffset"); !slices.Equal(got, []int64{8, 3, 4}) {
				t.Fatalf("_rowoffset of hits %v, want [8 3 4]", got)
			}
		}
	}
}

func TestNonFiniteVectors(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	var rows []row
	for i := range int32(6) {
		rows = append(rows, row{id: i, vec: []float32{float32(i), 1, 1}})
	}
	rows = append(rows, row{id: 6, vec: []float32{nan, 1, 1}}, row{id: 7, vec: []float32{inf, 1, 1}})
	f := newFixture(t, 3, rows, 3)
	// LanceDB 0.39: the NaN row is dropped, the infinite one sorts last.
	_, got := f.mustRun(`{"vector":[1,1,1],"k":20,"columns":["id"]}`, Options{})
	if ids := ints(got, "id"); !slices.Equal(ids, []int64{1, 0, 2, 3, 4, 5, 7}) {
		t.Fatalf("l2 ids %v", ids)
	}
	if d := floats(got, "_distance"); !math.IsInf(d[len(d)-1], 1) {
		t.Fatalf("last distance %v, want +Inf", d[len(d)-1])
	}
	_, got = f.mustRun(`{"vector":[1,1,1],"k":20,"distance_type":"cosine","columns":["id"]}`, Options{})
	if ids := ints(got, "id"); slices.Contains(ids, 6) || slices.Contains(ids, 7) || len(ids) != 6 {
		t.Fatalf("cosine ids %v: NaN and Inf rows must be dropped", ids)
	}
}

func TestExpressionErrorsOnlyForSelectedRows(t *testing.T) {
	f := newFixture(t, 3, lanceRows(), 4)
	// 10 / (id - 5) divides by zero on id 5 only.
	_, rows := f.mustRun(`{"vector":[],"k":100,"filter":"id < 5","columns":{"id":"id","q":"10 / (id - 5)"}}`, Options{})
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 5", len(rows))
	}
	_, err := f.run(`{"vector":[],"k":100,"columns":{"q":"10 / (id - 5)"}}`, Options{})
	if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(strings.ToLower(err.Error()), "divide by zero") {
		t.Fatalf("error %v, want a divide-by-zero ErrInvalidRequest", err)
	}
}

func TestExplain(t *testing.T) {
	f := rowsWithDeletes(t)
	for _, tc := range []struct {
		body    string
		verbose bool
		want    []string
	}{
		{`{"vector":[1,1,1],"k":3,"filter":"id > 1","columns":["id"]}`, false,
			[]string{"ProjectionExec: expr=[id, _distance]", "GlobalLimitExec: skip=0, fetch=3", "FlatKNNExec: column=vec, metric=l2, dim=3, k=3", "PrefilterExec: id > 1", "LanceScan: version=2, fragments=3"}},
		{`{"vector":[1,1,1],"k":3,"offset":1,"filter":"id > 1","prefilter":false,"columns":{"x":"id * 2"}}`, true,
			[]string{"ProjectionExec: expr=[id * 2 as x, _distance]", "FilterExec: id > 1", "k=4", "kernel="}},
		{`{"vector":[],"k":5,"offset":2,"filter":"id > 1","columns":["id"]}`, false,
			[]string{"ProjectionExec: expr=[id]", "GlobalLimitExec: skip=2, fetch=5", "filter=id > 1"}},
	} {
		req, err := ParseRequest([]byte(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Explain(context.Background(), f.snap, req, tc.verbose, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: plan lacks %q:\n%s", tc.body, w, got)
			}
		}
	}
	req, _ := ParseRequest([]byte(`{"vector":[1,1]}`))
	if _, err := Explain(context.Background(), f.snap, req, false, Options{}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("explain of a bad request: %v", err)
	}
}

func TestCancellation(t *testing.T) {
	f := randomFixture(t, 5, 3000, 8)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, b := range []string{`{"vector":[1,2,3,4,5,6,7,8],"k":5}`, `{"vector":[],"k":5,"filter":"id > 10"}`} {
		req, err := ParseRequest([]byte(b))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Execute(ctx, f.snap, req, Options{Allocator: f.mem})
		if !errors.Is(err, context.Canceled) {
			res.Release()
			t.Fatalf("%s: error %v, want context.Canceled", b, err)
		}
	}
}

func TestEmptyTable(t *testing.T) {
	f := newFixture(t, 3, nil, 10)
	for _, b := range []string{`{"vector":[1,2,3],"k":5,"with_row_id":true}`, `{"vector":[],"k":5}`, `{"vector":[1,2,3],"filter":"id > 1"}`} {
		cols, rows := f.mustRun(b, Options{})
		if len(rows) != 0 || len(cols) == 0 {
			t.Fatalf("%s: columns %v, %d rows", b, cols, len(rows))
		}
	}
}
