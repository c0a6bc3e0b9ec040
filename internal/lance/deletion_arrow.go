package lance

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/klauspost/compress/zstd"
)

// A small reader for Arrow deletion files. arrow-go's IPC reader trusts the
// lengths inside flatbuffers and compressed-buffer headers and allocates
// whatever they claim, so a corrupt file can exhaust memory and kill the
// process (found by FuzzDecodeDeletionFile). A deletion file has a fixed
// shape (one batch, one uint32 column), so we decode exactly that shape
// with every length checked against the bytes present.
//
// Layout (Arrow IPC file format): "ARROW1" padding, messages, footer
// flatbuffer, int32 footer length, "ARROW1".

const (
	arrowMagic = "ARROW1"
	// maxDeletionArrowRows bounds what an .arrow deletion file may claim.
	// Lance switches to roaring bitmaps at 5,000 rows.
	maxDeletionArrowRows = 1 << 24

	arrowTypeInt           = 2 // Type union tag of Int
	arrowHeaderRecordBatch = 3 // MessageHeader union tag of RecordBatch
	arrowCodecZstd         = 1
)

var errFlatbuffer = errors.New("malformed flatbuffer")

// fbTable is a flatbuffer table inside buf, with bounds-checked access.
type fbTable struct {
	buf []byte
	pos int
}

func fbU32(buf []byte, pos int) (uint32, error) {
	if pos < 0 || pos+4 > len(buf) {
		return 0, errFlatbuffer
	}
	return binary.LittleEndian.Uint32(buf[pos:]), nil
}

// fbRoot returns the root table of a flatbuffer.
func fbRoot(buf []byte) (fbTable, error) {
	off, err := fbU32(buf, 0)
	if err != nil {
		return fbTable{}, err
	}
	return fbTableAt(buf, int(off))
}

func fbTableAt(buf []byte, pos int) (fbTable, error) {
	soff, err := fbU32(buf, pos)
	if err != nil {
		return fbTable{}, err
	}
	vt := pos - int(int32(soff))
	if vt < 0 || vt+4 > len(buf) {
		return fbTable{}, errFlatbuffer
	}
	return fbTable{buf: buf, pos: pos}, nil
}

// field returns the absolute position of field i, or -1 if absent.
func (t fbTable) field(i int) (int, error) {
	soff, _ := fbU32(t.buf, t.pos)
	vt := t.pos - int(int32(soff))
	vtSize := int(binary.LittleEndian.Uint16(t.buf[vt:]))
	entry := vt + 4 + 2*i
	if 4+2*i+2 > vtSize {
		return -1, nil
	}
	if entry+2 > len(t.buf) {
		return 0, errFlatbuffer
	}
	off := int(binary.LittleEndian.Uint16(t.buf[entry:]))
	if off == 0 {
		return -1, nil
	}
	return t.pos + off, nil
}

// scalar returns the n little-endian bytes of field i, or nil if absent.
func (t fbTable) scalar(i, n int) ([]byte, error) {
	p, err := t.field(i)
	if err != nil || p < 0 {
		return nil, err
	}
	if p+n > len(t.buf) {
		return nil, errFlatbuffer
	}
	return t.buf[p : p+n], nil
}

func (t fbTable) int64Field(i int) (int64, error) {
	b, err := t.scalar(i, 8)
	if err != nil || b == nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint64(b)), nil
}

func (t fbTable) byteField(i int) (byte, error) {
	b, err := t.scalar(i, 1)
	if err != nil || b == nil {
		return 0, err
	}
	return b[0], nil
}

// ref follows the offset stored in field i; -1 if absent.
func (t fbTable) ref(i int) (int, error) {
	p, err := t.field(i)
	if err != nil || p < 0 {
		return -1, err
	}
	off, err := fbU32(t.buf, p)
	if err != nil {
		return 0, err
	}
	return p + int(off), nil
}

func (t fbTable) table(i int) (fbTable, bool, error) {
	p, err := t.ref(i)
	if err != nil || p < 0 {
		return fbTable{}, false, err
	}
	sub, err := fbTableAt(t.buf, p)
	return sub, err == nil, err
}

