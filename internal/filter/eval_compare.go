package filter

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// cmpNode compares two operands of the same type. Floats use a total order
// like arrow-rs: NaN equals NaN and sorts above +Inf, -0 sorts below +0.
type cmpNode struct {
	op   BinaryOp
	l, r node
}

func (n *cmpNode) dtype() arrow.DataType { return boolType() }

func (n *cmpNode) eval(ec *evalCtx) (datum, error) {
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
	return compareDatums(ec, n.op, l, r), nil
}

// flip mirrors an operator so that `c op x` can run as `x flip(op) c`.
func flip(op BinaryOp) BinaryOp {
	switch op {
	case OpLt:
		return OpGt
	case OpLe:
		return OpGe
	case OpGt:
		return OpLt
	case OpGe:
		return OpLe
	}
	return op
}

func compareDatums(ec *evalCtx, op BinaryOp, l, r datum) datum {
	n, scalar := ec.rows(l, r)
	valid, allNull := validityOf(ec.mem, n, l, r)
	if allNull {
		return nullDatum(ec.mem, boolType(), n, scalar)
	}
	// Put a scalar operand on the right.
	if l.scalar && !r.scalar {
		l, r, op = r, l, flip(op)
	}
	vals := newBitmap(ec.mem, n)
	out := vals.Bytes()
	rs := r.scalar && !l.scalar
	switch l.arr.DataType().ID() {
	case arrow.INT8:
		cmpFixed[int8](op, l.arr, r.arr, rs, out)
	case arrow.INT16:
		cmpFixed[int16](op, l.arr, r.arr, rs, out)
	case arrow.INT32, arrow.DATE32:
		cmpFixed[int32](op, l.arr, r.arr, rs, out)
	case arrow.INT64, arrow.TIMESTAMP:
		cmpFixed[int64](op, l.arr, r.arr, rs, out)
	case arrow.UINT8:
		cmpFixed[uint8](op, l.arr, r.arr, rs, out)
	case arrow.UINT16:
		cmpFixed[uint16](op, l.arr, r.arr, rs, out)
	case arrow.UINT32:
		cmpFixed[uint32](op, l.arr, r.arr, rs, out)
	case arrow.UINT64:
		cmpFixed[uint64](op, l.arr, r.arr, rs, out)
	case arrow.FLOAT32:
		cmpFloat32(op, l.arr, r.arr, rs, out)
	case arrow.FLOAT64:
		cmpFloat64(op, l.arr, r.arr, rs, out)
	case arrow.STRING, arrow.BINARY:
		cmpBytes[int32](op, l.arr, r.arr, rs, out)
	case arrow.LARGE_STRING, arrow.LARGE_BINARY:
		cmpBytes[int64](op, l.arr, r.arr, rs, out)
	case arrow.BOOL:
		cmpBool(ec, op, l, r, rs, out)
	}
	return datum{arr: makeArray(boolType(), n, valid, vals), scalar: scalar}
}

func cmpFixed[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64](op BinaryOp, l, r arrow.Array, rScalar bool, out []byte) {
	a := fixedValues[T](l)
	b := fixedValues[T](r)
	if rScalar {
		cmpSliceScalar(op, a, b[0], out)
	} else {
		cmpSliceSlice(op, a, b, out)
	}
}

// floatKey maps a float64 to an int64 whose order is the IEEE total order,
// except that every NaN (any sign or payload) is one value above +Inf: a
// float32 NaN widened to float64 must still equal a float64 NaN.
func floatKey(f float64) int64 {
	if f != f {
		return math.MaxInt64
	}
	b := int64(math.Float64bits(f))
	return b ^ int64(uint64(b>>63)>>1)
}

func floatKey32(f float32) int32 {
	if f != f {
		return math.MaxInt32
	}
	b := int32(math.Float32bits(f))
	return b ^ int32(uint32(b>>31)>>1)
}

func cmpFloat64(op BinaryOp, l, r arrow.Array, rScalar bool, out []byte) {
	a, b := fixedValues[float64](l), fixedValues[float64](r)
	var ka, kb [chunkLen]int64
	for i := 0; i < len(a); i += chunkLen {
		m := min(chunkLen, len(a)-i)
		for j, v := range a[i : i+m] {
			ka[j] = floatKey(v)
		}
		if rScalar {
			cmpSliceScalar(op, ka[:m], floatKey(b[0]), out[i/8:])
			continue
		}
		for j, v := range b[i : i+m] {
			kb[j] = floatKey(v)
		}
		cmpSliceSlice(op, ka[:m], kb[:m], out[i/8:])
	}
}

func cmpFloat32(op BinaryOp, l, r arrow.Array, rScalar bool, out []byte) {
	a, b := fixedValues[float32](l), fixedValues[float32](r)
	var ka, kb [chunkLen]int32
	for i := 0; i < len(a); i += chunkLen {
		m := min(chunkLen, len(a)-i)
		for j, v := range a[i : i+m] {
			ka[j] = floatKey32(v)
		}
		if rScalar {
			cmpSliceScalar(op, ka[:m], floatKey32(b[0]), out[i/8:])
			continue
		}
		for j, v := range b[i : i+m] {
			kb[j] = floatKey32(v)
		}
		cmpSliceSlice(op, ka[:m], kb[:m], out[i/8:])
	}
}

