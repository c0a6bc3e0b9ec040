package filter

import (
	"github.com/apache/arrow-go/v18/arrow"
)

// Type helpers over Arrow data types. Bound expressions only ever carry the
// types below; dictionary columns are decoded and float16 widened to float32
// when read, so kernels never see them.

func isSignedInt(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		return true
	}
	return false
}

func isUnsignedInt(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

func isInteger(dt arrow.DataType) bool { return isSignedInt(dt) || isUnsignedInt(dt) }

func isFloat(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		return true
	}
	return false
}

func isNumeric(dt arrow.DataType) bool { return isInteger(dt) || isFloat(dt) }

func isString(dt arrow.DataType) bool {
	return dt.ID() == arrow.STRING || dt.ID() == arrow.LARGE_STRING
}

func isBinary(dt arrow.DataType) bool {
	return dt.ID() == arrow.BINARY || dt.ID() == arrow.LARGE_BINARY
}

func isTemporal(dt arrow.DataType) bool {
	return dt.ID() == arrow.DATE32 || dt.ID() == arrow.TIMESTAMP
}

func isList(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST:
		return true
	}
	return false
}

func isNull(dt arrow.DataType) bool { return dt.ID() == arrow.NULL }

func listElem(dt arrow.DataType) arrow.DataType {
	if l, ok := dt.(arrow.ListLikeType); ok {
		return l.Elem()
	}
	return arrow.Null
}

// intBits is the width of an integer type in bits.
func intBits(dt arrow.DataType) int {
	switch dt.ID() {
	case arrow.INT8, arrow.UINT8:
		return 8
	case arrow.INT16, arrow.UINT16:
		return 16
	case arrow.INT32, arrow.UINT32:
		return 32
	}
	return 64
}

func signedOfBits(bits int) arrow.DataType {
	switch bits {
	case 8:
		return arrow.PrimitiveTypes.Int8
	case 16:
		return arrow.PrimitiveTypes.Int16
	case 32:
		return arrow.PrimitiveTypes.Int32
	}
	return arrow.PrimitiveTypes.Int64
}

func unsignedOfBits(bits int) arrow.DataType {
	switch bits {
	case 8:
		return arrow.PrimitiveTypes.Uint8
	case 16:
		return arrow.PrimitiveTypes.Uint16
	case 32:
		return arrow.PrimitiveTypes.Uint32
	}
	return arrow.PrimitiveTypes.Uint64
}

// commonNumeric is the type both sides of a numeric operator are cast to:
// float64 if either is float64 or a float meets a wide integer, float32 if a
// float32 meets a narrow integer, else the wider integer. Mixed signedness
// widens to a signed type holding both, capped at int64 (a uint64 value
// above MaxInt64 then fails the cast with an overflow error instead of
// comparing wrongly).
func commonNumeric(a, b arrow.DataType) arrow.DataType {
	if arrow.TypeEqual(a, b) {
		return a
	}
	if isFloat(a) || isFloat(b) {
		if a.ID() == arrow.FLOAT64 || b.ID() == arrow.FLOAT64 {
			return arrow.PrimitiveTypes.Float64
		}
		other := a
		if isFloat(a) {
			other = b
		}
		if isFloat(other) || intBits(other) <= 16 {
			return arrow.PrimitiveTypes.Float32
		}
		return arrow.PrimitiveTypes.Float64
	}
	ba, bb := intBits(a), intBits(b)
	switch {
	case isSignedInt(a) == isSignedInt(b):
		if isSignedInt(a) {
			return signedOfBits(max(ba, bb))
		}
		return unsignedOfBits(max(ba, bb))
	case isSignedInt(a):
		return signedOfBits(min(64, max(ba, 2*bb)))
	default:
		return signedOfBits(min(64, max(bb, 2*ba)))
	}
}

// unitsPerSecond is the number of timestamp ticks in one second.
func unitsPerSecond(u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return 1
	case arrow.Millisecond:
		return 1_000
	case arrow.Microsecond:
		return 1_000_000
	}
	return 1_000_000_000
}

// typeName renders a type for error messages.
func typeName(dt arrow.DataType) string {
	if dt == nil {
		return "unknown"
	}
	return dt.String()
}

func boolType() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
