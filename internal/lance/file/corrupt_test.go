package file

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/proto"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/encpb"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/file2pb"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/filepb"
	"github.com/sarissa-db/sarissa/internal/lance/schema"
)

// smallFile writes a file with a few columns of every kind over several pages.
func smallFile(t testing.TB, rows int) []byte {
	t.Helper()
	as := arrow.NewSchema([]arrow.Field{
		nullable("i", arrow.PrimitiveTypes.Int32),
		nullable("s", arrow.BinaryTypes.String),
		nullable("cat", arrow.BinaryTypes.String),
		nullable("vec", arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Float32)),
		nullable("l", arrow.ListOf(arrow.BinaryTypes.LargeString)),
		nullable("st", arrow.StructOf(nullable("b", arrow.FixedWidthTypes.Boolean))),
	}, nil)
	ls, err := schema.FromArrow(as, 0)
	if err != nil {
		t.Fatal(err)
	}
	as, _ = ls.ToArrow()
	rec := makeBatch(7, memory.DefaultAllocator, as, rows)
	defer rec.Release()
	data, _ := writeFile(t, ls, []arrow.RecordBatch{rec}, WriterOptions{PageSize: 512})
	return data
}

// parsed is a file split into its data section and decoded metadata, so
// tests can change the metadata and reassemble a file.
type parsed struct {
	data  []byte
	fd    *filepb.FileDescriptor
	cols  []*file2pb.ColumnMetadata
	major uint16
	minor uint16
}

func parseFile(t *testing.T, b []byte) *parsed {
	t.Helper()
	f, err := parseFooter(b[len(b)-footerLen:], uint64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	u64 := func(off uint64) uint64 { return binary.LittleEndian.Uint64(b[off:]) }
	gb0, gb0n := u64(f.gboStart), u64(f.gboStart+8)
	p := &parsed{data: b[:gb0], fd: &filepb.FileDescriptor{}, major: f.major, minor: f.minor}
	if err := proto.Unmarshal(b[gb0:gb0+gb0n], p.fd); err != nil {
		t.Fatal(err)
	}
	for i := range uint64(f.numColumns) {
		off, n := u64(f.cmoStart+16*i), u64(f.cmoStart+16*i+8)
		cm := &file2pb.ColumnMetadata{}
		if err := proto.Unmarshal(b[off:off+n], cm); err != nil {
			t.Fatal(err)
		}
		p.cols = append(p.cols, cm)
	}
	return p
}

func (p *parsed) bytes(t *testing.T) []byte {
	t.Helper()
	out := bytes.Clone(p.data)
	fd, err := proto.Marshal(p.fd)
	if err != nil {
		t.Fatal(err)
	}
	gb0 := uint64(len(out))
	out = append(out, fd...)
	cmStart := uint64(len(out))
	var cmo []uint64
	for _, cm := range p.cols {
		b, err := proto.Marshal(cm)
		if err != nil {
			t.Fatal(err)
		}
		cmo = append(cmo, uint64(len(out)), uint64(len(b)))
		out = append(out, b...)
	}
	cmoStart := uint64(len(out))
	for _, v := range cmo {
		out = binary.LittleEndian.AppendUint64(out, v)
	}
	gboStart := uint64(len(out))
	out = binary.LittleEndian.AppendUint64(out, gb0)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(fd)))
	return append(out, footer{cmStart, cmoStart, gboStart, 1, uint32(len(p.cols)), p.major, p.minor}.marshal()...)
}

func setPageEncoding(t *testing.T, pg *file2pb.ColumnMetadata_Page, enc *encpb.ArrayEncoding) {
	raw, err := marshalAny(arrayEncodingURL, enc)
	if err != nil {
		t.Fatal(err)
	}
	pg.Encoding = &file2pb.Encoding{Location: &file2pb.Encoding_Direct{Direct: &file2pb.DirectEncoding{Encoding: raw}}}
}

