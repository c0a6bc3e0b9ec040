package vector

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestPQ4TransposedMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, ks := range availableKernels() {
		for _, m := range []int{2, 8, 16, 32} {
			for _, n := range []int{1, 15, 16, 17, 100} {
				tab := randFloats(r, m*16)
				nb := (n + 15) / 16
				blocks := make([]byte, nb*8*m)
				for i := range blocks {
					blocks[i] = byte(r.IntN(256))
				}
				out := make([]float32, n)
				ks.pq4(tab, blocks, out)
				for i := 0; i < n; i++ {
					var want float64
					for p := 0; p < m/2; p++ {
						b := blocks[(i/16)*8*m+p*16+i%16]
						want += float64(tab[2*p*16+int(b&15)]) + float64(tab[(2*p+1)*16+int(b>>4)])
					}
					if math.Abs(float64(out[i])-want) > 1e-4*(1+math.Abs(want)) {
						t.Fatalf("%s m %d n %d row %d: %v, want %v", ks.name, m, n, i, out[i], want)
					}
				}
			}
		}
	}
}
