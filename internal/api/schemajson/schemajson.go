// Package schemajson converts Arrow schemas and types to and from the JSON
// form Lance uses in its REST APIs (lance rust/lance/src/arrow/json.rs): the
// `schema` of describe responses and the `data_type` of alter_columns.
//
//	{"fields":[{"name":"id","type":{"type":"int64"},"nullable":false}],"metadata":{...}}
//
// Leaf types are Lance logical type strings ("int64", "float",
// "timestamp:us:UTC", "dict:string:int32:false"); nested types carry their
// children in "fields" ("list", "large_list", "struct", "fixed_size_list"
// with "length"), and "fixed_size_binary" carries "length".
package schemajson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sarissa-db/sarissa/internal/lance/schema"
)

// ErrInvalid is wrapped by errors about JSON types that cannot be parsed.
var ErrInvalid = errors.New("invalid json data type")

// maxDepth bounds nesting when parsing, so hostile input cannot recurse
// without bound.
const maxDepth = 32

// Schema is the JSON form of an Arrow schema.
type Schema struct {
	Fields   []Field           `json:"fields"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Field is the JSON form of an Arrow field.
type Field struct {
	Name     string            `json:"name"`
	Type     Type              `json:"type"`
	Nullable bool              `json:"nullable"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Type is the JSON form of an Arrow data type.
type Type struct {
	Type   string  `json:"type"`
	Fields []Field `json:"fields,omitempty"`
	Length *int    `json:"length,omitempty"`
}

// FromArrow converts a schema.
func FromArrow(s *arrow.Schema) (Schema, error) {
	out := Schema{Fields: make([]Field, 0, s.NumFields()), Metadata: metadataMap(s.Metadata())}
	for _, f := range s.Fields() {
		jf, err := fieldFromArrow(f)
		if err != nil {
			return Schema{}, err
		}
		out.Fields = append(out.Fields, jf)
	}
	return out, nil
}

func metadataMap(md arrow.Metadata) map[string]string {
	if md.Len() == 0 {
		return nil
	}
	m := make(map[string]string, md.Len())
	for i, k := range md.Keys() {
		m[k] = md.Values()[i]
	}
	return m
}

func fieldFromArrow(f arrow.Field) (Field, error) {
	t, err := TypeFromArrow(f.Type)
	if err != nil {
		return Field{}, fmt.Errorf("field %q: %w", f.Name, err)
	}
	return Field{Name: f.Name, Type: t, Nullable: f.Nullable, Metadata: metadataMap(f.Metadata)}, nil
}

// TypeFromArrow converts a data type.
func TypeFromArrow(dt arrow.DataType) (Type, error) {
	children := func(fs ...arrow.Field) ([]Field, error) {
		out := make([]Field, len(fs))
		for i, f := range fs {
			jf, err := fieldFromArrow(f)
			if err != nil {
				return nil, err
			}
			out[i] = jf
		}
		return out, nil
	}
	switch t := dt.(type) {
	case *arrow.ListType:
		fs, err := children(t.ElemField())
		return Type{Type: "list", Fields: fs}, err
	case *arrow.LargeListType:
		fs, err := children(t.ElemField())
		return Type{Type: "large_list", Fields: fs}, err
	case *arrow.FixedSizeListType:
		fs, err := children(t.ElemField())
		n := int(t.Len())
		return Type{Type: "fixed_size_list", Fields: fs, Length: &n}, err
	case *arrow.StructType:
		fs, err := children(t.Fields()...)
		return Type{Type: "struct", Fields: fs}, err
	case *arrow.FixedSizeBinaryType:
		n := t.ByteWidth
		return Type{Type: "fixed_size_binary", Length: &n}, nil
	case arrow.ExtensionType:
		return TypeFromArrow(t.StorageType())
	}
	lt, err := schema.LogicalType(dt)
	if err != nil {
		return Type{}, err
	}
	return Type{Type: lt}, nil
}

// ParseType parses a JSON data type: an object such as {"type":"float"} or,
// leniently, a bare type string such as "float".
func ParseType(raw json.RawMessage) (arrow.DataType, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return Type{Type: s}.ToArrow()
	}
	var t Type
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return t.ToArrow()
}

// ToArrow converts the JSON type to an Arrow type.
func (t Type) ToArrow() (arrow.DataType, error) { return t.toArrow(0) }

func (t Type) toArrow(depth int) (arrow.DataType, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: types nested more than %d levels deep", ErrInvalid, maxDepth)
	}
	bad := func(format string, args ...any) (arrow.DataType, error) {
		return nil, fmt.Errorf("%w: type %q: %s", ErrInvalid, t.Type, fmt.Sprintf(format, args...))
	}
	name := strings.ToLower(strings.TrimSpace(t.Type))
	item := func() (arrow.Field, error) {
		if len(t.Fields) != 1 {
			return arrow.Field{}, fmt.Errorf("%w: type %q needs exactly one item field, got %d", ErrInvalid, t.Type, len(t.Fields))
		}
		return t.Fields[0].toArrow(depth + 1)
	}
	switch name {
	case "list", "large_list", "fixed_size_list":
		f, err := item()
		if err != nil {
			return nil, err
		}
		switch name {
		case "list":
			return arrow.ListOfField(f), nil
		case "large_list":
			return arrow.LargeListOfField(f), nil
		}
		if t.Length == nil || *t.Length <= 0 || *t.Length > 1<<24 {
			return bad("needs a positive length up to %d", 1<<24)
		}
		return arrow.FixedSizeListOfField(int32(*t.Length), f), nil
	case "struct":
		fs := make([]arrow.Field, len(t.Fields))
		for i, jf := range t.Fields {
			f, err := jf.toArrow(depth + 1)
			if err != nil {
				return nil, err
			}
			fs[i] = f
		}
		return arrow.StructOf(fs...), nil
	case "fixed_size_binary":
		if t.Length == nil || *t.Length <= 0 || *t.Length > 1<<30 {
			return bad("needs a positive length")
		}
		return &arrow.FixedSizeBinaryType{ByteWidth: *t.Length}, nil
	case "":
		return bad("empty type name")
	}
	// Not the lower-cased name: time zones are case-sensitive.
	dt, err := schema.ParseLogicalType(strings.TrimSpace(t.Type))
	if err != nil {
		return nil, fmt.Errorf("%w: %w (want e.g. int64, float, double, string, timestamp:us:UTC, list, struct)", ErrInvalid, err)
	}
	return dt, nil
}

func (f Field) toArrow(depth int) (arrow.Field, error) {
	dt, err := f.Type.toArrow(depth)
	if err != nil {
		return arrow.Field{}, fmt.Errorf("field %q: %w", f.Name, err)
	}
	out := arrow.Field{Name: f.Name, Type: dt, Nullable: f.Nullable}
	if len(f.Metadata) > 0 {
		keys := make([]string, 0, len(f.Metadata))
		for k := range f.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = f.Metadata[k]
		}
		out.Metadata = arrow.NewMetadata(keys, vals)
	}
	return out, nil
}

// ToArrow converts a JSON schema to an Arrow schema.
func (s Schema) ToArrow() (*arrow.Schema, error) {
	fs := make([]arrow.Field, len(s.Fields))
	for i, jf := range s.Fields {
		f, err := jf.toArrow(0)
		if err != nil {
			return nil, err
		}
		fs[i] = f
	}
	var md *arrow.Metadata
	if len(s.Metadata) > 0 {
		m := arrow.MetadataFrom(s.Metadata)
		md = &m
	}
	return arrow.NewSchema(fs, md), nil
}
