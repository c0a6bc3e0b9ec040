package pq

import (
	"fmt"

	"github.com/sarissa-db/sarissa/internal/vector"
)

// 4-bit codes. On disk a row's M codes take M/2 bytes: byte b holds
// sub-vector 2b in its low nibble and 2b+1 in its high nibble. For search a
// partition is re-laid out once in memory into blocks of 16 rows
// (Transpose4), which the fast-scan kernel reads 16 rows per instruction.

// PackedRowBytes is the stored size of one row's codes with 4-bit codebooks.
func (c *Codebook) PackedRowBytes() int { return (c.M + 1) / 2 }

// EncodePacked appends the packed 4-bit codes of every row of data to dst.
// The codebook must have 4-bit codes (an even M, as Train enforces).
func (c *Codebook) EncodePacked(dst []byte, data []float32) []byte {
	codes := c.Encode(nil, data)
	return PackNibbles(dst, codes)
}

// PackNibbles appends codes (values < 16, an even count) packed two per byte.
func PackNibbles(dst, codes []byte) []byte {
	for i := 0; i+1 < len(codes); i += 2 {
		dst = append(dst, codes[i]&15|codes[i+1]<<4)
	}
	return dst
}

// Transpose4 turns packed rows (m/2 bytes each) into the fast-scan layout:
// blocks of 16 rows, in which the 16 rows' byte p sit together. The last
// block is padded with zero codes.
func Transpose4(packed []byte, m int) ([]byte, error) {
	rb := m / 2
	if m <= 0 || m%2 != 0 || len(packed)%rb != 0 {
		return nil, fmt.Errorf("%w: %d bytes are not rows of %d 4-bit codes", ErrInvalid, len(packed), m)
	}
	n := len(packed) / rb
	nb := (n + 15) / 16
	out := make([]byte, nb*16*rb)
	for i := 0; i < n; i++ {
		blk := out[(i/16)*16*rb:]
		r := i % 16
		for p, b := range packed[i*rb : (i+1)*rb] {
			blk[p*16+r] = b
		}
	}
	return out, nil
}

// ScanPacked4 writes the approximate distance of each packed row into out.
func (t *Table) ScanPacked4(packed []byte, out []float32) {
	rb := t.M / 2
	tab := t.Dist[:t.M*16]
	for i := range out {
		row := packed[i*rb : (i+1)*rb]
		var s0, s1 float32
		for p, b := range row {
			s0 += tab[(2*p)*16+int(b&15)]
			s1 += tab[(2*p+1)*16+int(b>>4)]
		}
		out[i] = (t.Offset + s0 + s1) * t.Scale
	}
}

// ScanTransposed4 is ScanPacked4 over the output of Transpose4 for n rows.
func (t *Table) ScanTransposed4(blocks []byte, out []float32) {
	vector.PQ4Transposed(t.Dist[:t.M*16], blocks, out)
	if t.Offset != 0 || t.Scale != 1 {
		for i, d := range out {
			out[i] = (t.Offset + d) * t.Scale
		}
	}
}
