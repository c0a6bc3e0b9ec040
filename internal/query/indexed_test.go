package query

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sarissa-db/sarissa/internal/index/indextest"
	"github.com/sarissa-db/sarissa/internal/index/ivf"
	"github.com/sarissa-db/sarissa/internal/vector"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

const ixDim = 8

// clusteredRows returns n rows with ids from first, vectors of a Gaussian
// mixture and text "even"/"odd" by id.
func clusteredRows(seed uint64, first, n int) []row {
	data, _ := indextest.Mixture(rand.New(rand.NewPCG(seed, 3)), n, ixDim, 12, 0.1)
	rows := make([]row, n)
	for i := range rows {
		id := int32(first + i)
		text := "odd"
		if id%2 == 0 {
			text = "even"
		}
		rows[i] = row{id: id, text: text, vec: data[i*ixDim : (i+1)*ixDim]}
	}
	return rows
}

// indexed is a fixture with a vector index on vec, built by a real Manager.
type indexed struct {
	*fixture
	mgr  *vindex.Manager
	ref  vindex.TableRef
	name string
}

func newIndexed(t *testing.T, rows []row, p ivf.BuildParams) *indexed {
	t.Helper()
	f := newFixture(t, ixDim, rows, 400)
	mgr := vindex.New(vindex.Config{CacheBytes: 16 << 20, BuildMemoryBytes: 16 << 20, SpillDir: t.TempDir(), Workers: 2, Seed: 5})
	t.Cleanup(mgr.Close)
	ix := &indexed{fixture: f, mgr: mgr, ref: vindex.TableRef{Table: f.tbl, URI: "mem://test/db/t.lance", Name: "t"}, name: "vec_idx"}
	ix.build(p)
	return ix
}

func (ix *indexed) build(p ivf.BuildParams) {
	ix.t.Helper()
	ctx := context.Background()
	job, err := ix.mgr.Create(ctx, ix.ref, vindex.Spec{Column: "vec", Params: p})
	if err != nil {
		ix.t.Fatal(err)
	}
	if err := ix.mgr.Wait(ctx, job); err != nil {
		ix.t.Fatal(err)
	}
}

func (ix *indexed) opts() Options {
	return Options{Cache: NewCache(32 << 20), TableURI: ix.ref.URI, Indexes: ix.mgr, Table: ix.ref}
}

// search runs a body and returns ids and distances.
func (ix *indexed) search(body string, opts Options) ([]int64, []float64) {
	ix.t.Helper()
	_, rows := ix.mustRun(body, opts)
	return ints(rows, "id"), floats(rows, "_distance")
}

func qbody(q []float32, extra string) string {
	b := fmt.Sprintf(`{"vector":%s,"columns":["id"]`, jsonFloats(q))
	if extra != "" {
		b += "," + extra
	}
	return b + "}"
}

func jsonFloats(v []float32) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprint(x)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func near(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if d := a[i] - b[i]; d > 1e-4 || d < -1e-4 {
			return false
		}
	}
	return true
}

func idRecall(got, want []int64) float64 {
	if len(want) == 0 {
		return 1
	}
	n := 0
	for _, w := range want {
		if slices.Contains(got, w) {
			n++
		}
	}
	return float64(n) / float64(len(want))
}

