//go:build goexperiment.simd && amd64

package vector

import (
	"math"
	"simd/archsimd"
)

// SIMD kernels over simd/archsimd. Rows are loaded through array pointers
// ((*[16]float32)(s[j:j+16])), which compiles to one bounds check and a
// plain vector load; the final partial chunk of a row (dimensions that are
// not a multiple of the vector width) is copied into a zero-padded array, so
// padding lanes add nothing to the sums. (archsimd's masked SlicePart loads
// would do the same, but they convert a short slice into a pointer to a full
// vector, which -race's checkptr rejects.)

var (
	avx512Kernels = kernelSet{name: "avx512", l2: l2AVX512, dot: dotAVX512, dotNorm: dotNormAVX512, affine: affineAVX512, l2u8: l2U8AVX512, dotu8: dotU8AVX512, pq4: pq4AVX512, nearest: nearestAVX512}
	avx2Kernels   = kernelSet{name: "avx2", l2: l2AVX2, dot: dotAVX2, dotNorm: dotNormAVX2, affine: affineAVX2, l2u8: l2U8Portable, dotu8: dotU8Portable, pq4: pq4Portable, nearest: nearestPortable}
)

func bestKernels() kernelSet {
	switch {
	case archsimd.X86.AVX512():
		return avx512Kernels
	case archsimd.X86.AVX2() && archsimd.X86.FMA():
		return avx2Kernels
	}
	return portableKernels
}

func availableKernels() []kernelSet {
	out := []kernelSet{portableKernels}
	if archsimd.X86.AVX2() && archsimd.X86.FMA() {
		out = append(out, avx2Kernels)
	}
	if archsimd.X86.AVX512() {
		out = append(out, avx512Kernels)
	}
	return out
}

func sum16(x archsimd.Float32x16) float32 {
	return sum8(x.GetLo().Add(x.GetHi()))
}

func sum8(x archsimd.Float32x8) float32 {
	s4 := x.GetLo().Add(x.GetHi())
	s2 := s4.AddPairs(s4)
	return s2.GetElem(0) + s2.GetElem(1)
}

func l2AVX512(q, rows, out []float32) {
	dim := len(q)
	full := dim &^ 15
	var qt, rt [16]float32
	copy(qt[:], q[full:])
	qtail := archsimd.LoadFloat32x16(&qt)
	for i := range out {
		row := rows[i*dim : i*dim+dim : i*dim+dim]
		var acc0, acc1 archsimd.Float32x16
		j := 0
		for ; j+32 <= full; j += 32 {
			a0 := archsimd.LoadFloat32x16((*[16]float32)(q[j : j+16]))
			b0 := archsimd.LoadFloat32x16((*[16]float32)(row[j : j+16]))
			a1 := archsimd.LoadFloat32x16((*[16]float32)(q[j+16 : j+32]))
			b1 := archsimd.LoadFloat32x16((*[16]float32)(row[j+16 : j+32]))
			d0 := a0.Sub(b0)
			d1 := a1.Sub(b1)
			acc0 = d0.MulAdd(d0, acc0)
			acc1 = d1.MulAdd(d1, acc1)
		}
		if j < full {
			a := archsimd.LoadFloat32x16((*[16]float32)(q[j : j+16]))
			b := archsimd.LoadFloat32x16((*[16]float32)(row[j : j+16]))
			d := a.Sub(b)
			acc0 = d.MulAdd(d, acc0)
			j += 16
		}
		if j < dim {
			copy(rt[:], row[j:])
			d := qtail.Sub(archsimd.LoadFloat32x16(&rt))
			acc1 = d.MulAdd(d, acc1)
		}
		out[i] = sum16(acc0.Add(acc1))
	}
}

func dotAVX512(q, rows, out []float32) {
	dim := len(q)
	full := dim &^ 15
	var qt, rt [16]float32
	copy(qt[:], q[full:])
	qtail := archsimd.LoadFloat32x16(&qt)
	for i := range out {
		row := rows[i*dim : i*dim+dim : i*dim+dim]
		var acc0, acc1 archsimd.Float32x16
		j := 0
		for ; j+32 <= full; j += 32 {
			a0 := archsimd.LoadFloat32x16((*[16]float32)(q[j : j+16]))
			b0 := archsimd.LoadFloat32x16((*[16]float32)(row[j : j+16]))
			a1 := archsimd.LoadFloat32x16((*[16]float32)(q[j+16 : j+32]))
			b1 := archsimd.LoadFloat32x16((*[16]float32)(row[j+16 : j+32]))
			acc0 = a0.MulAdd(b0, acc0)
			acc1 = a1.MulAdd(b1, acc1)
		}
		if j < full {
			a := archsimd.LoadFloat32x16((*[16]float32)(q[j : j+16]))
			b := archsimd.LoadFloat32x16((*[16]float32)(row[j : j+16]))
			acc0 = a.MulAdd(b, acc0)
			j += 16
		}
		if j < dim {
			copy(rt[:], row[j:])
			acc1 = qtail.MulAdd(archsimd.LoadFloat32x16(&rt), acc1)
		}
		out[i] = sum16(acc0.Add(acc1))
	}
}

