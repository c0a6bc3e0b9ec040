// Package indextest generates clustered vector data and exact ground truth
// for index recall tests.
package indextest

import (
	"math/rand/v2"

	"github.com/sarissa-db/sarissa/internal/vector"
)

// Mixture returns n rows of dim values drawn from a mixture of clusters
// isotropic Gaussians whose centres are uniform in [-1, 1]^dim and whose
// standard deviation is spread, plus the cluster each row came from.
func Mixture(r *rand.Rand, n, dim, clusters int, spread float64) ([]float32, []int) {
	centres := make([]float64, clusters*dim)
	for i := range centres {
		centres[i] = r.Float64()*2 - 1
	}
	data := make([]float32, n*dim)
	labels := make([]int, n)
	for i := 0; i < n; i++ {
		c := r.IntN(clusters)
		labels[i] = c
		for j := 0; j < dim; j++ {
			data[i*dim+j] = float32(centres[c*dim+j] + r.NormFloat64()*spread)
		}
	}
	return data, labels
}

// Exact returns the k nearest rows of data to q under m (addresses are row
// numbers), ties broken by address.
func Exact(m vector.Metric, q, data []float32, k int, allow func(uint64) bool) []vector.Hit {
	dim := len(q)
	n := len(data) / dim
	out := make([]float32, n)
	vector.Distances(m, q, data, out, nil)
	top := vector.NewTopK(k)
	for i, d := range out {
		if allow != nil && !allow(uint64(i)) {
			continue
		}
		top.Push(d, uint64(i))
	}
	return top.Sorted()
}

// Recall is |got ∩ want| / |want| by address.
func Recall(got, want []vector.Hit) float64 {
	if len(want) == 0 {
		return 1
	}
	set := make(map[uint64]bool, len(want))
	for _, h := range want {
		set[h.Addr] = true
	}
	hit := 0
	for _, h := range got {
		if set[h.Addr] {
			hit++
		}
	}
	return float64(hit) / float64(len(want))
}
