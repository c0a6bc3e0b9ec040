package arrowhttp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A minimal flatbuffers reader for the few Arrow IPC metadata fields the
// guard checks. Unlike generated flatbuffers code, which trusts every offset
// and panics (or reads garbage) on a corrupt buffer, each access here is
// bounds-checked and reports an error.

var errFlatbuffer = errors.New("malformed flatbuffer")

type fbTable struct {
	buf   []byte
	pos   int // start of the table
	vt    int // start of its vtable
	vtLen int // vtable size in bytes
}

func fbErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errFlatbuffer, fmt.Sprintf(format, args...))
}

// fbRoot returns the root table of buf.
func fbRoot(buf []byte) (fbTable, error) {
	if len(buf) < 4 {
		return fbTable{}, fbErr("%d bytes, too short for a root offset", len(buf))
	}
	return fbTableAt(buf, int64(binary.LittleEndian.Uint32(buf)))
}

func fbTableAt(buf []byte, pos int64) (fbTable, error) {
	if pos < 0 || pos+4 > int64(len(buf)) {
		return fbTable{}, fbErr("table offset %d outside %d bytes", pos, len(buf))
	}
	vt := pos - int64(int32(binary.LittleEndian.Uint32(buf[pos:])))
	if vt < 0 || vt+4 > int64(len(buf)) {
		return fbTable{}, fbErr("vtable offset %d outside %d bytes", vt, len(buf))
	}
	vtLen := int64(binary.LittleEndian.Uint16(buf[vt:]))
	tblLen := int64(binary.LittleEndian.Uint16(buf[vt+2:]))
	if vtLen < 4 || vtLen%2 != 0 || vt+vtLen > int64(len(buf)) {
		return fbTable{}, fbErr("vtable at %d has bad size %d", vt, vtLen)
	}
	if tblLen < 4 || pos+tblLen > int64(len(buf)) {
		return fbTable{}, fbErr("table at %d has bad size %d", pos, tblLen)
	}
	return fbTable{buf: buf, pos: int(pos), vt: int(vt), vtLen: int(vtLen)}, nil
}

// field returns the absolute position of field i and whether it is present,
// checking that size bytes fit.
func (t fbTable) field(i, size int) (int, bool, error) {
	o := 4 + 2*i
	if o+2 > t.vtLen {
		return 0, false, nil
	}
	off := int(binary.LittleEndian.Uint16(t.buf[t.vt+o:]))
	if off == 0 {
		return 0, false, nil
	}
	p := t.pos + off
	if p+size > len(t.buf) {
		return 0, false, fbErr("field %d of the table at %d lies outside the buffer", i, t.pos)
	}
	return p, true, nil
}

func (t fbTable) int64(i int, def int64) (int64, error) {
	p, ok, err := t.field(i, 8)
	if err != nil || !ok {
		return def, err
	}
	return int64(binary.LittleEndian.Uint64(t.buf[p:])), nil
}

func (t fbTable) uint8(i int, def uint8) (uint8, error) {
	p, ok, err := t.field(i, 1)
	if err != nil || !ok {
		return def, err
	}
	return t.buf[p], nil
}

// table returns the sub-table referenced by field i.
func (t fbTable) table(i int) (fbTable, bool, error) {
	p, ok, err := t.field(i, 4)
	if err != nil || !ok {
		return fbTable{}, false, err
	}
	sub, err := fbTableAt(t.buf, int64(p)+int64(binary.LittleEndian.Uint32(t.buf[p:])))
	return sub, err == nil, err
}

// vector returns the start and element count of the vector referenced by
// field i, checking that n elements of elemSize bytes fit.
func (t fbTable) vector(i, elemSize int) (start, n int, err error) {
	p, ok, err := t.field(i, 4)
	if err != nil || !ok {
		return 0, 0, err
	}
	vp := int64(p) + int64(binary.LittleEndian.Uint32(t.buf[p:]))
	if vp+4 > int64(len(t.buf)) {
		return 0, 0, fbErr("vector of field %d at %d outside %d bytes", i, vp, len(t.buf))
	}
	cnt := int64(binary.LittleEndian.Uint32(t.buf[vp:]))
	if cnt*int64(elemSize) > int64(len(t.buf))-(vp+4) {
		return 0, 0, fbErr("vector of field %d claims %d elements, more than fit in %d bytes", i, cnt, len(t.buf))
	}
	return int(vp + 4), int(cnt), nil
}

// tableElem returns element k of a vector of tables starting at start.
func (t fbTable) tableElem(start, k int) (fbTable, error) {
	p := start + 4*k
	return fbTableAt(t.buf, int64(p)+int64(binary.LittleEndian.Uint32(t.buf[p:])))
}

func (t fbTable) int64At(p int) int64 { return int64(binary.LittleEndian.Uint64(t.buf[p:])) }
