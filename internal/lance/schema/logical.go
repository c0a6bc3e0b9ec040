package schema

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// ErrUnsupportedType reports an Arrow type Lance has no logical type for, or a
// logical type string this package cannot map back to Arrow.
var ErrUnsupportedType = errors.New("unsupported type")

// Metadata keys Lance gives a meaning to.
const (
	// ExtensionNameKey is Arrow's field metadata key for extension types;
	// Lance also copies it into Field.extension_name.
	ExtensionNameKey = "ARROW:extension:name"
	// ExtensionMetaKey is Arrow's field metadata key for extension parameters.
	ExtensionMetaKey = "ARROW:extension:metadata"
	// PrimaryKeyKey marks a field as part of the unenforced primary key.
	PrimaryKeyKey = "lance-schema:unenforced-primary-key"
	// BFloat16ExtName is the extension Lance uses for bfloat16 vector items.
	BFloat16ExtName = "lance.bfloat16"
	// JSONExtName is the extension Lance attaches to its JSONB columns.
	JSONExtName = "lance.json"
)

func unitString(u arrow.TimeUnit) string {
	switch u {
	case arrow.Second:
		return "s"
	case arrow.Millisecond:
		return "ms"
	case arrow.Microsecond:
		return "us"
	default:
		return "ns"
	}
}

func parseUnit(s string) (arrow.TimeUnit, bool) {
	switch s {
	case "s":
		return arrow.Second, true
	case "ms":
		return arrow.Millisecond, true
	case "us":
		return arrow.Microsecond, true
	case "ns":
		return arrow.Nanosecond, true
	}
	return 0, false
}

// LogicalType returns the string Lance stores in Field.logical_type for an
// Arrow type. Nested types only name their own level ("struct", "list"); the
// children are separate fields. Fixed-size lists spell out their item type
// because their item is not a separate field.
func LogicalType(dt arrow.DataType) (string, error) {
	switch t := dt.(type) {
	case *arrow.NullType:
		return "null", nil
	case *arrow.BooleanType:
		return "bool", nil
	case *arrow.Int8Type:
		return "int8", nil
	case *arrow.Uint8Type:
		return "uint8", nil
	case *arrow.Int16Type:
		return "int16", nil
	case *arrow.Uint16Type:
		return "uint16", nil
	case *arrow.Int32Type:
		return "int32", nil
	case *arrow.Uint32Type:
		return "uint32", nil
	case *arrow.Int64Type:
		return "int64", nil
	case *arrow.Uint64Type:
		return "uint64", nil
	case *arrow.Float16Type:
		return "halffloat", nil
	case *arrow.Float32Type:
		return "float", nil
	case *arrow.Float64Type:
		return "double", nil
	case *arrow.Decimal128Type:
		return fmt.Sprintf("decimal:128:%d:%d", t.Precision, t.Scale), nil
	case *arrow.Decimal256Type:
		return fmt.Sprintf("decimal:256:%d:%d", t.Precision, t.Scale), nil
	case *arrow.StringType:
		return "string", nil
	case *arrow.BinaryType:
		return "binary", nil
	case *arrow.LargeStringType:
		return "large_string", nil
	case *arrow.LargeBinaryType:
		return "large_binary", nil
	case *arrow.Date32Type:
		return "date32:day", nil
	case *arrow.Date64Type:
		return "date64:ms", nil
	case *arrow.Time32Type:
		return "time32:" + unitString(t.Unit), nil
	case *arrow.Time64Type:
		return "time64:" + unitString(t.Unit), nil
	case *arrow.TimestampType:
		tz := t.TimeZone
		if tz == "" {
			tz = "-"
		}
		return "timestamp:" + unitString(t.Unit) + ":" + tz, nil
	case *arrow.DurationType:
		return "duration:" + unitString(t.Unit), nil
	case *arrow.StructType:
		return "struct", nil
	case *arrow.DictionaryType:
		v, err := LogicalType(t.ValueType)
		if err != nil {
			return "", err
		}
		k, err := LogicalType(t.IndexType)
		if err != nil {
			return "", err
		}
		// Lance always writes "false" for the ordered flag (arrow-rs has none).
		return "dict:" + v + ":" + k + ":false", nil
	case *arrow.ListType:
		if _, ok := t.Elem().(*arrow.StructType); ok {
			return "list.struct", nil
		}
		return "list", nil
	case *arrow.LargeListType:
		if _, ok := t.Elem().(*arrow.StructType); ok {
			return "large_list.struct", nil
		}
		return "large_list", nil
	case *arrow.FixedSizeListType:
		item := t.ElemField()
		if name, ok := metaValue(item.Metadata, ExtensionNameKey); ok && name == BFloat16ExtName {
			return fmt.Sprintf("fixed_size_list:%s:%d", BFloat16ExtName, t.Len()), nil
		}
		inner, err := LogicalType(item.Type)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("fixed_size_list:%s:%d", inner, t.Len()), nil
	case *arrow.FixedSizeBinaryType:
		return fmt.Sprintf("fixed_size_binary:%d", t.ByteWidth), nil
	case arrow.ExtensionType:
		return LogicalType(t.StorageType())
	}
	return "", fmt.Errorf("%w: arrow type %s", ErrUnsupportedType, dt)
}

