package filter

import (
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// takeable reports whether gather can copy values of type dt.
func takeable(dt arrow.DataType) bool {
	return isNumeric(dt) || isString(dt) || isBinary(dt) || isTemporal(dt) ||
		dt.ID() == arrow.BOOL || isNull(dt)
}

func supportedDictValue(dt arrow.DataType) bool { return takeable(dt) && !isNull(dt) }

// gather builds an array of type dt whose row i is row rows[i] of
// srcs[which[i]], or NULL when which[i] < 0. It backs dictionary decoding,
// list indexing and coalesce.
func gather(mem memory.Allocator, dt arrow.DataType, srcs []arrow.Array, which []int32, rows []int) (arrow.Array, error) {
	n := len(which)
	if isNull(dt) {
		return array.MakeArrayOfNull(mem, dt, n), nil
	}
	valid := newBitmap(mem, n)
	vb := valid.Bytes()
	nulls := 0
	for i, w := range which {
		if w >= 0 && srcs[w].IsValid(rows[i]) {
			bitutil.SetBit(vb, i)
		} else {
			which[i] = -1
			nulls++
		}
	}
	if nulls == 0 {
		valid.Release()
		valid = nil
	}
	switch {
	case dt.ID() == arrow.BOOL:
		vals := newBitmap(mem, n)
		for i, w := range which {
			if w >= 0 && srcs[w].(*array.Boolean).Value(rows[i]) {
				bitutil.SetBit(vals.Bytes(), i)
			}
		}
		return makeArray(dt, n, valid, vals), nil
	case isString(dt) || isBinary(dt):
		return gatherBytes(mem, dt, srcs, which, rows, valid)
	}
	var buf *memory.Buffer
	switch dt.(arrow.FixedWidthDataType).BitWidth() {
	case 8:
		buf = gatherFixed[uint8](mem, srcs, which, rows)
	case 16:
		buf = gatherFixed[uint16](mem, srcs, which, rows)
	case 32:
		buf = gatherFixed[uint32](mem, srcs, which, rows)
	default:
		buf = gatherFixed[uint64](mem, srcs, which, rows)
	}
	return makeArray(dt, n, valid, buf), nil
}

// gatherFixed copies values by width only, so one instance serves every
// type of that width (ints, floats, dates, timestamps).
func gatherFixed[T uint8 | uint16 | uint32 | uint64](mem memory.Allocator, srcs []arrow.Array, which []int32, rows []int) *memory.Buffer {
	vals := make([][]T, len(srcs))
	for k, s := range srcs {
		vals[k] = fixedValues[T](s)
	}
	buf, out := newFixed[T](mem, len(which))
	for i, w := range which {
		if w < 0 {
			out[i] = 0
			continue
		}
		out[i] = vals[w][rows[i]]
	}
	return buf
}

func gatherBytes(mem memory.Allocator, dt arrow.DataType, srcs []arrow.Array, which []int32, rows []int, valid *memory.Buffer) (arrow.Array, error) {
	n := len(which)
	total := 0
	for i, w := range which {
		if w >= 0 {
			total += len(bytesAt(srcs[w], rows[i]))
		}
	}
	large := isLargeOffsets(dt)
	if !large && total > math.MaxInt32 {
		if valid != nil {
			valid.Release()
		}
		return nil, evalErrorf(0, "result exceeds 2 GiB of string data")
	}
	data := newBuffer(mem, total)
	db := data.Bytes()
	pos := 0
	var offBuf *memory.Buffer
	var o32 []int32
	var o64 []int64
	if large {
		offBuf, o64 = newFixed[int64](mem, n+1)
	} else {
		offBuf, o32 = newFixed[int32](mem, n+1)
	}
	for i, w := range which {
		if large {
			o64[i] = int64(pos)
		} else {
			o32[i] = int32(pos)
		}
		if w >= 0 {
			pos += copy(db[pos:], bytesAt(srcs[w], rows[i]))
		}
	}
	if large {
		o64[n] = int64(pos)
	} else {
		o32[n] = int32(pos)
	}
	return makeArray(dt, n, valid, offBuf, data), nil
}

// coalesceNode returns, per row, the first non-NULL argument.
type coalesceNode struct {
	args []node
	typ  arrow.DataType
}

func (n *coalesceNode) dtype() arrow.DataType { return n.typ }

func (n *coalesceNode) eval(ec *evalCtx) (datum, error) {
	ds := make([]datum, 0, len(n.args))
	defer func() {
		for _, d := range ds {
			d.release()
		}
	}()
	for _, a := range n.args {
		d, err := a.eval(ec)
		if err != nil {
			return datum{}, err
		}
		ds = append(ds, d)
	}
	rows, scalar := ec.rows(ds...)
	which := make([]int32, rows)
	idx := make([]int, rows)
	srcs := make([]arrow.Array, len(ds))
	for k, d := range ds {
		srcs[k] = d.arr
	}
	for i := range which {
		which[i] = -1
		for k, d := range ds {
			r := i
			if d.scalar {
				r = 0
			}
			if !nullAt(d.arr, r) {
				which[i], idx[i] = int32(k), r
				break
			}
		}
	}
	out, err := gather(ec.mem, n.typ, srcs, which, idx)
	if err != nil {
		return datum{}, err
	}
	return datum{arr: out, scalar: scalar}, nil
}

// fieldNode reads a struct field of a computed struct value.
type fieldNode struct {
	x   node
	idx int
	typ arrow.DataType
}

func (n *fieldNode) dtype() arrow.DataType { return n.typ }

func (n *fieldNode) eval(ec *evalCtx) (datum, error) {
	x, err := n.x.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer x.release()
	st := x.arr.(*array.Struct)
	return datum{arr: withParentNulls(ec.mem, st.Field(n.idx), st), scalar: x.scalar}, nil
}

// listIndexNode is list[i]: 1-based, negative counts from the end, and an
// index outside the list (or 0) gives NULL, as DataFusion's array_element.
type listIndexNode struct {
	x, idx node
	typ    arrow.DataType
}

func (n *listIndexNode) dtype() arrow.DataType { return n.typ }

func (n *listIndexNode) eval(ec *evalCtx) (datum, error) {
	x, err := n.x.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer x.release()
	ix, err := n.idx.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer ix.release()
	rows, scalar := ec.rows(x, ix)
	lv := newListView(x.arr)
	ks := fixedValues[int64](ix.arr)
	which := make([]int32, rows)
	pick := make([]int, rows)
	for i := range which {
		xi, ii := i, i
		if x.scalar {
			xi = 0
		}
		if ix.scalar {
			ii = 0
		}
		which[i] = -1
		if nullAt(x.arr, xi) || nullAt(ix.arr, ii) {
			continue
		}
		lo, hi, k := lv.offs[xi], lv.offs[xi+1], ks[ii]
		switch {
		case k > 0 && k <= hi-lo:
			which[i], pick[i] = 0, int(lo+k-1)
		case k < 0 && -k <= hi-lo:
			which[i], pick[i] = 0, int(hi+k)
		}
	}
	out, err := gather(ec.mem, n.typ, []arrow.Array{lv.values}, which, pick)
	if err != nil {
		return datum{}, err
	}
	return datum{arr: out, scalar: scalar}, nil
}

// decodeNode materialises a dictionary-encoded column as plain values.
type decodeNode struct {
	x   node
	pos int
	typ arrow.DataType
}

func (n *decodeNode) dtype() arrow.DataType { return n.typ }

func (n *decodeNode) eval(ec *evalCtx) (datum, error) {
	x, err := n.x.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer x.release()
	d := x.arr.(*array.Dictionary)
	idx := d.Indices()
	// Dictionary() caches lazily inside the array, which would race when
	// several filters read one batch concurrently; build a private view.
	dict := array.MakeFromData(d.Data().Dictionary())
	defer dict.Release()
	rows := d.Len()
	which := make([]int32, rows)
	pick := make([]int, rows)
	for i := range rows {
		if nullAt(d, i) {
			which[i] = -1
			continue
		}
		k := indexAt(idx, i)
		if k < 0 || k >= dict.Len() {
			return datum{}, evalErrorf(n.pos, "dictionary index %d out of range [0, %d)", k, dict.Len())
		}
		pick[i] = k
	}
	out, err := gather(ec.mem, n.typ, []arrow.Array{dict}, which, pick)
	if err != nil {
		return datum{}, err
	}
	return datum{arr: out, scalar: x.scalar}, nil
}

func indexAt(idx arrow.Array, i int) int {
	switch a := idx.(type) {
	case *array.Int8:
		return int(a.Value(i))
	case *array.Int16:
		return int(a.Value(i))
	case *array.Int32:
		return int(a.Value(i))
	case *array.Int64:
		return int(a.Value(i))
	case *array.Uint8:
		return int(a.Value(i))
	case *array.Uint16:
		return int(a.Value(i))
	case *array.Uint32:
		return int(a.Value(i))
	case *array.Uint64:
		if v := a.Value(i); v <= math.MaxInt32 {
			return int(v)
		}
	}
	return -1
}
