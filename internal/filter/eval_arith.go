package filter

import (
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// arithNode is + - * / % over two operands of one numeric type. Integer
// + - * wrap on overflow and integer / % by zero fail, as in DataFusion.
type arithNode struct {
	op   BinaryOp
	l, r node
	pos  int
}

func (n *arithNode) dtype() arrow.DataType { return n.l.dtype() }

func (n *arithNode) eval(ec *evalCtx) (datum, error) {
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
	dt := n.dtype()
	valid, allNull := validityOf(ec.mem, rows, l, r)
	if allNull {
		return nullDatum(ec.mem, dt, rows, scalar), nil
	}
	k := arithArgs{op: n.op, pos: n.pos, mem: ec.mem, n: rows, l: l, r: r, valid: bufBytes(valid)}
	var buf *memory.Buffer
	switch dt.ID() {
	case arrow.INT8:
		buf, err = arithInt[int8](k)
	case arrow.INT16:
		buf, err = arithInt[int16](k)
	case arrow.INT32:
		buf, err = arithInt[int32](k)
	case arrow.INT64:
		buf, err = arithInt[int64](k)
	case arrow.UINT8:
		buf, err = arithInt[uint8](k)
	case arrow.UINT16:
		buf, err = arithInt[uint16](k)
	case arrow.UINT32:
		buf, err = arithInt[uint32](k)
	case arrow.UINT64:
		buf, err = arithInt[uint64](k)
	case arrow.FLOAT32:
		buf, err = arithFloat[float32](k)
	case arrow.FLOAT64:
		buf, err = arithFloat[float64](k)
	default:
		err = evalErrorf(n.pos, "cannot apply '%s' to %s", n.op, typeName(dt))
	}
	if err != nil {
		if valid != nil {
			valid.Release()
		}
		return datum{}, err
	}
	return datum{arr: makeArray(dt, rows, valid, buf), scalar: scalar}, nil
}

type arithArgs struct {
	op    BinaryOp
	pos   int
	mem   memory.Allocator
	n     int
	l, r  datum
	valid []byte
}

// operands returns the two value slices; a scalar side (when the other is
// an array) is returned as its single value with ok set.
func operands[T arrow.FixedWidthType](k arithArgs) (a, b []T, c T, lScalar, rScalar bool) {
	a, b = fixedValues[T](k.l.arr), fixedValues[T](k.r.arr)
	switch {
	case k.l.scalar && !k.r.scalar:
		return nil, b, a[0], true, false
	case k.r.scalar && !k.l.scalar:
		return a, nil, b[0], false, true
	}
	return a, b, c, false, false
}

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

func arithInt[T integer](k arithArgs) (*memory.Buffer, error) {
	a, b, c, ls, rs := operands[T](k)
	buf, out := newFixed[T](k.mem, k.n)
	switch k.op {
	case OpAdd, OpSub, OpMul:
		wrapOp(k.op, a, b, c, ls, rs, out)
		return buf, nil
	}
	var minus1 T
	minus1--
	for i := range out {
		var x, y T
		switch {
		case ls:
			x, y = c, b[i]
		case rs:
			x, y = a[i], c
		default:
			x, y = a[i], b[i]
		}
		if y == 0 {
			out[i] = 0
			if validAt(k.valid, i) {
				buf.Release()
				return nil, &EvalError{Pos: k.pos, Msg: "Divide by zero error", kind: ErrDivideByZero}
			}
			continue
		}
		if y == minus1 && x < 0 && -x == x {
			// MinInt / -1 does not fit; arrow-rs reports an overflow.
			if k.op == OpMod {
				out[i] = 0
				continue
			}
			if validAt(k.valid, i) {
				buf.Release()
				return nil, evalErrorf(k.pos, "arithmetic overflow: %d / -1", x)
			}
			out[i] = 0
			continue
		}
		if k.op == OpDiv {
			out[i] = x / y
		} else {
			out[i] = x % y
		}
	}
	return buf, nil
}

// wrapOp runs + - * with one tight loop per operator and operand shape.
func wrapOp[T integer | float32 | float64](op BinaryOp, a, b []T, c T, ls, rs bool, out []T) {
	switch {
	case rs:
		switch op {
		case OpAdd:
			for i, x := range a {
				out[i] = x + c
			}
		case OpSub:
			for i, x := range a {
				out[i] = x - c
			}
		case OpMul:
			for i, x := range a {
				out[i] = x * c
			}
		}
	case ls:
		switch op {
		case OpAdd:
			for i, y := range b {
				out[i] = c + y
			}
		case OpSub:
			for i, y := range b {
				out[i] = c - y
			}
		case OpMul:
			for i, y := range b {
				out[i] = c * y
			}
		}
	default:
		b = b[:len(a)]
		switch op {
		case OpAdd:
			for i, x := range a {
				out[i] = x + b[i]
			}
		case OpSub:
			for i, x := range a {
				out[i] = x - b[i]
			}
		case OpMul:
			for i, x := range a {
				out[i] = x * b[i]
			}
		}
	}
}

// arithFloat follows IEEE 754: division by zero gives ±Inf or NaN.
func arithFloat[T float32 | float64](k arithArgs) (*memory.Buffer, error) {
	a, b, c, ls, rs := operands[T](k)
	buf, out := newFixed[T](k.mem, k.n)
	switch k.op {
	case OpAdd, OpSub, OpMul:
		wrapOp(k.op, a, b, c, ls, rs, out)
		return buf, nil
	}
	for i := range out {
		var x, y T
		switch {
		case ls:
			x, y = c, b[i]
		case rs:
			x, y = a[i], c
		default:
			x, y = a[i], b[i]
		}
		if k.op == OpDiv {
			out[i] = x / y
		} else {
			out[i] = T(math.Mod(float64(x), float64(y)))
		}
	}
	return buf, nil
}

// negNode is unary minus; integers wrap like DataFusion's neg_wrapping.
type negNode struct {
	x   node
	pos int
}

func (n *negNode) dtype() arrow.DataType { return n.x.dtype() }

func (n *negNode) eval(ec *evalCtx) (datum, error) {
	x, err := n.x.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer x.release()
	rows := x.arr.Len()
	dt := n.dtype()
	if isNull(dt) {
		x.arr.Retain()
		return x, nil
	}
	valid, _ := validityOf(ec.mem, rows, x)
	var buf *memory.Buffer
	switch dt.ID() {
	case arrow.INT8:
		buf = negate1[int8](ec.mem, x.arr)
	case arrow.INT16:
		buf = negate1[int16](ec.mem, x.arr)
	case arrow.INT32:
		buf = negate1[int32](ec.mem, x.arr)
	case arrow.INT64:
		buf = negate1[int64](ec.mem, x.arr)
	case arrow.FLOAT32:
		buf = negate1[float32](ec.mem, x.arr)
	case arrow.FLOAT64:
		buf = negate1[float64](ec.mem, x.arr)
	default:
		if valid != nil {
			valid.Release()
		}
		return datum{}, evalErrorf(n.pos, "cannot negate %s", typeName(dt))
	}
	return datum{arr: makeArray(dt, rows, valid, buf), scalar: x.scalar}, nil
}

func negate1[T int8 | int16 | int32 | int64 | float32 | float64](mem memory.Allocator, a arrow.Array) *memory.Buffer {
	src := fixedValues[T](a)
	buf, out := newFixed[T](mem, len(src))
	for i, v := range src {
		out[i] = -v
	}
	return buf
}

// temporalAddNode adds a constant interval to dates or timestamps. Months
// move the calendar month and clamp the day to the month's end (Jan 31 +
// 1 month = Feb 28/29), like chrono.
type temporalAddNode struct {
	x   node
	iv  arrow.MonthDayNanoInterval
	pos int
}

func (n *temporalAddNode) dtype() arrow.DataType { return n.x.dtype() }

func (n *temporalAddNode) eval(ec *evalCtx) (datum, error) {
	x, err := n.x.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer x.release()
	rows := x.arr.Len()
	dt := n.dtype()
	valid, _ := validityOf(ec.mem, rows, x)
	if dt.ID() == arrow.DATE32 {
		src := fixedValues[int32](x.arr)
		buf, out := newFixed[int32](ec.mem, rows)
		for i, v := range src {
			d := int64(v)
			if n.iv.Months != 0 {
				d = addMonths(d*nanosPerDay, n.iv.Months) / nanosPerDay
			}
			d += int64(n.iv.Days)
			if d != int64(int32(d)) && validAt(bufBytes(valid), i) {
				return failDatum(buf, valid, evalErrorf(n.pos, "date out of range"))
			}
			out[i] = int32(d)
		}
		return datum{arr: makeArray(dt, rows, valid, buf), scalar: x.scalar}, nil
	}
	per := unitsPerSecond(dt.(*arrow.TimestampType).Unit)
	scale := nanosPerSecond / per
	src := fixedValues[int64](x.arr)
	buf, out := newFixed[int64](ec.mem, rows)
	for i, v := range src {
		r, ok := v, true
		if n.iv.Months != 0 {
			ns, ok1 := mulCheck(v, scale)
			r, ok = addMonths(ns, n.iv.Months)/scale, ok1
		}
		dd, ok2 := mulCheck(int64(n.iv.Days), secondsPerDay*per)
		r, ok3 := addCheck(r, dd)
		r, ok4 := addCheck(r, n.iv.Nanoseconds/scale)
		if !(ok && ok2 && ok3 && ok4) && validAt(bufBytes(valid), i) {
			return failDatum(buf, valid, evalErrorf(n.pos, "timestamp out of range"))
		}
		out[i] = r
	}
	return datum{arr: makeArray(dt, rows, valid, buf), scalar: x.scalar}, nil
}

func failDatum(buf, valid *memory.Buffer, err error) (datum, error) {
	buf.Release()
	if valid != nil {
		valid.Release()
	}
	return datum{}, err
}

// addMonths shifts UTC nanoseconds by whole calendar months.
func addMonths(ns int64, months int32) int64 {
	t := time.Unix(0, ns).UTC()
	y, m, d := t.Date()
	total := int(m) - 1 + int(months)
	y += total / 12
	if total %= 12; total < 0 {
		total += 12
		y--
	}
	last := time.Date(y, time.Month(total+2), 0, 0, 0, 0, 0, time.UTC).Day()
	d = min(d, last)
	out := time.Date(y, time.Month(total+1), d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	return out.UnixNano()
}

func mulCheck(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	r := a * b
	return r, r/b == a
}

func addCheck(a, b int64) (int64, bool) {
	r := a + b
	return r, (r > a) == (b > 0) || b == 0
}
