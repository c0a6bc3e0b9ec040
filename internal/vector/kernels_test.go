package vector

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/float16"
)

// Reference implementations in float64, written for clarity, not speed.

func refL2(q, row []float32) float64 {
	var s float64
	for j := range q {
		d := float64(q[j]) - float64(row[j])
		s += d * d
	}
	return s
}

func refDot(q, row []float32) float64 {
	var s float64
	for j := range q {
		s += float64(q[j]) * float64(row[j])
	}
	return s
}

func refCosine(q, row []float32) float64 {
	return 1 - refDot(q, row)/math.Sqrt(refDot(q, q))/math.Sqrt(refDot(row, row))
}

func randRows(rng *rand.Rand, n, dim int) []float32 {
	out := make([]float32, n*dim)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
}

// close reports whether got is within float32 rounding of want, allowing for
// cancellation: the error bound scales with the magnitude of the terms
// summed (scale), not with the result.
func closeTo(got float32, want, scale float64, dim int) bool {
	tol := 1e-6 * float64(dim) * math.Max(scale, 1)
	return math.Abs(float64(got)-want) <= tol
}

var testDims = []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 100, 128, 129, 200, 768}

func TestKernelsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sets := availableKernels()
	names := make([]string, len(sets))
	for i, s := range sets {
		names[i] = s.name
	}
	t.Logf("kernel sets: %v (active %s)", names, Kernel())
	for _, ks := range sets {
		for _, dim := range testDims {
			t.Run(fmt.Sprintf("%s/dim%d", ks.name, dim), func(t *testing.T) {
				const n = 37
				q := randRows(rng, 1, dim)
				rows := randRows(rng, n, dim)
				l2 := make([]float32, n)
				dot := make([]float32, n)
				dots := make([]float32, n)
				norms := make([]float32, n)
				ks.l2(q, rows, l2)
				ks.dot(q, rows, dot)
				ks.dotNorm(q, rows, dots, norms)
				for i := range n {
					row := rows[i*dim : (i+1)*dim]
					scale := refDot(q, q) + refDot(row, row)
					if want := refL2(q, row); !closeTo(l2[i], want, scale, dim) {
						t.Errorf("row %d: l2 = %v, want %v", i, l2[i], want)
					}
					if want := refDot(q, row); !closeTo(dot[i], want, scale, dim) {
						t.Errorf("row %d: dot = %v, want %v", i, dot[i], want)
					}
					if dots[i] != dot[i] && !closeTo(dots[i], refDot(q, row), scale, dim) {
						t.Errorf("row %d: dotNorm dot = %v, want %v", i, dots[i], refDot(q, row))
					}
					if want := refDot(row, row); !closeTo(norms[i], want, want, dim) {
						t.Errorf("row %d: dotNorm norm = %v, want %v", i, norms[i], want)
					}
				}
			})
		}
	}
}

// TestSIMDAgreesWithPortable compares every accelerated kernel set with the
// portable one on the same inputs, so that the two builds cannot drift apart.
// In a build without GOEXPERIMENT=simd only the portable set exists and the
// comparison is with itself; `make test` runs both builds.
func TestSIMDAgreesWithPortable(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, ks := range availableKernels() {
		for _, dim := range testDims {
			const n = 64
			q := randRows(rng, 1, dim)
			rows := randRows(rng, n, dim)
			got, want := make([]float32, n), make([]float32, n)
			ks.l2(q, rows, got)
			portableKernels.l2(q, rows, want)
			for i := range n {
				if rel := math.Abs(float64(got[i]-want[i])) / math.Max(1, math.Abs(float64(want[i]))); rel > 1e-5*float64(dim) {
					t.Fatalf("%s dim %d row %d: l2 %v, portable %v", ks.name, dim, i, got[i], want[i])
				}
			}
		}
	}
}

