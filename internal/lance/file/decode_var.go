package file

import (
	"encoding/binary"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/encpb"
)

// varSink collects n slots of a string or binary type. Pages deliver
// segments (consecutive output slots); offsets and bytes are laid out once
// every segment is known, in finish.
type varSink struct {
	s     *sched
	dt    arrow.DataType
	n     uint64
	large bool // 64-bit offsets
	raw   bool // scratch (dictionary items): Go memory, 64-bit offsets
	where string
	segs  []*varSeg
	// scratch results, built once for dictionary lookups
	built             bool
	offs, data, valid []byte
	builtErr          error
}

// varSeg is count output slots starting at pos, from one page.
type varSeg struct {
	pos, count uint64
	allNull    bool
	// binary pages: per-slot byte lengths, nulls, and the slots' bytes
	lens  []uint64
	nulls []bool
	data  []byte
	// dictionary pages: per-slot indices (0 = null, i+1 = item i)
	dictIdx *fixedSink
	dict    *varSink
}

func newVarSink(s *sched, dt arrow.DataType, n uint64, raw bool, where string) *varSink {
	large := dt.ID() == arrow.LARGE_STRING || dt.ID() == arrow.LARGE_BINARY
	return &varSink{s: s, dt: dt, n: n, large: large || raw, raw: raw, where: where}
}

func (v *varSink) addSeg(g *varSeg) { v.segs = append(v.segs, g) }

// slot reports the validity and bytes of slot i of segment g.
func (v *varSink) slot(g *varSeg, i uint64, dataOff *uint64) (bool, []byte, error) {
	switch {
	case g.allNull:
		return false, nil, nil
	case g.dictIdx != nil:
		if err := g.dict.build(); err != nil {
			return false, nil, err
		}
		var idx uint64
		switch w := g.dictIdx.width(); w {
		case 1:
			idx = uint64(g.dictIdx.vals[i])
		case 2:
			idx = uint64(binary.LittleEndian.Uint16(g.dictIdx.vals[i*2:]))
		case 4:
			idx = uint64(binary.LittleEndian.Uint32(g.dictIdx.vals[i*4:]))
		default:
			idx = g.dictIdx.uint64At(i)
		}
		if g.dictIdx.valid != nil && !bitutil.BitIsSet(g.dictIdx.valid, int(i)) || idx == 0 {
			return false, nil, nil
		}
		return g.dict.item(idx - 1)
	}
	start := *dataOff
	*dataOff += g.lens[i]
	if *dataOff > uint64(len(g.data)) {
		return false, nil, corruptf(v.where, "string bytes end at %d, only %d were read", *dataOff, len(g.data))
	}
	return !(g.nulls != nil && g.nulls[i]), g.data[start:*dataOff], nil
}

// item returns dictionary item i of a built scratch sink.
func (v *varSink) item(i uint64) (bool, []byte, error) {
	if i >= v.n {
		return false, nil, corruptf(v.where, "dictionary index %d past the %d items", i+1, v.n)
	}
	if v.valid != nil && !bitutil.BitIsSet(v.valid, int(i)) {
		return false, nil, nil
	}
	a, b := binary.LittleEndian.Uint64(v.offs[i*8:]), binary.LittleEndian.Uint64(v.offs[i*8+8:])
	return true, v.data[a:b], nil
}

