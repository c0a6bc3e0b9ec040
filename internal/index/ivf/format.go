package ivf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/sarissa-db/sarissa/internal/index/hnsw"
	"github.com/sarissa-db/sarissa/internal/index/pq"
	"github.com/sarissa-db/sarissa/internal/index/sq"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// On-disk layout (docs/format/index-ivf.md): one self-checking block per
// partition, written as the build streams them, then a footer holding
// everything a search needs before touching rows (centroids, quantizer,
// partition table), then a fixed trailer giving the footer's length. A
// reader fetches the tail once and then only the partitions it probes.

// Magic ends every index file (and opens its footer).
const Magic = "SRSAIVF\x00"

// Format versions. Readers refuse another major version; minor versions only
// add fields a reader may ignore. Major 2 moved the partition table from a
// header to a footer so that builds can stream.
const (
	FormatMajor = 2
	FormatMinor = 0
)

// Kind is the stored index type.
type Kind uint8

const (
	KindFlat   Kind = 1
	KindPQ     Kind = 2
	KindSQ     Kind = 3
	KindHNSWSQ Kind = 4
)

func (k Kind) String() string {
	switch k {
	case KindFlat:
		return "IVF_FLAT"
	case KindPQ:
		return "IVF_PQ"
	case KindSQ:
		return "IVF_SQ"
	case KindHNSWSQ:
		return "IVF_HNSW_SQ"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

const (
	fixedFooterSize = 8 + 2 + 2 + 4 + 4 + 4 + 4 + 4 // magic, versions, kind/metric/residual/pad, dim, np, m, bits
	trailerSize     = 8 + 8                         // footer length, magic
	partitionEntry  = 24                            // offset, length, rows
)

// Limits a reader enforces before allocating, so a corrupt file cannot ask
// for unbounded memory.
const (
	maxDim        = 1 << 16
	maxPartitions = 1 << 20
	maxFooterSize = 1 << 30
)

// ErrCorrupt reports a damaged or foreign index file.
var ErrCorrupt = errors.New("ivf: corrupt index file")

// ErrUnsupportedVersion reports a file written by an unknown major version.
var ErrUnsupportedVersion = errors.New("ivf: unsupported index format version")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// PartitionInfo locates one partition block.
type PartitionInfo struct {
	Offset, Length, Rows int64
}

// footer is the decoded file footer.
type footer struct {
	major, minor uint16
	model        *Model
	parts        []PartitionInfo
}

func footerSize(kind Kind, dim, np, m, bits int) (int64, error) {
	if dim <= 0 || dim > maxDim {
		return 0, fmt.Errorf("dimension %d out of range", dim)
	}
	if np <= 0 || np > maxPartitions {
		return 0, fmt.Errorf("%d partitions out of range", np)
	}
	size := int64(fixedFooterSize) + int64(np)*int64(dim)*4 + int64(np)*partitionEntry + 4
	switch kind {
	case KindFlat:
		if m != 0 || bits != 0 {
			return 0, fmt.Errorf("IVF_FLAT footer with quantizer fields %d/%d", m, bits)
		}
	case KindPQ:
		if bits != 4 && bits != 8 {
			return 0, fmt.Errorf("num_bits %d", bits)
		}
		if m <= 0 || dim%m != 0 || (bits == 4 && m%2 != 0) {
			return 0, fmt.Errorf("%d sub-vectors of %d bits for dimension %d", m, bits, dim)
		}
		size += int64(1<<bits) * int64(dim) * 4
	case KindSQ:
		if m != 0 || bits != 8 {
			return 0, fmt.Errorf("IVF_SQ footer with fields %d/%d", m, bits)
		}
		size += 8
	case KindHNSWSQ:
		if m < 2 || m > 512 || bits != 8 {
			return 0, fmt.Errorf("IVF_HNSW_SQ footer with m %d, bits %d", m, bits)
		}
		size += 8 + 4
	default:
		return 0, fmt.Errorf("unknown index kind %d", kind)
	}
	if size > maxFooterSize {
		return 0, fmt.Errorf("footer of %d bytes exceeds the %d limit", size, maxFooterSize)
	}
	return size, nil
}

func (m *Model) footerFields() (mm, bits int) {
	switch m.Kind {
	case KindPQ:
		return m.Codebook.M, m.Codebook.Bits
	case KindSQ:
		return 0, 8
	case KindHNSWSQ:
		return m.HNSW.M, 8
	}
	return 0, 0
}

func encodeFooter(m *Model, parts []PartitionInfo) []byte {
	mm, bits := m.footerFields()
	buf := make([]byte, 0, fixedFooterSize+len(m.Centroids)*4+len(parts)*partitionEntry+64)
	buf = append(buf, Magic...)
	buf = binary.LittleEndian.AppendUint16(buf, FormatMajor)
	buf = binary.LittleEndian.AppendUint16(buf, FormatMinor)
	var res byte
	if m.Residual {
		res = 1
	}
	buf = append(buf, byte(m.Kind), byte(m.Metric), res, 0)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(m.Dim))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(parts)))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(mm))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(bits))
	buf = appendFloats(buf, m.Centroids)
	switch m.Kind {
	case KindPQ:
		buf = appendFloats(buf, m.Codebook.Centroids)
	case KindSQ, KindHNSWSQ:
		buf = appendFloats(buf, []float32{m.SQ.Lo, m.SQ.Hi})
		if m.Kind == KindHNSWSQ {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(m.HNSW.EfConstruction))
		}
	}
	for _, p := range parts {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(p.Offset))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(p.Length))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(p.Rows))
	}
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

