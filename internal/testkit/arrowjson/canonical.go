// Package arrowjson renders Arrow record batches as the canonical JSON
// document defined in test/compat/README.md, byte for byte the same as
// test/compat/canonical.mjs renders it for apache-arrow data. A test can then
// compare what Go reads from a Lance table with what stock LanceDB reads.
//
// Floats are rendered as their IEEE-754 bit patterns and integers as decimal
// strings, so the comparison is exact: no rounding, -0 and NaN payloads kept.
package arrowjson

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// ErrUnsupportedType is returned for Arrow types that have no canonical form.
var ErrUnsupportedType = errors.New("arrowjson: unsupported arrow type")

// Options change the document Canonical renders.
type Options struct {
	// Version, when non-nil, is written as the leading "version" key (what
	// dump.mjs prints for a table version).
	Version *uint64
	// OrderBy, when set, sorts rows by that top-level column the way
	// dump.mjs --order-by does: stable, nulls first, integer-like values
	// numerically, everything else by canonical text bytes.
	OrderBy string
}

// Canonical renders schema and recs (in order) without a version key, the
// same document ipc-dump.mjs prints.
func Canonical(schema *arrow.Schema, recs []arrow.RecordBatch) ([]byte, error) {
	return CanonicalWith(schema, recs, Options{})
}

// CanonicalWith renders schema and recs with the given options.
func CanonicalWith(schema *arrow.Schema, recs []arrow.RecordBatch, opts Options) ([]byte, error) {
	fields := schema.Fields()
	orderCol := -1
	if opts.OrderBy != "" {
		idx := schema.FieldIndices(opts.OrderBy)
		if len(idx) != 1 {
			return nil, fmt.Errorf("arrowjson: order by %q: want exactly one column with that name, found %d", opts.OrderBy, len(idx))
		}
		orderCol = idx[0]
	}

	var rows []row
	for ri, rec := range recs {
		if err := checkSchema(schema, rec.Schema()); err != nil {
			return nil, fmt.Errorf("arrowjson: record batch %d: %w", ri, err)
		}
		renderers := make([]cellFunc, len(fields))
		for c := range fields {
			r, err := renderer(rec.Column(c))
			if err != nil {
				return nil, fmt.Errorf("arrowjson: record batch %d column %q: %w", ri, fields[c].Name, err)
			}
			renderers[c] = r
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			var buf []byte
			buf = append(buf, '[')
			var key sortKey
			for c, r := range renderers {
				if c > 0 {
					buf = append(buf, ',')
				}
				start := len(buf)
				buf = r(buf, i)
				if c == orderCol {
					key = keyOf(rec.Column(c), i, buf[start:])
				}
			}
			buf = append(buf, ']')
			rows = append(rows, row{text: buf, key: key})
		}
	}
	if orderCol >= 0 {
		slices.SortStableFunc(rows, func(a, b row) int { return compareKeys(a.key, b.key) })
	}

	var out bytes.Buffer
	out.WriteByte('{')
	if opts.Version != nil {
		out.WriteString(`"version":`)
		out.WriteString(strconv.FormatUint(*opts.Version, 10))
		out.WriteByte(',')
	}
	out.WriteString(`"schema":[`)
	for c, f := range fields {
		ts, err := TypeString(f.Type)
		if err != nil {
			return nil, fmt.Errorf("arrowjson: column %q: %w", f.Name, err)
		}
		if c > 0 {
			out.WriteByte(',')
		}
		out.WriteString(`{"name":`)
		out.Write(appendJSONString(nil, f.Name))
		out.WriteString(`,"type":`)
		out.Write(appendJSONString(nil, ts))
		out.WriteString(`,"nullable":`)
		out.WriteString(strconv.FormatBool(f.Nullable))
		out.WriteByte('}')
	}
	out.WriteString(`],"count":`)
	out.WriteString(strconv.Itoa(len(rows)))
	out.WriteString(`,"rows":[` + "\n")
	for i, r := range rows {
		out.Write(r.text)
		if i < len(rows)-1 {
			out.WriteByte(',')
		}
		out.WriteByte('\n')
	}
	out.WriteString("]}\n")
	return out.Bytes(), nil
}

type row struct {
	text []byte
	key  sortKey
}

func checkSchema(want, got *arrow.Schema) error {
	if want.NumFields() != got.NumFields() {
		return fmt.Errorf("has %d columns, schema has %d", got.NumFields(), want.NumFields())
	}
	for i := range want.NumFields() {
		w, g := want.Field(i), got.Field(i)
		if w.Name != g.Name || !arrow.TypeEqual(w.Type, g.Type) {
			return fmt.Errorf("column %d is %s %s, schema says %s %s", i, g.Name, g.Type, w.Name, w.Type)
		}
	}
	return nil
}

