package vindex

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sarissa-db/sarissa/internal/index/indextest"
	"github.com/sarissa-db/sarissa/internal/index/ivf"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vector"
)

const testDim = 16

func flatSpec(parts int) Spec {
	return Spec{Column: "vec", Params: ivf.BuildParams{Kind: ivf.KindFlat, Metric: vector.L2, NumPartitions: parts}}
}

// recall searches nq queries drawn near table rows and returns the mean
// recall@k against the exact answer over the covered rows, plus every hit.
func recall(t *testing.T, m *Manager, f *fixture, snap *table.Snapshot, nq, k, probes int, allow func(uint64) bool) float64 {
	t.Helper()
	rows := f.rows(snap)
	rng := rand.New(rand.NewPCG(9, 9))
	addrs := make([]uint64, 0, len(rows))
	for a := range rows {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	var sum float64
	for range nq {
		base := rows[addrs[rng.IntN(len(addrs))]]
		q := make([]float32, len(base))
		for i := range q {
			q[i] = base[i] + float32(rng.NormFloat64()*0.05)
		}
		res, err := m.Search(t.Context(), f.ref, snap, Query{Column: "vec", Vector: q, K: k, MinProbes: probes, Allow: allow})
		if err != nil {
			t.Fatal(err)
		}
		cov := func(a uint64) bool { return res.Covered(a>>32) && (allow == nil || allow(a)) }
		for _, h := range res.Hits {
			if !cov(h.Addr) {
				t.Fatalf("hit %x is outside the covered, allowed rows", h.Addr)
			}
		}
		sum += indextest.Recall(res.Hits, exact(vector.L2, q, rows, k, cov))
	}
	return sum / float64(nq)
}

func TestCreateListSearch(t *testing.T) {
	for _, kind := range []struct {
		name    string
		spec    Spec
		minimum float64
	}{
		{"IVF_FLAT", flatSpec(8), 0.98},
		{"IVF_PQ", Spec{Column: "vec", Params: ivf.BuildParams{Kind: ivf.KindPQ, NumPartitions: 8, NumSubVectors: 8}}, 0.75},
		{"IVF_SQ", Spec{Column: "vec", Params: ivf.BuildParams{Kind: ivf.KindSQ, NumPartitions: 8}}, 0.9},
		{"IVF_HNSW_SQ", Spec{Column: "vec", Params: ivf.BuildParams{Kind: ivf.KindHNSWSQ, NumPartitions: 4, M: 8, EfConstruction: 64}}, 0.85},
	} {
		t.Run(kind.name, func(t *testing.T) {
			f := newFixture(t, testDim, mixture(1, 3000, testDim), fixtureOpts{rowsPerFile: 1000})
			m := newManager(t, Config{})
			createWait(t, m, f.ref, kind.spec)
			snap := f.latest()
			infos, err := m.List(t.Context(), f.ref, snap)
			if err != nil {
				t.Fatal(err)
			}
			if len(infos) != 1 {
				t.Fatalf("List: %+v", infos)
			}
			in := infos[0]
			if in.Name != "vec_idx" || in.Column != "vec" || in.Kind != kind.spec.Params.Kind || in.Metric != vector.L2 ||
				in.NumIndexedRows != 3000 || in.NumUnindexedRows != 0 || in.NumIndices != 1 || in.SizeBytes <= 0 || in.UUID == "" {
				t.Fatalf("info %+v", in)
			}
			d, err := m.Describe(t.Context(), f.ref, snap, "vec_idx")
			if err != nil || d.UUID != in.UUID {
				t.Fatalf("Describe: %+v %v", d, err)
			}
			if _, err := m.Describe(t.Context(), f.ref, snap, "nope"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Describe of a missing index: %v", err)
			}
			r := recall(t, m, f, snap, 30, 10, 4, nil)
			t.Logf("%s recall@10 = %.3f", kind.name, r)
			if r < kind.minimum {
				t.Fatalf("recall@10 %.3f < %.2f", r, kind.minimum)
			}
			if st := m.CacheStats(); st.Entries == 0 || st.Hits == 0 {
				t.Fatalf("partition cache unused: %+v", st)
			}
		})
	}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t, testDim, mixture(2, 200, testDim), fixtureOpts{})
	m := newManager(t, Config{})
	ctx := t.Context()
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Column: "nope", Params: ivf.BuildParams{Kind: ivf.KindFlat}}, `column "nope" does not exist`},
		{Spec{Column: "id", Params: ivf.BuildParams{Kind: ivf.KindFlat}}, "fixed size list"},
		{flatSpec(201), "num_partitions=201 needs at least 201 rows"},
		{Spec{Column: "vec", Params: ivf.BuildParams{Kind: ivf.KindPQ, NumPartitions: 1, NumSubVectors: 4, NumBits: 8}}, "needs at least 256 rows"},
		{Spec{Column: "vec", Params: ivf.BuildParams{Kind: ivf.KindPQ, NumPartitions: 1, NumSubVectors: 5}}, "num_sub_vectors"},
		{Spec{Name: "a/b", Column: "vec", Params: ivf.BuildParams{Kind: ivf.KindFlat}}, "'/'"},
		{Spec{Name: "_catalog", Column: "vec", Params: ivf.BuildParams{Kind: ivf.KindFlat}}, "reserved"},
	} {
		_, err := m.Create(ctx, f.ref, tc.spec)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Create(%+v) = %v, want ErrInvalid containing %q", tc.spec, err, tc.want)
		}
	}
	// With 4-bit codes 16 rows would do.
	if _, err := m.Create(ctx, f.ref, Spec{Column: "vec", Params: ivf.BuildParams{Kind: ivf.KindPQ, NumPartitions: 1, NumSubVectors: 4, NumBits: 4}}); err != nil {
		t.Fatalf("4-bit PQ on 200 rows: %v", err)
	}
}

