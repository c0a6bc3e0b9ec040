package vector

import (
	"fmt"
	"math"
	"math/bits"
)

// kernelSet is one implementation of the float kernels. Several may be
// available on one machine (portable, AVX2, AVX-512); the package uses the
// fastest, and tests run every one of them against a float64 reference.
type kernelSet struct {
	name string
	// l2 writes Σ(q−row)² per row.
	l2 func(q, rows, out []float32)
	// dot writes q·row per row.
	dot func(q, rows, out []float32)
	// dotNorm writes q·row to dots and row·row to norms per row (one pass
	// over the rows, for cosine).
	dotNorm func(q, rows, dots, norms []float32)
	// affine writes out[c] = bias[c] + Σ_j x[j]·cols[j*len(out)+c]
	// (see AffineTransposed).
	affine func(x, cols, bias, out []float32)
	// l2u8 and dotu8 compare a float query with rows of byte codes (see
	// L2U8 and DotU8).
	l2u8, dotu8 func(q []float32, codes []byte, out []float32)
	// nearest is AffineTransposed followed by an argmin, without storing
	// the outputs (see NearestTransposed).
	nearest func(x, cols, bias []float32) (int, float32)
	// pq4 scans block-transposed 4-bit PQ codes (see PQ4Transposed).
	pq4 func(tab []float32, blocks []byte, out []float32)
}

// active is the kernel set chosen for this build and CPU. It is fixed at
// start-up from facts about the hardware, never changed afterwards.
var active = bestKernels()

// Kernel names the float kernel implementation in use ("portable", "avx2",
// "avx512"), for benchmarks and logs.
func Kernel() string { return active.name }

func checkBlock(q, rows []float32, n int) {
	if len(rows) != len(q)*n {
		panic(fmt.Sprintf("vector: %d row values do not hold %d rows of dimension %d", len(rows), n, len(q)))
	}
}

// L2Squared writes the squared Euclidean distance between q and each row of
// rows into out. rows holds len(out) rows of len(q) values, back to back.
func L2Squared(q, rows, out []float32) {
	checkBlock(q, rows, len(out))
	if len(out) == 0 {
		return
	}
	active.l2(q, rows, out)
}

// DotProduct writes q·row for each row of rows into out (the raw inner
// product, not a distance).
func DotProduct(q, rows, out []float32) {
	checkBlock(q, rows, len(out))
	if len(out) == 0 {
		return
	}
	active.dot(q, rows, out)
}

// DotDistance writes Lance's dot distance 1 − q·row for each row into out.
func DotDistance(q, rows, out []float32) {
	DotProduct(q, rows, out)
	for i, d := range out {
		out[i] = 1 - d
	}
}

// CosineDistance writes 1 − q·row / (‖q‖·‖row‖) for each row into out.
// A zero vector on either side yields NaN, as in Lance (which then drops the
// row from search results). scratch, if at least len(out) long, avoids an
// allocation.
func CosineDistance(q, rows, out, scratch []float32) {
	checkBlock(q, rows, len(out))
	n := len(out)
	if n == 0 {
		return
	}
	if len(scratch) < n {
		scratch = make([]float32, n)
	}
	norms := scratch[:n]
	active.dotNorm(q, rows, out, norms)
	qn := Norm(q)
	for i := range out {
		// Same operation order as lance-linalg: xy / ‖x‖ / ‖y‖.
		out[i] = 1 - out[i]/qn/float32(math.Sqrt(float64(norms[i])))
	}
}

// Norm returns the Euclidean norm ‖q‖.
func Norm(q []float32) float32 {
	var s float32
	for _, v := range q {
		s += v * v
	}
	return float32(math.Sqrt(float64(s)))
}

// Distances dispatches to the float kernel for m. Hamming is not a float
// metric (use HammingDistance); asking for it here panics.
func Distances(m Metric, q, rows, out, scratch []float32) {
	switch m {
	case L2:
		L2Squared(q, rows, out)
	case Cosine:
		CosineDistance(q, rows, out, scratch)
	case Dot:
		DotDistance(q, rows, out)
	default:
		panic(fmt.Sprintf("vector: no float kernel for metric %v", m))
	}
}

// HammingDistance writes the number of differing bits between q and each
// row of rows into out. rows holds len(out) rows of len(q) bytes.
func HammingDistance(q, rows []byte, out []float32) {
	dim := len(q)
	if len(rows) != dim*len(out) {
		panic(fmt.Sprintf("vector: %d row bytes do not hold %d rows of %d bytes", len(rows), len(out), dim))
	}
	words := dim / 8
	for i := range out {
		row := rows[i*dim : i*dim+dim : i*dim+dim]
		var c int
		for w := 0; w < words; w++ {
			c += bits.OnesCount64(le64(q[w*8:]) ^ le64(row[w*8:]))
		}
		for j := words * 8; j < dim; j++ {
			c += bits.OnesCount8(q[j] ^ row[j])
		}
		out[i] = float32(c)
	}
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}
