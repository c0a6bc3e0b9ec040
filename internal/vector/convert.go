package vector

import "math"

// Float16ToFloat32 widens IEEE 754 half-precision values (as stored in Arrow
// float16 arrays) into dst, exactly: every half value is representable in
// float32, subnormals, infinities and NaN payloads included.
func Float16ToFloat32(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = HalfToFloat32(h)
	}
}

// HalfToFloat32 converts one IEEE 754 half-precision value to float32.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch exp {
	case 0:
		// Zero or subnormal: man × 2⁻²⁴, exact in float32.
		v := float32(man) * (1.0 / (1 << 24))
		return math.Float32frombits(math.Float32bits(v) | sign)
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
}
