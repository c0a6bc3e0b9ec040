package pq

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sarissa-db/sarissa/internal/index/indextest"
	"github.com/sarissa-db/sarissa/internal/vector"
)

func TestDefaultSubVectors(t *testing.T) {
	for _, c := range []struct{ dim, want int }{{128, 8}, {768, 48}, {24, 3}, {8, 1}, {10, 1}, {3, 1}} {
		if got := DefaultSubVectors(c.dim); got != c.want {
			t.Errorf("DefaultSubVectors(%d) = %d, want %d", c.dim, got, c.want)
		}
	}
}

// ADC over codes must equal the exact distance between the query and the
// decoded row, for every metric and both code widths.
func TestScanMatchesDecoded(t *testing.T) {
	ctx := context.Background()
	const dim = 32
	data, _ := indextest.Mixture(rand.New(rand.NewPCG(1, 2)), 3000, dim, 20, 0.3)
	for _, bits := range []int{8, 4} {
		cb, err := Train(ctx, data, dim, Params{Bits: bits, SampleRate: 8, MaxIterations: 10, Rand: rand.New(rand.NewPCG(3, 4))})
		if err != nil {
			t.Fatal(err)
		}
		if cb.M != 2 {
			t.Fatalf("default M %d, want 2", cb.M)
		}
		codes := cb.Encode(nil, data[:100*dim])
		q := append([]float32(nil), data[500*dim:501*dim]...)
		for _, m := range []vector.Metric{vector.L2, vector.Dot, vector.Cosine} {
			qq := q
			if m == vector.Cosine {
				qq = unit(q)
			}
			var tab Table
			cb.DistanceTable(m, qq, &tab)
			got := make([]float32, 100)
			tab.Scan(codes, got)
			dec := make([]float32, dim)
			for i := 0; i < 100; i++ {
				cb.Decode(codes[i*cb.M:(i+1)*cb.M], dec)
				want := make([]float32, 1)
				switch m {
				case vector.Cosine:
					vector.L2Squared(qq, dec, want)
					want[0] /= 2
				default:
					vector.Distances(m, qq, dec, want, nil)
				}
				if math.Abs(float64(got[i]-want[0])) > 1e-3*(1+math.Abs(float64(want[0]))) {
					t.Fatalf("bits %d %v row %d: ADC %v, decoded distance %v", bits, m, i, got[i], want[0])
				}
			}
		}
	}
}

func unit(v []float32) []float32 {
	n := vector.Norm(v)
	out := make([]float32, len(v))
	for i := range v {
		out[i] = v[i] / n
	}
	return out
}

// 8-bit codes must reconstruct better than 4-bit ones, and both far better
// than the data's spread around its mean.
func TestQuantizationError(t *testing.T) {
	ctx := context.Background()
	const dim = 16
	data, _ := indextest.Mixture(rand.New(rand.NewPCG(5, 6)), 5000, dim, 30, 0.2)
	errFor := func(bits int) float64 {
		cb, err := Train(ctx, data, dim, Params{SubVectors: 4, Bits: bits, SampleRate: 16, Rand: rand.New(rand.NewPCG(1, 1))})
		if err != nil {
			t.Fatal(err)
		}
		codes := cb.Encode(nil, data)
		dec := make([]float32, dim)
		d := make([]float32, 1)
		var s float64
		for i := 0; i < 5000; i++ {
			cb.Decode(codes[i*4:(i+1)*4], dec)
			vector.L2Squared(data[i*dim:(i+1)*dim], dec, d)
			s += float64(d[0])
		}
		return s / 5000
	}
	var spread float64
	mean := make([]float64, dim)
	for i, v := range data {
		mean[i%dim] += float64(v) / 5000
	}
	for i, v := range data {
		x := float64(v) - mean[i%dim]
		spread += x * x / 5000
	}
	e8, e4 := errFor(8), errFor(4)
	t.Logf("mean squared error: 8-bit %.4f, 4-bit %.4f, spread %.4f", e8, e4, spread)
	if !(e8 < e4 && e4 < spread/4) {
		t.Errorf("errors 8-bit %.4f, 4-bit %.4f, spread %.4f: want 8 < 4 < spread/4", e8, e4, spread)
	}
}

func TestTrainInvalid(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	ctx := context.Background()
	for name, c := range map[string]struct {
		n, dim int
		p      Params
	}{
		"indivisible": {300, 10, Params{SubVectors: 3, Rand: r}},
		"bits":        {300, 8, Params{Bits: 7, Rand: r}},
		"few rows":    {100, 8, Params{Rand: r}},
		"no rand":     {300, 8, Params{}},
	} {
		if _, err := Train(ctx, make([]float32, c.n*c.dim), c.dim, c.p); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
