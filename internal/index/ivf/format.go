package ivf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/sarissa-db/sarissa/internal/index/pq"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// On-disk layout (docs/format/index-ivf.md): a header holding everything a
// search needs before touching rows (centroids, PQ codebook, partition
// table), then one self-checking block per partition so a reader fetches
// only the partitions it probes.

// Magic opens every index file.
const Magic = "SRSAIVF\x00"

// Format versions. Readers refuse another major version; minor versions only
// add fields a reader may ignore.
const (
	FormatMajor = 1
	FormatMinor = 0
)

// Kind is the stored index type.
type Kind uint8

const (
	KindFlat Kind = 1
	KindPQ   Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindFlat:
		return "IVF_FLAT"
	case KindPQ:
		return "IVF_PQ"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Fixed part of the header, in bytes; see the doc for the field list.
const fixedHeaderSize = 8 + 2 + 2 + 4 + 4 + 4 + 4 + 4 + 8

// Limits a reader enforces before allocating, so a corrupt header cannot ask
// for unbounded memory.
const (
	maxDim        = 1 << 16
	maxPartitions = 1 << 20
	maxHeaderSize = 1 << 30
)

// ErrCorrupt reports a damaged or foreign index file.
var ErrCorrupt = errors.New("ivf: corrupt index file")

// ErrUnsupportedVersion reports a file written by an unknown major version.
var ErrUnsupportedVersion = errors.New("ivf: unsupported index format version")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// PartitionInfo locates one partition block.
type PartitionInfo struct {
	Offset int64
	Rows   int64
}

// Header is the decoded file header.
type Header struct {
	Major, Minor uint16
	Kind         Kind
	Metric       vector.Metric
	Residual     bool
	Dim          int
	Quantizer    Quantizer
	Codebook     *pq.Codebook // KindPQ only
	Partitions   []PartitionInfo
	Size         int64 // header bytes including its checksum
}

// RowBytes is the payload size of one row in a partition block.
func (h *Header) RowBytes() int64 {
	if h.Kind == KindPQ {
		return int64(h.Codebook.M)
	}
	return int64(h.Dim) * 4
}

// BlockSize is the byte length of partition p's block.
func (h *Header) BlockSize(p int) int64 {
	return h.Partitions[p].Rows*(8+h.RowBytes()) + 4
}

func encodeHeader(h *Header) []byte {
	np := h.Quantizer.NumPartitions()
	var m, bits int
	if h.Codebook != nil {
		m, bits = h.Codebook.M, h.Codebook.Bits
	}
	buf := make([]byte, 0, h.Size)
	buf = append(buf, Magic...)
	buf = binary.LittleEndian.AppendUint16(buf, FormatMajor)
	buf = binary.LittleEndian.AppendUint16(buf, FormatMinor)
	var res byte
	if h.Residual {
		res = 1
	}
	buf = append(buf, byte(h.Kind), byte(h.Metric), res, 0)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(h.Dim))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(np))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(m))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(bits))
	buf = binary.LittleEndian.AppendUint64(buf, uint64(h.Size))
	buf = appendFloats(buf, h.Quantizer.Centroids)
	if h.Codebook != nil {
		buf = appendFloats(buf, h.Codebook.Centroids)
	}
	for _, p := range h.Partitions {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(p.Offset))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(p.Rows))
	}
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

func appendFloats(buf []byte, v []float32) []byte {
	for _, x := range v {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
	}
	return buf
}

// headerSize computes the full header length from its fixed fields, or
// reports that they are out of range.
func headerSize(kind Kind, dim, np, m, bits int) (int64, error) {
	if dim <= 0 || dim > maxDim {
		return 0, fmt.Errorf("dimension %d out of range", dim)
	}
	if np <= 0 || np > maxPartitions {
		return 0, fmt.Errorf("%d partitions out of range", np)
	}
	size := int64(fixedHeaderSize) + int64(np)*int64(dim)*4 + int64(np)*16 + 4
	switch kind {
	case KindFlat:
		if m != 0 || bits != 0 {
			return 0, fmt.Errorf("IVF_FLAT header with PQ fields %d/%d", m, bits)
		}
	case KindPQ:
		if bits != 4 && bits != 8 {
			return 0, fmt.Errorf("num_bits %d", bits)
		}
		if m <= 0 || dim%m != 0 {
			return 0, fmt.Errorf("%d sub-vectors for dimension %d", m, dim)
		}
		size += int64(1<<bits) * int64(dim) * 4
	default:
		return 0, fmt.Errorf("unknown index kind %d", kind)
	}
	if size > maxHeaderSize {
		return 0, fmt.Errorf("header of %d bytes exceeds the %d limit", size, maxHeaderSize)
	}
	return size, nil
}

