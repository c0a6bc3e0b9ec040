package vector

// Portable kernels: plain Go with four independent accumulators, so that the
// CPU can overlap the multiply-adds of one row, and re-sliced rows so that the
// compiler drops bounds checks inside the inner loops. They are the fallback
// for builds without GOEXPERIMENT=simd and the reference the SIMD kernels are
// tested against.

var portableKernels = kernelSet{
	name:    "portable",
	l2:      l2Portable,
	dot:     dotPortable,
	dotNorm: dotNormPortable,
	affine:  affinePortable,
	l2u8:    l2U8Portable,
	dotu8:   dotU8Portable,
	pq4:     pq4Portable,
	nearest: nearestPortable,
}

func l2Portable(q, rows, out []float32) {
	dim := len(q)
	for i := range out {
		row := rows[i*dim : i*dim+dim : i*dim+dim]
		out[i] = l2One(q, row)
	}
}

func l2One(q, row []float32) float32 {
	row = row[:len(q)]
	var s0, s1, s2, s3 float32
	j := 0
	for ; j+4 <= len(q); j += 4 {
		a := q[j : j+4 : j+4]
		b := row[j : j+4 : j+4]
		d0 := a[0] - b[0]
		d1 := a[1] - b[1]
		d2 := a[2] - b[2]
		d3 := a[3] - b[3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; j < len(q); j++ {
		d := q[j] - row[j]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

func dotPortable(q, rows, out []float32) {
	dim := len(q)
	for i := range out {
		row := rows[i*dim : i*dim+dim : i*dim+dim]
		out[i] = dotOne(q, row)
	}
}

func dotOne(q, row []float32) float32 {
	row = row[:len(q)]
	var s0, s1, s2, s3 float32
	j := 0
	for ; j+4 <= len(q); j += 4 {
		a := q[j : j+4 : j+4]
		b := row[j : j+4 : j+4]
		s0 += a[0] * b[0]
		s1 += a[1] * b[1]
		s2 += a[2] * b[2]
		s3 += a[3] * b[3]
	}
	for ; j < len(q); j++ {
		s0 += q[j] * row[j]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotNormPortable(q, rows, dots, norms []float32) {
	dim := len(q)
	norms = norms[:len(dots)]
	for i := range dots {
		row := rows[i*dim : i*dim+dim : i*dim+dim]
		row = row[:len(q)]
		var x0, x1, y0, y1 float32
		j := 0
		for ; j+2 <= len(q); j += 2 {
			a := q[j : j+2 : j+2]
			b := row[j : j+2 : j+2]
			x0 += a[0] * b[0]
			x1 += a[1] * b[1]
			y0 += b[0] * b[0]
			y1 += b[1] * b[1]
		}
		for ; j < len(q); j++ {
			x0 += q[j] * row[j]
			y0 += row[j] * row[j]
		}
		dots[i] = x0 + x1
		norms[i] = y0 + y1
	}
}
