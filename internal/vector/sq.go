package vector

import "fmt"

// Scalar-quantized rows: each value is one byte code. An SQ index maps a
// value x to round((x−lo)/scale) with one lo and scale for all dimensions, so
// callers transform the query once (q' = (q−lo)/scale) and rescale the sums
// these kernels return: L2 by scale², dot by scale plus lo·Σq.

func checkU8(q []float32, codes []byte, n int) {
	if len(codes) != len(q)*n {
		panic(fmt.Sprintf("vector: %d code bytes do not hold %d rows of dimension %d", len(codes), n, len(q)))
	}
}

// L2U8 writes Σ_j (q[j] − codes[row][j])² for each row of codes (len(q)
// bytes per row, len(out) rows).
func L2U8(q []float32, codes []byte, out []float32) {
	checkU8(q, codes, len(out))
	if len(out) == 0 {
		return
	}
	active.l2u8(q, codes, out)
}

// DotU8 writes Σ_j q[j]·codes[row][j] for each row of codes.
func DotU8(q []float32, codes []byte, out []float32) {
	checkU8(q, codes, len(out))
	if len(out) == 0 {
		return
	}
	active.dotu8(q, codes, out)
}

func l2U8Portable(q []float32, codes []byte, out []float32) {
	dim := len(q)
	for i := range out {
		row := codes[i*dim : i*dim+dim : i*dim+dim]
		var s0, s1 float32
		j := 0
		for ; j+2 <= dim; j += 2 {
			d0 := q[j] - float32(row[j])
			d1 := q[j+1] - float32(row[j+1])
			s0 += d0 * d0
			s1 += d1 * d1
		}
		if j < dim {
			d := q[j] - float32(row[j])
			s0 += d * d
		}
		out[i] = s0 + s1
	}
}

func dotU8Portable(q []float32, codes []byte, out []float32) {
	dim := len(q)
	for i := range out {
		row := codes[i*dim : i*dim+dim : i*dim+dim]
		var s0, s1 float32
		j := 0
		for ; j+2 <= dim; j += 2 {
			s0 += q[j] * float32(row[j])
			s1 += q[j+1] * float32(row[j+1])
		}
		if j < dim {
			s0 += q[j] * float32(row[j])
		}
		out[i] = s0 + s1
	}
}
