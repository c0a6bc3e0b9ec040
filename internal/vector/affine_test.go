package vector

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Every kernel set (portable, AVX2, AVX-512 where the CPU has them) against
// a float64 reference, over sizes that exercise full blocks and tails.
func TestAffineTransposedMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	for _, ks := range availableKernels() {
		for _, dim := range []int{1, 3, 16, 33} {
			for _, k := range []int{1, 7, 8, 15, 16, 17, 256, 261} {
				x := randFloats(r, dim)
				cols := randFloats(r, dim*k)
				bias := randFloats(r, k)
				out := make([]float32, k)
				ks.affine(x, cols, bias, out)
				for c := 0; c < k; c++ {
					want := float64(bias[c])
					for j := 0; j < dim; j++ {
						want += float64(x[j]) * float64(cols[j*k+c])
					}
					if math.Abs(float64(out[c])-want) > 1e-4*(1+math.Abs(want)) {
						t.Fatalf("%s dim %d k %d: out[%d] = %v, want %v", ks.name, dim, k, c, out[c], want)
					}
				}
			}
		}
	}
}

func TestAffineTransposedPanicsOnShapeMismatch(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for mismatched shapes")
		}
	}()
	AffineTransposed(make([]float32, 2), make([]float32, 5), make([]float32, 3), make([]float32, 3))
}

func randFloats(r *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64())
	}
	return out
}

func TestNearestTransposedMatchesAffineThenMin(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, ks := range availableKernels() {
		for _, dim := range []int{1, 8, 16, 33} {
			for _, k := range []int{1, 16, 17, 64, 100, 256, 261} {
				for trial := 0; trial < 10; trial++ {
					x := randFloats(r, dim)
					cols := randFloats(r, dim*k)
					bias := randFloats(r, k)
					if trial == 1 { // duplicate columns: equal outputs, first wins
						copy(bias[k/2:k/2+1], bias[:1])
						for j := 0; j < dim; j++ {
							cols[j*k+k/2] = cols[j*k]
						}
					}
					out := make([]float32, k)
					affinePortable(x, cols, bias, out)
					want := argmin(out)
					got, val := ks.nearest(x, cols, bias)
					if math.Abs(float64(out[got]-out[want])) > 1e-4*(1+math.Abs(float64(out[want]))) || math.Abs(float64(val-out[want])) > 1e-4*(1+math.Abs(float64(out[want]))) {
						t.Fatalf("%s dim %d k %d: nearest %d (%v), want %d (%v)", ks.name, dim, k, got, val, want, out[want])
					}
				}
			}
		}
	}
}

// argmin is the reference: the index of the first smallest value.
func argmin(v []float32) int {
	best := 0
	for i, x := range v {
		if x < v[best] {
			best = i
		}
	}
	return best
}
