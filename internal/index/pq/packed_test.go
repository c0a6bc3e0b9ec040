package pq

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sarissa-db/sarissa/internal/vector"
)

// 4-bit codes: packed scan, transposed fast scan and the 8-bit-per-code
// scan of the same codes must agree for every metric.
func TestPacked4ScansAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	const dim, n = 32, 1000
	data := make([]float32, n*dim)
	for i := range data {
		data[i] = float32(r.NormFloat64())
	}
	cb, err := Train(context.Background(), data, dim, Params{SubVectors: 8, Bits: 4, Rand: r})
	if err != nil {
		t.Fatal(err)
	}
	if cb.PackedRowBytes() != 4 {
		t.Fatalf("PackedRowBytes = %d", cb.PackedRowBytes())
	}
	codes := cb.Encode(nil, data)
	packed := cb.EncodePacked(nil, data)
	if len(packed) != n*4 {
		t.Fatalf("packed %d bytes", len(packed))
	}
	blocks, err := Transpose4(packed, cb.M)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []vector.Metric{vector.L2, vector.Dot, vector.Cosine} {
		var tab Table
		cb.DistanceTable(m, data[:dim], &tab)
		a, b, c := make([]float32, n), make([]float32, n), make([]float32, n)
		tab.Scan(codes, a)
		tab.ScanPacked4(packed, b)
		tab.ScanTransposed4(blocks, c)
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > 1e-4*(1+math.Abs(float64(a[i]))) || math.Abs(float64(a[i]-c[i])) > 1e-4*(1+math.Abs(float64(a[i]))) {
				t.Fatalf("%v row %d: scan %v, packed %v, transposed %v", m, i, a[i], b[i], c[i])
			}
		}
	}
}

func TestFourBitsNeedEvenSubVectors(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	data := make([]float32, 300*15)
	for i := range data {
		data[i] = r.Float32()
	}
	if _, err := Train(context.Background(), data, 15, Params{SubVectors: 3, Bits: 4, Rand: r}); err == nil {
		t.Fatal("4-bit codebook with 3 sub-vectors accepted")
	}
	if _, err := Transpose4(make([]byte, 5), 4); err == nil {
		t.Fatal("Transpose4 accepted a partial row")
	}
}
