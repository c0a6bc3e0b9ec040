package query

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// lanceRows is the data set the expectations below were observed on with
// stock LanceDB 0.39.0 (embedded, Node): ids 0..7 with vectors [i, i%3, 1],
// a zero vector, a null vector and a duplicate of [1,1,1].
func lanceRows() []row {
	var rows []row
	for i := range int32(8) {
		rows = append(rows, row{id: i, text: "t" + string(rune('0'+i)), vec: []float32{float32(i), float32(i % 3), 1}})
	}
	rows = append(rows,
		row{id: 8, text: "zero", vec: []float32{0, 0, 0}},
		row{id: 9, text: "null", vec: nil},
		row{id: 10, text: "dup", vec: []float32{1, 1, 1}},
	)
	return rows
}

func TestLanceDBObservedSemantics(t *testing.T) {
	// Fragments of 4 rows: ties across fragments are broken by row address,
	// which here orders like LanceDB's single-fragment _rowid.
	f := newFixture(t, 3, lanceRows(), 4)
	cache := NewCache(1 << 20)
	for _, tc := range []struct {
		name  string
		body  string
		cols  []string
		ids   []int64
		dists []float64
	}{
		{"default", `{"vector":[1,1,1],"k":10,"prefilter":true,"version":null}`,
			[]string{"id", "text", "vec", "_distance"}, []int64{1, 10, 0, 2, 8, 3, 4, 5, 6, 7}, []float64{0, 0, 2, 2, 3, 5, 9, 17, 26, 36}},
		{"limit3 offset2", `{"vector":[1,1,1],"k":3,"offset":2,"columns":["id"]}`,
			[]string{"id", "_distance"}, []int64{0, 2, 8}, []float64{2, 2, 3}},
		{"rowid", `{"vector":[1,1,1],"k":2,"with_row_id":true}`,
			[]string{"id", "text", "vec", "_distance", "_rowid"}, []int64{1, 10}, []float64{0, 0}},
		{"select and rowid", `{"vector":[1,1,1],"k":2,"columns":["text","id"],"with_row_id":true}`,
			[]string{"text", "id", "_distance", "_rowid"}, []int64{1, 10}, nil},
		{"distance placed", `{"vector":[1,1,1],"k":2,"columns":["_distance","id"]}`,
			[]string{"_distance", "id"}, []int64{1, 10}, []float64{0, 0}},
		{"rowid placed", `{"vector":[1,1,1],"k":2,"columns":["_rowid","id"]}`,
			[]string{"_rowid", "id", "_distance"}, []int64{1, 10}, nil},
		{"rowid placed and requested", `{"vector":[1,1,1],"k":2,"columns":["_rowid","id"],"with_row_id":true}`,
			[]string{"id", "_distance", "_rowid"}, []int64{1, 10}, nil},
		{"cosine drops zero and null", `{"vector":[1,1,1],"k":20,"distance_type":"cosine","columns":["id"]}`,
			[]string{"id", "_distance"}, []int64{1, 10, 2, 5, 4, 3, 7, 6, 0}, nil},
		{"cosine zero query", `{"vector":[0,0,0],"k":3,"distance_type":"cosine","columns":["id"]}`,
			[]string{"id", "_distance"}, []int64{}, nil},
		{"dot", `{"vector":[1,1,1],"k":20,"distance_type":"dot","columns":["id"]}`,
			[]string{"id", "_distance"}, []int64{7, 5, 6, 4, 2, 3, 1, 10, 0, 8}, []float64{-8, -7, -6, -5, -4, -3, -2, -2, 0, 1}},
		{"range", `{"vector":[1,1,1],"k":10,"lower_bound":1,"upper_bound":5,"columns":["id"]}`,
			[]string{"id", "_distance"}, []int64{0, 2, 8}, nil},
		{"lower bound only", `{"vector":[1,1,1],"k":10,"lower_bound":1,"upper_bound":null,"columns":["id"]}`,
			[]string{"id", "_distance"}, []int64{0, 2, 8, 3, 4, 5, 6, 7}, nil},
		{"postfilter", `{"vector":[1,1,1],"k":3,"filter":"id > 3","prefilter":false,"columns":["id"]}`,
			[]string{"id", "_distance"}, []int64{10}, nil},
		{"prefilter", `{"vector":[1,1,1],"k":3,"filter":"id > 3","prefilter":true,"columns":["id"]}`,
			[]string{"id", "_distance"}, []int64{10, 8, 4}, nil},
		{"multi-vector", `{"vector":[[1,1,1],[0,0,1]],"k":2,"columns":["id"]}`,
			[]string{"query_index", "id", "_distance"}, []int64{1, 10, 0, 8}, []float64{0, 0, 0, 1}},
		{"fast search without index", `{"vector":[1,1,1],"k":2,"fast_search":true,"columns":["id"]}`,
			[]string{"id", "_distance"}, []int64{}, nil},
		{"bypass index", `{"vector":[1,1,1],"k":2,"bypass_vector_index":true,"columns":["id"]}`,
			[]string{"id", "_distance"}, []int64{1, 10}, nil},
		{"postfilter on distance", `{"vector":[1,1,1],"k":10,"filter":"_distance < 2","prefilter":false,"columns":["id"]}`,
			[]string{"id", "_distance"}, []int64{1, 10}, nil},
		{"vector only", `{"vector":[1,1,1],"k":1,"columns":["vec"]}`,
			[]string{"vec", "_distance"}, nil, []float64{0}},
		{"empty selection", `{"vector":[1,1,1],"k":1,"columns":[]}`,
			[]string{"_distance"}, nil, []float64{0}},
		{"plain with row id", `{"vector":[],"k":2,"with_row_id":true,"prefilter":true}`,
			[]string{"id", "text", "vec", "_rowid"}, []int64{0, 1}, nil},
		{"plain offset", `{"vector":[],"k":2,"offset":3,"columns":["id"]}`,
			[]string{"id"}, []int64{3, 4}, nil},
		{"plain offset only", `{"vector":[],"k":9223372036854775807,"offset":8,"columns":["id"]}`,
			[]string{"id"}, []int64{8, 9, 10}, nil},
		{"plain filter offset", `{"vector":[],"k":2,"offset":1,"filter":"id > 2","columns":["id"]}`,
			[]string{"id"}, []int64{4, 5}, nil},
		{"plain limit 0", `{"vector":[],"k":0,"columns":["id"]}`,
			[]string{"id"}, []int64{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, opts := range []Options{{}, {Cache: cache, TableURI: "mem://a/db/t.lance", Parallelism: 3}} {
				cols, rows := f.mustRun(tc.body, opts)
				if !slices.Equal(cols, tc.cols) {
					t.Fatalf("columns %v, want %v", cols, tc.cols)
				}
				if tc.ids != nil {
					if got := ints(rows, "id"); !slices.Equal(got, tc.ids) {
						t.Fatalf("ids %v, want %v", got, tc.ids)
					}
				}
				if tc.dists != nil {
					if got := floats(rows, "_distance"); !slices.Equal(got, tc.dists) {
						t.Fatalf("distances %v, want %v", got, tc.dists)
					}
				}
			}
		})
	}
}

