package ivf

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"path"

	"github.com/sarissa-db/sarissa/internal/objstore"
)

// IndexDir is the prefix under a table root that holds Sarissa's own index
// files, outside Lance's _indices so stock Lance never sees them.
const IndexDir = "_sarissa_indices"

// FileKey returns the key of one index version's file relative to the table
// root: _sarissa_indices/<name>/<uuid>/index.ivf.
func FileKey(name, uuid string) string {
	return path.Join(IndexDir, name, uuid, "index.ivf")
}

// WriteFlat stores an IVF_FLAT index at key.
func WriteFlat(ctx context.Context, b objstore.Bucket, key string, ix *Flat) error {
	h := &Header{Kind: KindFlat, Metric: ix.Metric, Dim: ix.Dim, Quantizer: ix.Quantizer}
	blocks := make([][]byte, len(ix.Parts))
	for i, p := range ix.Parts {
		payload := make([]byte, 0, len(p.Vectors)*4)
		payload = appendFloats(payload, p.Vectors)
		blocks[i] = encodeBlock(p.Addrs, payload)
	}
	return write(ctx, b, key, h, blocks, func(i int) int64 { return int64(len(ix.Parts[i].Addrs)) })
}

// WritePQ stores an IVF_PQ index at key.
func WritePQ(ctx context.Context, b objstore.Bucket, key string, ix *PQIndex) error {
	h := &Header{Kind: KindPQ, Metric: ix.Metric, Residual: ix.Residual, Dim: ix.Dim, Quantizer: ix.Quantizer, Codebook: ix.Codebook}
	blocks := make([][]byte, len(ix.Parts))
	for i, p := range ix.Parts {
		blocks[i] = encodeBlock(p.Addrs, p.Codes)
	}
	return write(ctx, b, key, h, blocks, func(i int) int64 { return int64(len(ix.Parts[i].Addrs)) })
}

func write(ctx context.Context, b objstore.Bucket, key string, h *Header, blocks [][]byte, rows func(int) int64) error {
	var m, bits int
	if h.Codebook != nil {
		m, bits = h.Codebook.M, h.Codebook.Bits
	}
	size, err := headerSize(h.Kind, h.Dim, len(blocks), m, bits)
	if err != nil {
		return fmt.Errorf("write index %s: %w: %v", key, ErrInvalid, err)
	}
	h.Size = size
	off := size
	h.Partitions = make([]PartitionInfo, len(blocks))
	for i, blk := range blocks {
		h.Partitions[i] = PartitionInfo{Offset: off, Rows: rows(i)}
		off += int64(len(blk))
	}
	var buf bytes.Buffer
	buf.Grow(int(off))
	buf.Write(encodeHeader(h))
	for _, blk := range blocks {
		buf.Write(blk)
	}
	if err := b.Put(ctx, key, &buf); err != nil {
		return fmt.Errorf("write index %s: %w", key, err)
	}
	return nil
}

// File is an opened index file: the header is in memory, partitions are
// read on demand with ranged reads.
type File struct {
	Header
	bucket objstore.Bucket
	key    string
}

// Open reads and validates the header of the index file at key.
func Open(ctx context.Context, b objstore.Bucket, key string) (*File, error) {
	attrs, err := b.Stat(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", key, err)
	}
	if attrs.Size < fixedHeaderSize {
		return nil, fmt.Errorf("open index %s: %w: %d bytes", key, ErrCorrupt, attrs.Size)
	}
	prefix, err := objstore.ReadRange(ctx, b, key, 0, fixedHeaderSize)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", key, err)
	}
	size, err := PeekHeaderSize(prefix)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", key, err)
	}
	if size > attrs.Size {
		return nil, fmt.Errorf("open index %s: %w: header of %d bytes in a %d-byte file", key, ErrCorrupt, size, attrs.Size)
	}
	buf, err := objstore.ReadRange(ctx, b, key, 0, size)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", key, err)
	}
	h, err := DecodeHeader(buf, attrs.Size)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", key, err)
	}
	return &File{Header: *h, bucket: b, key: key}, nil
}

func (f *File) block(ctx context.Context, p int) ([]uint64, []byte, error) {
	if p < 0 || p >= len(f.Partitions) {
		return nil, nil, fmt.Errorf("index %s: %w: partition %d of %d", f.key, ErrInvalid, p, len(f.Partitions))
	}
	buf, err := objstore.ReadRange(ctx, f.bucket, f.key, f.Partitions[p].Offset, f.BlockSize(p))
	if err != nil {
		return nil, nil, fmt.Errorf("index %s: read partition %d: %w", f.key, p, err)
	}
	addrs, payload, err := decodeBlock(buf, f.Partitions[p].Rows)
	if err != nil {
		return nil, nil, fmt.Errorf("index %s: partition %d: %w", f.key, p, err)
	}
	return addrs, payload, nil
}

// LoadFlatPartition reads partition p of an IVF_FLAT file.
func (f *File) LoadFlatPartition(ctx context.Context, p int) (FlatPartition, error) {
	if f.Kind != KindFlat {
		return FlatPartition{}, fmt.Errorf("index %s: %w: %v file has no flat partitions", f.key, ErrInvalid, f.Kind)
	}
	addrs, payload, err := f.block(ctx, p)
	if err != nil {
		return FlatPartition{}, err
	}
	vecs := make([]float32, len(payload)/4)
	for i := range vecs {
		vecs[i] = math.Float32frombits(binary.LittleEndian.Uint32(payload[i*4:]))
	}
	return FlatPartition{Addrs: addrs, Vectors: vecs}, nil
}

// LoadPQPartition reads partition p of an IVF_PQ file, rejecting codes
// outside the codebook (they would index past the distance table).
func (f *File) LoadPQPartition(ctx context.Context, p int) (PQPartition, error) {
	if f.Kind != KindPQ {
		return PQPartition{}, fmt.Errorf("index %s: %w: %v file has no PQ partitions", f.key, ErrInvalid, f.Kind)
	}
	addrs, payload, err := f.block(ctx, p)
	if err != nil {
		return PQPartition{}, err
	}
	k := f.Codebook.K()
	for i, c := range payload {
		if int(c) >= k {
			return PQPartition{}, fmt.Errorf("index %s: partition %d: %w: code %d at byte %d exceeds %d codewords", f.key, p, ErrCorrupt, c, i, k)
		}
	}
	return PQPartition{Addrs: addrs, Codes: append([]byte(nil), payload...)}, nil
}

// LoadFlat reads every partition of an IVF_FLAT file into memory.
func (f *File) LoadFlat(ctx context.Context) (*Flat, error) {
	ix := &Flat{Quantizer: f.Quantizer, Parts: make([]FlatPartition, len(f.Partitions))}
	for p := range ix.Parts {
		part, err := f.LoadFlatPartition(ctx, p)
		if err != nil {
			return nil, err
		}
		ix.Parts[p] = part
	}
	return ix, nil
}

// LoadPQ reads every partition of an IVF_PQ file into memory.
func (f *File) LoadPQ(ctx context.Context) (*PQIndex, error) {
	ix := &PQIndex{Quantizer: f.Quantizer, Codebook: f.Codebook, Residual: f.Residual, Parts: make([]PQPartition, len(f.Partitions))}
	for p := range ix.Parts {
		part, err := f.LoadPQPartition(ctx, p)
		if err != nil {
			return nil, err
		}
		ix.Parts[p] = part
	}
	return ix, nil
}
