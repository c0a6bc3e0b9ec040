package kmeans

import (
	"math"

	"github.com/sarissa-db/sarissa/internal/vector"
)

// transposed holds centroids column-major (one row of k values per
// dimension) with a per-centroid bias, so that the distances of one row to
// all centroids come from a single vector.AffineTransposed call:
//
//	L2:     ‖x−c‖² = ‖c‖² + Σ (−2x_j)·c_j + ‖x‖²
//	Dot:    1 − x·c = 1 + Σ (−x_j)·c_j
//	Cosine: 1 − x·c/(‖x‖‖c‖) = 1 + Σ (−x_j/‖x‖)·(c_j/‖c‖)
//
// Expanding L2 loses a little precision against the direct difference (a
// row very close to a centroid can come out slightly negative; it is clamped
// to 0), which is immaterial for choosing the nearest centroid. Assignment
// is several times faster than the row-major kernels for small dimensions,
// where their horizontal sums dominate, and on par for large ones.
type transposed struct {
	metric vector.Metric
	// k is the centroid count rounded up to a multiple of 16, so the SIMD
	// kernel never runs a scalar tail; the padding centroids are zero with
	// an infinite bias and never win.
	dim, k int
	cols   []float32
	bias   []float32
}

func newTransposed(m vector.Metric, centroids []float32, dim int) *transposed {
	real := len(centroids) / dim
	k := (real + 15) &^ 15
	t := &transposed{metric: m, dim: dim, k: k, cols: make([]float32, dim*k), bias: make([]float32, k)}
	for c := real; c < k; c++ {
		t.bias[c] = float32(math.Inf(1))
	}
	for c := 0; c < real; c++ {
		row := centroids[c*dim : (c+1)*dim]
		var scale float32 = 1
		switch m {
		case vector.L2:
			t.bias[c] = squaredNorm(row)
		case vector.Dot:
			t.bias[c] = 1
		case vector.Cosine:
			t.bias[c] = 1
			if n := vector.Norm(row); n > 0 {
				scale = 1 / n
			} else {
				// A zero centroid has no cosine distance (NaN in the
				// row-major kernel): it must never win.
				t.bias[c] = float32(math.Inf(1))
				scale = 0
			}
		}
		for j, v := range row {
			t.cols[j*k+c] = v * scale
		}
	}
	return t
}

// nearest returns the nearest centroid of row and its distance. ok is false
// when this form cannot decide (a zero row under cosine, non-finite values),
// and the caller uses the row-major kernel instead. scratch holds at least
// dim values.
func (t *transposed) nearest(row, scratch []float32) (int, float32, bool) {
	x := scratch[:t.dim]
	var extra float32
	switch t.metric {
	case vector.L2:
		for j, v := range row {
			x[j] = -2 * v
		}
		extra = squaredNorm(row)
	case vector.Dot:
		for j, v := range row {
			x[j] = -v
		}
	case vector.Cosine:
		n := vector.Norm(row)
		if n == 0 {
			return 0, 0, false
		}
		for j, v := range row {
			x[j] = -v / n
		}
	default:
		return 0, 0, false
	}
	if math.IsNaN(float64(extra)) || math.IsInf(float64(extra), 0) {
		return 0, 0, false
	}
	best, bd := vector.NearestTransposed(x, t.cols, t.bias)
	if math.IsNaN(float64(bd)) || math.IsInf(float64(bd), 0) {
		return 0, 0, false // NaN inputs or no finite centroid
	}
	d := bd + extra
	if t.metric == vector.L2 && d < 0 {
		d = 0
	}
	return best, d, true
}

func squaredNorm(v []float32) float32 {
	var s float32
	for _, x := range v {
		s += x * x
	}
	return s
}

// Assigner finds nearest centroids with the transposed kernel, falling back
// to the row-major one for rows it cannot decide. Build it once per set of
// centroids; it is immutable and safe for concurrent use, each caller
// bringing its own Buffers.
type Assigner struct {
	t         *transposed
	centroids []float32
}

// NewAssigner prepares centroids (rows of dim values) for assignment.
func NewAssigner(m vector.Metric, centroids []float32, dim int) *Assigner {
	return &Assigner{t: newTransposed(m, centroids, dim), centroids: centroids}
}

// Buffers is the scratch space of one goroutine's Nearest calls (out serves
// the row-major fallback).
type Buffers struct{ out, scratch []float32 }

// NewBuffers returns scratch space sized for a.
func (a *Assigner) NewBuffers() *Buffers {
	k := len(a.centroids) / a.t.dim
	return &Buffers{out: make([]float32, k), scratch: make([]float32, max(k, a.t.dim))}
}

// Nearest returns the index of the centroid nearest to row and its distance.
func (a *Assigner) Nearest(row []float32, b *Buffers) (int, float32) {
	if c, d, ok := a.t.nearest(row, b.scratch); ok {
		return c, d
	}
	k := len(b.out)
	return nearest(a.t.metric, row, a.centroids, b.out, b.scratch[:k])
}
