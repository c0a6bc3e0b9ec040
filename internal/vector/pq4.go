package vector

import "fmt"

// PQ4Transposed is the scan of 4-bit product-quantization codes ("fast
// scan"): rows come in blocks of 16, and inside a block the byte holding
// sub-vectors 2p (low nibble) and 2p+1 (high nibble) of all 16 rows is
// stored together, 16 bytes per pair. With 16 codewords a sub-vector's
// distance table fits one 16-lane register, so a lane-wise permute looks up
// 16 rows at once.
//
// tab holds m rows of 16 distances (m = len(tab)/16, even); blocks holds
// ceil(len(out)/16) blocks of 8·m bytes; out receives the summed distance of
// each of the len(out) rows (padding rows of the last block are dropped).
func PQ4Transposed(tab []float32, blocks []byte, out []float32) {
	m := len(tab) / 16
	nb := (len(out) + 15) / 16
	if len(tab)%16 != 0 || m%2 != 0 || len(blocks) != nb*8*m {
		panic(fmt.Sprintf("vector: pq4 scan of %d table values and %d code bytes for %d rows", len(tab), len(blocks), len(out)))
	}
	if len(out) == 0 {
		return
	}
	active.pq4(tab, blocks, out)
}

func pq4Portable(tab []float32, blocks []byte, out []float32) {
	m := len(tab) / 16
	bs := 8 * m
	for i := range out {
		blk := blocks[(i/16)*bs : (i/16+1)*bs]
		r := i % 16
		var s float32
		for p := 0; p < m/2; p++ {
			b := blk[p*16+r]
			s += tab[(2*p)*16+int(b&15)] + tab[(2*p+1)*16+int(b>>4)]
		}
		out[i] = s
	}
}
