package kmeans

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sarissa-db/sarissa/internal/index/indextest"
	"github.com/sarissa-db/sarissa/internal/vector"
)

func sse(data, cent []float32, dim int, assign []int32) float64 {
	var s float64
	for i, c := range assign {
		for j := 0; j < dim; j++ {
			d := float64(data[i*dim+j] - cent[int(c)*dim+j])
			s += d * d
		}
	}
	return s
}

func TestTrainBeatsRandomAssignment(t *testing.T) {
	ctx := context.Background()
	const n, dim, k = 4000, 16, 16
	data, _ := indextest.Mixture(rand.New(rand.NewPCG(1, 2)), n, dim, k, 0.05)
	for _, init := range []Init{PlusPlus, Random} {
		m, err := Train(ctx, data, dim, Params{K: k, Metric: vector.L2, Init: init, Rand: rand.New(rand.NewPCG(3, 4))})
		if err != nil {
			t.Fatal(err)
		}
		assign := make([]int32, n)
		AssignAll(vector.L2, m.Centroids, dim, data, assign, make([]float32, n), 2)
		got := sse(data, m.Centroids, dim, assign)
		// Random assignment to the same centroids, then recompute means.
		r := rand.New(rand.NewPCG(5, 6))
		rnd := make([]int32, n)
		for i := range rnd {
			rnd[i] = int32(r.IntN(k))
		}
		means := make([]float32, k*dim)
		cnt := make([]int, k)
		for i, c := range rnd {
			cnt[c]++
			for j := 0; j < dim; j++ {
				means[int(c)*dim+j] += data[i*dim+j]
			}
		}
		for c := 0; c < k; c++ {
			for j := 0; j < dim; j++ {
				means[c*dim+j] /= float32(max(cnt[c], 1))
			}
		}
		base := sse(data, means, dim, rnd)
		// Well-separated clusters with σ=0.05: the within-cluster SSE should
		// be close to n·dim·σ² = 160; random assignment is ~100× larger.
		// Random init can merge clusters (local minimum), so ask for 5×.
		if got > base/5 {
			t.Errorf("init %d: SSE %.1f not 5x below random assignment %.1f", init, got, base)
		}
		t.Logf("init %d: SSE %.1f (random %.1f), %d iterations", init, got, base, m.Iterations)
	}
}

func TestLossDecreasesWithIterations(t *testing.T) {
	ctx := context.Background()
	const n, dim, k = 3000, 8, 32
	data, _ := indextest.Mixture(rand.New(rand.NewPCG(7, 8)), n, dim, 40, 0.2)
	prev := -1.0
	for _, iters := range []int{1, 3, 10} {
		m, err := Train(ctx, data, dim, Params{K: k, Metric: vector.L2, Init: Random, MaxIterations: iters, Tolerance: 1e-12, Rand: rand.New(rand.NewPCG(9, 9))})
		if err != nil {
			t.Fatal(err)
		}
		if prev >= 0 && m.Loss > prev*(1+1e-9) {
			t.Errorf("loss after %d iterations %.3f > %.3f after fewer", iters, m.Loss, prev)
		}
		prev = m.Loss
	}
}

func TestDeterministic(t *testing.T) {
	ctx := context.Background()
	data, _ := indextest.Mixture(rand.New(rand.NewPCG(1, 1)), 2000, 8, 10, 0.1)
	for _, metric := range []vector.Metric{vector.L2, vector.Cosine, vector.Dot} {
		train := func() *Model {
			m, err := Train(ctx, data, 8, Params{K: 10, Metric: metric, SampleRate: 50, Rand: rand.New(rand.NewPCG(42, 0))})
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		a, b := train(), train()
		if !slices.Equal(a.Centroids, b.Centroids) {
			t.Errorf("%v: two trainings with the same seed differ", metric)
		}
		if metric == vector.Cosine {
			for c := 0; c < 10; c++ {
				if n := vector.Norm(a.Centroids[c*8 : (c+1)*8]); n < 0.999 || n > 1.001 {
					t.Errorf("cosine centroid %d has norm %v", c, n)
				}
			}
		}
	}
}

func TestEmptyClusterRepair(t *testing.T) {
	// 3 distinct far-apart points repeated, 3 clusters; random init will
	// often pick duplicates, leaving clusters empty until repaired.
	dim := 2
	var data []float32
	for i := 0; i < 30; i++ {
		p := [][2]float32{{0, 0}, {100, 0}, {0, 100}}[i%3]
		data = append(data, p[0], p[1])
	}
	for seed := uint64(0); seed < 20; seed++ {
		m, err := Train(context.Background(), data, dim, Params{K: 3, Metric: vector.L2, Init: Random, Rand: rand.New(rand.NewPCG(seed, 1))})
		if err != nil {
			t.Fatal(err)
		}
		if m.Loss != 0 {
			t.Errorf("seed %d: loss %v, want 0 (each point its own cluster)", seed, m.Loss)
		}
	}
}

func TestSampleSize(t *testing.T) {
	data := make([]float32, 1000*4)
	for i := range data {
		data[i] = float32(i)
	}
	s := Sample(data, 4, 100, rand.New(rand.NewPCG(1, 2)))
	if len(s) != 400 {
		t.Fatalf("sample has %d values, want 400", len(s))
	}
	seen := map[float32]bool{}
	for i := 0; i < len(s); i += 4 {
		if seen[s[i]] {
			t.Fatalf("row starting %v sampled twice", s[i])
		}
		seen[s[i]] = true
	}
}

func TestInvalid(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name string
		data []float32
		dim  int
		p    Params
	}{
		{"ragged", make([]float32, 7), 2, Params{K: 1, Metric: vector.L2, Rand: r}},
		{"zero k", make([]float32, 8), 2, Params{K: 0, Metric: vector.L2, Rand: r}},
		{"too few rows", make([]float32, 8), 2, Params{K: 5, Metric: vector.L2, Rand: r}},
		{"no rand", make([]float32, 8), 2, Params{K: 1, Metric: vector.L2}},
		{"hamming", make([]float32, 8), 2, Params{K: 1, Metric: vector.Hamming, Rand: r}},
	}
	for _, c := range cases {
		if _, err := Train(context.Background(), c.data, c.dim, c.p); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", c.name, err)
		}
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data, _ := indextest.Mixture(rand.New(rand.NewPCG(1, 1)), 100, 4, 3, 0.1)
	if _, err := Train(ctx, data, 4, Params{K: 3, Metric: vector.L2, Rand: rand.New(rand.NewPCG(1, 1))}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}
