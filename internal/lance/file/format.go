package file

import (
	"encoding/binary"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

const (
	magic     = "LANC"
	footerLen = 40
	// Lance aligns every data buffer to 64 bytes and pads with 'H' (0x48).
	alignment = 64
	padByte   = 0x48

	// A 2.0 file says 0.3 in its footer (the table manifest says 2.0).
	major20 = 0
	minor20 = 3

	// Lance encodes its Any messages with prost, whose type URLs are the
	// full message name behind a bare slash.
	arrayEncodingURL  = "/lance.encodings.ArrayEncoding"
	columnEncodingURL = "/lance.encodings.ColumnEncoding"

	// DefaultPageSize is the bytes of buffered data per column after which
	// the writer emits a page: Lance's recommended 8 MiB disk page.
	DefaultPageSize = 8 << 20
	// defaultDictThreshold mirrors Lance's LANCE_DICT_ENCODING_THRESHOLD.
	defaultDictThreshold = 100
)

// footer is the fixed 40-byte tail of a v2 file.
type footer struct {
	colMetaStart uint64 // position of column 0's metadata
	cmoStart     uint64 // column metadata offset table
	gboStart     uint64 // global buffer offset table
	numGlobal    uint32
	numColumns   uint32
	major, minor uint16
}

func (f footer) marshal() []byte {
	b := make([]byte, footerLen)
	binary.LittleEndian.PutUint64(b[0:], f.colMetaStart)
	binary.LittleEndian.PutUint64(b[8:], f.cmoStart)
	binary.LittleEndian.PutUint64(b[16:], f.gboStart)
	binary.LittleEndian.PutUint32(b[24:], f.numGlobal)
	binary.LittleEndian.PutUint32(b[28:], f.numColumns)
	binary.LittleEndian.PutUint16(b[32:], f.major)
	binary.LittleEndian.PutUint16(b[34:], f.minor)
	copy(b[36:], magic)
	return b
}

// parseFooter decodes and sanity-checks the footer of a file of the given
// size; b must be the last 40 bytes.
func parseFooter(b []byte, size uint64) (footer, error) {
	if size < footerLen || len(b) != footerLen {
		return footer{}, corruptf("footer", "file has %d bytes, shorter than the %d-byte footer", size, footerLen)
	}
	if string(b[36:]) != magic {
		return footer{}, corruptf("footer", "bad magic %q", b[36:])
	}
	f := footer{
		colMetaStart: binary.LittleEndian.Uint64(b[0:]),
		cmoStart:     binary.LittleEndian.Uint64(b[8:]),
		gboStart:     binary.LittleEndian.Uint64(b[16:]),
		numGlobal:    binary.LittleEndian.Uint32(b[24:]),
		numColumns:   binary.LittleEndian.Uint32(b[28:]),
		major:        binary.LittleEndian.Uint16(b[32:]),
		minor:        binary.LittleEndian.Uint16(b[34:]),
	}
	switch {
	case f.major == major20 && f.minor == minor20:
	case f.major == 0 && f.minor < 3:
		return footer{}, unsupportedf("footer", "legacy Lance file format %d.%d (data storage version 0.1) is not supported", f.major, f.minor)
	default:
		return footer{}, unsupportedf("footer", "file format version %d.%d is not supported (only 2.0, footer version 0.3)", f.major, f.minor)
	}
	limit := size - footerLen
	if f.cmoStart > limit || f.gboStart > limit {
		return footer{}, corruptf("footer", "offset tables at %d and %d past the footer at %d", f.cmoStart, f.gboStart, limit)
	}
	if uint64(f.numColumns)*16 > limit-f.cmoStart {
		return footer{}, corruptf("footer", "%d column offsets at %d do not fit before %d", f.numColumns, f.cmoStart, limit)
	}
	if uint64(f.numGlobal)*16 > limit-f.gboStart {
		return footer{}, corruptf("footer", "%d global buffer offsets at %d do not fit before %d", f.numGlobal, f.gboStart, limit)
	}
	if f.colMetaStart > limit {
		return footer{}, corruptf("footer", "column metadata start %d past the footer at %d", f.colMetaStart, limit)
	}
	if f.numGlobal == 0 {
		return footer{}, corruptf("footer", "no global buffers: the file descriptor (global buffer 0) is missing")
	}
	return f, nil
}

// marshalAny wraps a message the way Lance (prost) does: Any{type_url, value}.
func marshalAny(url string, m proto.Message) ([]byte, error) {
	v, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(&anypb.Any{TypeUrl: url, Value: v})
}

// unmarshalAny decodes an Any and checks that it holds the expected message.
// Like prost, only the name after the last '/' is compared, so both
// "/lance.encodings.ArrayEncoding" and the type.googleapis.com form work.
func unmarshalAny(b []byte, url string, m proto.Message) error {
	var a anypb.Any
	if err := proto.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("decode Any: %w", err)
	}
	want := url[strings.LastIndexByte(url, '/')+1:]
	got := a.TypeUrl[strings.LastIndexByte(a.TypeUrl, '/')+1:]
	if got != want {
		return fmt.Errorf("encoding has type %q, want %q", a.TypeUrl, url)
	}
	if err := proto.Unmarshal(a.Value, m); err != nil {
		return fmt.Errorf("decode %s: %w", want, err)
	}
	return nil
}

func padLen(n uint64) uint64 { return (alignment - n%alignment) % alignment }

// checkRange verifies [off, off+n) lies inside [0, limit) without overflow.
func checkRange(off, n, limit uint64) bool {
	end := off + n
	return end >= off && end <= limit
}
