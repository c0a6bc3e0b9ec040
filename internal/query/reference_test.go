package query

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sarissa-db/sarissa/internal/table"
)

// liveRows returns every live row of the fixture's snapshot with its row
// address, read through the table API (not through this package).
func (f *fixture) liveRows() map[int32]uint64 {
	f.t.Helper()
	recs, _, err := f.snap.Collect(context.Background(), table.ScanOptions{Columns: []string{"id"}, WithRowID: true})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[int32]uint64{}
	for _, r := range recs {
		ids := r.Column(0).(*array.Int32)
		addrs := r.Column(1).(*array.Uint64)
		for i := range ids.Len() {
			out[ids.Value(i)] = addrs.Value(i)
		}
		r.Release()
	}
	return out
}

type refHit struct {
	id   int32
	d    float64
	addr uint64
}

func refDistance(metric string, q, v []float32) float64 {
	var dot, qq, vv, l2 float64
	for i := range q {
		a, b := float64(q[i]), float64(v[i])
		dot += a * b
		qq += a * a
		vv += b * b
		l2 += (a - b) * (a - b)
	}
	switch metric {
	case "l2":
		return l2
	case "dot":
		return 1 - dot
	case "cosine":
		return 1 - dot/math.Sqrt(qq)/math.Sqrt(vv)
	}
	panic(metric)
}

type refQuery struct {
	metric       string
	q            []float32
	k, offset    int
	pred         func(row) bool
	prefilter    bool
	lower, upper *float64
}

// reference computes LanceDB's answer by brute force in float64.
func reference(rows []row, live map[int32]uint64, rq refQuery) []refHit {
	var cands []refHit
	for _, r := range rows {
		addr, ok := live[r.id]
		if !ok || r.vec == nil {
			continue
		}
		if rq.pred != nil && rq.prefilter && !rq.pred(r) {
			continue
		}
		d := refDistance(rq.metric, rq.q, r.vec)
		if math.IsNaN(d) || rq.lower != nil && d < *rq.lower || rq.upper != nil && d >= *rq.upper {
			continue
		}
		cands = append(cands, refHit{r.id, d, addr})
	}
	slices.SortFunc(cands, func(a, b refHit) int {
		if c := cmp.Compare(a.d, b.d); c != 0 {
			return c
		}
		return cmp.Compare(a.addr, b.addr)
	})
	cands = cands[:min(len(cands), rq.k+rq.offset)]
	if rq.pred != nil && !rq.prefilter {
		byID := map[int32]row{}
		for _, r := range rows {
			byID[r.id] = r
		}
		cands = slices.DeleteFunc(cands, func(h refHit) bool { return !rq.pred(byID[h.id]) })
	}
	return cut(cands, int64(rq.offset), int64(rq.k))
}

// randomFixture builds a table with several fragments, null and zero
// vectors, an appended fragment and deletions in several fragments.
func randomFixture(t *testing.T, seed uint64, n, dim int) *fixture {
	rng := rand.New(rand.NewPCG(seed, 99))
	mk := func(first, count int) []row {
		rows := make([]row, count)
		for i := range rows {
			id := first + i
			rows[i] = row{id: int32(id), text: fmt.Sprintf("r%d", id), vec: randVec(rng, dim)}
			switch {
			case id%37 == 5:
				rows[i].vec = nil
			case id%41 == 7:
				rows[i].vec = make([]float32, dim)
			}
		}
		return rows
	}
	f := newFixture(t, dim, mk(0, n), int64(n/6))
	f.appendRows(mk(n, n/5))
	f.delete("id % 7 = 3")
	return f
}

