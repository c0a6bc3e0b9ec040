package filter

import (
	"bytes"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// listElemOK lists the element types the array_* functions can compare.
func listElemOK(dt arrow.DataType) bool {
	return isNumeric(dt) && dt.ID() != arrow.FLOAT16 || isString(dt) || isBinary(dt) ||
		isTemporal(dt) || dt.ID() == arrow.BOOL
}

func (b *binder) listArg(c *Call, args []node, i int) (node, arrow.DataType, error) {
	x := args[i]
	if !isList(x.dtype()) {
		return nil, nil, bindErrorf(c.Args[i].Pos(), "%s() needs a list, not %s", c.Name, typeName(x.dtype()))
	}
	et := listElem(x.dtype())
	if !listElemOK(et) {
		return nil, nil, bindErrorf(c.Args[i].Pos(), "%s() does not support lists of %s", c.Name, typeName(et))
	}
	return x, et, nil
}

// coerceTo converts x to dt for use against list elements: constants must
// convert exactly (strings are parsed as dates, timestamps or bytes).
func (b *binder) coerceTo(e Expr, x node, dt arrow.DataType) (node, error) {
	x = b.nullAs(x, dt)
	if arrow.TypeEqual(x.dtype(), dt) {
		return x, nil
	}
	if c, ok := x.(*constNode); ok {
		if isString(c.dtype()) && (isTemporal(dt) || isBinary(dt)) {
			return b.cast(e.Pos(), c, dt, false)
		}
		if comparableTypes(dt, c.dtype()) {
			if cv, ok := b.exactConst(c, dt); ok {
				return cv, nil
			}
		}
		return nil, bindErrorf(e.Pos(), "%s value cannot be compared with elements of type %s", typeName(c.dtype()), typeName(dt))
	}
	if !comparableTypes(dt, x.dtype()) {
		return nil, bindErrorf(e.Pos(), "%s cannot be compared with list elements of type %s", typeName(x.dtype()), typeName(dt))
	}
	return b.cast(e.Pos(), x, dt, false)
}

func bindArrayHas(b *binder, c *Call, args []node) (node, error) {
	if err := wantArgs(c, args, 2, 2); err != nil {
		return nil, err
	}
	l, et, err := b.listArg(c, args, 0)
	if err != nil {
		return nil, err
	}
	v, err := b.coerceTo(c.Args[1], args[1], et)
	if err != nil {
		return nil, err
	}
	return b.fold(&listMatchNode{mode: modeHas, l: l, r: v}, l, v)
}

func bindArrayHasAny(b *binder, c *Call, args []node) (node, error) {
	return bindListPair(b, c, args, modeHasAny)
}

func bindArrayHasAll(b *binder, c *Call, args []node) (node, error) {
	return bindListPair(b, c, args, modeHasAll)
}

func bindListPair(b *binder, c *Call, args []node, mode listMode) (node, error) {
	if err := wantArgs(c, args, 2, 2); err != nil {
		return nil, err
	}
	l, et, err := b.listArg(c, args, 0)
	if err != nil {
		return nil, err
	}
	r := b.nullAs(args[1], arrow.ListOf(et))
	if !isList(r.dtype()) {
		return nil, bindErrorf(c.Args[1].Pos(), "%s() needs a list as second argument, not %s", c.Name, typeName(r.dtype()))
	}
	if rt := listElem(r.dtype()); !arrow.TypeEqual(rt, et) {
		rc, ok := r.(*constNode)
		if !ok {
			return nil, bindErrorf(c.Args[1].Pos(), "%s() compares list<%s> with list<%s>", c.Name, typeName(et), typeName(rt))
		}
		if r, err = b.coerceListConst(c.Args[1], rc, et); err != nil {
			return nil, err
		}
	}
	return b.fold(&listMatchNode{mode: mode, l: l, r: r}, l, r)
}

// coerceListConst converts the elements of a one-row list constant to et.
func (b *binder) coerceListConst(e Expr, c *constNode, et arrow.DataType) (node, error) {
	if nullAt(c.val, 0) {
		return b.nullConst(arrow.ListOf(et)), nil
	}
	lv := newListView(c.val)
	vals := array.NewSlice(lv.values, lv.offs[0], lv.offs[1])
	defer vals.Release()
	parts := make([]arrow.Array, vals.Len())
	for i := range parts {
		one := array.NewSlice(vals, int64(i), int64(i+1))
		x, err := b.coerceTo(e, &constNode{val: one}, et)
		if err != nil {
			return nil, err
		}
		parts[i] = x.(*constNode).val
	}
	out, err := makeListConst(b, et, parts)
	if err != nil {
		return nil, bindErrorf(e.Pos(), "%v", err)
	}
	return &constNode{val: out}, nil
}

func bindArrayLength(b *binder, c *Call, args []node) (node, error) {
	if err := wantArgs(c, args, 1, 1); err != nil {
		return nil, err
	}
	if isNull(args[0].dtype()) {
		return b.nullConst(arrow.PrimitiveTypes.Uint64), nil
	}
	if !isList(args[0].dtype()) {
		return nil, bindErrorf(c.Args[0].Pos(), "%s() needs a list, not %s", c.Name, typeName(args[0].dtype()))
	}
	return b.fold(&listLenNode{x: args[0]}, args[0])
}

// listView exposes any list-like array as offsets into its child values.
type listView struct {
	offs   []int64 // rows+1 entries, indices into values
	values arrow.Array
}

func newListView(a arrow.Array) listView {
	n, off := a.Len(), a.Data().Offset()
	offs := make([]int64, n+1)
	switch l := a.(type) {
	case *array.List:
		if o := l.Offsets(); len(o) > 0 {
			for i := range offs {
				offs[i] = int64(o[off+i])
			}
		}
		return listView{offs: offs, values: l.ListValues()}
	case *array.LargeList:
		if o := l.Offsets(); len(o) > 0 {
			copy(offs, o[off:off+n+1])
		}
		return listView{offs: offs, values: l.ListValues()}
	case *array.FixedSizeList:
		size := int64(l.DataType().(*arrow.FixedSizeListType).Len())
		for i := range offs {
			offs[i] = int64(off+i) * size
		}
		return listView{offs: offs, values: l.ListValues()}
	}
	return listView{offs: offs, values: a} // unreachable after binding
}

// listLenNode is array_length; like DataFusion it returns uint64.
type listLenNode struct{ x node }

func (n *listLenNode) dtype() arrow.DataType { return arrow.PrimitiveTypes.Uint64 }

func (n *listLenNode) eval(ec *evalCtx) (datum, error) {
	x, err := n.x.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer x.release()
	lv := newListView(x.arr)
	rows := x.arr.Len()
	buf, out := newFixed[uint64](ec.mem, rows)
	for i := range out {
		out[i] = uint64(lv.offs[i+1] - lv.offs[i])
	}
	valid, _ := validityOf(ec.mem, rows, x)
	return datum{arr: makeArray(n.dtype(), rows, valid, buf), scalar: x.scalar}, nil
}

type listMode uint8

const (
	modeHas    listMode = iota // array_has(list, value)
	modeHasAny                 // array_has_any(list, list)
	modeHasAll                 // array_has_all(list, list)
)

// listMatchNode implements array_has / array_has_any / array_has_all. NULL
// elements never match; a NULL list or NULL needle gives NULL.
type listMatchNode struct {
	mode listMode
	l, r node
}

func (n *listMatchNode) dtype() arrow.DataType { return boolType() }

func (n *listMatchNode) eval(ec *evalCtx) (datum, error) {
	l, err := n.l.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer l.release()
	r, err := n.r.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer r.release()
	rows, scalar := ec.rows(l, r)
	valid, allNull := validityOf(ec.mem, rows, l, r)
	if allNull {
		return nullDatum(ec.mem, boolType(), rows, scalar), nil
	}
	lv := newListView(l.arr)
	job := matchJob{mode: n.mode, lv: lv, lScalar: l.scalar, rScalar: r.scalar, rows: rows,
		lValid: validBits(lv.values), match: make([]bool, rows)}
	other := r.arr
	if n.mode != modeHas {
		job.rv = newListView(r.arr)
		other = job.rv.values
		job.rValid = validBits(other)
	}
	runMatch(&job, lv.values, other)
	return datum{arr: boolsToArray(ec.mem, job.match, valid), scalar: scalar}, nil
}

// bits is a validity bitmap with its offset; a nil bitmap means all valid.
type bits struct {
	bm  []byte
	off int
}

func (b bits) ok(j int) bool { return b.bm == nil || bitutil.BitIsSet(b.bm, b.off+j) }

func validBits(a arrow.Array) bits {
	if a.NullN() == 0 {
		return bits{}
	}
	return bits{bm: a.NullBitmapBytes(), off: a.Data().Offset()}
}

type matchJob struct {
	mode             listMode
	lv, rv           listView
	lValid, rValid   bits
	lScalar, rScalar bool
	rows             int
	match            []bool
}

// eqer compares element j of the receiver with element k of another set of
// elements of the same representation.
type eqer[E any] interface{ eq(j int, o E, k int) bool }

type fixedEls[T comparable] struct{ v []T }

func (e fixedEls[T]) eq(j int, o fixedEls[T], k int) bool { return e.v[j] == o.v[k] }

type bytesEls[O int32 | int64] struct{ v strView[O] }

func (e bytesEls[O]) eq(j int, o bytesEls[O], k int) bool { return bytes.Equal(e.v.at(j), o.v.at(k)) }

type boolEls struct{ b *array.Boolean }

func (e boolEls) eq(j int, o boolEls, k int) bool { return e.b.Value(j) == o.b.Value(k) }

func floatKeys(a arrow.Array) fixedEls[int64] {
	var keys []int64
	if a.DataType().ID() == arrow.FLOAT32 {
		for _, v := range fixedValues[float32](a) {
			keys = append(keys, int64(floatKey32(v)))
		}
	} else {
		for _, v := range fixedValues[float64](a) {
			keys = append(keys, floatKey(v))
		}
	}
	return fixedEls[int64]{v: keys}
}

func runMatch(j *matchJob, a, b arrow.Array) {
	switch a.DataType().ID() {
	case arrow.INT8:
		matchRows(j, fixedEls[int8]{fixedValues[int8](a)}, fixedEls[int8]{fixedValues[int8](b)})
	case arrow.INT16:
		matchRows(j, fixedEls[int16]{fixedValues[int16](a)}, fixedEls[int16]{fixedValues[int16](b)})
	case arrow.INT32, arrow.DATE32:
		matchRows(j, fixedEls[int32]{fixedValues[int32](a)}, fixedEls[int32]{fixedValues[int32](b)})
	case arrow.INT64, arrow.TIMESTAMP:
		matchRows(j, fixedEls[int64]{fixedValues[int64](a)}, fixedEls[int64]{fixedValues[int64](b)})
	case arrow.UINT8:
		matchRows(j, fixedEls[uint8]{fixedValues[uint8](a)}, fixedEls[uint8]{fixedValues[uint8](b)})
	case arrow.UINT16:
		matchRows(j, fixedEls[uint16]{fixedValues[uint16](a)}, fixedEls[uint16]{fixedValues[uint16](b)})
	case arrow.UINT32:
		matchRows(j, fixedEls[uint32]{fixedValues[uint32](a)}, fixedEls[uint32]{fixedValues[uint32](b)})
	case arrow.UINT64:
		matchRows(j, fixedEls[uint64]{fixedValues[uint64](a)}, fixedEls[uint64]{fixedValues[uint64](b)})
	case arrow.FLOAT32, arrow.FLOAT64:
		matchRows(j, floatKeys(a), floatKeys(b))
	case arrow.STRING, arrow.BINARY:
		matchRows(j, bytesEls[int32]{newStrView[int32](a)}, bytesEls[int32]{newStrView[int32](b)})
	case arrow.LARGE_STRING, arrow.LARGE_BINARY:
		matchRows(j, bytesEls[int64]{newStrView[int64](a)}, bytesEls[int64]{newStrView[int64](b)})
	case arrow.BOOL:
		matchRows(j, boolEls{a.(*array.Boolean)}, boolEls{b.(*array.Boolean)})
	}
}

func matchRows[E eqer[E]](j *matchJob, a, b E) {
	for i := range j.rows {
		li, ri := i, i
		if j.lScalar {
			li = 0
		}
		if j.rScalar {
			ri = 0
		}
		lo, hi := j.lv.offs[li], j.lv.offs[li+1]
		if j.mode == modeHas {
			j.match[i] = contains(a, j.lValid, int(lo), int(hi), b, ri)
			continue
		}
		rlo, rhi := j.rv.offs[ri], j.rv.offs[ri+1]
		all := true
		anyHit := false
		for k := int(rlo); k < int(rhi); k++ {
			if !j.rValid.ok(k) {
				continue
			}
			if contains(a, j.lValid, int(lo), int(hi), b, k) {
				anyHit = true
				if j.mode == modeHasAny {
					break
				}
			} else {
				all = false
				if j.mode == modeHasAll {
					break
				}
			}
		}
		if j.mode == modeHasAny {
			j.match[i] = anyHit
		} else {
			j.match[i] = all
		}
	}
}

func contains[E eqer[E]](a E, valid bits, lo, hi int, b E, k int) bool {
	for x := lo; x < hi; x++ {
		if valid.ok(x) && a.eq(x, b, k) {
			return true
		}
	}
	return false
}

// absNode is abs(); the most negative integer has no absolute value.
type absNode struct {
	x   node
	pos int
}

func (n *absNode) dtype() arrow.DataType { return n.x.dtype() }

func (n *absNode) eval(ec *evalCtx) (datum, error) {
	x, err := n.x.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer x.release()
	rows := x.arr.Len()
	valid, _ := validityOf(ec.mem, rows, x)
	var d datum
	switch n.dtype().ID() {
	case arrow.INT8:
		d, err = absOf[int8](ec, x, valid, n.pos)
	case arrow.INT16:
		d, err = absOf[int16](ec, x, valid, n.pos)
	case arrow.INT32:
		d, err = absOf[int32](ec, x, valid, n.pos)
	case arrow.INT64:
		d, err = absOf[int64](ec, x, valid, n.pos)
	case arrow.FLOAT32:
		d, err = absOf[float32](ec, x, valid, n.pos)
	default:
		d, err = absOf[float64](ec, x, valid, n.pos)
	}
	return d, err
}

func absOf[T int8 | int16 | int32 | int64 | float32 | float64](ec *evalCtx, x datum, valid *memory.Buffer, pos int) (datum, error) {
	src := fixedValues[T](x.arr)
	buf, out := newFixed[T](ec.mem, len(src))
	for i, v := range src {
		if v < 0 {
			v = -v
			if v < 0 && validAt(bufBytes(valid), i) {
				return failDatum(buf, valid, evalErrorf(pos, "%s overflow on abs(%v)", typeName(x.arr.DataType()), src[i]))
			}
		}
		out[i] = v
	}
	return datum{arr: makeArray(x.arr.DataType(), len(src), valid, buf), scalar: x.scalar}, nil
}