// cmpSliceScalar sets bit i of out to a[i] op c. Each operator has its own
// loop so the comparison is branch-free and inlined.
func cmpSliceScalar[T cmp.Ordered](op BinaryOp, a []T, c T, out []byte) {
	var tmp [chunkLen]bool
	for i := 0; i < len(a); i += chunkLen {
		x := a[i:min(i+chunkLen, len(a))]
		t := tmp[:len(x)]
		switch op {
		case OpEq:
			for j, v := range x {
				t[j] = v == c
			}
		case OpNe:
			for j, v := range x {
				t[j] = v != c
			}
		case OpLt:
			for j, v := range x {
				t[j] = v < c
			}
		case OpLe:
			for j, v := range x {
				t[j] = v <= c
			}
		case OpGt:
			for j, v := range x {
				t[j] = v > c
			}
		case OpGe:
			for j, v := range x {
				t[j] = v >= c
			}
		}
		packBools(t, out[i/8:])
	}
}

func cmpSliceSlice[T cmp.Ordered](op BinaryOp, a, b []T, out []byte) {
	var tmp [chunkLen]bool
	for i := 0; i < len(a); i += chunkLen {
		x := a[i:min(i+chunkLen, len(a))]
		y := b[i : i+len(x)]
		t := tmp[:len(x)]
		switch op {
		case OpEq:
			for j, v := range x {
				t[j] = v == y[j]
			}
		case OpNe:
			for j, v := range x {
				t[j] = v != y[j]
			}
		case OpLt:
			for j, v := range x {
				t[j] = v < y[j]
			}
		case OpLe:
			for j, v := range x {
				t[j] = v <= y[j]
			}
		case OpGt:
			for j, v := range x {
				t[j] = v > y[j]
			}
		case OpGe:
			for j, v := range x {
				t[j] = v >= y[j]
			}
		}
		packBools(t, out[i/8:])
	}
}

// cmpResult turns a bytes.Compare result into op's truth value.
func cmpResult(op BinaryOp, c int) bool {
	switch op {
	case OpEq:
		return c == 0
	case OpNe:
		return c != 0
	case OpLt:
		return c < 0
	case OpLe:
		return c <= 0
	case OpGt:
		return c > 0
	}
	return c >= 0
}

func cmpBytes[O int32 | int64](op BinaryOp, l, r arrow.Array, rScalar bool, out []byte) {
	a := newStrView[O](l)
	n := l.Len()
	var tmp [chunkLen]bool
	if rScalar {
		c := bytesAt(r, 0)
		eq := op == OpEq || op == OpNe
		for i := 0; i < n; i += chunkLen {
			m := min(chunkLen, n-i)
			for j := 0; j < m; j++ {
				v := a.at(i + j)
				if eq {
					tmp[j] = bytes.Equal(v, c) == (op == OpEq)
				} else {
					tmp[j] = cmpResult(op, bytes.Compare(v, c))
				}
			}
			packBools(tmp[:m], out[i/8:])
		}
		return
	}
	b := newStrView[O](r)
	for i := 0; i < n; i += chunkLen {
		m := min(chunkLen, n-i)
		for j := 0; j < m; j++ {
			tmp[j] = cmpResult(op, bytes.Compare(a.at(i+j), b.at(i+j)))
		}
		packBools(tmp[:m], out[i/8:])
	}
}

// cmpBool compares boolean bitmaps word by word (false < true).
func cmpBool(ec *evalCtx, op BinaryOp, l, r datum, rScalar bool, out []byte) {
	lv, lvalid := boolBits(ec.mem, l.arr)
	defer lv.Release()
	if lvalid != nil {
		lvalid.Release()
	}
	a := lv.Bytes()
	var b []byte
	var c uint64
	if rScalar {
		if r.arr.(*array.Boolean).Value(0) {
			c = math.MaxUint64
		}
	} else {
		rv, rvalid := boolBits(ec.mem, r.arr)
		defer rv.Release()
		if rvalid != nil {
			rvalid.Release()
		}
		b = rv.Bytes()
	}
	word := func(x []byte, i int) uint64 {
		if i+8 <= len(x) {
			return binary.LittleEndian.Uint64(x[i:])
		}
		var buf [8]byte
		copy(buf[:], x[i:])
		return binary.LittleEndian.Uint64(buf[:])
	}
	for i := 0; i < len(out); i += 8 {
		x := word(a, i)
		y := c
		if b != nil {
			y = word(b, i)
		}
		var z uint64
		switch op {
		case OpEq:
			z = ^(x ^ y)
		case OpNe:
			z = x ^ y
		case OpLt:
			z = ^x & y
		case OpLe:
			z = ^x | y
		case OpGt:
			z = x &^ y
		case OpGe:
			z = x | ^y
		}
		var buf [8]byte
		binary.LittleEndian.PutUint64(buf[:], z)
		copy(out[i:], buf[:])
	}
}

// mixedCmpNode compares an int64 operand s with a uint64 operand u exactly:
// a negative s is below every u, otherwise both compare as uint64.
type mixedCmpNode struct {
	op   BinaryOp // as in `s op u`
	s, u node
}

func (n *mixedCmpNode) dtype() arrow.DataType { return boolType() }

func (n *mixedCmpNode) eval(ec *evalCtx) (datum, error) {
	s, err := n.s.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer s.release()
	u, err := n.u.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer u.release()
	rows, scalar := ec.rows(s, u)
	valid, allNull := validityOf(ec.mem, rows, s, u)
	if allNull {
		return nullDatum(ec.mem, boolType(), rows, scalar), nil
	}
	sv, uv := fixedValues[int64](s.arr), fixedValues[uint64](u.arr)
	match := make([]bool, rows)
	for i := range match {
		a, b := sv[0], uv[0]
		if !s.scalar {
			a = sv[i]
		}
		if !u.scalar {
			b = uv[i]
		}
		c := -1
		if a >= 0 {
			c = cmp.Compare(uint64(a), b)
		}
		match[i] = cmpResult(n.op, c)
	}
	return datum{arr: boolsToArray(ec.mem, match, valid), scalar: scalar}, nil
}