func TestAppendOptimizeMerge(t *testing.T) {
	f := newFixture(t, testDim, mixture(3, 2000, testDim), fixtureOpts{bucket: fsBucket(t), rowsPerFile: 1000})
	m := newManager(t, Config{MaxSegments: 2})
	ctx := t.Context()
	createWait(t, m, f.ref, flatSpec(8))

	extra := mixture(4, 500, testDim)
	snap := f.append(extra, nil)
	in, err := m.Describe(ctx, f.ref, snap, "vec_idx")
	if err != nil {
		t.Fatal(err)
	}
	if in.NumIndexedRows != 2000 || in.NumUnindexedRows != 500 {
		t.Fatalf("after append: %+v", in)
	}
	// The new fragment is not covered: searching one of its vectors finds
	// nothing there.
	q := extra[:testDim]
	res, err := m.Search(ctx, f.ref, snap, Query{Column: "vec", Vector: q, K: 5, MinProbes: 8})
	if err != nil {
		t.Fatal(err)
	}
	newFrag := uint64(2)
	if res.Covered(newFrag) || !res.Covered(0) || !res.Covered(1) {
		t.Fatalf("coverage wrong before optimize")
	}
	for _, h := range res.Hits {
		if h.Addr>>32 == newFrag {
			t.Fatalf("hit %x in an unindexed fragment", h.Addr)
		}
	}

	if err := m.Optimize(ctx, f.ref, "vec_idx"); err != nil {
		t.Fatal(err)
	}
	in, _ = m.Describe(ctx, f.ref, snap, "vec_idx")
	if in.NumIndexedRows != 2500 || in.NumUnindexedRows != 0 || in.NumIndices != 2 {
		t.Fatalf("after optimize: %+v", in)
	}
	res, err = m.Search(ctx, f.ref, snap, Query{Column: "vec", Vector: q, K: 5, MinProbes: 8})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) == 0 || res.Hits[0].Addr != table.RowAddress(newFrag, 0) || res.Hits[0].Dist != 0 {
		t.Fatalf("appended row not found through the delta: %+v", res.Hits)
	}
	// Nothing new: Optimize is a no-op.
	if err := m.Optimize(ctx, f.ref, "vec_idx"); err != nil {
		t.Fatal(err)
	}
	if in2, _ := m.Describe(ctx, f.ref, snap, "vec_idx"); in2.NumIndices != 2 {
		t.Fatalf("no-op optimize changed the index: %+v", in2)
	}

	// A third segment would exceed MaxSegments: everything is merged into one.
	snap = f.append(mixture(5, 300, testDim), nil)
	if err := m.Optimize(ctx, f.ref, "vec_idx"); err != nil {
		t.Fatal(err)
	}
	in, _ = m.Describe(ctx, f.ref, snap, "vec_idx")
	if in.NumIndexedRows != 2800 || in.NumUnindexedRows != 0 || in.NumIndices != 1 {
		t.Fatalf("after merge: %+v", in)
	}
	if r := recall(t, m, f, snap, 20, 10, 8, nil); r < 0.98 {
		t.Fatalf("recall after merge %.3f", r)
	}
	if err := m.Optimize(ctx, f.ref, "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("optimize of a missing index: %v", err)
	}
}