func TestExportedDistances(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const dim, n = 19, 11
	q := randRows(rng, 1, dim)
	rows := randRows(rng, n, dim)
	out := make([]float32, n)
	for _, m := range []Metric{L2, Cosine, Dot} {
		Distances(m, q, rows, out, nil)
		for i := range n {
			row := rows[i*dim : (i+1)*dim]
			var want float64
			switch m {
			case L2:
				want = refL2(q, row)
			case Cosine:
				want = refCosine(q, row)
			case Dot:
				want = 1 - refDot(q, row)
			}
			if math.Abs(float64(out[i])-want) > 1e-4*math.Max(1, math.Abs(want)) {
				t.Errorf("%v row %d: got %v, want %v", m, i, out[i], want)
			}
		}
	}
}

func TestCosineZeroVectorIsNaN(t *testing.T) {
	q := []float32{1, 2, 3}
	rows := []float32{0, 0, 0, 1, 2, 3, 2, 4, 6}
	out := make([]float32, 3)
	CosineDistance(q, rows, out, nil)
	if !math.IsNaN(float64(out[0])) {
		t.Errorf("zero row: got %v, want NaN", out[0])
	}
	if math.Abs(float64(out[1])) > 1e-6 || math.Abs(float64(out[2])) > 1e-6 {
		t.Errorf("parallel rows: got %v, %v, want 0", out[1], out[2])
	}
	CosineDistance([]float32{0, 0, 0}, rows, out, make([]float32, 3))
	for i, d := range out {
		if !math.IsNaN(float64(d)) {
			t.Errorf("zero query, row %d: got %v, want NaN", i, d)
		}
	}
}

func TestDotDistanceIsOneMinusDot(t *testing.T) {
	// The values LanceDB 0.39 returned for query [1,1,1] (see the query
	// package's differential notes): 1 − x·y, so negative for large products.
	q := []float32{1, 1, 1}
	rows := []float32{7, 1, 1, 0, 0, 1, 0, 0, 0}
	out := make([]float32, 3)
	DotDistance(q, rows, out)
	want := []float32{-8, 0, 1}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("row %d: got %v, want %v", i, out[i], want[i])
		}
	}
}

func TestHamming(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, dim := range []int{1, 2, 7, 8, 9, 16, 31, 32, 33, 64} {
		const n = 13
		q := make([]byte, dim)
		rows := make([]byte, n*dim)
		for i := range q {
			q[i] = byte(rng.Uint32())
		}
		for i := range rows {
			rows[i] = byte(rng.Uint32())
		}
		out := make([]float32, n)
		HammingDistance(q, rows, out)
		for i := range n {
			want := 0
			for j := range dim {
				want += bits.OnesCount8(q[j] ^ rows[i*dim+j])
			}
			if out[i] != float32(want) {
				t.Errorf("dim %d row %d: got %v, want %d", dim, i, out[i], want)
			}
		}
	}
	// The example checked against LanceDB 0.39: query [1,3] vs rows [3,0] and [1,255].
	out := make([]float32, 2)
	HammingDistance([]byte{1, 3}, []byte{3, 0, 1, 255}, out)
	if out[0] != 3 || out[1] != 6 {
		t.Errorf("lance example: got %v, want [3 6]", out)
	}
}

// refHalf decodes a half-precision value from its definition. (arrow-go's
// float16.Num.Float32 mis-decodes subnormals, so it cannot be the reference;
// it is still used below for normal values as a second opinion.)
func refHalf(h uint16) float32 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	man := float64(h & 0x3ff)
	switch exp {
	case 0:
		return float32(sign * man * math.Pow(2, -24))
	case 0x1f:
		if man != 0 {
			return float32(math.NaN())
		}
		return float32(sign * math.Inf(1))
	}
	return float32(sign * (1 + man/1024) * math.Pow(2, float64(exp-15)))
}

