package filter

import (
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

type numInfo struct {
	float, signed bool
	bits          int
}

func infoOf[T number]() numInfo {
	var z T
	switch any(z).(type) {
	case int8:
		return numInfo{signed: true, bits: 8}
	case int16:
		return numInfo{signed: true, bits: 16}
	case int32:
		return numInfo{signed: true, bits: 32}
	case int64:
		return numInfo{signed: true, bits: 64}
	case uint8:
		return numInfo{bits: 8}
	case uint16:
		return numInfo{bits: 16}
	case uint32:
		return numInfo{bits: 32}
	case uint64:
		return numInfo{bits: 64}
	case float32:
		return numInfo{float: true, signed: true, bits: 32}
	}
	return numInfo{float: true, signed: true, bits: 64}
}

// alwaysFits reports whether every S value converts to D without loss of
// range (floats may round, as in DataFusion).
func alwaysFits(s, d numInfo) bool {
	switch {
	case d.float:
		return true
	case s.float:
		return false
	case s.signed == d.signed:
		return d.bits >= s.bits
	}
	return !s.signed && d.signed && d.bits > s.bits
}

// castNumeric converts between numeric and boolean arrays. Out-of-range
// values are an error, or NULL when try is set (TRY_CAST).
func castNumeric(mem memory.Allocator, a arrow.Array, to arrow.DataType, try bool, pos int) (arrow.Array, error) {
	switch a.DataType().ID() {
	case arrow.BOOL:
		return castFromBool(mem, a, to, try, pos)
	case arrow.INT8:
		return castFrom[int8](mem, a, to, try, pos)
	case arrow.INT16:
		return castFrom[int16](mem, a, to, try, pos)
	case arrow.INT32:
		return castFrom[int32](mem, a, to, try, pos)
	case arrow.INT64:
		return castFrom[int64](mem, a, to, try, pos)
	case arrow.UINT8:
		return castFrom[uint8](mem, a, to, try, pos)
	case arrow.UINT16:
		return castFrom[uint16](mem, a, to, try, pos)
	case arrow.UINT32:
		return castFrom[uint32](mem, a, to, try, pos)
	case arrow.UINT64:
		return castFrom[uint64](mem, a, to, try, pos)
	case arrow.FLOAT16:
		f32 := widenFloat16(mem, a)
		defer f32.Release()
		if to.ID() == arrow.FLOAT32 {
			f32.Retain()
			return f32, nil
		}
		return castNumeric(mem, f32, to, try, pos)
	case arrow.FLOAT32:
		return castFrom[float32](mem, a, to, try, pos)
	case arrow.FLOAT64:
		return castFrom[float64](mem, a, to, try, pos)
	}
	return nil, evalErrorf(pos, "cannot cast %s to %s", typeName(a.DataType()), typeName(to))
}

func castFrom[S number](mem memory.Allocator, a arrow.Array, to arrow.DataType, try bool, pos int) (arrow.Array, error) {
	src := fixedValues[S](a)
	switch to.ID() {
	case arrow.BOOL:
		valid, _ := validityOf(mem, a.Len(), datum{arr: a})
		vals := newBitmap(mem, len(src))
		out := vals.Bytes()
		for i, v := range src {
			if v != 0 {
				bitutil.SetBit(out, i)
			}
		}
		return makeArray(to, len(src), valid, vals), nil
	case arrow.INT8:
		return castTo[S, int8](mem, a, src, to, try, pos)
	case arrow.INT16:
		return castTo[S, int16](mem, a, src, to, try, pos)
	case arrow.INT32, arrow.DATE32:
		return castTo[S, int32](mem, a, src, to, try, pos)
	case arrow.INT64, arrow.TIMESTAMP:
		return castTo[S, int64](mem, a, src, to, try, pos)
	case arrow.UINT8:
		return castTo[S, uint8](mem, a, src, to, try, pos)
	case arrow.UINT16:
		return castTo[S, uint16](mem, a, src, to, try, pos)
	case arrow.UINT32:
		return castTo[S, uint32](mem, a, src, to, try, pos)
	case arrow.UINT64:
		return castTo[S, uint64](mem, a, src, to, try, pos)
	case arrow.FLOAT32:
		return castTo[S, float32](mem, a, src, to, try, pos)
	case arrow.FLOAT64:
		return castTo[S, float64](mem, a, src, to, try, pos)
	}
	return nil, evalErrorf(pos, "cannot cast %s to %s", typeName(a.DataType()), typeName(to))
}

func castTo[S, D number](mem memory.Allocator, a arrow.Array, src []S, to arrow.DataType, try bool, pos int) (arrow.Array, error) {
	n := len(src)
	valid, _ := validityOf(mem, n, datum{arr: a})
	buf, out := newFixed[D](mem, n)
	si, di := infoOf[S](), infoOf[D]()
	// bad records the first row that does not fit; with try it is nulled
	// and the scan goes on.
	var bad = func(i int) error {
		if !validAt(bufBytes(valid), i) {
			return nil
		}
		if !try {
			return evalErrorf(pos, "cannot cast %v to %s: value out of range", src[i], typeName(to))
		}
		if valid == nil {
			valid = newBitmap(mem, n)
			bitutil.SetBitsTo(valid.Bytes(), 0, int64(n), true)
		}
		bitutil.ClearBit(valid.Bytes(), i)
		return nil
	}
	switch {
	case alwaysFits(si, di):
		for i, v := range src {
			out[i] = D(v)
		}
	case si.float:
		lo, hi := intRange(di)
		for i, v := range src {
			t := math.Trunc(float64(v))
			if t != t || t < lo || t >= hi {
				out[i] = 0
				if err := bad(i); err != nil {
					return failCast(buf, valid, err)
				}
				continue
			}
			out[i] = D(t)
		}
	default:
		for i, v := range src {
			d := D(v)
			if S(d) != v || (v < 0) != (d < 0) {
				out[i] = 0
				if err := bad(i); err != nil {
					return failCast(buf, valid, err)
				}
				continue
			}
			out[i] = d
		}
	}
	return makeArray(to, n, valid, buf), nil
}

func failCast(buf, valid *memory.Buffer, err error) (arrow.Array, error) {
	buf.Release()
	if valid != nil {
		valid.Release()
	}
	return nil, err
}

// intRange is the half-open float range [lo, hi) of an integer type.
func intRange(d numInfo) (lo, hi float64) {
	if d.signed {
		return -math.Ldexp(1, d.bits-1), math.Ldexp(1, d.bits-1)
	}
	return 0, math.Ldexp(1, d.bits)
}

func castFromBool(mem memory.Allocator, a arrow.Array, to arrow.DataType, try bool, pos int) (arrow.Array, error) {
	b := a.(*array.Boolean)
	n := b.Len()
	i8buf, i8 := newFixed[int8](mem, n)
	for i := range i8 {
		if b.Value(i) {
			i8[i] = 1
		} else {
			i8[i] = 0
		}
	}
	valid, _ := validityOf(mem, n, datum{arr: a})
	tmp := makeArray(arrow.PrimitiveTypes.Int8, n, valid, i8buf)
	defer tmp.Release()
	if to.ID() == arrow.INT8 {
		tmp.Retain()
		return tmp, nil
	}
	return castNumeric(mem, tmp, to, try, pos)
}

func widenFloat16(mem memory.Allocator, a arrow.Array) arrow.Array {
	src := fixedValues[float16.Num](a)
	buf, out := newFixed[float32](mem, len(src))
	for i, v := range src {
		out[i] = v.Float32()
	}
	valid, _ := validityOf(mem, len(src), datum{arr: a})
	return makeArray(arrow.PrimitiveTypes.Float32, len(src), valid, buf)
}

// retype reinterprets an array's buffers as another type of the same
// physical layout (date32 as int32, timestamp as int64, utf8 as binary).
func retype(a arrow.Array, dt arrow.DataType) arrow.Array {
	d := a.Data()
	data := array.NewData(dt, d.Len(), d.Buffers(), d.Children(), d.NullN(), d.Offset())
	defer data.Release()
	return array.MakeFromData(data)
}