func encodeTrailer(footerLen int) []byte {
	buf := binary.LittleEndian.AppendUint64(nil, uint64(footerLen))
	return append(buf, Magic...)
}

// decodeTrailer returns the footer length a file's last 16 bytes announce.
func decodeTrailer(buf []byte, fileSize int64) (int64, error) {
	if len(buf) != trailerSize || string(buf[8:]) != Magic {
		return 0, fmt.Errorf("%w: no index trailer", ErrCorrupt)
	}
	n := binary.LittleEndian.Uint64(buf)
	if n < fixedFooterSize || n > maxFooterSize || int64(n) > fileSize-trailerSize {
		return 0, fmt.Errorf("%w: footer length %d in a %d-byte file", ErrCorrupt, n, fileSize)
	}
	return int64(n), nil
}

// decodeFooter parses and checks a footer found at footerOff. It never
// panics on any input.
func decodeFooter(buf []byte, footerOff int64) (*footer, error) {
	if len(buf) < fixedFooterSize || string(buf[:8]) != Magic {
		return nil, fmt.Errorf("%w: bad footer magic", ErrCorrupt)
	}
	le := binary.LittleEndian
	f := &footer{major: le.Uint16(buf[8:]), minor: le.Uint16(buf[10:])}
	if f.major != FormatMajor {
		return nil, fmt.Errorf("%w: major version %d (this reader knows %d)", ErrUnsupportedVersion, f.major, FormatMajor)
	}
	kind, metric := Kind(buf[12]), vector.Metric(buf[13])
	dim, np := int(le.Uint32(buf[16:])), int(le.Uint32(buf[20:]))
	mm, bits := int(le.Uint32(buf[24:])), int(le.Uint32(buf[28:]))
	want, err := footerSize(kind, dim, np, mm, bits)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if int64(len(buf)) != want {
		return nil, fmt.Errorf("%w: footer of %d bytes, fields imply %d", ErrCorrupt, len(buf), want)
	}
	if got, sum := le.Uint32(buf[want-4:]), crc32.Checksum(buf[:want-4], castagnoli); got != sum {
		return nil, fmt.Errorf("%w: footer checksum %08x, computed %08x", ErrCorrupt, got, sum)
	}
	switch metric {
	case vector.L2, vector.Cosine, vector.Dot:
	default:
		return nil, fmt.Errorf("%w: metric %d", ErrCorrupt, buf[13])
	}
	residual := buf[14] == 1
	if buf[14] > 1 || (residual && (kind != KindPQ || metric != vector.L2)) {
		return nil, fmt.Errorf("%w: residual flag %d for %v/%v", ErrCorrupt, buf[14], kind, metric)
	}
	m := &Model{Kind: kind, Metric: metric, Dim: dim, Residual: residual}
	pos := fixedFooterSize
	m.Quantizer = Quantizer{Metric: metric, Dim: dim, Centroids: readFloats(buf[pos:], np*dim)}
	pos += np * dim * 4
	switch kind {
	case KindPQ:
		k := 1 << bits
		m.Codebook = &pq.Codebook{Dim: dim, M: mm, SubDim: dim / mm, Bits: bits, Centroids: readFloats(buf[pos:], k*dim)}
		pos += k * dim * 4
	case KindSQ, KindHNSWSQ:
		r := readFloats(buf[pos:], 2)
		pos += 8
		if !(r[0] <= r[1]) || math.IsInf(float64(r[0]), 0) || math.IsInf(float64(r[1]), 0) {
			return nil, fmt.Errorf("%w: scalar quantizer range [%v, %v]", ErrCorrupt, r[0], r[1])
		}
		m.SQ = &sq.Quantizer{Lo: r[0], Hi: r[1]}
		if kind == KindHNSWSQ {
			m.HNSW = hnsw.Params{M: mm, EfConstruction: int(le.Uint32(buf[pos:]))}
			pos += 4
		}
	}
	f.model = m
	f.parts = make([]PartitionInfo, np)
	next := int64(0)
	srb := int64(m.storedRowBytes())
	for p := range f.parts {
		off, length, rows := le.Uint64(buf[pos:]), le.Uint64(buf[pos+8:]), le.Uint64(buf[pos+16:])
		pos += partitionEntry
		if off != uint64(next) {
			return nil, fmt.Errorf("%w: partition %d at offset %d, expected %d", ErrCorrupt, p, off, next)
		}
		if length > uint64(footerOff) || rows > length/uint64(8+srb) {
			return nil, fmt.Errorf("%w: partition %d claims %d rows in %d bytes", ErrCorrupt, p, rows, length)
		}
		minLen := int64(rows)*(8+srb) + 4
		if int64(length) < minLen || (kind != KindHNSWSQ && int64(length) != minLen) {
			return nil, fmt.Errorf("%w: partition %d of %d rows has %d bytes", ErrCorrupt, p, rows, length)
		}
		f.parts[p] = PartitionInfo{Offset: int64(off), Length: int64(length), Rows: int64(rows)}
		next += int64(length)
		if next > footerOff {
			return nil, fmt.Errorf("%w: partition %d ends at %d, past the footer at %d", ErrCorrupt, p, next, footerOff)
		}
	}
	if next != footerOff {
		return nil, fmt.Errorf("%w: partitions end at %d, footer starts at %d", ErrCorrupt, next, footerOff)
	}
	return f, nil
}

func appendFloats(buf []byte, v []float32) []byte {
	for _, x := range v {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
	}
	return buf
}

func putFloats(dst []byte, v []float32) {
	for i, x := range v {
		binary.LittleEndian.PutUint32(dst[i*4:], math.Float32bits(x))
	}
}

func readFloats(buf []byte, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[i*4:]))
	}
	return out
}

// decodeBlock checks a partition block and splits it into addresses and the
// raw payload.
func decodeBlock(buf []byte, rows int64) ([]uint64, []byte, error) {
	if int64(len(buf)) < rows*8+4 {
		return nil, nil, fmt.Errorf("%w: block of %d bytes for %d rows", ErrCorrupt, len(buf), rows)
	}
	n := len(buf) - 4
	if got, want := binary.LittleEndian.Uint32(buf[n:]), crc32.Checksum(buf[:n], castagnoli); got != want {
		return nil, nil, fmt.Errorf("%w: block checksum %08x, computed %08x", ErrCorrupt, got, want)
	}
	addrs := make([]uint64, rows)
	for i := range addrs {
		addrs[i] = binary.LittleEndian.Uint64(buf[i*8:])
	}
	return addrs, buf[rows*8 : n], nil
}
