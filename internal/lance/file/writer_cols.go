package file

import (
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"google.golang.org/protobuf/proto"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/encpb"
	"github.com/sarissa-db/sarissa/internal/lance/schema"
)

// colWriter buffers one field's rows and turns them into pages.
type colWriter interface {
	// append buffers rows [off, off+n) of d (indexes relative to d's own
	// offset), writing pages whenever the buffer reaches the page size.
	append(d arrow.ArrayData, off, n uint64) error
	// flush writes whatever is buffered as a page (and flushes children).
	flush() error
	// finish writes pages that only exist at the end (struct headers).
	finish(rows uint64) error
}

func (w *Writer) newColWriter(f *schema.Field, dt arrow.DataType) (colWriter, error) {
	where := fmt.Sprintf("field %q", f.Name)
	col := w.newColumn()
	switch t := dt.(type) {
	case *arrow.NullType:
		return &nullWriter{w: w, col: col}, nil
	case *arrow.StringType, *arrow.LargeStringType, *arrow.BinaryType, *arrow.LargeBinaryType:
		comp, err := fieldCompression(f)
		if err != nil {
			return nil, err
		}
		vw := &varWriter{w: w, col: col, comp: comp,
			large: t.ID() == arrow.LARGE_STRING || t.ID() == arrow.LARGE_BINARY,
			// Lance only dictionary-encodes utf8 (not large_utf8 or binary).
			dict: t.ID() == arrow.STRING && w.opts.DictionaryThreshold > 0}
		if vw.dict {
			vw.distinct = map[string]struct{}{}
		}
		return vw, nil
	case *arrow.ListType, *arrow.LargeListType:
		child, err := w.newColWriter(f.Children[0], t.(arrow.ListLikeType).Elem())
		if err != nil {
			return nil, err
		}
		return &listWriter{w: w, col: col, large: t.ID() == arrow.LARGE_LIST, child: child}, nil
	case *arrow.StructType:
		sw := &structWriter{w: w, col: col, name: f.Name}
		for i, cf := range f.Children {
			c, err := w.newColWriter(cf, t.Field(i).Type)
			if err != nil {
				return nil, err
			}
			sw.children = append(sw.children, c)
		}
		return sw, nil
	case *arrow.DictionaryType:
		return nil, unsupportedf(where, "writing Arrow dictionary arrays (%s) is not supported", f.LogicalType)
	case *arrow.FixedSizeListType:
		if !fixedWidthItems(t) {
			return nil, unsupportedf(where, "fixed_size_list of %s cannot be stored in Lance 2.0", t.Elem())
		}
	case arrow.FixedWidthDataType:
	default:
		return nil, unsupportedf(where, "type %s is not supported", dt)
	}
	b, err := newFixedBuf(dt)
	if err != nil {
		return nil, unsupportedf(where, "%v", err)
	}
	return &fixedWriter{w: w, col: col, buf: b}, nil
}

func flatEnc(bits uint64, buf int, comp *encpb.Compression) *encpb.ArrayEncoding {
	return &encpb.ArrayEncoding{ArrayEncoding: &encpb.ArrayEncoding_Flat{Flat: &encpb.Flat{
		BitsPerValue: bits,
		Buffer:       &encpb.Buffer{BufferIndex: uint32(buf), BufferType: encpb.Buffer_page},
		Compression:  comp,
	}}}
}

func noNulls(values *encpb.ArrayEncoding) *encpb.ArrayEncoding {
	return &encpb.ArrayEncoding{ArrayEncoding: &encpb.ArrayEncoding_Nullable{Nullable: &encpb.Nullable{
		Nullability: &encpb.Nullable_NoNulls{NoNulls: &encpb.Nullable_NoNull{Values: values}}}}}
}

func allNulls() *encpb.ArrayEncoding {
	return &encpb.ArrayEncoding{ArrayEncoding: &encpb.ArrayEncoding_Nullable{Nullable: &encpb.Nullable{
		Nullability: &encpb.Nullable_AllNulls{AllNulls: &encpb.Nullable_AllNull{}}}}}
}

