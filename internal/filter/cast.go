package filter

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// castNode converts its input to another type (CAST, TRY_CAST, implicit
// coercions). With try, values that do not convert become NULL.
type castNode struct {
	x   node
	to  arrow.DataType
	try bool
	pos int
}

func (n *castNode) dtype() arrow.DataType { return n.to }

func (n *castNode) eval(ec *evalCtx) (datum, error) {
	x, err := n.x.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer x.release()
	out, err := castArray(ec.mem, x.arr, n.to, n.try, n.pos)
	if err != nil {
		return datum{}, err
	}
	return datum{arr: out, scalar: x.scalar}, nil
}

// canCast reports whether castArray supports from → to.
func canCast(from, to arrow.DataType) bool {
	if isNull(from) || arrow.TypeEqual(from, to) {
		return true
	}
	numLike := func(dt arrow.DataType) bool { return isNumeric(dt) || dt.ID() == arrow.BOOL }
	switch {
	case numLike(from) && numLike(to) && to.ID() != arrow.FLOAT16:
		return true
	case isString(to):
		return numLike(from) || isString(from) || isBinary(from) || isTemporal(from)
	case isString(from):
		return numLike(to) && to.ID() != arrow.FLOAT16 || isBinary(to) || isTemporal(to)
	case isBinary(from) && isBinary(to):
		return true
	case isTemporal(from) && isTemporal(to):
		return true
	case isInteger(from) && isTemporal(to), isTemporal(from) && isInteger(to):
		return true
	}
	return false
}

func castArray(mem memory.Allocator, a arrow.Array, to arrow.DataType, try bool, pos int) (arrow.Array, error) {
	from := a.DataType()
	switch {
	case arrow.TypeEqual(from, to):
		a.Retain()
		return a, nil
	case isNull(from):
		return array.MakeArrayOfNull(mem, to, a.Len()), nil
	case isString(to):
		return castToString(mem, a, to, try, pos)
	case isString(from):
		return castFromString(mem, a, to, try, pos)
	case isBinary(from) && isBinary(to):
		return reoffset(mem, a, to, pos)
	case isTemporal(from) && isTemporal(to):
		return castTemporal(mem, a, to, try, pos)
	case isTemporal(from):
		raw := retype(a, physicalInt(from))
		defer raw.Release()
		return castNumeric(mem, raw, to, try, pos)
	}
	return castNumeric(mem, a, to, try, pos)
}

func physicalInt(dt arrow.DataType) arrow.DataType {
	if dt.ID() == arrow.DATE32 {
		return arrow.PrimitiveTypes.Int32
	}
	return arrow.PrimitiveTypes.Int64
}

// castTemporal converts between date32 and timestamps of any unit. Going to
// a coarser unit rounds towards negative infinity (the containing day or
// second); going finer fails on overflow.
func castTemporal(mem memory.Allocator, a arrow.Array, to arrow.DataType, try bool, pos int) (arrow.Array, error) {
	var mul, div int64 = 1, 1
	fromPer := ticksPerDayOrUnit(a.DataType())
	toPer := ticksPerDayOrUnit(to)
	// Both are expressed as ticks per day so that date32 is a timestamp
	// with one tick per day.
	if toPer >= fromPer {
		mul = toPer / fromPer
	} else {
		div = fromPer / toPer
	}
	var src []int64
	if a.DataType().ID() == arrow.DATE32 {
		d := fixedValues[int32](a)
		src = make([]int64, len(d))
		for i, v := range d {
			src[i] = int64(v)
		}
	} else {
		src = fixedValues[int64](a)
	}
	n := len(src)
	valid, _ := validityOf(mem, n, datum{arr: a})
	conv := func(v int64) (int64, bool) {
		if mul != 1 {
			r := v * mul
			if r/mul != v {
				return 0, false
			}
			return r, true
		}
		return floorDiv(v, div), true
	}
	set := func(i int, ok bool) error {
		if ok || !validAt(bufBytes(valid), i) {
			return nil
		}
		if !try {
			return evalErrorf(pos, "cannot cast %s value %d to %s: out of range", typeName(a.DataType()), src[i], typeName(to))
		}
		if valid == nil {
			valid = newBitmap(mem, n)
			bitutil.SetBitsTo(valid.Bytes(), 0, int64(n), true)
		}
		bitutil.ClearBit(valid.Bytes(), i)
		return nil
	}
	if to.ID() == arrow.DATE32 {
		buf, out := newFixed[int32](mem, n)
		for i, v := range src {
			r, ok := conv(v)
			ok = ok && r == int64(int32(r))
			out[i] = int32(r)
			if err := set(i, ok); err != nil {
				return failCast(buf, valid, err)
			}
		}
		return makeArray(to, n, valid, buf), nil
	}
	buf, out := newFixed[int64](mem, n)
	for i, v := range src {
		r, ok := conv(v)
		out[i] = r
		if err := set(i, ok); err != nil {
			return failCast(buf, valid, err)
		}
	}
	return makeArray(to, n, valid, buf), nil
}

