package file

import (
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/encpb"
)

// assembler produces one output array after the scheduler has run.
// finish transfers ownership of the buffers to the array; release frees
// them when the call fails before finish.
type assembler interface {
	finish() (arrow.Array, error)
	release()
}

// fixedSink collects n slots of a fixed-width type: values (1 bit or whole
// bytes per slot) and validity. A fixed-size list keeps its items in a child
// sink of n*dim slots.
type fixedSink struct {
	s        *sched
	dt       arrow.DataType
	n        uint64
	bits     uint64 // bits per slot; 0 for a fixed-size list
	raw      bool   // scratch data in Go memory instead of the allocator
	vals     []byte
	valsBuf  *memory.Buffer
	valid    []byte // nil while every slot is valid
	validBuf *memory.Buffer
	child    *fixedSink
	dim      uint64
}

func newFixedSink(s *sched, dt arrow.DataType, n uint64, raw bool, where string) (*fixedSink, error) {
	k := &fixedSink{s: s, dt: dt, n: n, raw: raw}
	switch t := dt.(type) {
	case *arrow.FixedSizeListType:
		k.dim = uint64(t.Len())
		if k.dim != 0 && n > math.MaxUint64/k.dim {
			return nil, corruptf(where, "%d rows of dimension %d overflow", n, k.dim)
		}
		c, err := newFixedSink(s, t.Elem(), n*k.dim, raw, where)
		if err != nil {
			return nil, err
		}
		k.child = c
	case arrow.FixedWidthDataType:
		k.bits = uint64(t.BitWidth())
		if k.bits != 1 && (k.bits%8 != 0 || k.bits == 0) {
			return nil, unsupportedf(where, "type %s with %d-bit values", dt, k.bits)
		}
		if k.bits > 8 && n > math.MaxUint64/(k.bits/8) {
			return nil, corruptf(where, "%d values of %d bits overflow", n, k.bits)
		}
	default:
		return nil, unsupportedf(where, "type %s is not fixed-width", dt)
	}
	if err := s.reserve(k.valsLen()+(n+7)/8, where); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *fixedSink) width() uint64 { return k.bits / 8 }

func (k *fixedSink) valsLen() uint64 {
	if k.bits == 1 {
		return (k.n + 7) / 8
	}
	return k.n * k.width()
}

func (k *fixedSink) alloc(n uint64) ([]byte, *memory.Buffer) {
	if k.raw {
		return make([]byte, n), nil
	}
	buf := memory.NewResizableBuffer(k.s.r.opts.Allocator)
	buf.Resize(int(n))
	return buf.Bytes(), buf
}

func (k *fixedSink) ensureVals() {
	if k.vals == nil {
		k.vals, k.valsBuf = k.alloc(k.valsLen())
	}
}

func (k *fixedSink) ensureValid() {
	if k.valid == nil {
		k.valid, k.validBuf = k.alloc((k.n + 7) / 8)
		for i := range k.valid {
			k.valid[i] = 0xff
		}
	}
}

// putValues stores whole-byte values for slots starting at pos. If b holds
// every value of the sink and is suitably aligned, the sink adopts it
// instead of copying: the Arrow array then points into the bytes read.
func (k *fixedSink) putValues(pos uint64, b []byte) {
	w := k.width()
	if k.vals == nil && pos == 0 && uint64(len(b)) == k.valsLen() && len(b) > 0 &&
		uintptr(unsafe.Pointer(unsafe.SliceData(b)))%min(uintptr(w), 8) == 0 {
		k.vals = b
		if !k.raw {
			k.valsBuf = memory.NewBufferBytes(b)
		}
		return
	}
	k.ensureVals()
	dst := k.vals[pos*w:]
	if len(b) > 0 && unsafe.SliceData(dst) == unsafe.SliceData(b) {
		return // read straight into place
	}
	copy(dst, b)
}

// putBits copies count bits of src starting at bit srcOff into the values
// (bool) or the validity bitmap at slot pos.
func (k *fixedSink) putBits(validity bool, pos uint64, src []byte, srcOff, count uint64) {
	var dst []byte
	if validity {
		k.ensureValid()
		dst = k.valid
	} else {
		k.ensureVals()
		dst = k.vals
	}
	bitutil.CopyBitmap(src, int(srcOff), int(count), dst, int(pos))
}

// setNulls marks slots [pos, pos+count) null and zeroes their values so the
// output does not depend on what was in memory.
func (k *fixedSink) setNulls(pos, count uint64) {
	if count == 0 {
		return
	}
	k.ensureValid()
	bitutil.SetBitsTo(k.valid, int64(pos), int64(count), false)
	k.zero(pos, count)
}

func (k *fixedSink) zero(pos, count uint64) {
	if k.child != nil {
		k.child.zero(pos*k.dim, count*k.dim)
		return
	}
	k.ensureVals()
	if k.bits == 1 {
		bitutil.SetBitsTo(k.vals, int64(pos), int64(count), false)
		return
	}
	clear(k.vals[pos*k.width() : (pos+count)*k.width()])
}