// TestIndexedSearchExactWithAllProbes: IVF_FLAT probing every partition
// returns exactly what the flat search returns, whatever the filter,
// offset, row ids or number of query vectors.
func TestIndexedSearchExactWithAllProbes(t *testing.T) {
	rows := clusteredRows(1, 0, 1500)
	ix := newIndexed(t, rows, ivf.BuildParams{Kind: ivf.KindFlat, Metric: vector.L2, NumPartitions: 6})
	opts := ix.opts()
	all := `"nprobes":6,"minimum_nprobes":6,"maximum_nprobes":6`
	for _, extra := range []string{
		`"k":10`,
		`"k":10,"filter":"text = 'even'"`,
		`"k":10,"filter":"id < 200 AND text = 'odd'"`,
		`"k":10,"filter":"_rowid > 100"`,
		`"k":10,"filter":"text = 'even'","prefilter":false`,
		`"k":5,"offset":3`,
		`"k":7,"with_row_id":true`,
		`"k":4,"lower_bound":0.01,"upper_bound":1`,
	} {
		for qi := range 3 {
			q := rows[qi*211].vec
			want, wantD := ix.search(qbody(q, extra+`,"bypass_vector_index":true`), opts)
			got, gotD := ix.search(qbody(q, extra+","+all), opts)
			if !slices.Equal(got, want) || !near(gotD, wantD) {
				t.Errorf("%s, query %d:\n got %v %v\nwant %v %v", extra, qi, got, gotD, want, wantD)
			}
		}
	}
	// Several query vectors at once.
	multi := fmt.Sprintf(`{"vector":[%s,%s],"k":3,"columns":["id"],%s}`, jsonFloats(rows[3].vec), jsonFloats(rows[900].vec), all)
	_, got := ix.mustRun(multi, opts)
	_, want := ix.mustRun(strings.Replace(multi, all, `"bypass_vector_index":true`, 1), opts)
	if !slices.Equal(ints(got, "id"), ints(want, "id")) || !slices.Equal(ints(got, "query_index"), ints(want, "query_index")) {
		t.Errorf("multi-vector: got %v, want %v", got, want)
	}
	// Prefilter: every row matches and k come back even where few match.
	got2, _ := ix.search(qbody(rows[5].vec, `"k":10,"filter":"id >= 1490"`), opts)
	if len(got2) != 10 {
		t.Errorf("selective prefilter returned %v, want the 10 matching rows", got2)
	}
}

// TestIndexedRecall: default probes on clustered data reach high recall,
// and a single probe cannot do better.
func TestIndexedRecall(t *testing.T) {
	rows := clusteredRows(2, 0, 2000)
	ix := newIndexed(t, rows, ivf.BuildParams{Kind: ivf.KindFlat, Metric: vector.L2, NumPartitions: 32})
	opts := ix.opts()
	var r20, r1 float64
	const queries = 25
	for qi := range queries {
		q := rows[qi*79+1].vec
		want, _ := ix.search(qbody(q, `"k":10,"bypass_vector_index":true`), opts)
		got, _ := ix.search(qbody(q, `"k":10`), opts)
		one, _ := ix.search(qbody(q, `"k":10,"nprobes":1,"minimum_nprobes":1,"maximum_nprobes":1`), opts)
		r20 += idRecall(got, want) / queries
		r1 += idRecall(one, want) / queries
	}
	t.Logf("IVF_FLAT/32 recall@10: nprobes 20 %.3f, nprobes 1 %.3f", r20, r1)
	if r20 < 0.95 || r1 > r20 {
		t.Errorf("recall@10 nprobes 20 = %.3f (want ≥ 0.95), nprobes 1 = %.3f", r20, r1)
	}
}

// TestIndexedTailAndDeletes: rows appended after the build are searched
// exactly and merged (not with fast_search); deleted rows never return.
func TestIndexedTailAndDeletes(t *testing.T) {
	rows := clusteredRows(3, 0, 1200)
	ix := newIndexed(t, rows, ivf.BuildParams{Kind: ivf.KindFlat, Metric: vector.L2, NumPartitions: 4})
	tail := clusteredRows(4, 5000, 300)
	for _, r := range tail {
		for i := range r.vec {
			r.vec[i] += 5
		}
	}
	ix.appendRows(tail)
	ix.delete("id < 50 OR id = 5007")
	opts := ix.opts()
	all := `"nprobes":4,"minimum_nprobes":4,"maximum_nprobes":4`
	for _, q := range [][]float32{rows[10].vec, rows[700].vec, tail[7].vec, tail[200].vec} {
		want, wantD := ix.search(qbody(q, `"k":20,"bypass_vector_index":true`), opts)
		got, gotD := ix.search(qbody(q, `"k":20,`+all), opts)
		if !slices.Equal(got, want) || !near(gotD, wantD) {
			t.Errorf("after append and delete:\n got %v\nwant %v", got, want)
		}
		for _, id := range got {
			if id < 50 || id == 5007 {
				t.Errorf("deleted row %d returned", id)
			}
		}
		fast, _ := ix.search(qbody(q, `"k":20,"fast_search":true,`+all), opts)
		for _, id := range fast {
			if id >= 5000 {
				t.Errorf("fast_search returned unindexed row %d", id)
			}
		}
		if len(fast) != 20 {
			t.Errorf("fast_search returned %d rows, want 20 indexed ones", len(fast))
		}
	}
	// The vector of a deleted row: its own row is not the answer.
	got, _ := ix.search(qbody(rows[10].vec, `"k":1,`+all), opts)
	if len(got) != 1 || got[0] == 10 {
		t.Errorf("nearest to deleted row 10: %v", got)
	}
	// An unindexed tail with a prefilter.
	got, _ = ix.search(qbody(tail[3].vec, `"k":5,"filter":"id >= 5000 AND text = 'odd'",`+all), opts)
	want, _ := ix.search(qbody(tail[3].vec, `"k":5,"filter":"id >= 5000 AND text = 'odd'","bypass_vector_index":true`), opts)
	if !slices.Equal(got, want) || len(got) != 5 {
		t.Errorf("filtered tail: got %v, want %v", got, want)
	}
}

