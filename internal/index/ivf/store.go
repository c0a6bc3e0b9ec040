package ivf

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"path"

	"github.com/sarissa-db/sarissa/internal/index/hnsw"
	"github.com/sarissa-db/sarissa/internal/index/pq"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// IndexDir is the prefix under a table root that holds Sarissa's own index
// files, outside Lance's _indices so stock Lance never sees them.
const IndexDir = "_sarissa_indices"

// FileKey returns the key of one index segment's file relative to the table
// root: _sarissa_indices/<name>/<uuid>/index.ivf.
func FileKey(name, uuid string) string {
	return path.Join(IndexDir, name, uuid, "index.ivf")
}

// Write streams the partitions 0..NumPartitions()-1 into one index file at
// key. next(p) returns partition p's row addresses and build payload
// (RowBytes per row, as Encode wrote it); only one partition is held at a
// time. For IVF_HNSW_SQ the partition's graph is built here. Returns the
// file size. The object appears only if everything succeeded.
func (m *Model) Write(ctx context.Context, b objstore.Bucket, key string,
	next func(p int) (addrs []uint64, payload []byte, err error)) (int64, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := b.Put(ctx, key, pr)
		pr.CloseWithError(err) // unblock the writer if Put gave up early
		done <- err
	}()
	size, werr := m.writeTo(ctx, pw, next)
	pw.CloseWithError(werr)
	perr := <-done
	if werr != nil {
		return 0, fmt.Errorf("write index %s: %w", key, werr)
	}
	if perr != nil {
		return 0, fmt.Errorf("write index %s: %w", key, perr)
	}
	return size, nil
}

func (m *Model) writeTo(ctx context.Context, w io.Writer, next func(p int) ([]uint64, []byte, error)) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	np := m.NumPartitions()
	parts := make([]PartitionInfo, np)
	rb := m.RowBytes()
	var off int64
	for p := 0; p < np; p++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		addrs, payload, err := next(p)
		if err != nil {
			return 0, fmt.Errorf("partition %d: %w", p, err)
		}
		if len(payload) != len(addrs)*rb {
			return 0, fmt.Errorf("%w: partition %d has %d payload bytes for %d rows of %d", ErrInvalid, p, len(payload), len(addrs), rb)
		}
		stored := payload
		if m.Kind == KindHNSWSQ {
			if stored, err = m.hnswBlock(ctx, payload); err != nil {
				return 0, fmt.Errorf("partition %d: %w", p, err)
			}
		}
		crc := crc32.New(castagnoli)
		mw := io.MultiWriter(bw, crc)
		var a [8]byte
		for _, x := range addrs {
			binary.LittleEndian.PutUint64(a[:], x)
			if _, err := mw.Write(a[:]); err != nil {
				return 0, err
			}
		}
		if _, err := mw.Write(stored); err != nil {
			return 0, err
		}
		if _, err := bw.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32())); err != nil {
			return 0, err
		}
		length := int64(len(addrs))*8 + int64(len(stored)) + 4
		parts[p] = PartitionInfo{Offset: off, Length: length, Rows: int64(len(addrs))}
		off += length
	}
	foot := encodeFooter(m, parts)
	if _, err := bw.Write(foot); err != nil {
		return 0, err
	}
	if _, err := bw.Write(encodeTrailer(len(foot))); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	return off + int64(len(foot)) + trailerSize, nil
}

// hnswBlock turns a partition's float vectors into its stored payload: the
// SQ codes of every row, then the HNSW graph built over the exact vectors.
func (m *Model) hnswBlock(ctx context.Context, payload []byte) ([]byte, error) {
	n := len(payload) / (4 * m.Dim)
	vecs := readFloats(payload, n*m.Dim)
	codes := m.SQ.Encode(make([]byte, 0, n*m.Dim+n*64), vecs)
	if n == 0 {
		return codes, nil
	}
	dist := m.buildDistance(vecs)
	g, err := hnsw.Build(ctx, n, dist, m.HNSW)
	if err != nil {
		return nil, fmt.Errorf("build hnsw graph over %d rows: %w", n, err)
	}
	return g.AppendBinary(codes), nil
}

// buildDistance is the exact distance between two stored rows, as the graph
// construction uses it (vectors are already unit length under cosine).
func (m *Model) buildDistance(vecs []float32) func(i, j int) float32 {
	d := m.Dim
	switch m.Metric {
	case vector.Dot, vector.Cosine:
		return func(i, j int) float32 {
			var out [1]float32
			vector.DotProduct(vecs[i*d:(i+1)*d], vecs[j*d:(j+1)*d], out[:])
			return 1 - out[0]
		}
	}
	return func(i, j int) float32 {
		var out [1]float32
		vector.L2Squared(vecs[i*d:(i+1)*d], vecs[j*d:(j+1)*d], out[:])
		return out[0]
	}
}