func TestFloat16AllValues(t *testing.T) {
	src := make([]uint16, 1<<16)
	for i := range src {
		src[i] = uint16(i)
	}
	dst := make([]float32, len(src))
	Float16ToFloat32(dst, src)
	for i, h := range src {
		want := refHalf(h)
		got := dst[i]
		if math.IsNaN(float64(want)) {
			if !math.IsNaN(float64(got)) {
				t.Fatalf("%#04x: got %v, want NaN", h, got)
			}
			continue
		}
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("%#04x: got %v (%#08x), want %v (%#08x)", h, got, math.Float32bits(got), want, math.Float32bits(want))
		}
		if exp := h >> 10 & 0x1f; exp != 0 && exp != 0x1f && float16.FromBits(h).Float32() != got {
			t.Fatalf("%#04x: got %v, arrow-go says %v", h, got, float16.FromBits(h).Float32())
		}
	}
}

func TestBlockLengthMismatchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for rows that do not fit the query dimension")
		}
	}()
	L2Squared([]float32{1, 2}, []float32{1, 2, 3}, make([]float32, 2))
}

func TestParseMetric(t *testing.T) {
	for in, want := range map[string]Metric{"l2": L2, "L2": L2, "euclidean": L2, "Cosine": Cosine, "dot": Dot, "HAMMING": Hamming} {
		got, err := ParseMetric(in)
		if err != nil || got != want {
			t.Errorf("ParseMetric(%q) = %v, %v; want %v", in, got, err, want)
		}
		if got.String() != map[Metric]string{L2: "l2", Cosine: "cosine", Dot: "dot", Hamming: "hamming"}[want] {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	if _, err := ParseMetric("manhattan"); err == nil {
		t.Error("ParseMetric(manhattan): no error")
	}
}

// TestFloat32ToHalf checks rounding against the exact neighbours: for every
// half value h, numbers just inside the midpoints to its neighbours round to
// h, and exact midpoints round to the even one.
func TestFloat32ToHalf(t *testing.T) {
	for h := uint16(0); h < 0x7c00; h++ { // every finite non-negative half
		v := float64(refHalf(h))
		if got := Float32ToHalf(float32(v)); got != h {
			t.Fatalf("%v: got %#04x, want %#04x", v, got, h)
		}
		if got := Float32ToHalf(float32(-v)); got != h|0x8000 {
			t.Fatalf("%v: got %#04x, want %#04x", -v, got, h|0x8000)
		}
		if h == 0x7bff {
			break
		}
		next := float64(refHalf(h + 1))
		mid := (v + next) / 2
		below := math.Nextafter32(float32(mid), float32(v))
		above := math.Nextafter32(float32(mid), float32(next))
		if got := Float32ToHalf(below); got != h {
			t.Fatalf("just below midpoint %v of %#04x/%#04x: got %#04x", mid, h, h+1, got)
		}
		if got := Float32ToHalf(above); got != h+1 {
			t.Fatalf("just above midpoint %v of %#04x/%#04x: got %#04x", mid, h, h+1, got)
		}
		even := h
		if h&1 == 1 {
			even = h + 1
		}
		if got := Float32ToHalf(float32(mid)); float64(float32(mid)) == mid && got != even {
			t.Fatalf("midpoint %v of %#04x/%#04x: got %#04x, want even %#04x", mid, h, h+1, got, even)
		}
	}
	for _, tc := range []struct {
		f    float32
		want uint16
	}{
		{65504, 0x7bff}, {65520, 0x7c00}, {1e10, 0x7c00}, {float32(math.Inf(-1)), 0xfc00},
		{1e-10, 0}, {float32(math.Copysign(0, -1)), 0x8000},
	} {
		if got := Float32ToHalf(tc.f); got != tc.want {
			t.Errorf("%v: got %#04x, want %#04x", tc.f, got, tc.want)
		}
	}
	if got := Float32ToHalf(float32(math.NaN())); got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
		t.Errorf("NaN: got %#04x", got)
	}
}
