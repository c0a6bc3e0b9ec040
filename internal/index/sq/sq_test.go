package sq

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sarissa-db/sarissa/internal/vector"
)

// Quantized distances stay within the error one code step allows of the
// exact ones, for every metric.
func TestDistancesApproximateExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const dim, n = 64, 200
	data := make([]float32, n*dim)
	for i := range data {
		data[i] = float32(r.NormFloat64())
	}
	for _, m := range []vector.Metric{vector.L2, vector.Dot, vector.Cosine} {
		rows := data
		if m == vector.Cosine {
			rows = unit(data, dim)
		}
		q, err := Train(rows)
		if err != nil {
			t.Fatal(err)
		}
		codes := q.Encode(nil, rows)
		query := rows[:dim]
		p := q.Prepare(m, query)
		got := make([]float32, n)
		p.Distances(codes, got)
		want := make([]float32, n)
		vector.Distances(m, query, rows, want, nil)
		half := float64(q.Scale()) / 2 // a code is off by at most half a step
		for i := range got {
			// Bound the error each dimension may contribute.
			var bound float64
			for j := 0; j < dim; j++ {
				if m == vector.L2 {
					d := math.Abs(float64(query[j] - rows[i*dim+j]))
					bound += 2*d*half + half*half
				} else {
					bound += math.Abs(float64(query[j])) * half
				}
			}
			if math.Abs(float64(got[i]-want[i])) > bound*1.01+1e-4 {
				t.Fatalf("%v row %d: quantized %v, exact %v", m, i, got[i], want[i])
			}
		}
		if d := p.Distance(codes[dim : 2*dim]); d != got[1] {
			t.Fatalf("Distance %v != Distances %v", d, got[1])
		}
	}
}

func TestTrainRejectsNoFiniteValues(t *testing.T) {
	if _, err := Train([]float32{float32(math.NaN())}); err == nil {
		t.Fatal("accepted")
	}
	q, err := Train([]float32{3, 3})
	if err != nil || q.Scale() != 1 {
		t.Fatalf("constant input: %v %v", q, err)
	}
	if c := q.Encode(nil, []float32{-10, 3, 1e9, float32(math.NaN())}); c[0] != 0 || c[1] != 0 || c[2] != 255 || c[3] != 0 {
		t.Fatalf("clamping: %v", c)
	}
}

func unit(data []float32, dim int) []float32 {
	out := make([]float32, len(data))
	for i := 0; i < len(data); i += dim {
		n := vector.Norm(data[i : i+dim])
		for j := 0; j < dim; j++ {
			out[i+j] = data[i+j] / n
		}
	}
	return out
}