// File is an opened index file: the footer is in memory, partitions are
// read on demand with ranged reads.
type File struct {
	model  *Model
	parts  []PartitionInfo
	size   int64
	rows   int64
	bucket objstore.Bucket
	key    string
}

// tailRead is how much of a file's end Open fetches in its first read; most
// footers fit, so opening costs one ranged GET after the Stat.
const tailRead = 256 << 10

// Open reads and validates the footer of the index file at key.
func Open(ctx context.Context, b objstore.Bucket, key string) (*File, error) {
	attrs, err := b.Stat(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", key, err)
	}
	size := attrs.Size
	if size < fixedFooterSize+trailerSize {
		return nil, fmt.Errorf("open index %s: %w: %d bytes", key, ErrCorrupt, size)
	}
	start := max(size-tailRead, 0)
	tail, err := objstore.ReadRange(ctx, b, key, start, size-start)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", key, err)
	}
	flen, err := decodeTrailer(tail[len(tail)-trailerSize:], size)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", key, err)
	}
	footOff := size - trailerSize - flen
	var foot []byte
	if footOff >= start {
		foot = tail[footOff-start : len(tail)-trailerSize]
	} else if foot, err = objstore.ReadRange(ctx, b, key, footOff, flen); err != nil {
		return nil, fmt.Errorf("open index %s: %w", key, err)
	}
	f, err := decodeFooter(foot, footOff)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", key, err)
	}
	var rows int64
	for _, p := range f.parts {
		rows += p.Rows
	}
	return &File{model: f.model, parts: f.parts, size: size, rows: rows, bucket: b, key: key}, nil
}

// Model is the file's model (centroids and quantizer).
func (f *File) Model() *Model { return f.model }

// NumRows is the number of rows the file indexes.
func (f *File) NumRows() int64 { return f.rows }

// Size is the file size in bytes.
func (f *File) Size() int64 { return f.size }

// Partitions describes the partition blocks.
func (f *File) Partitions() []PartitionInfo { return f.parts }

// Partition is one partition decoded for search.
type Partition struct {
	Addrs   []uint64
	Vectors []float32   // IVF_FLAT
	Codes   []byte      // IVF_PQ (8-bit: M per row), IVF_SQ, IVF_HNSW_SQ (Dim per row)
	Blocks  []byte      // IVF_PQ 4-bit: pq.Transpose4 layout
	Graph   *hnsw.Graph // IVF_HNSW_SQ
}

// SizeBytes is the memory the partition holds, for cache accounting.
func (p *Partition) SizeBytes() int64 {
	n := int64(len(p.Addrs))*8 + int64(len(p.Vectors))*4 + int64(len(p.Codes)) + int64(len(p.Blocks)) + 64
	if p.Graph != nil {
		n += p.Graph.SizeBytes()
	}
	return n
}

// ReadPartition reads and decodes partition p.
func (f *File) ReadPartition(ctx context.Context, p int) (*Partition, error) {
	if p < 0 || p >= len(f.parts) {
		return nil, fmt.Errorf("index %s: %w: partition %d of %d", f.key, ErrInvalid, p, len(f.parts))
	}
	info := f.parts[p]
	buf, err := objstore.ReadRange(ctx, f.bucket, f.key, info.Offset, info.Length)
	if err != nil {
		return nil, fmt.Errorf("index %s: read partition %d: %w", f.key, p, err)
	}
	part, err := f.model.decodePartition(buf, info.Rows)
	if err != nil {
		return nil, fmt.Errorf("index %s: partition %d: %w", f.key, p, err)
	}
	return part, nil
}

func (m *Model) decodePartition(buf []byte, rows int64) (*Partition, error) {
	addrs, payload, err := decodeBlock(buf, rows)
	if err != nil {
		return nil, err
	}
	part := &Partition{Addrs: addrs}
	n := int(rows)
	switch m.Kind {
	case KindFlat:
		part.Vectors = readFloats(payload, n*m.Dim)
	case KindPQ:
		if m.Codebook.Bits == 4 {
			if part.Blocks, err = pq.Transpose4(payload, m.Codebook.M); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
			break
		}
		k := m.Codebook.K()
		for i, c := range payload {
			if int(c) >= k {
				return nil, fmt.Errorf("%w: code %d at byte %d exceeds %d codewords", ErrCorrupt, c, i, k)
			}
		}
		part.Codes = append([]byte(nil), payload...)
	case KindSQ:
		part.Codes = append([]byte(nil), payload...)
	case KindHNSWSQ:
		cb := n * m.Dim
		part.Codes = append([]byte(nil), payload[:cb]...)
		if n > 0 {
			if part.Graph, err = hnsw.Decode(payload[cb:], n); err != nil {
				return nil, fmt.Errorf("%w: graph: %v", ErrCorrupt, err)
			}
		} else if len(payload) != cb {
			return nil, fmt.Errorf("%w: %d graph bytes in an empty partition", ErrCorrupt, len(payload)-cb)
		}
	}
	return part, nil
}