// openAndRead opens b and reads every row; it returns the first error.
func openAndRead(b []byte, opts ReaderOptions) error {
	ctx := context.Background()
	r, err := Open(ctx, ReaderAtSource{bytes.NewReader(b)}, int64(len(b)), opts)
	if err != nil {
		return err
	}
	rec, err := r.Read(ctx, nil, 0, min(r.NumRows(), 2000))
	if err != nil {
		return err
	}
	rec.Release()
	if r.NumRows() > 2 {
		rec, err = r.Take(ctx, nil, []uint64{0, 1, uint64(r.NumRows() - 1)})
		if err != nil {
			return err
		}
		rec.Release()
	}
	return nil
}

func TestCorruptFilesGiveErrors(t *testing.T) {
	good := smallFile(t, 300)
	if err := openAndRead(good, ReaderOptions{}); err != nil {
		t.Fatal(err)
	}
	const path = "data/abc.lance"
	cases := []struct {
		name    string
		file    func(t *testing.T) []byte
		kind    error
		message string // exact, or a prefix ending in "..."
	}{
		{"empty", func(*testing.T) []byte { return nil }, ErrCorrupt,
			"lance file data/abc.lance: footer: file has 0 bytes, shorter than the 40-byte footer"},
		{"bad magic", func(*testing.T) []byte {
			b := bytes.Clone(good)
			copy(b[len(b)-4:], "XXXX")
			return b
		}, ErrCorrupt, `lance file data/abc.lance: footer: bad magic "XXXX"`},
		{"version 2.1", func(t *testing.T) []byte {
			p := parseFile(t, good)
			p.major, p.minor = 2, 1
			return p.bytes(t)
		}, ErrUnsupported, "lance file data/abc.lance: footer: file format version 2.1 is not supported (only 2.0, footer version 0.3)"},
		{"legacy", func(t *testing.T) []byte {
			p := parseFile(t, good)
			p.major, p.minor = 0, 2
			return p.bytes(t)
		}, ErrUnsupported, "lance file data/abc.lance: footer: legacy Lance file format..."},
		{"truncated head", func(*testing.T) []byte { return good[1000:] }, ErrCorrupt, "lance file data/abc.lance: ..."},
		{"buffer past end", func(t *testing.T) []byte {
			p := parseFile(t, good)
			p.cols[3].Pages[0].BufferOffsets[0] = uint64(len(good)) + 100
			b := p.bytes(t)
			return b
		}, ErrCorrupt, "lance file data/abc.lance: column 3 page 0: buffer 0 range [..."},
		{"sizes mismatch", func(t *testing.T) []byte {
			p := parseFile(t, good)
			p.cols[0].Pages[1].BufferSizes = nil
			return p.bytes(t)
		}, ErrCorrupt, "lance file data/abc.lance: column 0 page 1: 2 buffer offsets but 0 sizes"},
		{"unsupported encoding", func(t *testing.T) []byte {
			p := parseFile(t, good)
			setPageEncoding(t, p.cols[0].Pages[0], &encpb.ArrayEncoding{ArrayEncoding: &encpb.ArrayEncoding_Bitpacked{Bitpacked: &encpb.Bitpacked{}}})
			return p.bytes(t)
		}, ErrUnsupported, "lance file data/abc.lance: column 0 page 0: bitpacked encoding for type int32 is not supported"},
		{"fsst strings", func(t *testing.T) []byte {
			p := parseFile(t, good)
			setPageEncoding(t, p.cols[1].Pages[0], &encpb.ArrayEncoding{ArrayEncoding: &encpb.ArrayEncoding_Fsst{Fsst: &encpb.Fsst{}}})
			return p.bytes(t)
		}, ErrUnsupported, "lance file data/abc.lance: column 1 page 0: fsst encoding for type utf8 is not supported"},
		{"wrong width", func(t *testing.T) []byte {
			p := parseFile(t, good)
			setPageEncoding(t, p.cols[0].Pages[0], noNulls(flatEnc(64, 0, nil)))
			return p.bytes(t)
		}, ErrCorrupt, "lance file data/abc.lance: column 0 page 0: flat encoding has 64 bits per value, type int32 has 32"},
		{"row count", func(t *testing.T) []byte {
			p := parseFile(t, good)
			p.fd.Length++
			return p.bytes(t)
		}, ErrCorrupt, `lance file data/abc.lance: field "i": column 0 has 300 rows, the file has 301`},
		{"missing column", func(t *testing.T) []byte {
			p := parseFile(t, good)
			p.cols = p.cols[:len(p.cols)-1]
			return p.bytes(t)
		}, ErrCorrupt, "lance file data/abc.lance: ..."},
		{"bad schema", func(t *testing.T) []byte {
			p := parseFile(t, good)
			p.fd.Schema.Fields[1].LogicalType = "int128"
			return p.bytes(t)
		}, ErrUnsupported, "lance file data/abc.lance: schema: ..."},
		{"column encoding", func(t *testing.T) []byte {
			p := parseFile(t, good)
			raw, _ := marshalAny(columnEncodingURL, &encpb.ColumnEncoding{ColumnEncoding: &encpb.ColumnEncoding_Blob{Blob: &encpb.Blob{}}})
			p.cols[2].Encoding = &file2pb.Encoding{Location: &file2pb.Encoding_Direct{Direct: &file2pb.DirectEncoding{Encoding: raw}}}
			return p.bytes(t)
		}, ErrUnsupported, "lance file data/abc.lance: column 2: column encoding blob is not supported"},
		{"string offsets past bytes", func(t *testing.T) []byte {
			p := parseFile(t, good)
			pg := p.cols[1].Pages[0]
			pg.BufferSizes[1] = 3 // the bytes buffer now ends early
			return p.bytes(t)
		}, ErrCorrupt, "lance file data/abc.lance: column 1 page 0: string bytes [..."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := openAndRead(c.file(t), ReaderOptions{Path: path})
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, c.kind) {
				t.Errorf("error %v is not %v", err, c.kind)
			}
			if m, ok := strings.CutSuffix(c.message, "..."); ok {
				if !strings.HasPrefix(err.Error(), m) {
					t.Errorf("got %q, want prefix %q", err, m)
				}
			} else if err.Error() != c.message {
				t.Errorf("got  %q\nwant %q", err, c.message)
			}
		})
	}
}

