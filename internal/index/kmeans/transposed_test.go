package kmeans

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sarissa-db/sarissa/internal/vector"
)

// The transposed assignment must pick the same centroid as the row-major
// kernels except on near-ties, and report the same distance within rounding.
func TestTransposedAssignmentMatchesRowMajor(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, m := range []vector.Metric{vector.L2, vector.Dot, vector.Cosine} {
		for _, shape := range []struct{ dim, k int }{{16, 256}, {4, 16}, {128, 122}, {3, 5}} {
			cents := make([]float32, shape.dim*shape.k)
			for i := range cents {
				cents[i] = float32(r.NormFloat64())
			}
			tc := newTransposed(m, cents, shape.dim)
			ref := make([]float32, shape.k)
			scratch := make([]float32, max(shape.k, shape.dim))
			for n := 0; n < 500; n++ {
				row := make([]float32, shape.dim)
				for j := range row {
					row[j] = float32(r.NormFloat64())
				}
				c, d, ok := tc.nearest(row, scratch)
				if !ok {
					t.Fatalf("%v %v: transposed form refused a finite row", m, shape)
				}
				rc, rd := nearest(m, row, cents, ref, make([]float32, shape.k))
				tol := 1e-4 * (1 + math.Abs(float64(rd)))
				if math.Abs(float64(d-rd)) > tol {
					t.Fatalf("%v %v: distance %v, row-major %v", m, shape, d, rd)
				}
				if c != rc && math.Abs(float64(ref[c]-rd)) > tol {
					t.Fatalf("%v %v: centroid %d (%v), row-major %d (%v)", m, shape, c, ref[c], rc, rd)
				}
			}
		}
	}
}

// A zero row under cosine has no defined distance: the transposed form
// declines it so the caller keeps the row-major behaviour.
func TestTransposedDeclinesZeroCosineRow(t *testing.T) {
	tc := newTransposed(vector.Cosine, []float32{1, 0, 0, 1}, 2)
	if _, _, ok := tc.nearest([]float32{0, 0}, make([]float32, 2)); ok {
		t.Fatal("zero row accepted under cosine")
	}
}