func TestSearchMatchesBruteForce(t *testing.T) {
	const dim = 5
	f := randomFixture(t, 1, 1200, dim)
	live := f.liveRows()
	if len(f.snap.Lance().Fragments()) < 6 {
		t.Fatalf("fixture has only %d fragments", len(f.snap.Lance().Fragments()))
	}
	rng := rand.New(rand.NewPCG(2, 3))
	cache := NewCache(64 << 20)
	// Too small for the vectors (streamed a fragment at a time) but big
	// enough for the id column the filters read.
	small := NewCache(16 << 10)
	div3 := func(r row) bool { return r.id%3 == 0 }
	one, twenty := 1.0, 20.0
	checked := 0
	for _, metric := range []string{"l2", "dot", "cosine"} {
		for _, k := range []int{1, 7, 60} {
			for _, offset := range []int{0, 4} {
				for fi, flt := range []struct {
					sql       string
					pred      func(row) bool
					prefilter bool
				}{{"", nil, true}, {"id % 3 = 0", div3, true}, {"id % 3 = 0", div3, false},
					// Selective enough for the row-by-row path of sparse chunks.
					{"id % 40 = 1", func(r row) bool { return r.id%40 == 1 }, true}} {
					for _, bounded := range []bool{false, true} {
						q := randVec(rng, dim)
						rq := refQuery{metric: metric, q: q, k: k, offset: offset, pred: flt.pred, prefilter: flt.prefilter}
						req := map[string]any{"vector": q, "k": k, "offset": offset, "distance_type": metric,
							"prefilter": flt.prefilter, "columns": []string{"id"}, "with_row_id": true}
						if flt.sql != "" {
							req["filter"] = flt.sql
						}
						if bounded {
							rq.lower, rq.upper = &one, &twenty
							req["lower_bound"], req["upper_bound"] = one, twenty
						}
						want := reference(f.rows, live, rq)
						for _, opts := range []Options{
							{Parallelism: 1},
							{Parallelism: 3, Cache: cache, TableURI: "mem://x/db/t.lance"},
							{Parallelism: 2, Cache: small, TableURI: "mem://x/db/t.lance"},
						} {
							name := fmt.Sprintf("%s k=%d off=%d filter=%d bounded=%v par=%d", metric, k, offset, fi, bounded, opts.Parallelism)
							_, rows := f.mustRun(body(req), opts)
							compareHits(t, name, metric, rows, want)
							checked++
						}
					}
				}
			}
		}
	}
	t.Logf("%d queries checked against brute force", checked)
	if st := small.Stats(); st.Entries == 0 || st.Bytes > 16<<10 {
		t.Fatalf("small cache: %+v; want some columns cached within budget", st)
	}
}

// compareHits checks ids, row addresses and distances. Cosine distances are
// rounded in float32, so rows whose reference distances are within rounding
// of each other may come in either order.
func compareHits(t *testing.T, name, metric string, rows []map[string]any, want []refHit) {
	t.Helper()
	if len(rows) != len(want) {
		t.Fatalf("%s: %d rows, want %d (%v)", name, len(rows), len(want), want)
	}
	ids, addrs, dists := ints(rows, "id"), ints(rows, "_rowid"), floats(rows, "_distance")
	const tol = 1e-5
	for i, w := range want {
		if math.Abs(dists[i]-w.d) > tol*math.Max(1, math.Abs(w.d)) {
			t.Fatalf("%s: row %d distance %v, want %v", name, i, dists[i], w.d)
		}
		if metric != "cosine" {
			if ids[i] != int64(w.id) || uint64(addrs[i]) != w.addr {
				t.Fatalf("%s: row %d is id %d (addr %d), want id %d (addr %d)", name, i, ids[i], addrs[i], w.id, w.addr)
			}
		}
	}
	if metric == "cosine" && len(want) > 0 {
		got := map[int64]bool{}
		for _, id := range ids {
			got[id] = true
		}
		kth := want[len(want)-1].d
		for _, w := range want {
			if !got[int64(w.id)] && math.Abs(w.d-kth) > tol {
				t.Fatalf("%s: id %d (distance %v) missing", name, w.id, w.d)
			}
		}
		for i := 1; i < len(dists); i++ {
			if dists[i] < dists[i-1] {
				t.Fatalf("%s: distances not ascending at %d: %v", name, i, dists)
			}
		}
	}
}

// TestResultVectorsAreStored checks the vector column of search results
// (served from the in-memory blocks) against the rows written, with
// deletions making some blocks partial.
func TestResultVectorsAreStored(t *testing.T) {
	f := randomFixture(t, 4, 600, 6)
	byID := map[int64][]float32{}
	for _, r := range f.rows {
		byID[int64(r.id)] = r.vec
	}
	for _, opts := range []Options{{}, {Cache: NewCache(1 << 20), TableURI: "mem://v"}} {
		_, rows := f.mustRun(`{"vector":[1,2,3,4,5,6],"k":50,"filter":"id % 2 = 0","with_row_id":true}`, opts)
		if len(rows) != 50 {
			t.Fatalf("%d rows", len(rows))
		}
		for _, r := range rows {
			id := r["id"].(int64)
			got := r["vec"].([]any)
			want := byID[id]
			for j := range want {
				if got[j].(float64) != float64(want[j]) {
					t.Fatalf("id %d: vec %v, want %v", id, got, want)
				}
			}
		}
	}
}