// TypeString renders an Arrow type as the canonical type string.
func TypeString(t arrow.DataType) (string, error) {
	switch t := t.(type) {
	case *arrow.NullType:
		return "null", nil
	case *arrow.BooleanType:
		return "bool", nil
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type,
		*arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type, *arrow.Uint64Type,
		*arrow.Float16Type, *arrow.Float32Type, *arrow.Float64Type:
		// arrow-go's names ("int32", "uint64", "float16") are the canonical ones.
		return t.Name(), nil
	case *arrow.StringType:
		return "utf8", nil
	case *arrow.LargeStringType:
		return "large_utf8", nil
	case *arrow.BinaryType:
		return "binary", nil
	case *arrow.LargeBinaryType:
		return "large_binary", nil
	case *arrow.FixedSizeBinaryType:
		return fmt.Sprintf("fixed_size_binary[%d]", t.ByteWidth), nil
	case *arrow.Date32Type:
		return "date32", nil
	case *arrow.Date64Type:
		return "date64", nil
	case *arrow.Time32Type:
		return "time32[" + t.Unit.String() + "]", nil
	case *arrow.Time64Type:
		return "time64[" + t.Unit.String() + "]", nil
	case *arrow.TimestampType:
		if t.TimeZone != "" {
			return "timestamp[" + t.Unit.String() + "," + t.TimeZone + "]", nil
		}
		return "timestamp[" + t.Unit.String() + "]", nil
	case *arrow.DurationType:
		return "duration[" + t.Unit.String() + "]", nil
	case *arrow.ListType:
		elem, err := TypeString(t.Elem())
		if err != nil {
			return "", err
		}
		return "list<" + elem + ">", nil
	case *arrow.FixedSizeListType:
		elem, err := TypeString(t.Elem())
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("fixed_size_list<%s>[%d]", elem, t.Len()), nil
	case *arrow.StructType:
		s := "struct<"
		for i, f := range t.Fields() {
			ft, err := TypeString(f.Type)
			if err != nil {
				return "", err
			}
			if i > 0 {
				s += ","
			}
			s += f.Name + ":" + ft
		}
		return s + ">", nil
	case *arrow.DictionaryType:
		idx, err := TypeString(t.IndexType)
		if err != nil {
			return "", err
		}
		val, err := TypeString(t.ValueType)
		if err != nil {
			return "", err
		}
		return "dictionary<" + idx + "," + val + ">", nil
	default:
		return "", fmt.Errorf("%w: %s", ErrUnsupportedType, t)
	}
}

// cellFunc appends the canonical JSON of row i (null included) to buf.
type cellFunc func(buf []byte, i int) []byte

func renderer(arr arrow.Array) (cellFunc, error) {
	value, err := valueRenderer(arr)
	if err != nil {
		return nil, err
	}
	return func(buf []byte, i int) []byte {
		if arr.IsNull(i) {
			return append(buf, "null"...)
		}
		return value(buf, i)
	}, nil
}

func quotedInt(buf []byte, v int64) []byte {
	buf = append(buf, '"')
	buf = strconv.AppendInt(buf, v, 10)
	return append(buf, '"')
}

func quotedUint(buf []byte, v uint64) []byte {
	buf = append(buf, '"')
	buf = strconv.AppendUint(buf, v, 10)
	return append(buf, '"')
}

func hexBits(buf []byte, v uint64, digits int) []byte {
	buf = append(buf, `"0x`...)
	h := strconv.FormatUint(v, 16)
	for range digits - len(h) {
		buf = append(buf, '0')
	}
	buf = append(buf, h...)
	return append(buf, '"')
}