// layout walks every slot twice: once to size the output, once to fill it.
func (v *varSink) layout(alloc func(n uint64) ([]byte, *memory.Buffer)) (offs, data, valid []byte, bufs [3]*memory.Buffer, nulls uint64, err error) {
	var total uint64
	for _, g := range v.segs {
		var off uint64
		for i := uint64(0); i < g.count; i++ {
			ok, b, err := v.slot(g, i, &off)
			if err != nil {
				return nil, nil, nil, bufs, 0, err
			}
			if !ok {
				nulls++
			}
			total += uint64(len(b))
		}
	}
	if !v.large && total > math.MaxInt32 {
		return nil, nil, nil, bufs, 0, unsupportedf(v.where, "%d bytes of strings do not fit 32-bit offsets", total)
	}
	ow := uint64(4)
	if v.large {
		ow = 8
	}
	if err := v.s.reserve(total+(v.n+1)*ow+(v.n+7)/8, v.where); err != nil {
		return nil, nil, nil, bufs, 0, err
	}
	offs, bufs[1] = alloc((v.n + 1) * ow)
	data, bufs[2] = alloc(total)
	if nulls > 0 {
		valid, bufs[0] = alloc((v.n + 7) / 8)
		clear(valid)
	}
	var pos uint64
	putOff := func(i, o uint64) {
		if ow == 4 {
			binary.LittleEndian.PutUint32(offs[i*4:], uint32(o))
		} else {
			binary.LittleEndian.PutUint64(offs[i*8:], o)
		}
	}
	slotIdx := uint64(0)
	putOff(0, 0)
	for _, g := range v.segs {
		var off uint64
		for i := uint64(0); i < g.count; i++ {
			ok, b, _ := v.slot(g, i, &off)
			copy(data[pos:], b)
			pos += uint64(len(b))
			if ok && valid != nil {
				bitutil.SetBit(valid, int(slotIdx))
			}
			slotIdx++
			putOff(slotIdx, pos)
		}
	}
	if slotIdx != v.n {
		for _, b := range bufs {
			if b != nil {
				b.Release()
			}
		}
		return nil, nil, nil, [3]*memory.Buffer{}, 0, corruptf(v.where, "pages delivered %d values, want %d", slotIdx, v.n)
	}
	return offs, data, valid, bufs, nulls, nil
}

// build lays out a scratch sink once, for dictionary lookups.
func (v *varSink) build() error {
	if v.built {
		return v.builtErr
	}
	v.built = true
	v.offs, v.data, v.valid, _, _, v.builtErr = v.layout(func(n uint64) ([]byte, *memory.Buffer) { return make([]byte, n), nil })
	return v.builtErr
}

