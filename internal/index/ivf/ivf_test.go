package ivf

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/sarissa-db/sarissa/internal/index/indextest"
	"github.com/sarissa-db/sarissa/internal/vector"
)

func TestDefaultPartitions(t *testing.T) {
	cases := []struct{ rows, target, want int }{
		{0, TargetPartitionFlat, 1},
		{4095, TargetPartitionFlat, 1},
		{20000, TargetPartitionFlat, 4},
		{1_000_000, TargetPartitionPQ, 122},
		{100_000_000, TargetPartitionFlat, 4096},
	}
	for _, c := range cases {
		if got := DefaultPartitions(c.rows, c.target); got != c.want {
			t.Errorf("DefaultPartitions(%d, %d) = %d, want %d", c.rows, c.target, got, c.want)
		}
	}
}

type fixture struct {
	dim     int
	data    []float32
	addrs   []uint64
	queries []float32
}

// clustered: 20,000 × 32 from a 64-component Gaussian mixture (σ 0.6,
// centres in [-1,1]^32); 100 queries from the same mixture.
func clustered(t testing.TB) fixture {
	t.Helper()
	const n, dim = 20000, 32
	r := rand.New(rand.NewPCG(11, 12))
	all, _ := indextest.Mixture(r, n+100, dim, 64, 0.6)
	addrs := make([]uint64, n)
	for i := range addrs {
		addrs[i] = uint64(i)
	}
	return fixture{dim: dim, data: all[:n*dim], addrs: addrs, queries: all[n*dim:]}
}

func meanRecall(t *testing.T, f fixture, m vector.Metric, k int, filter Filter, search func(q []float32) []vector.Hit) float64 {
	t.Helper()
	var total float64
	nq := len(f.queries) / f.dim
	for i := 0; i < nq; i++ {
		q := f.queries[i*f.dim : (i+1)*f.dim]
		want := indextest.Exact(m, q, f.data, k, func(a uint64) bool { return filter.keep(a) })
		got := search(q)
		for _, h := range got {
			if !filter.keep(h.Addr) {
				t.Fatalf("query %d: result %d is filtered out", i, h.Addr)
			}
		}
		for j := 1; j < len(got); j++ {
			if vector.Less(got[j], got[j-1]) {
				t.Fatalf("query %d: results out of order at %d", i, j)
			}
		}
		total += indextest.Recall(got, want)
	}
	return total / float64(nq)
}

// Recall@10 of IVF_FLAT with 64 partitions on the clustered fixture:
// ≥ 0.95 at nprobes 20 for l2, cosine and dot, ≥ 0.99 at nprobes 64 (all
// partitions: exact), and strictly lower at nprobes 1.
func TestFlatRecallNProbes20AtLeast095(t *testing.T) {
	ctx := context.Background()
	f := clustered(t)
	for _, m := range []vector.Metric{vector.L2, vector.Cosine, vector.Dot} {
		ix, err := BuildFlat(ctx, f.addrs, f.data, f.dim, Params{Metric: m, NumPartitions: 64, Workers: 2, Rand: rand.New(rand.NewPCG(1, 2))})
		if err != nil {
			t.Fatal(err)
		}
		rec := func(nprobes int) float64 {
			return meanRecall(t, f, m, 10, Filter{}, func(q []float32) []vector.Hit {
				h, err := ix.Search(ctx, q, SearchParams{K: 10, NProbes: nprobes})
				if err != nil {
					t.Fatal(err)
				}
				return h
			})
		}
		r1, r20, rAll := rec(1), rec(20), rec(64)
		t.Logf("%v: recall@10 nprobes 1 %.3f, 20 %.3f, 64 %.3f", m, r1, r20, rAll)
		if r20 < 0.95 {
			t.Errorf("%v: recall@10 at nprobes 20 = %.3f, want ≥ 0.95", m, r20)
		}
		if rAll < 0.99 {
			t.Errorf("%v: recall@10 probing every partition = %.3f, want ≥ 0.99", m, rAll)
		}
		if r1 >= r20 {
			t.Errorf("%v: nprobes 1 recall %.3f not below nprobes 20 recall %.3f", m, r1, r20)
		}
	}
}

// With a deletion mask (every third row) and an allow-list (even rows),
// results never contain excluded rows and recall against the filtered exact
// search stays ≥ 0.95 at nprobes 20.
func TestFlatFilters(t *testing.T) {
	ctx := context.Background()
	f := clustered(t)
	ix, err := BuildFlat(ctx, f.addrs, f.data, f.dim, Params{Metric: vector.L2, NumPartitions: 64, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	filter := Filter{
		Allow:   func(a uint64) bool { return a%2 == 0 },
		Deleted: func(a uint64) bool { return a%3 == 0 },
	}
	r := meanRecall(t, f, vector.L2, 10, filter, func(q []float32) []vector.Hit {
		h, err := ix.Search(ctx, q, SearchParams{K: 10, NProbes: 20, Filter: filter})
		if err != nil {
			t.Fatal(err)
		}
		return h
	})
	t.Logf("filtered recall@10 nprobes 20: %.3f", r)
	if r < 0.95 {
		t.Errorf("filtered recall %.3f < 0.95", r)
	}
}

func TestFlatDefaultsAndTies(t *testing.T) {
	ctx := context.Background()
	// 9000 rows → default 2 partitions; duplicated vectors tie on distance
	// and must come back ordered by row address.
	const dim = 4
	data := make([]float32, 0, 9000*dim)
	addrs := make([]uint64, 0, 9000)
	r := rand.New(rand.NewPCG(5, 5))
	for i := 0; i < 9000; i++ {
		v := float32(r.IntN(50))
		data = append(data, v, v, v, v)
		addrs = append(addrs, uint64(9000-i)<<32|uint64(i))
	}
	ix, err := BuildFlat(ctx, addrs, data, dim, Params{Metric: vector.L2, Rand: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	if got := ix.NumPartitions(); got != 2 {
		t.Fatalf("default partitions %d, want 2", got)
	}
	total := 0
	for _, s := range ix.PartitionSizes() {
		total += s
	}
	if total != 9000 {
		t.Fatalf("partitions hold %d rows, want 9000", total)
	}
	hits, err := ix.Search(ctx, []float32{7, 7, 7, 7}, SearchParams{K: 30})
	if err != nil {
		t.Fatal(err)
	}
	for i := range hits {
		if hits[i].Dist != 0 {
			t.Fatalf("hit %d distance %v, want 0 (value 7 occurs > 30 times)", i, hits[i].Dist)
		}
		if i > 0 && hits[i].Addr <= hits[i-1].Addr {
			t.Fatalf("tied hits not ordered by address at %d", i)
		}
	}
}

func TestFlatInvalid(t *testing.T) {
	ctx := context.Background()
	if _, err := BuildFlat(ctx, []uint64{1}, []float32{1, 2, 3}, 2, Params{Metric: vector.L2, Rand: rand.New(rand.NewPCG(1, 1))}); !errors.Is(err, ErrInvalid) {
		t.Errorf("ragged build: %v", err)
	}
	ix, err := BuildFlat(ctx, []uint64{1, 2}, []float32{1, 2, 3, 4}, 2, Params{Metric: vector.L2, Rand: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Search(ctx, []float32{1}, SearchParams{K: 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("wrong dimension: %v", err)
	}
	if _, err := ix.Search(ctx, []float32{1, 2}, SearchParams{K: 0}); !errors.Is(err, ErrInvalid) {
		t.Errorf("k 0: %v", err)
	}
}
