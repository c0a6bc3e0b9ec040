package vector

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkL2 measures the float kernels. The 1M × 128 case (512 MB of rows)
// is memory-bound: compare its MB/s with the ~20–27 GB/s one core can read
// (docs/performance-targets.md). The 1000 × 768 case fits in L2 and shows
// the compute rate.
func BenchmarkL2(b *testing.B) {
	for _, sz := range []struct{ n, dim int }{{1_000_000, 128}, {1000, 768}, {4096, 128}} {
		rng := rand.New(rand.NewPCG(1, 1))
		q := randRows(rng, 1, sz.dim)
		rows := randRows(rng, sz.n, sz.dim)
		out := make([]float32, sz.n)
		for _, ks := range availableKernels() {
			b.Run(fmt.Sprintf("%s/%dx%d", ks.name, sz.n, sz.dim), func(b *testing.B) {
				b.SetBytes(int64(len(rows)) * 4)
				for b.Loop() {
					ks.l2(q, rows, out)
				}
			})
		}
	}
}

func BenchmarkCosine(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	const n, dim = 4096, 128
	q := randRows(rng, 1, dim)
	rows := randRows(rng, n, dim)
	out := make([]float32, n)
	scratch := make([]float32, n)
	b.SetBytes(n * dim * 4)
	for b.Loop() {
		CosineDistance(q, rows, out, scratch)
	}
}

func BenchmarkHamming(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	const n, dim = 4096, 32
	q := make([]byte, dim)
	rows := make([]byte, n*dim)
	for i := range rows {
		rows[i] = byte(rng.Uint32())
	}
	out := make([]float32, n)
	b.SetBytes(n * dim)
	for b.Loop() {
		HammingDistance(q, rows, out)
	}
}

func BenchmarkTopKPush(b *testing.B) {
	rng := rand.New(rand.NewPCG(4, 4))
	d := make([]float32, 1<<16)
	for i := range d {
		d[i] = rng.Float32()
	}
	b.SetBytes(int64(len(d)) * 4)
	for b.Loop() {
		tk := NewTopK(10)
		for i, v := range d {
			if tk.Full() && v > tk.Worst() {
				continue
			}
			tk.Push(v, uint64(i))
		}
	}
}
