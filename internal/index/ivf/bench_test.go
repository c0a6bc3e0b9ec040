package ivf

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/sarissa-db/sarissa/internal/index/indextest"
	"github.com/sarissa-db/sarissa/internal/index/pq"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// 100,000 × 128 from a 256-component mixture, LanceDB default parameters
// (IVF_FLAT 24 partitions, IVF_PQ 12 partitions × 8 sub-vectors × 8 bits).
func bench100k(b *testing.B) ([]uint64, []float32, []float32) {
	const n, dim = 100_000, 128
	all, _ := indextest.Mixture(rand.New(rand.NewPCG(1, 2)), n+100, dim, 256, 0.5)
	addrs := make([]uint64, n)
	for i := range addrs {
		addrs[i] = uint64(i)
	}
	return addrs, all[:n*dim], all[n*dim:]
}

func BenchmarkBuildFlat100kx128(b *testing.B) {
	addrs, data, _ := bench100k(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := BuildFlat(context.Background(), addrs, data, 128, Params{Metric: vector.L2, Workers: 2, Rand: rand.New(rand.NewPCG(1, 1))}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildPQ100kx128(b *testing.B) {
	addrs, data, _ := bench100k(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := BuildPQ(context.Background(), addrs, data, 128, PQParams{IVF: Params{Metric: vector.L2, Workers: 2, Rand: rand.New(rand.NewPCG(1, 1))}}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSearchPQ100kx128(b *testing.B) {
	addrs, data, queries := bench100k(b)
	ix, err := BuildPQ(context.Background(), addrs, data, 128, PQParams{IVF: Params{Metric: vector.L2, Workers: 2, Rand: rand.New(rand.NewPCG(1, 1))}, PQ: pq.Params{}})
	if err != nil {
		b.Fatal(err)
	}
	// Recall@10 at the benchmarked setting, reported next to the timing.
	var rec float64
	for j := 0; j < 100; j++ {
		q := queries[j*128 : (j+1)*128]
		got, err := ix.Search(context.Background(), q, SearchParams{K: 10, NProbes: 5}, Refine{})
		if err != nil {
			b.Fatal(err)
		}
		rec += indextest.Recall(got, indextest.Exact(vector.L2, q, data, 10, nil)) / 100
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		q := queries[(i%100)*128 : (i%100+1)*128]
		i++
		if _, err := ix.Search(context.Background(), q, SearchParams{K: 10, NProbes: 5}, Refine{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(rec, "recall@10")
}
