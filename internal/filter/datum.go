package filter

import (
	"context"
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// datum is an evaluated operand: an array with one value per row, or a
// scalar held as a one-element array that stands for every row. Whoever
// receives a datum owns one reference to arr and must release it.
type datum struct {
	arr    arrow.Array
	scalar bool
}

func (d datum) release() {
	if d.arr != nil {
		d.arr.Release()
	}
}

// nullAt reports whether row i of a is NULL. Arrays of the Null type have
// no bitmap and report IsNull false in arrow-go, so they are special-cased.
func nullAt(a arrow.Array, i int) bool {
	return a.DataType().ID() == arrow.NULL || a.IsNull(i)
}

// node is a bound, type-checked expression.
type node interface {
	dtype() arrow.DataType
	// eval returns a datum of dtype() owned by the caller.
	eval(ec *evalCtx) (datum, error)
}

type evalCtx struct {
	ctx context.Context
	rec arrow.RecordBatch // nil while folding constants
	mem memory.Allocator
	n   int // rows in rec
}

// rows is the length of a kernel's output over the given operands: 1 if all
// are scalars (the result is then a scalar too), else the batch length.
func (ec *evalCtx) rows(ds ...datum) (int, bool) {
	for _, d := range ds {
		if !d.scalar {
			return d.arr.Len(), false
		}
	}
	return 1, true
}

// fixedValues views the values of a fixed-width array as a typed slice.
func fixedValues[T arrow.FixedWidthType](a arrow.Array) []T {
	d := a.Data()
	bufs := d.Buffers()
	if len(bufs) < 2 || bufs[1] == nil || d.Len() == 0 {
		return nil
	}
	vals := arrow.GetData[T](bufs[1].Bytes())
	return vals[d.Offset() : d.Offset()+d.Len()]
}

// strView gives access to the values of a utf8/binary (O=int32) or
// large_utf8/large_binary (O=int64) array without per-row allocation.
type strView[O int32 | int64] struct {
	offs []O // absolute offsets into data, len = rows+1
	data []byte
}

func (v strView[O]) at(i int) []byte { return v.data[v.offs[i]:v.offs[i+1]] }

func newStrView[O int32 | int64](a arrow.Array) strView[O] {
	d := a.Data()
	bufs := d.Buffers()
	var v strView[O]
	if bufs[1] != nil && d.Len() > 0 {
		v.offs = arrow.GetData[O](bufs[1].Bytes())[d.Offset() : d.Offset()+d.Len()+1]
	} else {
		v.offs = make([]O, d.Len()+1)
	}
	if len(bufs) > 2 && bufs[2] != nil {
		v.data = bufs[2].Bytes()
	}
	return v
}

// bytesAt returns row i of a string or binary array (either offset width).
// It is for per-row paths that are not hot; kernels use strView directly.
func bytesAt(a arrow.Array, i int) []byte {
	switch a := a.(type) {
	case *array.String:
		return unsafe.Slice(unsafe.StringData(a.Value(i)), len(a.Value(i)))
	case *array.LargeString:
		return unsafe.Slice(unsafe.StringData(a.Value(i)), len(a.Value(i)))
	case *array.Binary:
		return a.Value(i)
	case *array.LargeBinary:
		return a.Value(i)
	}
	return nil
}

// newBuffer allocates an n-byte buffer from mem. Its content is undefined.
func newBuffer(mem memory.Allocator, n int) *memory.Buffer {
	b := memory.NewResizableBuffer(mem)
	b.Resize(n)
	return b
}

func newBitmap(mem memory.Allocator, n int) *memory.Buffer {
	b := newBuffer(mem, int(bitutil.BytesForBits(int64(n))))
	clear(b.Bytes())
	return b
}

// makeArray builds an array and takes over the caller's references to the
// buffers (nil validity means no nulls).
func makeArray(dt arrow.DataType, n int, validity *memory.Buffer, bufs ...*memory.Buffer) arrow.Array {
	all := append([]*memory.Buffer{validity}, bufs...)
	nulls := 0
	if validity != nil {
		nulls = array.UnknownNullCount
	}
	data := array.NewData(dt, n, all, nil, nulls, 0)
	arr := array.MakeFromData(data)
	data.Release()
	for _, b := range all {
		if b != nil {
			b.Release()
		}
	}
	return arr
}

// newFixed allocates an uninitialised fixed-width output array's values.
func newFixed[T arrow.FixedWidthType](mem memory.Allocator, n int) (*memory.Buffer, []T) {
	var z T
	buf := newBuffer(mem, n*int(unsafe.Sizeof(z)))
	return buf, arrow.GetData[T](buf.Bytes())[:n]
}

// validityOf returns the null bitmap of an elementwise result over ds: a
// row is valid when every input is. It returns nil when nothing is null,
// and allNull when a scalar input is NULL.
func validityOf(mem memory.Allocator, n int, ds ...datum) (buf *memory.Buffer, allNull bool) {
	for _, d := range ds {
		if isNull(d.arr.DataType()) || (d.scalar && nullAt(d.arr, 0)) {
			if buf != nil {
				buf.Release()
			}
			return nil, true
		}
		if d.scalar {
			continue
		}
		if d.arr.NullN() == 0 {
			continue
		}
		data := d.arr.Data()
		src := data.Buffers()[0]
		if buf == nil {
			if data.Offset() == 0 && data.Len() == n {
				src.Retain()
				buf = src
				continue
			}
			buf = newBitmap(mem, n)
			bitutil.CopyBitmap(src.Bytes(), data.Offset(), n, buf.Bytes(), 0)
			continue
		}
		out := newBitmap(mem, n)
		bitutil.BitmapAnd(buf.Bytes(), src.Bytes(), 0, int64(data.Offset()), out.Bytes(), 0, int64(n))
		buf.Release()
		buf = out
	}
	return buf, false
}

// nullDatum is an all-NULL datum of type dt.
func nullDatum(mem memory.Allocator, dt arrow.DataType, n int, scalar bool) datum {
	return datum{arr: array.MakeArrayOfNull(mem, dt, n), scalar: scalar}
}

// validAt reports whether row i is valid in an optional bitmap.
func validAt(bm []byte, i int) bool { return bm == nil || bitutil.BitIsSet(bm, i) }

func bufBytes(b *memory.Buffer) []byte {
	if b == nil {
		return nil
	}
	return b.Bytes()
}

// chunkLen is the number of rows kernels evaluate into a bool scratch array
// before packing them into a bitmap; a multiple of 8 keeps chunks byte aligned.
const chunkLen = 256

// packBools writes t (0/1 bytes) as bits into out, LSB first. The multiply
// gathers the low bit of each of 8 bytes into the top byte; no partial
// products collide, so nothing carries.
func packBools(t []bool, out []byte) {
	bs := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(t))), len(t))
	k := 0
	for ; k+8 <= len(bs); k += 8 {
		w := binary.LittleEndian.Uint64(bs[k:])
		out[k>>3] = byte((w * 0x0102040810204080) >> 56)
	}
	if k < len(bs) {
		var b byte
		for j := k; j < len(bs); j++ {
			b |= bs[j] << (j - k)
		}
		out[k>>3] = b
	}
}

