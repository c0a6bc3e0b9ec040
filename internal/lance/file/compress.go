package file

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// General compression of a Flat buffer (Lance 2.0 applies it to string bytes
// when a field's metadata asks for "lance-encoding:compression").
//
//   - zstd: an 8-byte little-endian uncompressed length followed by a zstd
//     stream; older writers stored a bare zstd frame, recognised by its magic.
//   - lz4: a 4-byte little-endian uncompressed length followed by an LZ4 block.

const zstdMagic = 0xFD2FB528

// codecs holds decoders shared by all reads of one Reader; zstd decoders are
// expensive to create and safe for concurrent DecodeAll.
type codecs struct {
	once     sync.Once
	maxBytes uint64 // bounds any single decompression (zstd bombs)
	zstd     *zstd.Decoder
	err      error
}

func (c *codecs) zstdDecoder() (*zstd.Decoder, error) {
	c.once.Do(func() {
		c.zstd, c.err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(max(c.maxBytes, 1<<20)))
	})
	return c.zstd, c.err
}

// decompress undoes Lance's general compression. limit bounds the output.
func (c *codecs) decompress(scheme string, b []byte, limit uint64) ([]byte, error) {
	switch scheme {
	case "", "none":
		return b, nil
	case "zstd":
		if len(b) == 0 {
			return nil, nil
		}
		d, err := c.zstdDecoder()
		if err != nil {
			return nil, err
		}
		if isZstdFrame(b) {
			out, err := d.DecodeAll(b, nil)
			if err != nil {
				return nil, fmt.Errorf("zstd: %w", err)
			}
			if uint64(len(out)) > limit {
				return nil, fmt.Errorf("zstd: %d bytes decompressed, more than the %d expected", len(out), limit)
			}
			return out, nil
		}
		if len(b) < 8 {
			return nil, fmt.Errorf("zstd: %d-byte buffer has no length prefix", len(b))
		}
		n := binary.LittleEndian.Uint64(b)
		if n > limit {
			return nil, fmt.Errorf("zstd: length prefix %d exceeds the %d expected", n, limit)
		}
		out, err := d.DecodeAll(b[8:], make([]byte, 0, n))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		if uint64(len(out)) != n {
			return nil, fmt.Errorf("zstd: got %d bytes, length prefix says %d", len(out), n)
		}
		return out, nil
	case "lz4":
		if len(b) < 4 {
			return nil, fmt.Errorf("lz4: %d-byte buffer has no length prefix", len(b))
		}
		n := uint64(binary.LittleEndian.Uint32(b))
		if n > limit {
			return nil, fmt.Errorf("lz4: length prefix %d exceeds the %d expected", n, limit)
		}
		out := make([]byte, n)
		got, err := lz4.UncompressBlock(b[4:], out)
		if err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		if uint64(got) != n {
			return nil, fmt.Errorf("lz4: got %d bytes, length prefix says %d", got, n)
		}
		return out, nil
	}
	return nil, fmt.Errorf("compression scheme %q is not supported", scheme)
}

// isZstdFrame mirrors Lance's test for a bare zstd frame: the magic number
// and a clear reserved bit in the frame header descriptor.
func isZstdFrame(b []byte) bool {
	if len(b) < 8 {
		return true
	}
	return binary.LittleEndian.Uint32(b) == zstdMagic && b[4]&0x10 == 0
}

// compress applies Lance's zstd compression for the writer (the only
// scheme the writer offers; lz4 is read-only).
func compress(scheme string, level *int32, b []byte) ([]byte, error) {
	switch scheme {
	case "zstd":
		lvl := zstd.SpeedDefault
		if level != nil && *level > 0 {
			lvl = zstd.EncoderLevelFromZstd(int(*level))
		}
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(lvl), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer enc.Close()
		out := binary.LittleEndian.AppendUint64(make([]byte, 0, 8+len(b)/2), uint64(len(b)))
		return enc.EncodeAll(b, out), nil
	}
	return nil, fmt.Errorf("compression scheme %q is not supported", scheme)
}