// TestIndexedRefine: IVF_PQ distances are approximate; with refine_factor
// they are the exact distances of the returned rows and recall rises.
func TestIndexedRefine(t *testing.T) {
	rows := clusteredRows(5, 0, 2000)
	ix := newIndexed(t, rows, ivf.BuildParams{Kind: ivf.KindPQ, Metric: vector.L2, NumPartitions: 8, NumSubVectors: 2, NumBits: 8})
	opts := ix.opts()
	byID := map[int64][]float32{}
	for _, r := range rows {
		byID[int64(r.id)] = r.vec
	}
	var raw, refined float64
	const queries = 20
	for qi := range queries {
		q := rows[qi*97+5].vec
		want, _ := ix.search(qbody(q, `"k":10,"bypass_vector_index":true`), opts)
		got, _ := ix.search(qbody(q, `"k":10`), opts)
		ref, refD := ix.search(qbody(q, `"k":10,"refine_factor":10`), opts)
		raw += idRecall(got, want) / queries
		refined += idRecall(ref, want) / queries
		for i, id := range ref {
			d := make([]float32, 1)
			vector.L2Squared(q, byID[id], d)
			if diff := float64(d[0]) - refD[i]; diff > 1e-4 || diff < -1e-4 {
				t.Fatalf("refined distance of %d = %v, exact %v", id, refD[i], d[0])
			}
		}
		if !slices.IsSorted(refD) {
			t.Fatalf("refined distances out of order: %v", refD)
		}
	}
	t.Logf("IVF_PQ m=2 recall@10: %.3f raw, %.3f refine 10", raw, refined)
	if refined < 0.9 || refined < raw {
		t.Errorf("recall@10 with refine_factor 10 = %.3f (raw %.3f), want ≥ 0.9", refined, raw)
	}
	// Refine reads vectors from storage when the vector cache is cold and
	// from the cache when warm: same answer.
	cold := ix.opts()
	cold.Cache = nil
	a, ad := ix.search(qbody(rows[1].vec, `"k":10,"refine_factor":4`), cold)
	b, bd := ix.search(qbody(rows[1].vec, `"k":10,"refine_factor":4`), opts)
	if !slices.Equal(a, b) || !near(ad, bd) {
		t.Errorf("refine cold %v %v, warm %v %v", a, ad, b, bd)
	}
	if _, err := ix.run(qbody(rows[1].vec, `"k":10,"refine_factor":0`), opts); !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), "refine_factor must be greater than 0") {
		t.Errorf("refine_factor 0: %v", err)
	}
}