func dotNormAVX512(q, rows, dots, norms []float32) {
	dim := len(q)
	full := dim &^ 15
	norms = norms[:len(dots)]
	var qt, rt [16]float32
	copy(qt[:], q[full:])
	qtail := archsimd.LoadFloat32x16(&qt)
	for i := range dots {
		row := rows[i*dim : i*dim+dim : i*dim+dim]
		var xy, yy archsimd.Float32x16
		j := 0
		for ; j < full; j += 16 {
			a := archsimd.LoadFloat32x16((*[16]float32)(q[j : j+16]))
			b := archsimd.LoadFloat32x16((*[16]float32)(row[j : j+16]))
			xy = a.MulAdd(b, xy)
			yy = b.MulAdd(b, yy)
		}
		if j < dim {
			copy(rt[:], row[j:])
			b := archsimd.LoadFloat32x16(&rt)
			xy = qtail.MulAdd(b, xy)
			yy = b.MulAdd(b, yy)
		}
		dots[i] = sum16(xy)
		norms[i] = sum16(yy)
	}
}

func l2AVX2(q, rows, out []float32) {
	dim := len(q)
	full := dim &^ 7
	for i := range out {
		row := rows[i*dim : i*dim+dim : i*dim+dim]
		var acc0, acc1 archsimd.Float32x8
		j := 0
		for ; j+16 <= full; j += 16 {
			a0 := archsimd.LoadFloat32x8((*[8]float32)(q[j : j+8]))
			b0 := archsimd.LoadFloat32x8((*[8]float32)(row[j : j+8]))
			a1 := archsimd.LoadFloat32x8((*[8]float32)(q[j+8 : j+16]))
			b1 := archsimd.LoadFloat32x8((*[8]float32)(row[j+8 : j+16]))
			d0 := a0.Sub(b0)
			d1 := a1.Sub(b1)
			acc0 = d0.MulAdd(d0, acc0)
			acc1 = d1.MulAdd(d1, acc1)
		}
		if j < full {
			a := archsimd.LoadFloat32x8((*[8]float32)(q[j : j+8]))
			b := archsimd.LoadFloat32x8((*[8]float32)(row[j : j+8]))
			d := a.Sub(b)
			acc0 = d.MulAdd(d, acc0)
			j += 8
		}
		s := sum8(acc0.Add(acc1))
		for ; j < dim; j++ {
			d := q[j] - row[j]
			s += d * d
		}
		out[i] = s
	}
}

func dotAVX2(q, rows, out []float32) {
	dim := len(q)
	full := dim &^ 7
	for i := range out {
		row := rows[i*dim : i*dim+dim : i*dim+dim]
		var acc0, acc1 archsimd.Float32x8
		j := 0
		for ; j+16 <= full; j += 16 {
			a0 := archsimd.LoadFloat32x8((*[8]float32)(q[j : j+8]))
			b0 := archsimd.LoadFloat32x8((*[8]float32)(row[j : j+8]))
			a1 := archsimd.LoadFloat32x8((*[8]float32)(q[j+8 : j+16]))
			b1 := archsimd.LoadFloat32x8((*[8]float32)(row[j+8 : j+16]))
			acc0 = a0.MulAdd(b0, acc0)
			acc1 = a1.MulAdd(b1, acc1)
		}
		if j < full {
			a := archsimd.LoadFloat32x8((*[8]float32)(q[j : j+8]))
			b := archsimd.LoadFloat32x8((*[8]float32)(row[j : j+8]))
			acc0 = a.MulAdd(b, acc0)
			j += 8
		}
		s := sum8(acc0.Add(acc1))
		for ; j < dim; j++ {
			s += q[j] * row[j]
		}
		out[i] = s
	}
}

func dotNormAVX2(q, rows, dots, norms []float32) {
	dim := len(q)
	full := dim &^ 7
	norms = norms[:len(dots)]
	for i := range dots {
		row := rows[i*dim : i*dim+dim : i*dim+dim]
		var xy, yy archsimd.Float32x8
		j := 0
		for ; j < full; j += 8 {
			a := archsimd.LoadFloat32x8((*[8]float32)(q[j : j+8]))
			b := archsimd.LoadFloat32x8((*[8]float32)(row[j : j+8]))
			xy = a.MulAdd(b, xy)
			yy = b.MulAdd(b, yy)
		}
		x, y := sum8(xy), sum8(yy)
		for ; j < dim; j++ {
			x += q[j] * row[j]
			y += row[j] * row[j]
		}
		dots[i] = x
		norms[i] = y
	}
}

