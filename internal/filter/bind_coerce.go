package filter

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// literal turns a literal AST node into a one-row constant.
func (b *binder) literal(e Expr) node {
	mem := b.mem
	switch n := e.(type) {
	case *NullLit:
		return b.nullConst(arrow.Null)
	case *BoolLit:
		bb := array.NewBooleanBuilder(mem)
		bb.Append(n.Value)
		return &constNode{val: bb.NewArray()}
	case *IntLit:
		bb := array.NewInt64Builder(mem)
		bb.Append(n.Value)
		return &constNode{val: bb.NewArray()}
	case *UintLit:
		bb := array.NewUint64Builder(mem)
		bb.Append(n.Value)
		return &constNode{val: bb.NewArray()}
	case *FloatLit:
		bb := array.NewFloat64Builder(mem)
		bb.Append(n.Value)
		return &constNode{val: bb.NewArray()}
	case *StringLit:
		return b.stringConst(n.Value)
	case *BinaryLit:
		bb := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
		bb.Append(n.Value)
		return &constNode{val: bb.NewArray()}
	case *DateLit:
		bb := array.NewDate32Builder(mem)
		bb.Append(arrow.Date32(n.Days))
		return &constNode{val: bb.NewArray()}
	case *TimestampLit:
		bb := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: arrow.Nanosecond})
		bb.Append(arrow.Timestamp(n.Nanos))
		return &constNode{val: bb.NewArray()}
	case *IntervalLit:
		bb := array.NewMonthDayNanoIntervalBuilder(mem)
		bb.Append(arrow.MonthDayNanoInterval{Months: n.Months, Days: n.Days, Nanoseconds: n.Nanos})
		return &constNode{val: bb.NewArray()}
	}
	return b.nullConst(arrow.Null)
}

func (b *binder) stringConst(s string) *constNode {
	bb := array.NewStringBuilder(b.mem)
	bb.Append(s)
	return &constNode{val: bb.NewArray()}
}

func (b *binder) nullConst(dt arrow.DataType) *constNode {
	return &constNode{val: array.MakeArrayOfNull(b.mem, dt, 1)}
}

func intervalOf(c *constNode) (arrow.MonthDayNanoInterval, bool) {
	a, ok := c.val.(*array.MonthDayNanoInterval)
	if !ok || nullAt(a, 0) {
		return arrow.MonthDayNanoInterval{}, false
	}
	return a.Value(0), true
}

// exactConst casts constant c to dt if the value survives the round trip
// unchanged (5 → int8 does, 1000 → int8 and 2.5 → int64 do not). NULL
// constants always convert.
func (b *binder) exactConst(c *constNode, dt arrow.DataType) (*constNode, bool) {
	from := c.dtype()
	if arrow.TypeEqual(from, dt) {
		return c, true
	}
	if !canCast(from, dt) || !canCast(dt, from) {
		return nil, false
	}
	ec := &evalCtx{ctx: context.Background(), mem: b.mem, n: 1}
	to, err := (&castNode{x: c, to: dt, try: true}).eval(ec)
	if err != nil {
		return nil, false
	}
	if nullAt(c.val, 0) {
		return &constNode{val: to.arr}, true
	}
	if nullAt(to.arr, 0) {
		to.release()
		return nil, false
	}
	back, err := (&castNode{x: &constNode{val: to.arr}, to: from, try: true}).eval(ec)
	if err != nil {
		to.release()
		return nil, false
	}
	defer back.release()
	if !array.Equal(back.arr, c.val) {
		to.release()
		return nil, false
	}
	return &constNode{val: to.arr}, true
}

// coercePair brings the operands of a comparison to one type; pos is the
// operator's position, le and re locate the operands for literal errors.
func (b *binder) coercePair(pos int, le, re Expr, l, r node) (node, node, error) {
	lt, rt := l.dtype(), r.dtype()
	if arrow.TypeEqual(lt, rt) {
		return l, r, nil
	}
	if isNull(lt) {
		return b.nullAs(l, rt), r, nil
	}
	if isNull(rt) {
		return l, b.nullAs(r, lt), nil
	}
	lc, lConst := l.(*constNode)
	rc, rConst := r.(*constNode)
	// A constant takes the other side's type when it fits exactly, so
	// `int8col > 5` scans int8 values and `ts_us > TIMESTAMP '...'` scans
	// microseconds.
	sameFamily := (isNumeric(lt) && isNumeric(rt)) || (isTemporal(lt) && isTemporal(rt)) ||
		(isString(lt) && isString(rt)) || (isBinary(lt) && isBinary(rt))
	if sameFamily {
		if rConst && !lConst {
			if c, ok := b.exactConst(rc, lt); ok {
				return l, c, nil
			}
		}
		if lConst && !rConst {
			if c, ok := b.exactConst(lc, rt); ok {
				return c, r, nil
			}
		}
	}
	var target arrow.DataType
	switch {
	case isNumeric(lt) && isNumeric(rt):
		target = commonNumeric(lt, rt)
	case isString(lt) && isString(rt):
		target = arrow.BinaryTypes.LargeString
	case isBinary(lt) && isBinary(rt):
		target = arrow.BinaryTypes.LargeBinary
	case isTemporal(lt) && isTemporal(rt):
		target = commonTemporal(lt, rt)
	case isTemporal(lt) && isString(rt):
		target = lt
	case isString(lt) && isTemporal(rt):
		target = rt
	case isBinary(lt) && isString(rt):
		target = lt
	case isString(lt) && isBinary(rt):
		target = rt
	default:
		return nil, nil, bindErrorf(pos, "cannot compare %s with %s", typeName(lt), typeName(rt))
	}
	var err error
	if l, err = b.castOperand(pos, le, l, target); err != nil {
		return nil, nil, err
	}
	if r, err = b.castOperand(pos, re, r, target); err != nil {
		return nil, nil, err
	}
	return l, r, nil
}