// TestTruncationsAndBitFlips damages a valid file in many ways; every
// attempt must fail cleanly or decode, never panic. (guard() would turn a
// panic into an "internal error", which fails the test.)
func TestTruncationsAndBitFlips(t *testing.T) {
	good := smallFile(t, 200)
	opts := ReaderOptions{Path: "x", MaxDecodeBytes: 64 << 20}
	check := func(what string, b []byte) {
		t.Helper()
		if err := openAndRead(b, opts); err != nil && strings.Contains(err.Error(), "internal error") {
			t.Fatalf("%s: %v", what, err)
		}
	}
	for n := 0; n < len(good); n += 1 + n/50 {
		check("prefix", good[:n])
		check("suffix", good[len(good)-n:])
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		b := bytes.Clone(good)
		// Flip bits mostly in the metadata tail, where offsets live.
		for range 1 + rnd.IntN(4) {
			var pos int
			if i%2 == 0 {
				pos = len(b) - 1 - rnd.IntN(min(len(b), 3000))
			} else {
				pos = rnd.IntN(len(b))
			}
			b[pos] ^= 1 << rnd.IntN(8)
		}
		check("flip", b)
	}
}

func TestDecodeBudget(t *testing.T) {
	good := smallFile(t, 300)
	err := openAndRead(good, ReaderOptions{Path: "x", MaxDecodeBytes: 100})
	if err == nil || !strings.Contains(err.Error(), "MaxDecodeBytes") {
		t.Fatalf("got %v", err)
	}
}