var simpleTypes = map[string]arrow.DataType{
	"null":         arrow.Null,
	"bool":         arrow.FixedWidthTypes.Boolean,
	"int8":         arrow.PrimitiveTypes.Int8,
	"uint8":        arrow.PrimitiveTypes.Uint8,
	"int16":        arrow.PrimitiveTypes.Int16,
	"uint16":       arrow.PrimitiveTypes.Uint16,
	"int32":        arrow.PrimitiveTypes.Int32,
	"uint32":       arrow.PrimitiveTypes.Uint32,
	"int64":        arrow.PrimitiveTypes.Int64,
	"uint64":       arrow.PrimitiveTypes.Uint64,
	"halffloat":    arrow.FixedWidthTypes.Float16,
	"float":        arrow.PrimitiveTypes.Float32,
	"double":       arrow.PrimitiveTypes.Float64,
	"string":       arrow.BinaryTypes.String,
	"binary":       arrow.BinaryTypes.Binary,
	"large_string": arrow.BinaryTypes.LargeString,
	"large_binary": arrow.BinaryTypes.LargeBinary,
	"json":         arrow.BinaryTypes.LargeBinary,
	"date32:day":   arrow.FixedWidthTypes.Date32,
	"date64:ms":    arrow.FixedWidthTypes.Date64,
}

