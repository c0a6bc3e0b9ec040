package filter

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// TypeKind names a SQL type usable in CAST.
type TypeKind uint8

// SQL types accepted by CAST and `::`, mirroring the list Lance's planner
// maps onto Arrow (decimal is not supported here).
const (
	TypeBool TypeKind = iota + 1
	TypeInt8
	TypeInt16
	TypeInt32
	TypeInt64
	TypeUint8
	TypeUint16
	TypeUint32
	TypeUint64
	TypeFloat32
	TypeFloat64
	TypeString
	TypeBinary
	TypeDate
	TypeTimestamp
)

// Type is a SQL type. Precision is the number of fractional second digits of
// a TIMESTAMP (0, 3, 6 or 9); it is 0 for other kinds.
type Type struct {
	Kind      TypeKind
	Precision int
}

var typeNames = [...]string{
	TypeBool: "BOOLEAN", TypeInt8: "TINYINT", TypeInt16: "SMALLINT", TypeInt32: "INT",
	TypeInt64: "BIGINT", TypeUint8: "TINYINT UNSIGNED", TypeUint16: "SMALLINT UNSIGNED",
	TypeUint32: "INT UNSIGNED", TypeUint64: "BIGINT UNSIGNED", TypeFloat32: "FLOAT",
	TypeFloat64: "DOUBLE", TypeString: "STRING", TypeBinary: "BINARY", TypeDate: "DATE",
	TypeTimestamp: "TIMESTAMP",
}

func (t Type) String() string {
	if t.Kind == TypeTimestamp {
		return fmt.Sprintf("TIMESTAMP(%d)", t.Precision)
	}
	if int(t.Kind) < len(typeNames) && typeNames[t.Kind] != "" {
		return typeNames[t.Kind]
	}
	return "?"
}

// Arrow returns the Arrow type a value is cast to.
func (t Type) Arrow() arrow.DataType {
	switch t.Kind {
	case TypeBool:
		return arrow.FixedWidthTypes.Boolean
	case TypeInt8:
		return arrow.PrimitiveTypes.Int8
	case TypeInt16:
		return arrow.PrimitiveTypes.Int16
	case TypeInt32:
		return arrow.PrimitiveTypes.Int32
	case TypeInt64:
		return arrow.PrimitiveTypes.Int64
	case TypeUint8:
		return arrow.PrimitiveTypes.Uint8
	case TypeUint16:
		return arrow.PrimitiveTypes.Uint16
	case TypeUint32:
		return arrow.PrimitiveTypes.Uint32
	case TypeUint64:
		return arrow.PrimitiveTypes.Uint64
	case TypeFloat32:
		return arrow.PrimitiveTypes.Float32
	case TypeFloat64:
		return arrow.PrimitiveTypes.Float64
	case TypeString:
		return arrow.BinaryTypes.String
	case TypeBinary:
		return arrow.BinaryTypes.Binary
	case TypeDate:
		return arrow.FixedWidthTypes.Date32
	case TypeTimestamp:
		return &arrow.TimestampType{Unit: precisionUnit(t.Precision)}
	}
	return arrow.Null
}

func precisionUnit(p int) arrow.TimeUnit {
	switch p {
	case 0:
		return arrow.Second
	case 3:
		return arrow.Millisecond
	case 9:
		return arrow.Nanosecond
	}
	return arrow.Microsecond
}

// typeWords maps the first word of a type name (upper-cased) to its kind.
// Multi-word forms (UNSIGNED, DOUBLE PRECISION) are handled by the parser.
var typeWords = map[string]TypeKind{
	"BOOLEAN": TypeBool, "BOOL": TypeBool,
	"TINYINT": TypeInt8, "SMALLINT": TypeInt16, "INT": TypeInt32, "INTEGER": TypeInt32,
	"BIGINT": TypeInt64,
	"FLOAT":  TypeFloat32, "REAL": TypeFloat32, "DOUBLE": TypeFloat64,
	"STRING": TypeString, "VARCHAR": TypeString, "TEXT": TypeString,
	"BINARY": TypeBinary, "VARBINARY": TypeBinary, "BYTEA": TypeBinary,
	"DATE": TypeDate, "TIMESTAMP": TypeTimestamp, "DATETIME": TypeTimestamp,
}

func unsignedOf(k TypeKind) (TypeKind, bool) {
	switch k {
	case TypeInt8:
		return TypeUint8, true
	case TypeInt16:
		return TypeUint16, true
	case TypeInt32:
		return TypeUint32, true
	case TypeInt64:
		return TypeUint64, true
	}
	return 0, false
}