// castOperand casts an operand; a constant that fails to convert (a string
// that is not a date) is reported at the constant's own position.
func (b *binder) castOperand(pos int, e Expr, x node, to arrow.DataType) (node, error) {
	at := pos
	if _, ok := x.(*constNode); ok && e != nil {
		at = e.Pos()
	}
	return b.cast(at, x, to, false)
}

// commonTemporal is the finer of two date/timestamp types; a date meets a
// timestamp as a timestamp.
func commonTemporal(a, b arrow.DataType) arrow.DataType {
	ta, aTS := a.(*arrow.TimestampType)
	tb, bTS := b.(*arrow.TimestampType)
	switch {
	case aTS && bTS:
		if tb.Unit > ta.Unit {
			return &arrow.TimestampType{Unit: tb.Unit, TimeZone: ta.TimeZone}
		}
		return ta
	case aTS:
		return ta
	case bTS:
		return tb
	}
	return a
}

// inSet binds `x IN (constants)` to a hash-set probe over x's type.
// Constants that cannot equal any value of x's type (1000 for an int8
// column) are dropped; a NULL in the list makes non-matches NULL.
func (b *binder) inSet(n *In, x node, items []node) (node, error) {
	dt := x.dtype()
	s := &inSetNode{x: x}
	var vals []arrow.Array
	for i, it := range items {
		c := it.(*constNode)
		if nullAt(c.val, 0) {
			s.hasNull = true
			continue
		}
		ct := c.dtype()
		switch {
		case isString(ct) && (isTemporal(dt) || isBinary(dt)):
			// A string is parsed as the column's type; bad text is an error.
			x, err := b.castOperand(n.At, n.List[i], c, dt)
			if err != nil {
				return nil, err
			}
			vals = append(vals, x.(*constNode).val)
		case comparableTypes(dt, ct):
			// A value that cannot be represented in x's type can never
			// be equal to x, so it is dropped.
			if cv, ok := b.exactConst(c, dt); ok {
				vals = append(vals, cv.val)
			}
		default:
			return nil, bindErrorf(n.List[i].Pos(), "cannot compare %s with %s", typeName(dt), typeName(ct))
		}
	}
	if err := s.build(dt, vals); err != nil {
		return nil, bindErrorf(n.At, "%v", err)
	}
	return s, nil
}

// comparableTypes reports whether coercePair would accept the pair.
func comparableTypes(a, b arrow.DataType) bool {
	switch {
	case isNumeric(a) && isNumeric(b), isString(a) && isString(b), isBinary(a) && isBinary(b),
		isTemporal(a) && isTemporal(b), isTemporal(a) && isString(b), isBinary(a) && isString(b):
		return true
	}
	return arrow.TypeEqual(a, b)
}

// arrayLit binds `[a, b, ...]` to a one-row list constant whose element type
// is the common type of the elements.
func (b *binder) arrayLit(n *ArrayLit) (node, error) {
	elems := make([]*constNode, len(n.Elems))
	var et arrow.DataType = arrow.Null
	for i, e := range n.Elems {
		x, err := b.bind(e)
		if err != nil {
			return nil, err
		}
		c, ok := x.(*constNode)
		if !ok {
			return nil, bindErrorf(e.Pos(), "array literal elements must be constants")
		}
		elems[i] = c
		dt := c.dtype()
		switch {
		case isNull(dt) || arrow.TypeEqual(dt, et):
		case isNull(et):
			et = dt
		case isNumeric(et) && isNumeric(dt):
			et = commonNumeric(et, dt)
		case isTemporal(et) && isTemporal(dt):
			et = commonTemporal(et, dt)
		case isString(et) && isString(dt):
			et = arrow.BinaryTypes.LargeString
		default:
			return nil, bindErrorf(e.Pos(), "array literal mixes %s and %s", typeName(et), typeName(dt))
		}
	}
	parts := make([]arrow.Array, len(elems))
	for i, c := range elems {
		x, err := b.cast(n.Elems[i].Pos(), b.nullAs(c, et), et, false)
		if err != nil {
			return nil, err
		}
		parts[i] = x.(*constNode).val
	}
	val, err := makeListConst(b, et, parts)
	if err != nil {
		return nil, bindErrorf(n.At, "%v", err)
	}
	return &constNode{val: val}, nil
}

func makeListConst(b *binder, et arrow.DataType, parts []arrow.Array) (arrow.Array, error) {
	var values arrow.Array
	if len(parts) == 0 {
		values = array.MakeArrayOfNull(b.mem, et, 0)
	} else {
		var err error
		if values, err = array.Concatenate(parts, b.mem); err != nil {
			return nil, fmt.Errorf("build array literal: %w", err)
		}
	}
	defer values.Release()
	offBuf, offs := newFixed[int32](b.mem, 2)
	offs[0], offs[1] = 0, int32(len(parts))
	lt := arrow.ListOf(et)
	data := array.NewData(lt, 1, []*memory.Buffer{nil, offBuf}, []arrow.ArrayData{values.Data()}, 0, 0)
	offBuf.Release()
	defer data.Release()
	return array.MakeFromData(data), nil
}