func (v *varSink) finish() (arrow.Array, error) {
	alloc := func(n uint64) ([]byte, *memory.Buffer) {
		buf := memory.NewResizableBuffer(v.s.r.opts.Allocator)
		buf.Resize(int(n))
		return buf.Bytes(), buf
	}
	_, _, _, bufs, nulls, err := v.layout(alloc)
	if err != nil {
		return nil, err
	}
	d := array.NewData(v.dt, int(v.n), bufs[:], nil, int(nulls), 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	defer d.Release()
	return array.MakeFromData(d), nil
}

func (v *varSink) release() {}

// planBinary schedules a Binary encoding (end offsets + bytes) of an array
// with `slots` slots: first the offsets around the wanted slots, then, once
// they are known, just the bytes of those slots.
func (s *sched) planBinary(pg *page, b *encpb.Binary, slots uint64, rs []rng, v *varSink, pos uint64) error {
	irs := make([]rng, len(rs))
	for i, r := range rs {
		if r.end > slots {
			return corruptf(pg.where, "values [%d,%d) past the %d in the page", r.start, r.end, slots)
		}
		irs[i] = rng{r.start, r.end}
		if r.start > 0 {
			irs[i].start-- // the previous end is this slot's start
		}
	}
	idx, err := newFixedSink(s, arrow.PrimitiveTypes.Uint64, rangesLen(irs), true, pg.where)
	if err != nil {
		return err
	}
	if err := s.planFixed(pg, b.GetIndices(), slots, irs, idx, 0); err != nil {
		return err
	}
	flat := b.GetBytes().GetFlat()
	if flat == nil || flat.GetBitsPerValue() != 8 {
		return unsupportedf(pg.where, "binary bytes encoded as %s", encName(b.GetBytes()))
	}
	loc, err := s.buffer(pg, flat.GetBuffer())
	if err != nil {
		return err
	}
	segs := make([]*varSeg, len(rs))
	p := pos
	for i, r := range rs {
		segs[i] = &varSeg{pos: p, count: r.end - r.start}
		v.addSeg(segs[i])
		p += r.end - r.start
	}
	adj := b.GetNullAdjustment()
	s.then(func() error {
		if idx.hasNulls() {
			return corruptf(pg.where, "binary offsets contain nulls")
		}
		norm := func(x uint64) (uint64, bool) {
			if x >= adj {
				return x - adj, false
			}
			return x, true
		}
		type span struct {
			seg        *varSeg
			start, end uint64
		}
		spans := make([]span, 0, len(rs))
		var q uint64
		for i, r := range rs {
			g := segs[i]
			var start uint64
			if r.start > 0 {
				start, _ = norm(idx.uint64At(q))
				q++
			}
			prev := start
			g.lens = make([]uint64, g.count)
			for j := range g.count {
				e, ok := norm(idx.uint64At(q))
				q++
				if e < prev {
					return corruptf(pg.where, "binary offsets decrease (%d after %d)", e, prev)
				}
				g.lens[j], prev = e-prev, e
				if !ok {
					if g.nulls == nil {
						g.nulls = make([]bool, g.count)
					}
					g.nulls[j] = true
				}
			}
			spans = append(spans, span{g, start, prev})
		}
		if c := flat.GetCompression(); c != nil && c.GetScheme() != "none" {
			s.read(ioTask{off: loc.off, n: loc.size, done: func(b []byte) error {
				out, err := s.r.codecs.decompress(c.GetScheme(), b, uint64(max(s.budget, 0)))
				if err != nil {
					return corruptf(pg.where, "%v", err)
				}
				for _, sp := range spans {
					if sp.end > uint64(len(out)) {
						return corruptf(pg.where, "string bytes end at %d, the buffer decompresses to %d", sp.end, len(out))
					}
					sp.seg.data = out[sp.start:sp.end]
				}
				return nil
			}})
			return nil
		}
		for _, sp := range spans {
			if sp.end > loc.size {
				return corruptf(pg.where, "string bytes [%d,%d) past the %d-byte buffer", sp.start, sp.end, loc.size)
			}
			if sp.end == sp.start {
				continue
			}
			g := sp.seg
			s.read(ioTask{off: loc.off + sp.start, n: sp.end - sp.start, done: func(b []byte) error {
				g.data = b
				return nil
			}})
		}
		return nil
	})
	return nil
}

// planDict schedules a Dictionary page: per-slot indices (0 means null) and
// the whole dictionary, itself Binary-encoded.
func (s *sched) planDict(pg *page, d *encpb.Dictionary, slots uint64, rs []rng, v *varSink, pos uint64) error {
	var it arrow.DataType
	switch flatBits(d.GetIndices()) {
	case 8:
		it = arrow.PrimitiveTypes.Uint8
	case 16:
		it = arrow.PrimitiveTypes.Uint16
	case 32:
		it = arrow.PrimitiveTypes.Uint32
	case 64:
		it = arrow.PrimitiveTypes.Uint64
	default:
		return unsupportedf(pg.where, "dictionary indices encoded as %s", encName(d.GetIndices()))
	}
	idx, err := newFixedSink(s, it, rangesLen(rs), true, pg.where)
	if err != nil {
		return err
	}
	if err := s.planFixed(pg, d.GetIndices(), slots, rs, idx, 0); err != nil {
		return err
	}
	items := d.GetItems().GetBinary()
	if items == nil {
		return unsupportedf(pg.where, "dictionary items encoded as %s", encName(d.GetItems()))
	}
	n := uint64(d.GetNumDictionaryItems())
	dict := newVarSink(s, v.dt, n, true, pg.where+" dictionary")
	var irs []rng
	if n > 0 {
		irs = []rng{{0, n}}
	}
	if err := s.planBinary(pg, items, n, irs, dict, 0); err != nil {
		return err
	}
	v.addSeg(&varSeg{pos: pos, count: rangesLen(rs), dictIdx: idx, dict: dict})
	return nil
}

// flatBits finds the bit width of the Flat buffer under Nullable wrappers.
func flatBits(e *encpb.ArrayEncoding) uint64 {
	for e != nil {
		switch x := e.GetArrayEncoding().(type) {
		case *encpb.ArrayEncoding_Flat:
			return x.Flat.GetBitsPerValue()
		case *encpb.ArrayEncoding_Nullable:
			switch nb := x.Nullable.GetNullability().(type) {
			case *encpb.Nullable_NoNulls:
				e = nb.NoNulls.GetValues()
			case *encpb.Nullable_SomeNulls:
				e = nb.SomeNulls.GetValues()
			default:
				return 0
			}
		default:
			return 0
		}
	}
	return 0
}
