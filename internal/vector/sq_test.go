package vector

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestU8KernelsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, ks := range availableKernels() {
		for _, dim := range []int{1, 7, 16, 31, 128} {
			n := 9
			q := make([]float32, dim)
			for j := range q {
				q[j] = float32(r.Float64() * 255)
			}
			codes := make([]byte, dim*n)
			for i := range codes {
				codes[i] = byte(r.IntN(256))
			}
			l2 := make([]float32, n)
			dot := make([]float32, n)
			ks.l2u8(q, codes, l2)
			ks.dotu8(q, codes, dot)
			for i := 0; i < n; i++ {
				var wl, wd float64
				for j := 0; j < dim; j++ {
					c := float64(codes[i*dim+j])
					wl += (float64(q[j]) - c) * (float64(q[j]) - c)
					wd += float64(q[j]) * c
				}
				if math.Abs(float64(l2[i])-wl) > 1e-4*(1+wl) || math.Abs(float64(dot[i])-wd) > 1e-4*(1+math.Abs(wd)) {
					t.Fatalf("%s dim %d row %d: l2 %v want %v, dot %v want %v", ks.name, dim, i, l2[i], wl, dot[i], wd)
				}
			}
		}
	}
}

func TestU8KernelsPanicOnShapeMismatch(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	L2U8(make([]float32, 4), make([]byte, 7), make([]float32, 2))
}