func ticksPerDayOrUnit(dt arrow.DataType) int64 {
	if ts, ok := dt.(*arrow.TimestampType); ok {
		return secondsPerDay * unitsPerSecond(ts.Unit)
	}
	return 1
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// stringBuilder abstracts the utf8 and large_utf8 builders.
type stringBuilder interface {
	Append(string)
	AppendNull()
	NewArray() arrow.Array
	Release()
}

func newStringBuilder(mem memory.Allocator, dt arrow.DataType) stringBuilder {
	if dt.ID() == arrow.LARGE_STRING {
		return array.NewLargeStringBuilder(mem)
	}
	return array.NewStringBuilder(mem)
}

func castToString(mem memory.Allocator, a arrow.Array, to arrow.DataType, try bool, pos int) (arrow.Array, error) {
	from := a.DataType()
	if isString(from) {
		return reoffset(mem, a, to, pos)
	}
	n := a.Len()
	sb := newStringBuilder(mem, to)
	defer sb.Release()
	var f16 arrow.Array
	if from.ID() == arrow.FLOAT16 {
		f16 = widenFloat16(mem, a)
		defer f16.Release()
		a, from = f16, f16.DataType()
	}
	for i := 0; i < n; i++ {
		if nullAt(a, i) {
			sb.AppendNull()
			continue
		}
		switch v := a.(type) {
		case *array.Boolean:
			sb.Append(strconv.FormatBool(v.Value(i)))
		case *array.Float32:
			sb.Append(formatFloat(float64(v.Value(i)), 32))
		case *array.Float64:
			sb.Append(formatFloat(v.Value(i), 64))
		case *array.Date32:
			sb.Append(formatDate(int32(v.Value(i))))
		case *array.Timestamp:
			unit := from.(*arrow.TimestampType).Unit
			sec := floorDiv(int64(v.Value(i)), unitsPerSecond(unit))
			frac := int64(v.Value(i)) - sec*unitsPerSecond(unit)
			t := time.Unix(sec, frac*(nanosPerSecond/unitsPerSecond(unit))).UTC()
			sb.Append(t.Format("2006-01-02T15:04:05.999999999"))
		case *array.Binary, *array.LargeBinary:
			b := bytesAt(a, i)
			if !utf8.Valid(b) {
				if !try {
					return nil, evalErrorf(pos, "cannot cast binary value to %s: invalid UTF-8", typeName(to))
				}
				sb.AppendNull()
				continue
			}
			sb.Append(string(b))
		default:
			sb.Append(integerText(a, i))
		}
	}
	return sb.NewArray(), nil
}

// formatFloat renders like arrow-rs: shortest round-trip digits, with ".0"
// kept on integral values.
func formatFloat(v float64, bits int) string {
	s := strconv.FormatFloat(v, 'g', -1, bits)
	if !strings.ContainsAny(s, ".eIN") {
		s += ".0"
	}
	return s
}

func integerText(a arrow.Array, i int) string {
	switch v := a.(type) {
	case *array.Int8:
		return strconv.FormatInt(int64(v.Value(i)), 10)
	case *array.Int16:
		return strconv.FormatInt(int64(v.Value(i)), 10)
	case *array.Int32:
		return strconv.FormatInt(int64(v.Value(i)), 10)
	case *array.Int64:
		return strconv.FormatInt(v.Value(i), 10)
	case *array.Uint8:
		return strconv.FormatUint(uint64(v.Value(i)), 10)
	case *array.Uint16:
		return strconv.FormatUint(uint64(v.Value(i)), 10)
	case *array.Uint32:
		return strconv.FormatUint(uint64(v.Value(i)), 10)
	case *array.Uint64:
		return strconv.FormatUint(v.Value(i), 10)
	}
	return a.ValueStr(i)
}

// castFromString parses text into numbers, booleans, dates and timestamps,
// or reinterprets it as binary.
func castFromString(mem memory.Allocator, a arrow.Array, to arrow.DataType, try bool, pos int) (arrow.Array, error) {
	if isBinary(to) {
		return reoffset(mem, a, to, pos)
	}
	n := a.Len()
	var parsed arrow.DataType
	switch {
	case to.ID() == arrow.BOOL:
		parsed = to
	case isFloat(to):
		parsed = arrow.PrimitiveTypes.Float64
	case isSignedInt(to):
		parsed = arrow.PrimitiveTypes.Int64
	case isUnsignedInt(to):
		parsed = arrow.PrimitiveTypes.Uint64
	case to.ID() == arrow.DATE32:
		parsed = to
	case to.ID() == arrow.TIMESTAMP:
		parsed = &arrow.TimestampType{Unit: arrow.Nanosecond}
	default:
		return nil, evalErrorf(pos, "cannot cast %s to %s", typeName(a.DataType()), typeName(to))
	}
	b := array.NewBuilder(mem, parsed)
	defer b.Release()
	for i := 0; i < n; i++ {
		if nullAt(a, i) {
			b.AppendNull()
			continue
		}
		raw := bytesAt(a, i)
		s := unsafe.String(unsafe.SliceData(raw), len(raw))
		if !appendParsed(b, s) {
			if !try {
				return nil, evalErrorf(pos, "cannot cast '%s' to %s", clip(s), typeName(to))
			}
			b.AppendNull()
		}
	}
	out := b.NewArray()
	defer out.Release()
	return castArray(mem, out, to, try, pos)
}

func appendParsed(b array.Builder, s string) bool {
	switch bb := b.(type) {
	case *array.BooleanBuilder:
		v, ok := parseBoolText(s)
		if ok {
			bb.Append(v)
		}
		return ok
	case *array.Float64Builder:
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err == nil {
			bb.Append(v)
		}
		return err == nil
	case *array.Int64Builder:
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err == nil {
			bb.Append(v)
		}
		return err == nil
	case *array.Uint64Builder:
		v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		if err == nil {
			bb.Append(v)
		}
		return err == nil
	case *array.Date32Builder:
		v, err := parseDateText(s)
		if err == nil {
			bb.Append(arrow.Date32(v))
		}
		return err == nil
	case *array.TimestampBuilder:
		v, err := parseTimestampText(s)
		if err == nil {
			bb.Append(arrow.Timestamp(v))
		}
		return err == nil
	}
	return false
}

func parseBoolText(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "t", "yes", "y", "on", "1":
		return true, true
	case "false", "f", "no", "n", "off", "0":
		return false, true
	}
	return false, false
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// reoffset converts between the 32- and 64-bit offset variants of string
// and binary arrays (and between string and binary, which share a layout).
func reoffset(mem memory.Allocator, a arrow.Array, to arrow.DataType, pos int) (arrow.Array, error) {
	large := func(dt arrow.DataType) bool {
		return dt.ID() == arrow.LARGE_STRING || dt.ID() == arrow.LARGE_BINARY
	}
	if large(a.DataType()) == large(to) {
		return retype(a, to), nil
	}
	n := a.Len()
	valid, _ := validityOf(mem, n, datum{arr: a})
	if large(to) {
		v := newStrView[int32](a)
		offBuf, offs := newFixed[int64](mem, n+1)
		base := v.offs[0]
		for i := range offs {
			offs[i] = int64(v.offs[i] - base)
		}
		data := newBuffer(mem, int(offs[n]))
		copy(data.Bytes(), v.data[base:v.offs[n]])
		return makeArray(to, n, valid, offBuf, data), nil
	}
	v := newStrView[int64](a)
	if v.offs[n]-v.offs[0] > math.MaxInt32 {
		if valid != nil {
			valid.Release()
		}
		return nil, evalErrorf(pos, "cannot cast %s to %s: more than 2 GiB of data", typeName(a.DataType()), typeName(to))
	}
	offBuf, offs := newFixed[int32](mem, n+1)
	base := v.offs[0]
	for i := range offs {
		offs[i] = int32(v.offs[i] - base)
	}
	data := newBuffer(mem, int(offs[n]))
	copy(data.Bytes(), v.data[base:v.offs[n]])
	return makeArray(to, n, valid, offBuf, data), nil
}