// appendBits copies n validity bits of d starting at its slot `start`
// (already including d's offset) to bm at bit `at`; it returns the bitmap
// and how many of the bits were null.
func appendBits(bm []byte, at uint64, d arrow.ArrayData, bufIdx int, start, n uint64) ([]byte, uint64) {
	need := int((at + n + 7) / 8)
	if len(bm) < need {
		bm = append(bm, make([]byte, need-len(bm))...)
	}
	b := d.Buffers()[bufIdx]
	if b == nil || (bufIdx == 0 && d.NullN() == 0) {
		bitutil.SetBitsTo(bm, int64(at), int64(n), true)
		return bm, 0
	}
	bitutil.CopyBitmap(b.Bytes(), int(start), int(n), bm, int(at))
	return bm, n - uint64(bitutil.CountSetBits(bm, int(at), int(n)))
}

// fixedBuf buffers fixed-width values (and validity) of one page; a
// fixed-size list keeps its items in a child.
type fixedBuf struct {
	bits     uint64 // 1 or 8*k; 0 for fixed-size lists
	dim      uint64
	child    *fixedBuf
	vals     []byte
	valid    []byte
	n, nulls uint64
}

func newFixedBuf(dt arrow.DataType) (*fixedBuf, error) {
	switch t := dt.(type) {
	case *arrow.FixedSizeListType:
		c, err := newFixedBuf(t.Elem())
		if err != nil {
			return nil, err
		}
		return &fixedBuf{dim: uint64(t.Len()), child: c}, nil
	case arrow.FixedWidthDataType:
		bits := uint64(t.BitWidth())
		if bits != 1 && (bits == 0 || bits%8 != 0) {
			return nil, fmt.Errorf("type %s has %d-bit values", dt, bits)
		}
		return &fixedBuf{bits: bits}, nil
	}
	return nil, fmt.Errorf("type %s is not fixed-width", dt)
}

// rowBits is the buffered size of one row, in bits.
func (b *fixedBuf) rowBits() uint64 {
	if b.child != nil {
		return 1 + b.dim*b.child.rowBits()
	}
	return 1 + b.bits
}

func (b *fixedBuf) size() uint64 {
	s := uint64(len(b.vals) + len(b.valid))
	if b.child != nil {
		s += b.child.size()
	}
	return s
}

func (b *fixedBuf) appendRows(d arrow.ArrayData, off, n uint64) {
	if n == 0 {
		return
	}
	start := uint64(d.Offset()) + off
	var nulls uint64
	b.valid, nulls = appendBits(b.valid, b.n, d, 0, start, n)
	b.nulls += nulls
	switch {
	case b.child != nil:
		b.child.appendRows(d.Children()[0], start*b.dim, n*b.dim)
	case b.bits == 1:
		b.vals, _ = appendBits(b.vals, b.n, d, 1, start, n)
	default:
		w := b.bits / 8
		b.vals = append(b.vals, d.Buffers()[1].Bytes()[start*w:(start+n)*w]...)
	}
	b.n += n
}

// encode describes the buffered page the way Lance's 2.0 "basic" encoder
// does: Nullable(NoNull|SomeNull|AllNull) around Flat or FixedSizeList.
// Buffers are numbered in the order they are appended to bufs.
func (b *fixedBuf) encode(bufs *[][]byte) *encpb.ArrayEncoding {
	switch {
	case b.nulls == b.n:
		return allNulls()
	case b.nulls > 0:
		vi := len(*bufs)
		*bufs = append(*bufs, b.valid[:(b.n+7)/8])
		values := b.encodeValues(bufs)
		return &encpb.ArrayEncoding{ArrayEncoding: &encpb.ArrayEncoding_Nullable{Nullable: &encpb.Nullable{
			Nullability: &encpb.Nullable_SomeNulls{SomeNulls: &encpb.Nullable_SomeNull{
				Validity: flatEnc(1, vi, nil), Values: values}}}}}
	}
	return noNulls(b.encodeValues(bufs))
}