// vector returns the start and length of vector field i whose elements are
// elem bytes wide (4 for offsets to tables, the struct size for structs).
func (t fbTable) vector(i, elem int) (start, n int, err error) {
	p, err := t.ref(i)
	if err != nil || p < 0 {
		return 0, 0, err
	}
	l, err := fbU32(t.buf, p)
	if err != nil {
		return 0, 0, err
	}
	if int64(l)*int64(elem) > int64(len(t.buf)-p-4) {
		return 0, 0, errFlatbuffer
	}
	return p + 4, int(l), nil
}

// decodeDeletionArrow reads an Arrow deletion file: one batch of one
// non-null 32-bit integer column (Lance writes UInt32 named row_id; its
// spec text says Int32, which is accepted too).
func decodeDeletionArrow(key string, data []byte) (*DeletionVector, error) {
	dv, err := decodeDeletionArrowBytes(data)
	if err != nil {
		return nil, corruptf(key, "arrow deletion file: %v", err)
	}
	return dv, nil
}

func decodeDeletionArrowBytes(data []byte) (*DeletionVector, error) {
	n := len(data)
	if n < 8+4+len(arrowMagic) || string(data[:len(arrowMagic)]) != arrowMagic || string(data[n-len(arrowMagic):]) != arrowMagic {
		return nil, errors.New("not an Arrow IPC file")
	}
	footerLen := int(int32(binary.LittleEndian.Uint32(data[n-10:])))
	footerStart := n - 10 - footerLen
	if footerLen <= 0 || footerStart < 8 {
		return nil, fmt.Errorf("footer length %d out of range", footerLen)
	}
	footer, err := fbRoot(data[footerStart : n-10])
	if err != nil {
		return nil, fmt.Errorf("footer: %w", err)
	}
	signed, err := checkDeletionSchema(footer)
	if err != nil {
		return nil, err
	}
	bStart, bCount, err := footer.vector(3, 24) // recordBatches: [Block]
	if err != nil {
		return nil, fmt.Errorf("footer: %w", err)
	}
	if bCount != 1 {
		return nil, fmt.Errorf("%d batches, want 1", bCount)
	}
	blk := footer.buf[bStart : bStart+24]
	off := int64(binary.LittleEndian.Uint64(blk[0:]))
	metaLen := int64(int32(binary.LittleEndian.Uint32(blk[8:])))
	bodyLen := int64(binary.LittleEndian.Uint64(blk[16:]))
	if off < 8 || metaLen < 8 || bodyLen < 0 || off > int64(footerStart) || metaLen > int64(footerStart)-off || bodyLen > int64(footerStart)-off-metaLen {
		return nil, fmt.Errorf("batch block [%d, +%d, +%d) outside the file", off, metaLen, bodyLen)
	}
	meta := data[off : off+metaLen]
	if binary.LittleEndian.Uint32(meta) == 0xFFFFFFFF {
		meta = meta[8:] // continuation marker, then the length
	} else {
		meta = meta[4:]
	}
	return decodeDeletionBatch(meta, data[off+metaLen:off+metaLen+bodyLen], signed)
}

// checkDeletionSchema requires exactly one non-nullable 32-bit integer
// column and reports whether it is signed.
func checkDeletionSchema(footer fbTable) (signed bool, err error) {
	schema, ok, err := footer.table(1)
	if err != nil || !ok {
		return false, fmt.Errorf("footer has no schema (%v)", err)
	}
	fStart, fCount, err := schema.vector(1, 4)
	if err != nil {
		return false, fmt.Errorf("schema: %w", err)
	}
	if fCount != 1 {
		return false, fmt.Errorf("%d columns, want 1", fCount)
	}
	rel, _ := fbU32(schema.buf, fStart)
	field, err := fbTableAt(schema.buf, fStart+int(rel))
	if err != nil {
		return false, fmt.Errorf("schema field: %w", err)
	}
	typeTag, err := field.byteField(2)
	if err != nil {
		return false, fmt.Errorf("schema field: %w", err)
	}
	typ, ok, err := field.table(3)
	if err != nil || !ok || typeTag != arrowTypeInt {
		return false, fmt.Errorf("column type tag %d is not an integer (%v)", typeTag, err)
	}
	width, err := typ.scalar(0, 4)
	if err != nil || width == nil || binary.LittleEndian.Uint32(width) != 32 {
		return false, fmt.Errorf("column is not a 32-bit integer (%v)", err)
	}
	s, err := typ.byteField(1)
	if err != nil {
		return false, fmt.Errorf("column type: %w", err)
	}
	return s != 0, nil
}