// affineAVX512 keeps 16 outputs in one register per block of centroids and
// walks the dimensions, four blocks at a time so that one broadcast and one
// slice of the column feed four multiply-adds; leftover blocks go one at a
// time and a partial block (k not a multiple of 16) falls back to scalar.
func affineAVX512(x, cols, bias, out []float32) {
	k := len(out)
	full := k &^ 15
	c := 0
	for ; c+64 <= full; c += 64 {
		acc0 := archsimd.LoadFloat32x16((*[16]float32)(bias[c : c+16]))
		acc1 := archsimd.LoadFloat32x16((*[16]float32)(bias[c+16 : c+32]))
		acc2 := archsimd.LoadFloat32x16((*[16]float32)(bias[c+32 : c+48]))
		acc3 := archsimd.LoadFloat32x16((*[16]float32)(bias[c+48 : c+64]))
		for j, v := range x {
			col := (*[64]float32)(cols[j*k+c : j*k+c+64])
			b := archsimd.BroadcastFloat32x16(v)
			acc0 = archsimd.LoadFloat32x16((*[16]float32)(col[0:16])).MulAdd(b, acc0)
			acc1 = archsimd.LoadFloat32x16((*[16]float32)(col[16:32])).MulAdd(b, acc1)
			acc2 = archsimd.LoadFloat32x16((*[16]float32)(col[32:48])).MulAdd(b, acc2)
			acc3 = archsimd.LoadFloat32x16((*[16]float32)(col[48:64])).MulAdd(b, acc3)
		}
		acc0.Store((*[16]float32)(out[c : c+16]))
		acc1.Store((*[16]float32)(out[c+16 : c+32]))
		acc2.Store((*[16]float32)(out[c+32 : c+48]))
		acc3.Store((*[16]float32)(out[c+48 : c+64]))
	}
	for ; c < full; c += 16 {
		acc := archsimd.LoadFloat32x16((*[16]float32)(bias[c : c+16]))
		for j, v := range x {
			col := archsimd.LoadFloat32x16((*[16]float32)(cols[j*k+c : j*k+c+16]))
			acc = col.MulAdd(archsimd.BroadcastFloat32x16(v), acc)
		}
		acc.Store((*[16]float32)(out[c : c+16]))
	}
	affineTail(x, cols, bias, out, full)
}

func affineAVX2(x, cols, bias, out []float32) {
	k := len(out)
	full := k &^ 7
	for c := 0; c < full; c += 8 {
		acc := archsimd.LoadFloat32x8((*[8]float32)(bias[c : c+8]))
		for j, v := range x {
			col := archsimd.LoadFloat32x8((*[8]float32)(cols[j*k+c : j*k+c+8]))
			acc = col.MulAdd(archsimd.BroadcastFloat32x8(v), acc)
		}
		acc.Store((*[8]float32)(out[c : c+8]))
	}
	affineTail(x, cols, bias, out, full)
}

func affineTail(x, cols, bias, out []float32, from int) {
	k := len(out)
	for c := from; c < k; c++ {
		s := bias[c]
		for j, v := range x {
			s += v * cols[j*k+c]
		}
		out[c] = s
	}
}

// u8x16 widens 16 code bytes to float32 lanes.
func u8x16(b []byte) archsimd.Float32x16 {
	return archsimd.LoadUint8x16((*[16]uint8)(b)).ExtendToUint32().ConvertToFloat32()
}

func l2U8AVX512(q []float32, codes []byte, out []float32) {
	dim := len(q)
	full := dim &^ 15
	for i := range out {
		row := codes[i*dim : i*dim+dim : i*dim+dim]
		var acc archsimd.Float32x16
		for j := 0; j < full; j += 16 {
			d := archsimd.LoadFloat32x16((*[16]float32)(q[j : j+16])).Sub(u8x16(row[j : j+16]))
			acc = d.MulAdd(d, acc)
		}
		s := sum16(acc)
		for j := full; j < dim; j++ {
			d := q[j] - float32(row[j])
			s += d * d
		}
		out[i] = s
	}
}

func dotU8AVX512(q []float32, codes []byte, out []float32) {
	dim := len(q)
	full := dim &^ 15
	for i := range out {
		row := codes[i*dim : i*dim+dim : i*dim+dim]
		var acc archsimd.Float32x16
		for j := 0; j < full; j += 16 {
			acc = archsimd.LoadFloat32x16((*[16]float32)(q[j:j+16])).MulAdd(u8x16(row[j:j+16]), acc)
		}
		s := sum16(acc)
		for j := full; j < dim; j++ {
			s += q[j] * float32(row[j])
		}
		out[i] = s
	}
}