func TestComputedColumns(t *testing.T) {
	f := newFixture(t, 3, lanceRows(), 4)
	cols, rows := f.mustRun(`{"vector":[1,1,1],"k":2,"columns":{"b":"id * 2","a":"text"},"with_row_id":true}`, Options{})
	if want := []string{"b", "a", "_distance", "_rowid"}; !slices.Equal(cols, want) {
		t.Fatalf("columns %v, want %v", cols, want)
	}
	if got := ints(rows, "b"); !slices.Equal(got, []int64{2, 20}) {
		t.Fatalf("b = %v, want [2 20]", got)
	}
	if rows[1]["a"] != "dup" {
		t.Fatalf("a = %v, want dup", rows[1]["a"])
	}
	cols, rows = f.mustRun(`{"vector":[],"k":2,"columns":{"x":"id + 1"},"with_row_id":true}`, Options{})
	if want := []string{"x", "_rowid"}; !slices.Equal(cols, want) {
		t.Fatalf("columns %v, want %v", cols, want)
	}
	if got := ints(rows, "x"); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("x = %v, want [1 2]", got)
	}
	// Expressions may read system columns.
	_, rows = f.mustRun(`{"vector":[1,1,1],"k":3,"columns":{"id":"id","d2":"_distance * 2","r":"_rowoffset"}}`, Options{})
	if got := floats(rows, "d2"); !slices.Equal(got, []float64{0, 0, 4}) {
		t.Fatalf("d2 = %v, want [0 0 4]", got)
	}
	if got := ints(rows, "r"); !slices.Equal(got, []int64{1, 10, 0}) {
		t.Fatalf("_rowoffset = %v, want [1 10 0]", got)
	}
}

func TestRequestErrors(t *testing.T) {
	f := newFixture(t, 3, lanceRows(), 4)
	for _, tc := range []struct{ body, want string }{
		{`{"vector":[1,1]}`, "No vector column found to match with the query vector dimension: 2"},
		{`{"vector":[1,1],"vector_column":"vec"}`, "query dim(2) doesn't match the column vec vector dim(3)"},
		{`{"vector":[1,1,1],"vector_column":"nope"}`, `vector_column "nope" does not exist`},
		{`{"vector":[1,1,1],"vector_column":"text"}`, "Data type is not a vector"},
		{`{"vector":[1,1,1],"distance_type":"hamming"}`, "Distance type hamming does not support Float32 vectors"},
		{`{"vector":[1,1,1],"columns":["nope"]}`, `no field named "nope"`},
		{`{"vector":[],"columns":["_distance"]}`, `no field named "_distance"`},
		{`{"vector":[],"columns":["id","id"]}`, `duplicate column name "id"`},
		{`{"vector":[1,1,1],"filter":"_distance < 2"}`, "_distance"},
		{`{"vector":[1,1,1],"filter":"nope > 1"}`, "nope"},
		{`{"vector":[],"filter":"id >"}`, "filter"},
		{`{"vector":[1,1,1],"k":0}`, "k must be positive"},
		{`{"vector":[1,1,1],"columns":{"x":"nope + 1"}}`, "nope"},
	} {
		_, err := f.run(tc.body, Options{})
		if err == nil {
			t.Errorf("%s: no error", tc.body)
			continue
		}
		if !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: error %v does not wrap ErrInvalidRequest", tc.body, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not mention %q", tc.body, err, tc.want)
		}
	}
}