func decodeDeletionBatch(meta, body []byte, signed bool) (*DeletionVector, error) {
	msg, err := fbRoot(meta)
	if err != nil {
		return nil, fmt.Errorf("batch message: %w", err)
	}
	if tag, err := msg.byteField(1); err != nil || tag != arrowHeaderRecordBatch {
		return nil, fmt.Errorf("message header type %d is not a record batch (%v)", tag, err)
	}
	rb, ok, err := msg.table(2)
	if err != nil || !ok {
		return nil, fmt.Errorf("record batch header missing (%v)", err)
	}
	rows, err := rb.int64Field(0)
	if err != nil || rows < 0 || rows > maxDeletionArrowRows {
		return nil, fmt.Errorf("batch of %d rows out of range (%v)", rows, err)
	}
	nStart, nCount, err := rb.vector(1, 16)
	if err != nil || nCount != 1 {
		return nil, fmt.Errorf("batch has %d field nodes, want 1 (%v)", nCount, err)
	}
	if nulls := int64(binary.LittleEndian.Uint64(rb.buf[nStart+8:])); nulls != 0 {
		return nil, fmt.Errorf("%d null row offsets", nulls)
	}
	bStart, bCount, err := rb.vector(2, 16)
	if err != nil || bCount != 2 {
		return nil, fmt.Errorf("batch has %d buffers, want 2 (%v)", bCount, err)
	}
	compressed := false
	if comp, ok, err := rb.table(3); err != nil {
		return nil, fmt.Errorf("batch compression: %w", err)
	} else if ok {
		codec, err := comp.byteField(0)
		if err != nil || codec != arrowCodecZstd {
			return nil, fmt.Errorf("unsupported body compression codec %d (%v)", codec, err)
		}
		compressed = true
	}
	// Buffer 0 is the validity bitmap (unused: no nulls), buffer 1 the values.
	vb := rb.buf[bStart+16 : bStart+32]
	vOff, vLen := int64(binary.LittleEndian.Uint64(vb)), int64(binary.LittleEndian.Uint64(vb[8:]))
	if vOff < 0 || vLen < 0 || vOff > int64(len(body)) || vLen > int64(len(body))-vOff {
		return nil, fmt.Errorf("value buffer [%d, +%d) outside a body of %d bytes", vOff, vLen, len(body))
	}
	values := body[vOff : vOff+vLen]
	need := int(rows) * 4
	if compressed && len(values) > 0 {
		if values, err = decompressBuffer(values, need); err != nil {
			return nil, err
		}
	}
	if len(values) < need {
		return nil, fmt.Errorf("value buffer of %d bytes for %d rows", len(values), rows)
	}
	dv := NewDeletionVector()
	for i := range int(rows) {
		v := binary.LittleEndian.Uint32(values[4*i:])
		if signed && int32(v) < 0 {
			return nil, fmt.Errorf("negative row offset %d", int32(v))
		}
		dv.bm.Add(v)
	}
	return dv, nil
}

// decompressBuffer undoes Arrow's per-buffer compression: an int64
// uncompressed length (-1: stored raw) followed by one ZSTD frame.
func decompressBuffer(b []byte, need int) ([]byte, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("compressed buffer of %d bytes", len(b))
	}
	size := int64(binary.LittleEndian.Uint64(b))
	if size == -1 {
		return b[8:], nil
	}
	// Padding may make the buffer longer than the rows need, but never by
	// more than an alignment unit.
	if size < int64(need) || size > int64(need)+64 || size > math.MaxInt32 {
		return nil, fmt.Errorf("compressed buffer claims %d bytes, rows need %d", size, need)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(4*maxDeletionArrowRows+64))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	out, err := dec.DecodeAll(b[8:], make([]byte, 0, size))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	if int64(len(out)) != size {
		return nil, fmt.Errorf("zstd produced %d bytes, header says %d", len(out), size)
	}
	return out, nil
}
