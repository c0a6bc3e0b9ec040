package vector

import (
	"fmt"
	"math"
)

// AffineTransposed writes out[c] = bias[c] + Σ_j x[j]·cols[j*k+c] for every
// c < k = len(out): one vector against k others stored transposed (cols
// holds len(x) rows of k values, one row per dimension).
//
// It is the shape of a nearest-centroid search with many centroids of few
// dimensions (k-means over PQ sub-vectors): with x = −2·row and bias = ‖c‖²,
// out[c] + ‖row‖² is the squared L2 distance to centroid c. Walking the
// transposed centroids keeps each accumulator in a register and needs no
// horizontal sums, which dominate a row-major kernel at 16 dimensions.
func AffineTransposed(x, cols, bias, out []float32) {
	k := len(out)
	if len(bias) != k || len(cols) != len(x)*k {
		panic(fmt.Sprintf("vector: affine of %d values over %d columns of %d with %d biases", len(x), len(cols), k, len(bias)))
	}
	if k == 0 {
		return
	}
	active.affine(x, cols, bias, out)
}

func affinePortable(x, cols, bias, out []float32) {
	k := len(out)
	copy(out, bias)
	for j, v := range x {
		col := cols[j*k : (j+1)*k : (j+1)*k]
		for c := range out {
			out[c] += v * col[c]
		}
	}
}

// NearestTransposed returns the index and value of the smallest output of
// AffineTransposed(x, cols, bias, ·) — the first one among equals — without
// materialising the outputs. NaN outputs never win; when no output is
// smaller than +Inf it returns (0, +Inf).
func NearestTransposed(x, cols, bias []float32) (int, float32) {
	k := len(bias)
	if len(cols) != len(x)*k {
		panic(fmt.Sprintf("vector: nearest of %d values over %d columns of %d", len(x), len(cols), k))
	}
	if k == 0 {
		return 0, float32(math.Inf(1))
	}
	return active.nearest(x, cols, bias)
}

func nearestPortable(x, cols, bias []float32) (int, float32) {
	k := len(bias)
	idx, val := 0, float32(math.Inf(1))
	for c := 0; c < k; c++ {
		s := bias[c]
		for j, v := range x {
			s += v * cols[j*k+c]
		}
		if s < val {
			idx, val = c, s
		}
	}
	return idx, val
}
