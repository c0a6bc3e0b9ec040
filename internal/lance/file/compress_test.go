package file

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

func TestCodecs(t *testing.T) {
	var c codecs
	c.maxBytes = 1 << 20
	in := bytes.Repeat([]byte("lance lance lance "), 200)

	framed, err := compress("zstd", nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint64(framed) != uint64(len(in)) {
		t.Error("zstd output lacks Lance's length prefix")
	}
	// A bare zstd frame, as older Lance writers produced.
	enc, _ := zstd.NewWriter(nil)
	bare := enc.EncodeAll(in, nil)
	enc.Close()
	// LZ4 block with a 4-byte length prefix.
	lz := make([]byte, 4+lz4.CompressBlockBound(len(in)))
	binary.LittleEndian.PutUint32(lz, uint32(len(in)))
	n, err := lz4.CompressBlock(in, lz[4:], nil)
	if err != nil || n == 0 {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		scheme string
		b      []byte
	}{"zstd framed": {"zstd", framed}, "zstd bare": {"zstd", bare}, "lz4": {"lz4", lz[:4+n]}, "none": {"none", in}} {
		out, err := c.decompress(tc.scheme, tc.b, uint64(len(in)))
		if err != nil || !bytes.Equal(out, in) {
			t.Errorf("%s: %v (%d bytes)", name, err, len(out))
		}
		if tc.scheme != "none" {
			if _, err := c.decompress(tc.scheme, tc.b, uint64(len(in)-1)); err == nil {
				t.Errorf("%s: limit not enforced", name)
			}
			if _, err := c.decompress(tc.scheme, tc.b[:len(tc.b)/2], uint64(len(in))); err == nil {
				t.Errorf("%s: truncated input accepted", name)
			}
		}
	}
	if _, err := c.decompress("brotli", in, 10); err == nil {
		t.Error("unknown scheme accepted")
	}
}
