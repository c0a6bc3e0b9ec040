package pq

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/sarissa-db/sarissa/internal/vector"
)

// BenchmarkScan measures the ADC scan alone: rows of M 8-bit codes against
// one distance table; codes/s is the figure to compare across M.
func BenchmarkScan(b *testing.B) {
	for _, m := range []int{8, 16, 32} {
		b.Run("M"+strconv.Itoa(m), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			const rows = 8192
			codes := make([]byte, rows*m)
			for i := range codes {
				codes[i] = byte(r.IntN(256))
			}
			t := Table{M: m, K: 256, Dist: make([]float32, m*256), Scale: 1}
			for i := range t.Dist {
				t.Dist[i] = r.Float32()
			}
			out := make([]float32, rows)
			b.ResetTimer()
			for b.Loop() {
				t.Scan(codes, out)
			}
			b.ReportMetric(float64(rows*m)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mcodes/s")
		})
	}
}

// BenchmarkScanTransposed4 is the 4-bit fast scan over the same row count.
func BenchmarkScanTransposed4(b *testing.B) {
	for _, m := range []int{8, 16, 32} {
		b.Run("M"+strconv.Itoa(m), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			const rows = 8192
			packed := make([]byte, rows*m/2)
			for i := range packed {
				packed[i] = byte(r.IntN(256))
			}
			blocks, err := Transpose4(packed, m)
			if err != nil {
				b.Fatal(err)
			}
			t := Table{M: m, K: 16, Dist: make([]float32, m*16), Scale: 1}
			for i := range t.Dist {
				t.Dist[i] = r.Float32()
			}
			out := make([]float32, rows)
			b.ResetTimer()
			for b.Loop() {
				t.ScanTransposed4(blocks, out)
			}
			b.ReportMetric(float64(rows*m)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mcodes/s")
		})
	}
}

// BenchmarkDistanceTable builds one query's L2 table (M sub-vectors × 256
// codewords over 128 dimensions), as IVF_PQ does per probed partition.
func BenchmarkDistanceTable(b *testing.B) {
	for _, m := range []int{8, 16, 32} {
		b.Run("M"+strconv.Itoa(m), func(b *testing.B) {
			r := rand.New(rand.NewPCG(3, 4))
			const dim = 128
			cb := &Codebook{Dim: dim, M: m, SubDim: dim / m, Bits: 8, Centroids: make([]float32, 256*dim)}
			for i := range cb.Centroids {
				cb.Centroids[i] = r.Float32()
			}
			q := make([]float32, dim)
			var t Table
			for b.Loop() {
				cb.DistanceTable(vector.L2, q, &t)
			}
		})
	}
}