// TestIndexedMetric: with no distance_type the index's metric is used; a
// different one searches exactly with the metric asked for.
func TestIndexedMetric(t *testing.T) {
	rows := clusteredRows(6, 0, 1000)
	ix := newIndexed(t, rows, ivf.BuildParams{Kind: ivf.KindFlat, Metric: vector.Cosine, NumPartitions: 4})
	opts := ix.opts()
	all := `"nprobes":4,"minimum_nprobes":4,"maximum_nprobes":4`
	q := rows[17].vec
	got, gotD := ix.search(qbody(q, `"k":5,`+all), opts)
	want, wantD := ix.search(qbody(q, `"k":5,"distance_type":"cosine","bypass_vector_index":true`), opts)
	if !slices.Equal(got, want) || !near(gotD, wantD) {
		t.Errorf("no distance_type on a cosine index: %v %v, want cosine %v %v", got, gotD, want, wantD)
	}
	for _, m := range []string{"l2", "dot"} {
		got, gotD := ix.search(qbody(q, `"k":5,"distance_type":"`+m+`",`+all), opts)
		want, wantD := ix.search(qbody(q, `"k":5,"distance_type":"`+m+`","bypass_vector_index":true`), opts)
		if !slices.Equal(got, want) || !near(gotD, wantD) {
			t.Errorf("%s over a cosine index: %v %v, exact %v %v", m, got, gotD, want, wantD)
		}
	}
	req, err := ParseRequest([]byte(qbody(q, `"k":5,"distance_type":"dot"`)))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Explain(context.Background(), ix.snap, req, false, opts)
	if err != nil || strings.Contains(plan, "ANNIndexExec") || !strings.Contains(plan, "index vec_idx not used: built for cosine, query asks for dot") {
		t.Errorf("explain of a mismatched metric: %v\n%s", err, plan)
	}
}

func TestIndexedExplain(t *testing.T) {
	rows := clusteredRows(7, 0, 800)
	ix := newIndexed(t, rows, ivf.BuildParams{Kind: ivf.KindFlat, Metric: vector.L2, NumPartitions: 4})
	ix.appendRows(clusteredRows(8, 900, 30))
	opts := ix.opts()
	explain := func(extra string, verbose bool) string {
		t.Helper()
		req, err := ParseRequest([]byte(qbody(rows[0].vec, extra)))
		if err != nil {
			t.Fatal(err)
		}
		plan, err := Explain(context.Background(), ix.snap, req, verbose, opts)
		if err != nil {
			t.Fatal(err)
		}
		return plan
	}
	plan := explain(`"k":10,"nprobes":7,"minimum_nprobes":7,"maximum_nprobes":0,"refine_factor":3,"filter":"id > 5"`, true)
	for _, want := range []string{
		"KNNMergeExec: k=10, metric=l2",
		"RefineExec: refine_factor=3, candidates=30",
		"ANNIndexExec: index=vec_idx, type=IVF_FLAT, column=vec, metric=l2, minimum_nprobes=7, maximum_nprobes=all, k=30",
		"indexed_rows=800",
		"segments=1",
		"PrefilterExec: ",
		"FlatKNNExec: column=vec, metric=l2, dim=8, k=10, queries=1, unindexed_rows=30",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	if plan := explain(`"k":10,"fast_search":true`, false); !strings.Contains(plan, "FlatKNNExec: skipped (fast_search), unindexed_rows=30") {
		t.Errorf("fast_search plan:\n%s", plan)
	}
	if plan := explain(`"k":10,"bypass_vector_index":true`, false); strings.Contains(plan, "ANNIndexExec") {
		t.Errorf("bypass plan uses the index:\n%s", plan)
	}
}

func TestProbes(t *testing.T) {
	for _, tc := range []struct {
		body     string
		min, max int64
		err      string
	}{
		{`{}`, 20, 20, ""},
		{`{"nprobes":7}`, 7, 7, ""},
		{`{"nprobes":7,"minimum_nprobes":7,"maximum_nprobes":7}`, 7, 7, ""},
		{`{"nprobes":5,"minimum_nprobes":5,"maximum_nprobes":0}`, 5, NoLimit, ""},
		{`{"minimum_nprobes":3,"maximum_nprobes":9}`, 3, 9, ""},
		{`{"nprobes":0}`, 0, 0, "nprobes must be greater than 0"},
		{`{"minimum_nprobes":0}`, 0, 0, "minimum_nprobes must be greater than 0"},
		{`{"minimum_nprobes":9,"maximum_nprobes":3}`, 0, 0, "maximum_nprobes 3 must be 0 (no limit) or at least minimum_nprobes 9"},
	} {
		req, err := ParseRequest([]byte(tc.body))
		if tc.err != "" {
			if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.body, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		if lo, hi := req.Probes(); lo != tc.min || hi != tc.max {
			t.Errorf("%s: probes %d..%d, want %d..%d", tc.body, lo, hi, tc.min, tc.max)
		}
	}
}