// uint64At reads slot i of a 64-bit scratch sink.
func (k *fixedSink) uint64At(i uint64) uint64 {
	b := k.vals[i*8:]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func (k *fixedSink) hasNulls() bool {
	return k.valid != nil && bitutil.CountSetBits(k.valid, 0, int(k.n)) != int(k.n)
}

func (k *fixedSink) arrayData() *array.Data {
	nulls := 0
	if k.valid != nil {
		nulls = int(k.n) - bitutil.CountSetBits(k.valid, 0, int(k.n))
	}
	validBuf := k.validBuf
	if nulls == 0 && validBuf != nil {
		validBuf.Release()
		validBuf = nil
	}
	k.validBuf, k.valid = nil, nil
	var d *array.Data
	if k.child != nil {
		cd := k.child.arrayData()
		d = array.NewData(k.dt, int(k.n), []*memory.Buffer{validBuf}, []arrow.ArrayData{cd}, nulls, 0)
		cd.Release()
	} else {
		k.ensureVals()
		d = array.NewData(k.dt, int(k.n), []*memory.Buffer{validBuf, k.valsBuf}, nil, nulls, 0)
		if k.valsBuf != nil {
			k.valsBuf.Release()
		}
		k.valsBuf, k.vals = nil, nil
	}
	if validBuf != nil {
		validBuf.Release()
	}
	return d
}

func (k *fixedSink) finish() (arrow.Array, error) {
	d := k.arrayData()
	defer d.Release()
	return array.MakeFromData(d), nil
}

func (k *fixedSink) release() {
	if k.valsBuf != nil {
		k.valsBuf.Release()
	}
	if k.validBuf != nil {
		k.validBuf.Release()
	}
	k.valsBuf, k.validBuf, k.vals, k.valid = nil, nil, nil, nil
	if k.child != nil {
		k.child.release()
	}
}

// buffer resolves a buffer reference of a page's encoding.
func (s *sched) buffer(pg *page, b *encpb.Buffer) (bufLoc, error) {
	if b == nil {
		return bufLoc{}, corruptf(pg.where, "encoding names no buffer")
	}
	i := uint64(b.GetBufferIndex())
	var list []bufLoc
	switch b.GetBufferType() {
	case encpb.Buffer_page:
		list = pg.bufs
	case encpb.Buffer_column:
		list = pg.col.bufs
	case encpb.Buffer_file:
		list = s.r.globals
	default:
		return bufLoc{}, corruptf(pg.where, "unknown buffer type %d", b.GetBufferType())
	}
	if i >= uint64(len(list)) {
		return bufLoc{}, corruptf(pg.where, "encoding names %s buffer %d, there are %d", b.GetBufferType(), i, len(list))
	}
	return list[i], nil
}

func rangesLen(rs []rng) uint64 {
	var n uint64
	for _, r := range rs {
		n += r.end - r.start
	}
	return n
}

// planFixed schedules decoding of the slot ranges rs (relative to the
// encoded array, which has `slots` slots) of encoding enc into sink k,
// placing them consecutively from slot pos.
func (s *sched) planFixed(pg *page, enc *encpb.ArrayEncoding, slots uint64, rs []rng, k *fixedSink, pos uint64) error {
	switch e := enc.GetArrayEncoding().(type) {
	case *encpb.ArrayEncoding_Nullable:
		switch nb := e.Nullable.GetNullability().(type) {
		case *encpb.Nullable_AllNulls:
			p := pos
			for _, r := range rs {
				k.setNulls(p, r.end-r.start)
				p += r.end - r.start
			}
			return nil
		case *encpb.Nullable_NoNulls:
			return s.planFixed(pg, nb.NoNulls.GetValues(), slots, rs, k, pos)
		case *encpb.Nullable_SomeNulls:
			if err := s.planBits(pg, nb.SomeNulls.GetValidity(), slots, rs, k, true, pos); err != nil {
				return err
			}
			return s.planFixed(pg, nb.SomeNulls.GetValues(), slots, rs, k, pos)
		}
		return corruptf(pg.where, "nullable encoding without nullability")
	case *encpb.ArrayEncoding_Flat:
		if k.child != nil {
			return corruptf(pg.where, "flat encoding for fixed_size_list type %s", k.dt)
		}
		if e.Flat.GetBitsPerValue() != k.bits {
			return corruptf(pg.where, "flat encoding has %d bits per value, type %s has %d", e.Flat.GetBitsPerValue(), k.dt, k.bits)
		}
		if k.bits == 1 {
			return s.planBits(pg, enc, slots, rs, k, false, pos)
		}
		return s.planFlat(pg, e.Flat, slots, rs, k, pos)
	case *encpb.ArrayEncoding_FixedSizeList:
		fsl := e.FixedSizeList
		if k.child == nil || uint64(fsl.GetDimension()) != k.dim {
			return corruptf(pg.where, "fixed_size_list encoding of dimension %d for type %s", fsl.GetDimension(), k.dt)
		}
		if fsl.GetHasValidity() {
			return unsupportedf(pg.where, "fixed_size_list encoding with item-level validity")
		}
		if k.dim != 0 && slots > math.MaxUint64/k.dim {
			return corruptf(pg.where, "fixed_size_list of %d rows overflows", slots)
		}
		crs := make([]rng, len(rs))
		for i, r := range rs {
			crs[i] = rng{r.start * k.dim, r.end * k.dim}
		}
		return s.planFixed(pg, fsl.GetItems(), slots*k.dim, crs, k.child, pos*k.dim)
	case *encpb.ArrayEncoding_Constant:
		v := e.Constant.GetValue()
		p := pos
		switch {
		case k.bits == 1 && len(v) >= 1:
			k.ensureVals()
			bitutil.SetBitsTo(k.vals, int64(p), int64(rangesLen(rs)), v[0] != 0)
		case k.bits > 1 && uint64(len(v)) == k.width():
			k.ensureVals()
			for _, r := range rs {
				for i := r.start; i < r.end; i++ {
					copy(k.vals[p*k.width():], v)
					p++
				}
			}
		default:
			return corruptf(pg.where, "constant of %d bytes for type %s", len(v), k.dt)
		}
		return nil
	}
	return unsupportedf(pg.where, "%s encoding for type %s is not supported", encName(enc), k.dt)
}

// planFlat schedules whole-byte values of a flat buffer.
func (s *sched) planFlat(pg *page, flat *encpb.Flat, slots uint64, rs []rng, k *fixedSink, pos uint64) error {
	loc, err := s.buffer(pg, flat.GetBuffer())
	if err != nil {
		return err
	}
	w := k.width()
	if slots > math.MaxUint64/w {
		return corruptf(pg.where, "%d values overflow", slots)
	}
	need := slots * w
	if scheme := flat.GetCompression().GetScheme(); flat.GetCompression() != nil && scheme != "none" {
		if err := s.reserve(need, pg.where); err != nil {
			return err
		}
		s.read(ioTask{off: loc.off, n: loc.size, done: func(b []byte) error {
			out, err := s.r.codecs.decompress(scheme, b, need)
			if err != nil {
				return corruptf(pg.where, "%v", err)
			}
			if uint64(len(out)) != need {
				return corruptf(pg.where, "decompressed %d bytes, %d values of %d bytes need %d", len(out), slots, w, need)
			}
			p := pos
			for _, r := range rs {
				k.putValues(p, out[r.start*w:r.end*w])
				p += r.end - r.start
			}
			return nil
		}})
		return nil
	}
	if loc.size < need {
		return corruptf(pg.where, "flat buffer of %d bytes is too small for %d values of %d bytes", loc.size, slots, w)
	}
	p := pos
	for _, r := range rs {
		if r.end > slots {
			return corruptf(pg.where, "values [%d,%d) past the %d in the page", r.start, r.end, slots)
		}
		n := (r.end - r.start) * w
		t := ioTask{off: loc.off + r.start*w, n: n}
		at := p
		if s.r.ra != nil && n >= uint64(s.r.opts.DirectReadMin) {
			k.ensureVals()
			t.dst = k.vals[at*w : at*w+n]
		}
		t.done = func(b []byte) error {
			k.putValues(at, b)
			return nil
		}
		if n > 0 {
			s.read(t)
		}
		p += r.end - r.start
	}
	return nil
}

// planBits schedules a 1-bit flat buffer (validity, or bool values).
func (s *sched) planBits(pg *page, enc *encpb.ArrayEncoding, slots uint64, rs []rng, k *fixedSink, validity bool, pos uint64) error {
	flat := enc.GetFlat()
	if flat == nil || flat.GetBitsPerValue() != 1 {
		return unsupportedf(pg.where, "bitmap encoded as %s", encName(enc))
	}
	if flat.GetCompression() != nil && flat.GetCompression().GetScheme() != "none" {
		return unsupportedf(pg.where, "compressed bitmap (%s)", flat.GetCompression().GetScheme())
	}
	loc, err := s.buffer(pg, flat.GetBuffer())
	if err != nil {
		return err
	}
	if loc.size < (slots+7)/8 {
		return corruptf(pg.where, "bitmap of %d bytes is too small for %d values", loc.size, slots)
	}
	p := pos
	for _, r := range rs {
		if r.end > slots {
			return corruptf(pg.where, "bits [%d,%d) past the %d in the page", r.start, r.end, slots)
		}
		if r.end == r.start {
			continue
		}
		first, last := r.start/8, (r.end+7)/8
		at, count, off := p, r.end-r.start, r.start%8
		s.read(ioTask{off: loc.off + first, n: last - first, done: func(b []byte) error {
			k.putBits(validity, at, b, off, count)
			return nil
		}})
		p += count
	}
	return nil
}