func (b *fixedBuf) encodeValues(bufs *[][]byte) *encpb.ArrayEncoding {
	if b.child != nil {
		return &encpb.ArrayEncoding{ArrayEncoding: &encpb.ArrayEncoding_FixedSizeList{FixedSizeList: &encpb.FixedSizeList{
			Dimension: uint32(b.dim), Items: b.child.encode(bufs)}}}
	}
	i := len(*bufs)
	if b.bits == 1 {
		*bufs = append(*bufs, b.vals[:(b.n+7)/8])
	} else {
		*bufs = append(*bufs, b.vals)
	}
	return flatEnc(b.bits, i, nil)
}

func (b *fixedBuf) reset() {
	b.vals, b.valid = b.vals[:0], b.valid[:0]
	b.n, b.nulls = 0, 0
	if b.child != nil {
		b.child.reset()
	}
}

type fixedWriter struct {
	w   *Writer
	col int
	buf *fixedBuf
}

func (c *fixedWriter) append(d arrow.ArrayData, off, n uint64) error {
	page := uint64(c.w.opts.PageSize)
	for n > 0 {
		room := page - min(page, c.buf.size())
		k := min(n, max(1, room*8/c.buf.rowBits()))
		c.buf.appendRows(d, off, k)
		off, n = off+k, n-k
		if c.buf.size() >= page {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *fixedWriter) flush() error {
	if c.buf.n == 0 {
		return nil
	}
	var bufs [][]byte
	enc := c.buf.encode(&bufs)
	if err := c.w.writePage(c.col, c.buf.n, bufs, enc); err != nil {
		return err
	}
	c.buf.reset()
	return nil
}

func (c *fixedWriter) finish(uint64) error { return nil }

// offsetAt reads entry i of an int32 or int64 offsets buffer.
func offsetAt(b []byte, large bool, i uint64) uint64 {
	if large {
		return binary.LittleEndian.Uint64(b[i*8:])
	}
	return uint64(uint32(binary.LittleEndian.Uint32(b[i*4:])))
}

func u64Bytes(vs []uint64) []byte {
	out := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(out[i*8:], v)
	}
	return out
}

// varWriter buffers strings or binary values of one page.
type varWriter struct {
	w        *Writer
	col      int
	large    bool
	comp     *encpb.Compression
	dict     bool                // page may become a dictionary page
	distinct map[string]struct{} // distinct non-null values, up to the threshold
	ends     []uint64            // end of each row's bytes within data
	data     []byte
	valid    []byte
	n, nulls uint64
}

func (c *varWriter) size() uint64 { return uint64(len(c.data)) + 8*c.n + uint64(len(c.valid)) }

func (c *varWriter) append(d arrow.ArrayData, off, n uint64) error {
	page := uint64(c.w.opts.PageSize)
	start := uint64(d.Offset()) + off
	var offs, raw []byte
	if d.Buffers()[1] != nil {
		offs = d.Buffers()[1].Bytes()
	}
	if d.Buffers()[2] != nil {
		raw = d.Buffers()[2].Bytes()
	}
	thr := c.w.opts.DictionaryThreshold
	for n > 0 {
		// take rows until the page is full (at least one)
		budget := page - min(page, c.size())
		base := offsetAt(offs, c.large, start)
		k := uint64(0)
		for k < n {
			k++
			if offsetAt(offs, c.large, start+k)-base+8*k >= budget {
				break
			}
		}
		end := offsetAt(offs, c.large, start+k)
		var nulls uint64
		c.valid, nulls = appendBits(c.valid, c.n, d, 0, start, k)
		c.nulls += nulls
		prev := uint64(len(c.data))
		c.data = append(c.data, raw[base:end]...)
		for i := uint64(0); i < k; i++ {
			e := offsetAt(offs, c.large, start+i+1)
			c.ends = append(c.ends, prev+e-base)
			if c.distinct != nil && len(c.distinct) < thr && bitutil.BitIsSet(c.valid, int(c.n+i)) {
				c.distinct[string(raw[offsetAt(offs, c.large, start+i):e])] = struct{}{}
			}
		}
		c.n += k
		start, n = start+k, n-k
		if c.size() >= page {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *varWriter) flush() error {
	if c.n == 0 {
		return nil
	}
	thr := uint64(c.w.opts.DictionaryThreshold)
	var bufs [][]byte
	var enc *encpb.ArrayEncoding
	if c.dict && c.n >= thr && uint64(len(c.distinct)) < thr {
		enc, bufs = c.encodeDict()
	} else {
		var err error
		if enc, bufs, err = c.encodeBinary(); err != nil {
			return err
		}
	}
	if err := c.w.writePage(c.col, c.n, bufs, enc); err != nil {
		return err
	}
	c.ends, c.data, c.valid = c.ends[:0], c.data[:0], c.valid[:0]
	c.n, c.nulls = 0, 0
	if c.distinct != nil {
		clear(c.distinct)
	}
	return nil
}

// binaryEnc is Lance's Binary encoding: u64 end offsets (nulls shifted up by
// nullAdj) in buffer bi, the bytes in buffer bi+1.
func binaryEnc(bi int, nullAdj uint64, comp *encpb.Compression) *encpb.ArrayEncoding {
	return &encpb.ArrayEncoding{ArrayEncoding: &encpb.ArrayEncoding_Binary{Binary: &encpb.Binary{
		Indices:        noNulls(flatEnc(64, bi, nil)),
		Bytes:          flatEnc(8, bi+1, comp),
		NullAdjustment: nullAdj,
	}}}
}

func (c *varWriter) encodeBinary() (*encpb.ArrayEncoding, [][]byte, error) {
	idx := make([]uint64, c.n)
	data := c.data
	var adj uint64
	if c.nulls == c.n {
		// Lance drops the bytes of an all-null page: every end is 0 (+1).
		adj, data = 1, nil
		for i := range idx {
			idx[i] = 1
		}
	} else {
		adj = c.ends[c.n-1] + 1
		for i, e := range c.ends {
			idx[i] = e
			if !bitutil.BitIsSet(c.valid, i) {
				idx[i] += adj
			}
		}
	}
	var comp *encpb.Compression
	if c.comp != nil {
		var err error
		if data, err = compress(c.comp.GetScheme(), c.comp.Level, data); err != nil {
			return nil, nil, fmt.Errorf("column %d: %w", c.col, err)
		}
		comp = proto.Clone(c.comp).(*encpb.Compression)
	}
	return binaryEnc(0, adj, comp), [][]byte{u64Bytes(idx), data}, nil
}

// encodeDict writes a Lance dictionary page: one byte per row (0 = null,
// i+1 = item i, items in order of first appearance) and the items as a
// Binary array. An all-null page gets a dictionary of one null item.
func (c *varWriter) encodeDict() (*encpb.ArrayEncoding, [][]byte) {
	idx := make([]byte, c.n)
	items := map[string]byte{}
	var ends []uint64
	var data []byte
	var start uint64
	for i := range c.n {
		end := c.ends[i]
		if bitutil.BitIsSet(c.valid, int(i)) {
			v := c.data[start:end]
			k, ok := items[string(v)]
			if !ok {
				data = append(data, v...)
				ends = append(ends, uint64(len(data)))
				k = byte(len(ends))
				items[string(v)] = k
			}
			idx[i] = k
		}
		start = end
	}
	adj := uint64(len(data)) + 1
	if len(ends) == 0 {
		ends, adj = []uint64{1}, 1
	}
	enc := &encpb.ArrayEncoding{ArrayEncoding: &encpb.ArrayEncoding_Dictionary{Dictionary: &encpb.Dictionary{
		Indices:            noNulls(flatEnc(8, 0, nil)),
		Items:              binaryEnc(1, adj, nil),
		NumDictionaryItems: uint32(len(ends)),
	}}}
	return enc, [][]byte{idx, u64Bytes(ends), data}
}

func (c *varWriter) finish(uint64) error { return nil }

// listWriter writes a list's offsets column; its items go to the child.
type listWriter struct {
	w        *Writer
	col      int
	large    bool
	ends     []uint64 // per row: end of its items within the page's items
	valid    []byte
	n, nulls uint64
	items    uint64 // items referenced by the buffered rows
	child    colWriter
}

func (c *listWriter) append(d arrow.ArrayData, off, n uint64) error {
	page := uint64(c.w.opts.PageSize)
	start := uint64(d.Offset()) + off
	var offs []byte
	if d.Buffers()[1] != nil {
		offs = d.Buffers()[1].Bytes()
	}
	for n > 0 {
		room := page - min(page, 8*c.n+uint64(len(c.valid)))
		k := min(n, max(1, room/8))
		base := offsetAt(offs, c.large, start)
		for i := uint64(1); i <= k; i++ {
			c.ends = append(c.ends, c.items+offsetAt(offs, c.large, start+i)-base)
		}
		var nulls uint64
		c.valid, nulls = appendBits(c.valid, c.n, d, 0, start, k)
		c.nulls += nulls
		end := offsetAt(offs, c.large, start+k)
		c.items += end - base
		c.n += k
		if err := c.child.append(d.Children()[0], base, end-base); err != nil {
			return err
		}
		start, n = start+k, n-k
		if 8*c.n >= page {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush writes the offsets page and then flushes the items, so that no
// items page is shared by two offsets pages (Lance's reader relies on it).
func (c *listWriter) flush() error {
	if c.n > 0 {
		adj := c.items + 1
		idx := make([]uint64, c.n)
		for i, e := range c.ends {
			idx[i] = e
			if !bitutil.BitIsSet(c.valid, i) {
				idx[i] += adj
			}
		}
		enc := &encpb.ArrayEncoding{ArrayEncoding: &encpb.ArrayEncoding_List{List: &encpb.List{
			Offsets:              noNulls(flatEnc(64, 0, nil)),
			NullOffsetAdjustment: adj,
			NumItems:             c.items,
		}}}
		if err := c.w.writePage(c.col, c.n, [][]byte{u64Bytes(idx)}, enc); err != nil {
			return err
		}
		c.ends, c.valid = c.ends[:0], c.valid[:0]
		c.n, c.nulls, c.items = 0, 0, 0
	}
	return c.child.flush()
}

func (c *listWriter) finish(uint64) error { return c.child.finish(0) }

// structWriter writes the struct's header column and its members. Lance
// 2.0 has no struct-level validity, so null structs are refused rather than
// silently turned into structs of whatever their members hold; current
// Lance refuses them the same way.
type structWriter struct {
	w        *Writer
	col      int
	name     string
	rows     uint64
	children []colWriter
}

func (c *structWriter) append(d arrow.ArrayData, off, n uint64) error {
	if v := d.Buffers()[0]; v != nil && d.NullN() > 0 {
		start := d.Offset() + int(off)
		if nulls := int(n) - bitutil.CountSetBits(v.Bytes(), start, int(n)); nulls > 0 {
			return &locErr{where: fmt.Sprintf("field %q", c.name), kind: ErrUnsupported,
				err: fmt.Errorf("%d null structs: Lance file format 2.0 cannot store struct validity (members may be null)", nulls)}
		}
	}
	// Struct children are indexed through the parent's offset.
	for i, cw := range c.children {
		if err := cw.append(d.Children()[i], uint64(d.Offset())+off, n); err != nil {
			return err
		}
	}
	c.rows += n
	return nil
}

func (c *structWriter) flush() error {
	for _, cw := range c.children {
		if err := cw.flush(); err != nil {
			return err
		}
	}
	return nil
}

// finish writes the header: one page, no buffers, the struct's row count.
func (c *structWriter) finish(uint64) error {
	enc := &encpb.ArrayEncoding{ArrayEncoding: &encpb.ArrayEncoding_Struct{Struct: &encpb.SimpleStruct{}}}
	if err := c.w.writePage(c.col, c.rows, nil, enc); err != nil {
		return err
	}
	for _, cw := range c.children {
		if err := cw.finish(0); err != nil {
			return err
		}
	}
	return nil
}

// nullWriter writes an Arrow Null column: AllNull pages, no buffers.
type nullWriter struct {
	w   *Writer
	col int
	n   uint64
}

func (c *nullWriter) append(_ arrow.ArrayData, _, n uint64) error { c.n += n; return nil }

func (c *nullWriter) flush() error {
	if c.n == 0 {
		return nil
	}
	err := c.w.writePage(c.col, c.n, nil, allNulls())
	c.n = 0
	return err
}

func (c *nullWriter) finish(uint64) error { return nil }