// boolBits returns the values and validity bitmaps of a boolean array,
// copied to offset 0 when the array is sliced.
func boolBits(mem memory.Allocator, a arrow.Array) (vals, valid *memory.Buffer) {
	data := a.Data()
	n, off := data.Len(), data.Offset()
	bufs := data.Buffers()
	take := func(src *memory.Buffer) *memory.Buffer {
		if off == 0 {
			src.Retain()
			return src
		}
		out := newBitmap(mem, n)
		bitutil.CopyBitmap(src.Bytes(), off, n, out.Bytes(), 0)
		return out
	}
	if bufs[1] != nil {
		vals = take(bufs[1])
	} else {
		vals = newBitmap(mem, n)
	}
	if a.NullN() > 0 && bufs[0] != nil {
		valid = take(bufs[0])
	}
	return vals, valid
}

// broadcast expands a scalar datum into an array of n rows.
func broadcast(mem memory.Allocator, d datum, n int) (arrow.Array, error) {
	if !d.scalar {
		d.arr.Retain()
		return d.arr, nil
	}
	dt := d.arr.DataType()
	if nullAt(d.arr, 0) {
		return array.MakeArrayOfNull(mem, dt, n), nil
	}
	switch a := d.arr.(type) {
	case *array.Boolean:
		vals := newBitmap(mem, n)
		if a.Value(0) {
			bitutil.SetBitsTo(vals.Bytes(), 0, int64(n), true)
		}
		return makeArray(dt, n, nil, vals), nil
	case *array.String, *array.Binary:
		v := bytesAt(a, 0)
		if len(v) > 0 && n > math.MaxInt32/len(v) {
			return nil, evalErrorf(0, "constant repeated %d times exceeds 2 GiB", n)
		}
		offBuf, offs := newFixed[int32](mem, n+1)
		data := newBuffer(mem, len(v)*n)
		for i := 0; i <= n; i++ {
			offs[i] = int32(i * len(v))
		}
		for i := 0; i < n; i++ {
			copy(data.Bytes()[i*len(v):], v)
		}
		return makeArray(dt, n, nil, offBuf, data), nil
	}
	if fw, ok := dt.(arrow.FixedWidthDataType); ok && fw.BitWidth()%8 == 0 && len(d.arr.Data().Buffers()) == 2 {
		w := fw.BitWidth() / 8
		src := d.arr.Data().Buffers()[1].Bytes()[d.arr.Data().Offset()*w:][:w]
		buf := newBuffer(mem, n*w)
		out := buf.Bytes()
		for i := 0; i < n; i++ {
			copy(out[i*w:], src)
		}
		return makeArray(dt, n, nil, buf), nil
	}
	// Nested constants (list literals) are rare as whole results; repeat
	// the one-row array through Concatenate.
	parts := make([]arrow.Array, n)
	for i := range parts {
		parts[i] = d.arr
	}
	if n == 0 {
		return array.MakeArrayOfNull(mem, dt, 0), nil
	}
	return array.Concatenate(parts, mem)
}