// pq4AVX512 looks up 16 rows per permute: the low nibbles index the table
// of sub-vector 2p (VPERMPS uses only the low 4 bits of each index), the
// high nibbles, shifted down, that of 2p+1.
func pq4AVX512(tab []float32, blocks []byte, out []float32) {
	m := len(tab) / 16
	bs := 8 * m
	n := len(out)
	var last [16]float32
	for blk := 0; blk*16 < n; blk++ {
		codes := blocks[blk*bs : (blk+1)*bs : (blk+1)*bs]
		var acc0, acc1 archsimd.Float32x16
		for p := 0; p < m/2; p++ {
			idx := archsimd.LoadUint8x16((*[16]uint8)(codes[p*16 : p*16+16])).ExtendToUint32()
			t0 := archsimd.LoadFloat32x16((*[16]float32)(tab[(2*p)*16 : (2*p)*16+16]))
			t1 := archsimd.LoadFloat32x16((*[16]float32)(tab[(2*p+1)*16 : (2*p+1)*16+16]))
			acc0 = acc0.Add(t0.Permute(idx))
			acc1 = acc1.Add(t1.Permute(idx.ShiftAllRight(4)))
		}
		sum := acc0.Add(acc1)
		if blk*16+16 <= n {
			sum.Store((*[16]float32)(out[blk*16 : blk*16+16]))
		} else {
			sum.Store(&last)
			copy(out[blk*16:], last[:])
		}
	}
}

// nearestAVX512 keeps, per lane, the smallest output seen and its index;
// strict comparisons keep the first of equal values, and the final pass over
// the 16 lanes prefers the lower index among equals.
func nearestAVX512(x, cols, bias []float32) (int, float32) {
	k := len(bias)
	full := k &^ 15
	var iota [16]int32
	for i := range iota {
		iota[i] = int32(i)
	}
	lanes := archsimd.LoadInt32x16(&iota)
	best := archsimd.BroadcastFloat32x16(float32(math.Inf(1)))
	var bestIdx archsimd.Int32x16
	take := func(acc archsimd.Float32x16, c int) {
		m := acc.Less(best)
		best = acc.Merge(best, m)
		bestIdx = lanes.Add(archsimd.BroadcastInt32x16(int32(c))).Merge(bestIdx, m)
	}
	c := 0
	for ; c+64 <= full; c += 64 {
		acc0 := archsimd.LoadFloat32x16((*[16]float32)(bias[c : c+16]))
		acc1 := archsimd.LoadFloat32x16((*[16]float32)(bias[c+16 : c+32]))
		acc2 := archsimd.LoadFloat32x16((*[16]float32)(bias[c+32 : c+48]))
		acc3 := archsimd.LoadFloat32x16((*[16]float32)(bias[c+48 : c+64]))
		for j, v := range x {
			col := (*[64]float32)(cols[j*k+c : j*k+c+64])
			b := archsimd.BroadcastFloat32x16(v)
			acc0 = archsimd.LoadFloat32x16((*[16]float32)(col[0:16])).MulAdd(b, acc0)
			acc1 = archsimd.LoadFloat32x16((*[16]float32)(col[16:32])).MulAdd(b, acc1)
			acc2 = archsimd.LoadFloat32x16((*[16]float32)(col[32:48])).MulAdd(b, acc2)
			acc3 = archsimd.LoadFloat32x16((*[16]float32)(col[48:64])).MulAdd(b, acc3)
		}
		take(acc0, c)
		take(acc1, c+16)
		take(acc2, c+32)
		take(acc3, c+48)
	}
	for ; c < full; c += 16 {
		acc := archsimd.LoadFloat32x16((*[16]float32)(bias[c : c+16]))
		for j, v := range x {
			acc = archsimd.LoadFloat32x16((*[16]float32)(cols[j*k+c:j*k+c+16])).MulAdd(archsimd.BroadcastFloat32x16(v), acc)
		}
		take(acc, c)
	}
	var bv [16]float32
	var bi [16]int32
	best.Store(&bv)
	bestIdx.Store(&bi)
	idx, val := -1, float32(math.Inf(1))
	for l := range bv {
		if bv[l] < val || (bv[l] == val && idx >= 0 && int(bi[l]) < idx) {
			idx, val = int(bi[l]), bv[l]
		}
	}
	for c := full; c < k; c++ { // scalar tail, later indices
		s := bias[c]
		for j, v := range x {
			s += v * cols[j*k+c]
		}
		if s < val {
			idx, val = c, s
		}
	}
	if idx < 0 {
		return 0, val
	}
	return idx, val
}