func TestDeletedRowsMaskedByAllow(t *testing.T) {
	data := mixture(6, 2000, testDim)
	f := newFixture(t, testDim, data, fixtureOpts{rowsPerFile: 1000})
	m := newManager(t, Config{})
	ctx := t.Context()
	createWait(t, m, f.ref, flatSpec(4))
	snap, n, err := f.tbl.Delete(ctx, "id < 100")
	if err != nil || n != 100 {
		t.Fatalf("delete: %d %v", n, err)
	}
	in, _ := m.Describe(ctx, f.ref, snap, "vec_idx")
	if in.NumIndexedRows != 1900 || in.NumUnindexedRows != 0 {
		t.Fatalf("after delete: %+v", in)
	}
	live := f.rows(snap)
	allow := func(a uint64) bool { _, ok := live[a]; return ok }
	q := data[5*testDim : 6*testDim] // row id 5, deleted
	res, err := m.Search(ctx, f.ref, snap, Query{Column: "vec", Vector: q, K: 3, MinProbes: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.Hits[0].Addr != 5 {
		t.Fatalf("without Allow the deleted row should still be in the index: %+v", res.Hits)
	}
	res, err = m.Search(ctx, f.ref, snap, Query{Column: "vec", Vector: q, K: 3, MinProbes: 4, Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.Hits {
		if !allow(h.Addr) {
			t.Fatalf("deleted row %d returned", h.Addr)
		}
	}
	if r := recall(t, m, f, snap, 20, 10, 4, allow); r < 0.98 {
		t.Fatalf("recall with deletions %.3f", r)
	}
	// A rebuild skips deleted rows.
	id := createWait(t, m, f.ref, flatSpec(4))
	if st, _ := m.Job(id); st.Stats.Rows != 1900 {
		t.Fatalf("rebuild after delete encoded %d rows, want 1900", st.Stats.Rows)
	}
	res, err = m.Search(ctx, f.ref, snap, Query{Column: "vec", Vector: q, K: 3, MinProbes: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.Hits {
		if !allow(h.Addr) {
			t.Fatalf("rebuilt index returned deleted row %d", h.Addr)
		}
	}
}

func TestReplaceAndDrop(t *testing.T) {
	f := newFixture(t, testDim, mixture(7, 1000, testDim), fixtureOpts{bucket: fsBucket(t)})
	m := newManager(t, Config{})
	ctx := t.Context()
	createWait(t, m, f.ref, flatSpec(4))
	snap := f.latest()
	old, _ := m.Describe(ctx, f.ref, snap, "vec_idx")
	cat, _ := m.catalogFor(ctx, f.ref, readFresh)
	oldFile := cat.Indices[0].Segments[0].File

	createWait(t, m, f.ref, Spec{Column: "vec", Params: ivf.BuildParams{Kind: ivf.KindPQ, NumPartitions: 2, NumSubVectors: 4}})
	infos, _ := m.List(ctx, f.ref, snap)
	if len(infos) != 1 || infos[0].Kind != ivf.KindPQ || infos[0].UUID == old.UUID {
		t.Fatalf("after replace: %+v", infos)
	}
	if _, err := f.bucket.Stat(ctx, f.tbl.Lance().Key(oldFile)); !isNotExist(err) {
		t.Fatalf("replaced index file still there: %v", err)
	}
	// A second index on another name coexists.
	createWait(t, m, f.ref, Spec{Name: "second", Column: "vec", Params: ivf.BuildParams{Kind: ivf.KindFlat, NumPartitions: 2}})
	if infos, _ = m.List(ctx, f.ref, snap); len(infos) != 2 || infos[0].Name != "second" || infos[1].Name != "vec_idx" {
		t.Fatalf("two indexes: %+v", infos)
	}
	// Search uses the newest index of the column.
	res, err := m.Search(ctx, f.ref, snap, Query{Column: "vec", Vector: make([]float32, testDim), K: 1})
	if err != nil || res.Index.Name != "second" {
		t.Fatalf("search picked %+v (%v)", res, err)
	}

	for _, name := range []string{"vec_idx", "second"} {
		if err := m.Drop(ctx, f.ref, name); err != nil {
			t.Fatal(err)
		}
	}
	if infos, _ = m.List(ctx, f.ref, snap); len(infos) != 0 {
		t.Fatalf("after drop: %+v", infos)
	}
	if err := m.Drop(ctx, f.ref, "vec_idx"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second drop: %v", err)
	}
	if _, err := m.Search(ctx, f.ref, snap, Query{Column: "vec", Vector: make([]float32, testDim), K: 1}); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("search after drop: %v", err)
	}
	for a, err := range f.bucket.List(ctx, f.tbl.Lance().Key(ivf.IndexDir+"/vec_idx/")) {
		t.Fatalf("index file left after drop: %v %v", a.Key, err)
	}
}

func TestMetricMismatchFallsBack(t *testing.T) {
	f := newFixture(t, testDim, mixture(8, 500, testDim), fixtureOpts{})
	m := newManager(t, Config{})
	createWait(t, m, f.ref, flatSpec(2))
	snap := f.latest()
	_, err := m.Search(t.Context(), f.ref, snap, Query{Column: "vec", Vector: make([]float32, testDim), K: 1, Metric: vector.Cosine})
	if !errors.Is(err, ErrNoIndex) || !errors.Is(err, ErrMetricMismatch) ||
		err.Error() != "distance type cosine does not match index vec_idx (l2)" {
		t.Fatalf("metric mismatch: %v", err)
	}
	if _, err := m.Search(t.Context(), f.ref, snap, Query{Column: "vec", Vector: make([]float32, testDim), K: 1, Metric: vector.L2}); err != nil {
		t.Fatalf("matching metric: %v", err)
	}
	if _, err := m.Search(t.Context(), f.ref, snap, Query{Column: "vec", Vector: make([]float32, 3), K: 1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("wrong dimension: %v", err)
	}
	if _, err := m.Search(t.Context(), f.ref, snap, Query{Column: "id", Vector: make([]float32, 3), K: 1}); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("column without index: %v", err)
	}
}

func TestTwoManagersCommitConcurrently(t *testing.T) {
	f := newFixture(t, testDim, mixture(9, 600, testDim), fixtureOpts{bucket: fsBucket(t)})
	ctx := t.Context()
	var lost sync.Map
	var wg sync.WaitGroup
	const managers = 4
	for i := range managers {
		m := newManager(t, Config{Seed: uint64(i + 1)})
		m.onCommitLost = func(int) { lost.Store(i, true) }
		wg.Go(func() {
			for j := range 2 {
				createWait(t, m, f.ref, Spec{Name: fmt.Sprintf("m%d_%d", i, j), Column: "vec",
					Params: ivf.BuildParams{Kind: ivf.KindFlat, NumPartitions: 2}})
			}
		})
	}
	wg.Wait()
	check := newManager(t, Config{})
	infos, err := check.List(ctx, f.ref, f.latest())
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2*managers {
		t.Fatalf("%d indexes after %d concurrent creates: %+v", len(infos), 2*managers, infos)
	}
	races := 0
	lost.Range(func(any, any) bool { races++; return true })
	t.Logf("%d of %d managers lost at least one commit race", races, managers)
}

func TestJobFailureReported(t *testing.T) {
	f := newFixture(t, testDim, make([]float32, 0), fixtureOpts{})
	nulls := map[int]bool{}
	for i := range 50 {
		nulls[i] = true
	}
	f.append(make([]float32, 50*testDim), nulls)
	m := newManager(t, Config{})
	id, err := m.Create(t.Context(), f.ref, flatSpec(1))
	if err != nil {
		t.Fatal(err)
	}
	err = m.Wait(t.Context(), id)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no non-null vectors") {
		t.Fatalf("Wait: %v", err)
	}
	st, err := m.Job(id)
	if err != nil || st.State != JobFailed || st.Err == nil {
		t.Fatalf("job status %+v %v", st, err)
	}
	if err := m.Wait(t.Context(), "no-such-job"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
	if infos, _ := m.List(t.Context(), f.ref, f.latest()); len(infos) != 0 {
		t.Fatalf("failed build committed: %+v", infos)
	}
}

func TestCloseCancelsRunningBuild(t *testing.T) {
	base := memBucket()
	f := newFixture(t, testDim, mixture(10, 4000, testDim), fixtureOpts{bucket: base, rowsPerFile: 200})
	slow, err := table.Open(t.Context(), slowBucket{Bucket: base, delay: 30 * time.Millisecond}, "db/t.lance", table.Options{Allocator: f.mem})
	if err != nil {
		t.Fatal(err)
	}
	ref := TableRef{Table: slow, URI: f.ref.URI, Name: "slow"}
	m := New(Config{Seed: 1, SpillDir: t.TempDir()})
	id, err := m.Create(t.Context(), ref, flatSpec(4))
	if err != nil {
		t.Fatal(err)
	}
	queued, err := m.Create(t.Context(), ref, Spec{Name: "queued", Column: "vec", Params: ivf.BuildParams{Kind: ivf.KindFlat, NumPartitions: 4}})
	if err != nil {
		t.Fatal(err)
	}
	// Either job may take the one build slot first; the other must wait.
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, _ := m.Job(id)
		b, _ := m.Job(queued)
		if a.State == JobRunning || b.State == JobRunning {
			if a.State+b.State != JobRunning+JobQueued {
				t.Fatalf("with MaxConcurrentBuilds 1: %v and %v", a.State, b.State)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no build started: %v %v", a.State, b.State)
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	m.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
	for _, j := range []string{id, queued} {
		if err := m.Wait(t.Context(), j); !errors.Is(err, ErrClosed) {
			t.Fatalf("job %s after Close: %v", j, err)
		}
	}
	if _, err := m.Create(t.Context(), f.ref, flatSpec(4)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Create after Close: %v", err)
	}
	check := newManager(t, Config{})
	if infos, _ := check.List(t.Context(), f.ref, f.latest()); len(infos) != 0 {
		t.Fatalf("canceled build committed: %+v", infos)
	}
}

func TestSpillGivesIdenticalIndex(t *testing.T) {
	data := mixture(11, 3000, testDim)
	var results [2][][]vector.Hit
	var stats [2]BuildStats
	for i, budget := range []int64{1 << 30, 4 << 10} {
		f := newFixture(t, testDim, data, fixtureOpts{rowsPerFile: 700})
		m := newManager(t, Config{BuildMemoryBytes: budget, Seed: 5})
		id := createWait(t, m, f.ref, Spec{Column: "vec", Params: ivf.BuildParams{Kind: ivf.KindPQ, NumPartitions: 8, NumSubVectors: 4, Workers: 1}})
		st, _ := m.Job(id)
		stats[i] = st.Stats
		snap := f.latest()
		for q := range 10 {
			res, err := m.Search(t.Context(), f.ref, snap, Query{Column: "vec", Vector: data[q*97*testDim : (q*97+1)*testDim], K: 10, MinProbes: 3})
			if err != nil {
				t.Fatal(err)
			}
			results[i] = append(results[i], res.Hits)
		}
	}
	if stats[0].Spilled || !stats[1].Spilled {
		t.Fatalf("spill flags: big budget %+v, small budget %+v", stats[0], stats[1])
	}
	if stats[1].BufferPeak > 64<<10 {
		t.Fatalf("small budget peaked at %d bytes", stats[1].BufferPeak)
	}
	if stats[0].Rows != 3000 || stats[1].Rows != 3000 || stats[0].SegmentBytes != stats[1].SegmentBytes {
		t.Fatalf("builds differ: %+v vs %+v", stats[0], stats[1])
	}
	for q := range results[0] {
		if !slices.Equal(results[0][q], results[1][q]) {
			t.Fatalf("query %d: results differ with spilling:\n%v\n%v", q, results[0][q], results[1][q])
		}
	}
}

func TestFloat16AndNullVectors(t *testing.T) {
	data := mixture(12, 1000, testDim)
	f := newFixture(t, testDim, data, fixtureOpts{half: true})
	nulls := map[int]bool{0: true, 3: true}
	f.append(mixture(13, 10, testDim), nulls)
	m := newManager(t, Config{})
	id := createWait(t, m, f.ref, flatSpec(4))
	if st, _ := m.Job(id); st.Stats.Rows != 1008 {
		t.Fatalf("indexed %d rows, want 1008 (two null vectors skipped)", st.Stats.Rows)
	}
	snap := f.latest()
	if r := recall(t, m, f, snap, 20, 10, 4, nil); r < 0.98 {
		t.Fatalf("float16 recall %.3f", r)
	}
}

func TestOverwriteUncoversFragments(t *testing.T) {
	f := newFixture(t, testDim, mixture(14, 500, testDim), fixtureOpts{})
	m := newManager(t, Config{})
	createWait(t, m, f.ref, flatSpec(2))
	rec := f.batch(mixture(15, 300, testDim), nil)
	defer rec.Release()
	rr, err := arrayReader(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	snap, _, err := f.tbl.Overwrite(t.Context(), nil, rr)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := m.Describe(t.Context(), f.ref, snap, "vec_idx")
	if in.NumIndexedRows != 0 || in.NumUnindexedRows != 300 {
		t.Fatalf("after overwrite: %+v", in)
	}
	res, err := m.Search(t.Context(), f.ref, snap, Query{Column: "vec", Vector: make([]float32, testDim), K: 5, MinProbes: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 0 || res.Covered(0) {
		t.Fatalf("overwritten rows answered by the old index: %+v", res.Hits)
	}
	// Optimize indexes the new rows with the old model and prunes the
	// segment that covers nothing any more.
	if err := m.Optimize(t.Context(), f.ref, "vec_idx"); err != nil {
		t.Fatal(err)
	}
	in, _ = m.Describe(t.Context(), f.ref, snap, "vec_idx")
	if in.NumIndexedRows != 300 || in.NumUnindexedRows != 0 || in.NumIndices != 1 {
		t.Fatalf("after optimize: %+v", in)
	}
	if r := recall(t, m, f, snap, 10, 5, 2, nil); r < 0.98 {
		t.Fatalf("recall after overwrite+optimize %.3f", r)
	}
}

func TestConcurrentSearches(t *testing.T) {
	data := mixture(16, 2000, testDim)
	f := newFixture(t, testDim, data, fixtureOpts{})
	m := newManager(t, Config{CacheBytes: 20 << 10})
	createWait(t, m, f.ref, flatSpec(16))
	snap := f.latest()
	want := make([][]vector.Hit, 20)
	for q := range want {
		res, err := m.Search(t.Context(), f.ref, snap, Query{Column: "vec", Vector: data[q*testDim : (q+1)*testDim], K: 5, MinProbes: 6})
		if err != nil {
			t.Fatal(err)
		}
		want[q] = res.Hits
	}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 60 {
				q := (i + w) % len(want)
				res, err := m.Search(context.Background(), f.ref, snap, Query{Column: "vec", Vector: data[q*testDim : (q+1)*testDim], K: 5, MinProbes: 6})
				if err != nil {
					t.Error(err)
					return
				}
				if !slices.Equal(res.Hits, want[q]) {
					t.Errorf("query %d: concurrent result differs", q)
					return
				}
			}
		})
	}
	wg.Wait()
	if st := m.CacheStats(); st.Bytes > 20<<10 || st.Evictions == 0 {
		t.Fatalf("cache stats with a small budget: %+v", st)
	}
}

func TestCorruptCatalogThroughManager(t *testing.T) {
	f := newFixture(t, testDim, mixture(17, 100, testDim), fixtureOpts{})
	key := f.tbl.Lance().Key(catalogName(1))
	if err := f.bucket.Put(t.Context(), key, strings.NewReader("garbage")); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, Config{})
	_, err := m.List(t.Context(), f.ref, f.latest())
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), key) {
		t.Fatalf("List over a corrupt catalog: %v", err)
	}
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestCatalogRefreshAcrossManagers(t *testing.T) {
	f := newFixture(t, testDim, mixture(18, 300, testDim), fixtureOpts{})
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	reader := newManager(t, Config{Now: clk.Now, CatalogRefresh: time.Second})
	writer := newManager(t, Config{})
	snap := f.latest()
	q := Query{Column: "vec", Vector: make([]float32, testDim), K: 1}
	if _, err := reader.Search(t.Context(), f.ref, snap, q); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("before create: %v", err)
	}
	createWait(t, writer, f.ref, flatSpec(2))
	// Within the refresh interval the reader keeps its read.
	if _, err := reader.Search(t.Context(), f.ref, snap, q); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("cached read: %v", err)
	}
	clk.Add(2 * time.Second)
	// A synchronous reader (List) reads again once the interval passed.
	infos, err := reader.List(t.Context(), f.ref, snap)
	if err != nil || len(infos) != 1 {
		t.Fatalf("List after the refresh interval: %+v %v", infos, err)
	}
	if _, err := reader.Search(t.Context(), f.ref, snap, q); err != nil {
		t.Fatalf("search after refresh: %v", err)
	}
	// Searches refresh in the background: the stale read answers at once,
	// a later search sees the change.
	if err := writer.Drop(t.Context(), f.ref, "vec_idx"); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := reader.Search(t.Context(), f.ref, snap, q)
		if errors.Is(err, ErrNoIndex) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("dropped index still used after the background refresh")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