func stringCell(buf []byte, s string) []byte {
	if !utf8.ValidString(s) {
		buf = append(buf, `{"utf8_invalid":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, []byte(s))
		return append(buf, `"}`...)
	}
	return appendJSONString(buf, s)
}

func base64Cell(buf []byte, b []byte) []byte {
	buf = append(buf, '"')
	buf = base64.StdEncoding.AppendEncode(buf, b)
	return append(buf, '"')
}

func valueRenderer(arr arrow.Array) (cellFunc, error) {
	switch a := arr.(type) {
	case *array.Null:
		return func(buf []byte, _ int) []byte { return append(buf, "null"...) }, nil
	case *array.Boolean:
		return func(buf []byte, i int) []byte { return strconv.AppendBool(buf, a.Value(i)) }, nil
	case *array.Int8:
		return func(buf []byte, i int) []byte { return quotedInt(buf, int64(a.Value(i))) }, nil
	case *array.Int16:
		return func(buf []byte, i int) []byte { return quotedInt(buf, int64(a.Value(i))) }, nil
	case *array.Int32:
		return func(buf []byte, i int) []byte { return quotedInt(buf, int64(a.Value(i))) }, nil
	case *array.Int64:
		return func(buf []byte, i int) []byte { return quotedInt(buf, a.Value(i)) }, nil
	case *array.Uint8:
		return func(buf []byte, i int) []byte { return quotedUint(buf, uint64(a.Value(i))) }, nil
	case *array.Uint16:
		return func(buf []byte, i int) []byte { return quotedUint(buf, uint64(a.Value(i))) }, nil
	case *array.Uint32:
		return func(buf []byte, i int) []byte { return quotedUint(buf, uint64(a.Value(i))) }, nil
	case *array.Uint64:
		return func(buf []byte, i int) []byte { return quotedUint(buf, a.Value(i)) }, nil
	case *array.Float16:
		return func(buf []byte, i int) []byte { return hexBits(buf, uint64(a.Value(i).Uint16()), 4) }, nil
	case *array.Float32:
		return func(buf []byte, i int) []byte { return hexBits(buf, uint64(math.Float32bits(a.Value(i))), 8) }, nil
	case *array.Float64:
		return func(buf []byte, i int) []byte { return hexBits(buf, math.Float64bits(a.Value(i)), 16) }, nil
	case *array.String:
		return func(buf []byte, i int) []byte { return stringCell(buf, a.Value(i)) }, nil
	case *array.LargeString:
		return func(buf []byte, i int) []byte { return stringCell(buf, a.Value(i)) }, nil
	case *array.Binary:
		return func(buf []byte, i int) []byte { return base64Cell(buf, a.Value(i)) }, nil
	case *array.LargeBinary:
		return func(buf []byte, i int) []byte { return base64Cell(buf, a.Value(i)) }, nil
	case *array.FixedSizeBinary:
		return func(buf []byte, i int) []byte { return base64Cell(buf, a.Value(i)) }, nil
	case *array.Date32:
		// Days fit a JSON number exactly, and the format says so.
		return func(buf []byte, i int) []byte { return strconv.AppendInt(buf, int64(a.Value(i)), 10) }, nil
	case *array.Date64:
		return func(buf []byte, i int) []byte { return quotedInt(buf, int64(a.Value(i))) }, nil
	case *array.Time32:
		return func(buf []byte, i int) []byte { return quotedInt(buf, int64(a.Value(i))) }, nil
	case *array.Time64:
		return func(buf []byte, i int) []byte { return quotedInt(buf, int64(a.Value(i))) }, nil
	case *array.Timestamp:
		return func(buf []byte, i int) []byte { return quotedInt(buf, int64(a.Value(i))) }, nil
	case *array.Duration:
		return func(buf []byte, i int) []byte { return quotedInt(buf, int64(a.Value(i))) }, nil
	case *array.List:
		return listRenderer(a.ListValues(), a.ValueOffsets)
	case *array.FixedSizeList:
		return listRenderer(a.ListValues(), a.ValueOffsets)
	case *array.Struct:
		return structRenderer(a)
	case *array.Dictionary:
		dict, err := renderer(a.Dictionary())
		if err != nil {
			return nil, err
		}
		// Check indices up front: a cellFunc cannot return an error, and a
		// bad index must not become a panic.
		n := a.Dictionary().Len()
		for i := range a.Len() {
			if a.IsValid(i) {
				if k := a.GetValueIndex(i); k < 0 || k >= n {
					return nil, fmt.Errorf("dictionary index %d at row %d outside dictionary of %d values", k, i, n)
				}
			}
		}
		return func(buf []byte, i int) []byte { return dict(buf, a.GetValueIndex(i)) }, nil
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedType, arr.DataType())
	}
}

func listRenderer(values arrow.Array, offsets func(int) (int64, int64)) (cellFunc, error) {
	elem, err := renderer(values)
	if err != nil {
		return nil, err
	}
	return func(buf []byte, i int) []byte {
		start, end := offsets(i)
		buf = append(buf, '[')
		for j := start; j < end; j++ {
			if j > start {
				buf = append(buf, ',')
			}
			buf = elem(buf, int(j))
		}
		return append(buf, ']')
	}, nil
}

func structRenderer(a *array.Struct) (cellFunc, error) {
	st := a.DataType().(*arrow.StructType)
	names := make([][]byte, a.NumField())
	children := make([]cellFunc, a.NumField())
	for k := range a.NumField() {
		names[k] = appendJSONString(nil, st.Field(k).Name)
		r, err := renderer(a.Field(k))
		if err != nil {
			return nil, fmt.Errorf("struct field %q: %w", st.Field(k).Name, err)
		}
		children[k] = r
	}
	return func(buf []byte, i int) []byte {
		buf = append(buf, '{')
		for k, r := range children {
			if k > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, names[k]...)
			buf = append(buf, ':')
			buf = r(buf, i)
		}
		return append(buf, '}')
	}, nil
}

// appendJSONString quotes s exactly as JavaScript's JSON.stringify does, so
// both canonicalisers agree on every byte: only '"', '\\' and control
// characters are escaped, with the short forms \b \f \n \r \t and lowercase
// \u00xx otherwise. Invalid UTF-8 is replaced by U+FFFD (only schema names can
// reach here unvalidated).
func appendJSONString(buf []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	buf = append(buf, '"')
	for _, r := range s {
		switch r {
		case '"':
			buf = append(buf, `\"`...)
		case '\\':
			buf = append(buf, `\\`...)
		case '\b':
			buf = append(buf, `\b`...)
		case '\f':
			buf = append(buf, `\f`...)
		case '\n':
			buf = append(buf, `\n`...)
		case '\r':
			buf = append(buf, `\r`...)
		case '\t':
			buf = append(buf, `\t`...)
		default:
			if r < 0x20 {
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
			} else {
				buf = utf8.AppendRune(buf, r)
			}
		}
	}
	return append(buf, '"')
}