// PeekHeaderSize validates the fixed header prefix (at least fixedHeaderSize
// bytes) and returns the total header length it announces.
func PeekHeaderSize(prefix []byte) (int64, error) {
	if len(prefix) < fixedHeaderSize {
		return 0, fmt.Errorf("%w: %d bytes, shorter than the %d-byte fixed header", ErrCorrupt, len(prefix), fixedHeaderSize)
	}
	if string(prefix[:8]) != Magic {
		return 0, fmt.Errorf("%w: bad magic %q", ErrCorrupt, prefix[:8])
	}
	major := binary.LittleEndian.Uint16(prefix[8:])
	if major != FormatMajor {
		return 0, fmt.Errorf("%w: major version %d (this reader knows %d)", ErrUnsupportedVersion, major, FormatMajor)
	}
	le := binary.LittleEndian
	kind := Kind(prefix[12])
	dim, np := int(le.Uint32(prefix[16:])), int(le.Uint32(prefix[20:]))
	m, bits := int(le.Uint32(prefix[24:])), int(le.Uint32(prefix[28:]))
	want, err := headerSize(kind, dim, np, m, bits)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if got := int64(le.Uint64(prefix[32:])); got != want {
		return 0, fmt.Errorf("%w: header length field %d, fields imply %d", ErrCorrupt, got, want)
	}
	return want, nil
}

// DecodeHeader parses a complete header from buf, checking it against the
// size of the file it came from. It never panics on any input.
func DecodeHeader(buf []byte, fileSize int64) (*Header, error) {
	size, err := PeekHeaderSize(buf)
	if err != nil {
		return nil, err
	}
	if int64(len(buf)) < size {
		return nil, fmt.Errorf("%w: header needs %d bytes, have %d", ErrCorrupt, size, len(buf))
	}
	buf = buf[:size]
	if got, want := binary.LittleEndian.Uint32(buf[size-4:]), crc32.Checksum(buf[:size-4], castagnoli); got != want {
		return nil, fmt.Errorf("%w: header checksum %08x, computed %08x", ErrCorrupt, got, want)
	}
	le := binary.LittleEndian
	h := &Header{
		Major: le.Uint16(buf[8:]), Minor: le.Uint16(buf[10:]),
		Kind: Kind(buf[12]), Metric: vector.Metric(buf[13]), Residual: buf[14] == 1,
		Dim: int(le.Uint32(buf[16:])), Size: size,
	}
	switch h.Metric {
	case vector.L2, vector.Cosine, vector.Dot:
	default:
		return nil, fmt.Errorf("%w: metric %d", ErrCorrupt, buf[13])
	}
	if buf[14] > 1 || (h.Residual && (h.Kind != KindPQ || h.Metric != vector.L2)) {
		return nil, fmt.Errorf("%w: residual flag %d for %v/%v", ErrCorrupt, buf[14], h.Kind, h.Metric)
	}
	np := int(le.Uint32(buf[20:]))
	m, bits := int(le.Uint32(buf[24:])), int(le.Uint32(buf[28:]))
	pos := fixedHeaderSize
	h.Quantizer = Quantizer{Metric: h.Metric, Dim: h.Dim, Centroids: readFloats(buf[pos:], np*h.Dim)}
	pos += np * h.Dim * 4
	if h.Kind == KindPQ {
		k := 1 << bits
		h.Codebook = &pq.Codebook{Dim: h.Dim, M: m, SubDim: h.Dim / m, Bits: bits, Centroids: readFloats(buf[pos:], k*h.Dim)}
		pos += k * h.Dim * 4
	}
	h.Partitions = make([]PartitionInfo, np)
	next := size
	for p := range h.Partitions {
		off, rows := le.Uint64(buf[pos:]), le.Uint64(buf[pos+8:])
		pos += 16
		if off != uint64(next) {
			return nil, fmt.Errorf("%w: partition %d at offset %d, expected %d", ErrCorrupt, p, off, next)
		}
		if rows > uint64(fileSize)/uint64(8+h.RowBytes()) {
			return nil, fmt.Errorf("%w: partition %d claims %d rows in a %d-byte file", ErrCorrupt, p, rows, fileSize)
		}
		h.Partitions[p] = PartitionInfo{Offset: int64(off), Rows: int64(rows)}
		next += h.BlockSize(p)
		if next > fileSize {
			return nil, fmt.Errorf("%w: partition %d ends at %d, past the file end %d", ErrCorrupt, p, next, fileSize)
		}
	}
	if next != fileSize {
		return nil, fmt.Errorf("%w: partitions end at %d, file has %d bytes", ErrCorrupt, next, fileSize)
	}
	return h, nil
}

func readFloats(buf []byte, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[i*4:]))
	}
	return out
}

func encodeBlock(addrs []uint64, payload []byte) []byte {
	buf := make([]byte, 0, len(addrs)*8+len(payload)+4)
	for _, a := range addrs {
		buf = binary.LittleEndian.AppendUint64(buf, a)
	}
	buf = append(buf, payload...)
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
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