// ParseLogicalType maps a non-nested Lance logical type string to an Arrow
// type. "struct", "list" and friends need their child fields and are handled
// by Field.DataType.
func ParseLogicalType(lt string) (arrow.DataType, error) {
	if t, ok := simpleTypes[lt]; ok {
		return t, nil
	}
	bad := func() (arrow.DataType, error) {
		return nil, fmt.Errorf("%w: logical type %q", ErrUnsupportedType, lt)
	}
	parts := strings.Split(lt, ":")
	switch parts[0] {
	case "time32", "time64", "duration":
		if len(parts) != 2 {
			return bad()
		}
		u, ok := parseUnit(parts[1])
		if !ok {
			return bad()
		}
		switch {
		case parts[0] == "duration":
			return &arrow.DurationType{Unit: u}, nil
		case parts[0] == "time32" && (u == arrow.Second || u == arrow.Millisecond):
			return &arrow.Time32Type{Unit: u}, nil
		case parts[0] == "time64" && (u == arrow.Microsecond || u == arrow.Nanosecond):
			return &arrow.Time64Type{Unit: u}, nil
		}
		return bad()
	case "timestamp":
		// Lance splits on ':' and insists on exactly three parts, so a zone
		// such as "+05:30" is unreadable by Lance. Accept it here anyway by
		// rejoining the tail: being lenient on read costs nothing.
		if len(parts) < 3 {
			return bad()
		}
		u, ok := parseUnit(parts[1])
		if !ok {
			return bad()
		}
		tz := strings.Join(parts[2:], ":")
		if tz == "-" {
			tz = ""
		}
		return &arrow.TimestampType{Unit: u, TimeZone: tz}, nil
	case "decimal":
		if len(parts) != 4 {
			return bad()
		}
		p, err1 := strconv.ParseInt(parts[2], 10, 32)
		s, err2 := strconv.ParseInt(parts[3], 10, 32)
		if err1 != nil || err2 != nil {
			return bad()
		}
		switch parts[1] {
		case "128":
			return &arrow.Decimal128Type{Precision: int32(p), Scale: int32(s)}, nil
		case "256":
			return &arrow.Decimal256Type{Precision: int32(p), Scale: int32(s)}, nil
		}
		return bad()
	case "fixed_size_binary":
		if len(parts) != 2 {
			return bad()
		}
		n, err := strconv.ParseInt(parts[1], 10, 32)
		if err != nil || n <= 0 {
			return bad()
		}
		return &arrow.FixedSizeBinaryType{ByteWidth: int(n)}, nil
	case "fixed_size_list":
		if len(parts) < 3 {
			return bad()
		}
		n, err := strconv.ParseInt(parts[len(parts)-1], 10, 32)
		if err != nil || n <= 0 {
			return bad() // arrow-go rejects (panics on) empty fixed-size lists
		}
		innerName := strings.Join(parts[1:len(parts)-1], ":")
		if innerName == BFloat16ExtName {
			item := arrow.Field{Name: "item", Type: &arrow.FixedSizeBinaryType{ByteWidth: 2}, Nullable: true,
				Metadata: arrow.NewMetadata([]string{ExtensionNameKey, ExtensionMetaKey}, []string{BFloat16ExtName, ""})}
			return arrow.FixedSizeListOfField(int32(n), item), nil
		}
		inner, err := ParseLogicalType(innerName)
		if err != nil {
			return nil, err
		}
		// Lance does not record the item field, so it reads back as a
		// nullable field named "item".
		return arrow.FixedSizeListOfField(int32(n), arrow.Field{Name: "item", Type: inner, Nullable: true}), nil
	case "dict":
		if len(parts) != 4 {
			return bad()
		}
		v, err := ParseLogicalType(parts[1])
		if err != nil {
			return nil, err
		}
		k, err := ParseLogicalType(parts[2])
		if err != nil {
			return nil, err
		}
		if !arrow.IsInteger(k.ID()) {
			return bad()
		}
		return &arrow.DictionaryType{IndexType: k, ValueType: v, Ordered: parts[3] == "true"}, nil
	}
	return bad()
}

// legacyEncoding is the hint Lance stores in Field.encoding; nothing reads it
// for v2 files, but Lance sets it and we keep the bytes the same.
func legacyEncoding(dt arrow.DataType) int32 {
	switch dt.ID() {
	case arrow.BOOL, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64, arrow.DECIMAL128, arrow.DECIMAL256,
		arrow.FIXED_SIZE_LIST, arrow.FIXED_SIZE_BINARY, arrow.DURATION, arrow.TIMESTAMP,
		arrow.DATE32, arrow.DATE64, arrow.TIME32, arrow.TIME64:
		return 1 // PLAIN
	case arrow.STRING, arrow.BINARY, arrow.LARGE_STRING, arrow.LARGE_BINARY:
		return 2 // VAR_BINARY
	case arrow.DICTIONARY:
		return 3 // DICTIONARY
	case arrow.LIST, arrow.LARGE_LIST:
		return 1 // PLAIN: Lance stores list offsets plainly
	case arrow.EXTENSION:
		return legacyEncoding(dt.(arrow.ExtensionType).StorageType())
	}
	return 0
}

func metaValue(md arrow.Metadata, key string) (string, bool) {
	i := md.FindKey(key)
	if i < 0 {
		return "", false
	}
	return md.Values()[i], true
}
