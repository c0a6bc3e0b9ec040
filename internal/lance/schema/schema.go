// Package schema maps Arrow schemas to Lance schemas and back.
//
// Lance stores a schema as a flat, depth-first list of lance.file.Field
// protobufs: every node of the type tree (struct members, list items) is a
// field with its own id and a parent_id (-1 at the top level), and its type is
// a "logical type" string such as "int64", "fixed_size_list:float:128" or
// "timestamp:us:UTC". The same list appears in table manifests and, for v2
// data files, in the file's global buffer 0.
//
// The strings and flags produced here are the ones Lance itself writes
// (rust/lance-core/src/datatypes), so Lance readers see identical schemas.
package schema

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/filepb"
)

// ErrFieldNotFound reports a lookup of a field that is not in the schema.
var ErrFieldNotFound = errors.New("field not found")

// ErrInvalidSchema reports a schema that breaks Lance's rules (duplicate
// names or ids, dangling parent ids, dots in top-level names).
var ErrInvalidSchema = errors.New("invalid schema")

// Field is one node of a Lance schema tree.
type Field struct {
	ID       int32
	ParentID int32 // -1 for top-level fields
	Name     string
	// LogicalType is Lance's type string, e.g. "int64", "struct", "list",
	// "fixed_size_list:float:768".
	LogicalType string
	Nullable    bool
	// Metadata is the Arrow field metadata. Lance stores values as bytes and
	// reads them back as (lossy) UTF-8; Go strings carry the bytes unchanged.
	Metadata map[string]string
	// Encoding is the legacy (v0.1) encoding hint Lance still records.
	Encoding filepb.Encoding
	// Dictionary locates a legacy-format dictionary; kept for round trips.
	Dictionary           *filepb.Dictionary
	UnenforcedPrimaryKey bool
	Children             []*Field
}

// Schema is a Lance schema: top-level fields plus schema metadata.
type Schema struct {
	Fields   []*Field
	Metadata map[string]string
}

// FromArrow converts an Arrow schema and assigns field ids depth-first,
// starting at firstID (0 for a new table; max existing id + 1 when fields are
// added to an existing table).
func FromArrow(s *arrow.Schema, firstID int32) (*Schema, error) {
	out := &Schema{Metadata: metadataMap(s.Metadata())}
	for _, af := range s.Fields() {
		f, err := fieldFromArrow(af)
		if err != nil {
			return nil, err
		}
		out.Fields = append(out.Fields, f)
	}
	next := firstID
	for _, f := range out.Fields {
		f.assignIDs(-1, &next)
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return out, nil
}

// FieldFromArrow converts one Arrow field (and its children) without ids
// (all ids -1); use Schema.AssignIDs after adding it to a schema.
func FieldFromArrow(af arrow.Field) (*Field, error) { return fieldFromArrow(af) }

func fieldFromArrow(af arrow.Field) (*Field, error) {
	md := metadataMap(af.Metadata)
	dt := af.Type
	if ext, ok := dt.(arrow.ExtensionType); ok {
		// Lance has no extension types of its own; it keeps the storage type
		// and remembers the extension in the field metadata.
		if md == nil {
			md = map[string]string{}
		}
		md[ExtensionNameKey] = ext.ExtensionName()
		md[ExtensionMetaKey] = ext.Serialize()
		dt = ext.StorageType()
	}
	lt, err := LogicalType(dt)
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", af.Name, err)
	}
	f := &Field{
		ID:          -1,
		ParentID:    -1,
		Name:        af.Name,
		LogicalType: lt,
		Nullable:    af.Nullable,
		Metadata:    md,
		Encoding:    filepb.Encoding(legacyEncoding(dt)),
	}
	if v, ok := md[PrimaryKeyKey]; ok {
		switch strings.ToLower(v) {
		case "true", "1", "yes":
			f.UnenforcedPrimaryKey = true
		}
	}
	var children []arrow.Field
	switch t := dt.(type) {
	case *arrow.StructType:
		children = t.Fields()
	case *arrow.ListType:
		children = []arrow.Field{t.ElemField()}
	case *arrow.LargeListType:
		children = []arrow.Field{t.ElemField()}
	}
	for _, c := range children {
		cf, err := fieldFromArrow(c)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", af.Name, err)
		}
		f.Children = append(f.Children, cf)
	}
	return f, nil
}

func (f *Field) assignIDs(parent int32, next *int32) {
	f.ParentID = parent
	if f.ID < 0 {
		f.ID = *next
		*next++
	}
	for _, c := range f.Children {
		c.assignIDs(f.ID, next)
	}
}

// AssignIDs gives every field whose ID is negative a new id, depth-first,
// starting after max(MaxFieldID(), maxExisting), and fixes parent ids. This
// is Lance's Schema::set_field_id; pass the manifest's max field id (or -1).
func (s *Schema) AssignIDs(maxExisting int32) {
	next := max(s.MaxFieldID(), maxExisting) + 1
	for _, f := range s.Fields {
		f.assignIDs(-1, &next)
	}
}

// FromProto rebuilds a schema from Lance's flattened field list. Children
// must follow their parents, as Lance writes them.
func FromProto(fields []*filepb.Field, metadata map[string][]byte) (*Schema, error) {
	out := &Schema{}
	if len(metadata) > 0 {
		out.Metadata = make(map[string]string, len(metadata))
		for k, v := range metadata {
			out.Metadata[k] = string(v)
		}
	}
	byID := make(map[int32]*Field, len(fields))
	for i, pf := range fields {
		if pf == nil {
			return nil, fmt.Errorf("%w: field %d is empty", ErrInvalidSchema, i)
		}
		f := &Field{
			ID:                   pf.GetId(),
			ParentID:             pf.GetParentId(),
			Name:                 pf.GetName(),
			LogicalType:          pf.GetLogicalType(),
			Nullable:             pf.GetNullable(),
			Encoding:             pf.GetEncoding(),
			Dictionary:           pf.GetDictionary(),
			UnenforcedPrimaryKey: pf.GetUnenforcedPrimaryKey(),
		}
		if len(pf.GetMetadata()) > 0 || pf.GetExtensionName() != "" {
			f.Metadata = make(map[string]string, len(pf.GetMetadata())+1)
			for k, v := range pf.GetMetadata() {
				f.Metadata[k] = string(v)
			}
			if pf.GetExtensionName() != "" {
				f.Metadata[ExtensionNameKey] = pf.GetExtensionName()
			}
		}
		if _, dup := byID[f.ID]; dup {
			return nil, fmt.Errorf("%w: duplicate field id %d (%q)", ErrInvalidSchema, f.ID, f.Name)
		}
		byID[f.ID] = f
		if f.ParentID == -1 {
			out.Fields = append(out.Fields, f)
			continue
		}
		parent, ok := byID[f.ParentID]
		if !ok || parent == f {
			return nil, fmt.Errorf("%w: field %q (id %d) names parent %d which does not precede it",
				ErrInvalidSchema, f.Name, f.ID, f.ParentID)
		}
		parent.Children = append(parent.Children, f)
	}
	return out, nil
}

// ToProto flattens the schema depth-first into Lance's field list plus the
// schema metadata, as Lance writes them.
func (s *Schema) ToProto() ([]*filepb.Field, map[string][]byte) {
	var out []*filepb.Field
	for _, f := range s.Fields {
		f.appendProto(&out)
	}
	var md map[string][]byte
	if len(s.Metadata) > 0 {
		md = make(map[string][]byte, len(s.Metadata))
		for k, v := range s.Metadata {
			md[k] = []byte(v)
		}
	}
	return out, md
}

func (f *Field) appendProto(out *[]*filepb.Field) {
	pf := &filepb.Field{
		// Lance leaves the field type at its zero value (PARENT) for every
		// field in v2 schemas; the tree shape comes from parent ids.
		Type:                 filepb.Field_PARENT,
		Name:                 f.Name,
		Id:                   f.ID,
		ParentId:             f.ParentID,
		LogicalType:          f.LogicalType,
		Nullable:             f.Nullable,
		Encoding:             f.Encoding,
		Dictionary:           f.Dictionary,
		ExtensionName:        f.Metadata[ExtensionNameKey],
		UnenforcedPrimaryKey: f.UnenforcedPrimaryKey,
	}
	if len(f.Metadata) > 0 {
		pf.Metadata = make(map[string][]byte, len(f.Metadata))
		for k, v := range f.Metadata {
			pf.Metadata[k] = []byte(v)
		}
	}
	*out = append(*out, pf)
	for _, c := range f.Children {
		c.appendProto(out)
	}
}

// DataType returns the Arrow type of the field.
func (f *Field) DataType() (arrow.DataType, error) {
	child := func() (arrow.Field, error) {
		if len(f.Children) != 1 {
			return arrow.Field{}, fmt.Errorf("%w: list field %q has %d children, want 1",
				ErrInvalidSchema, f.Name, len(f.Children))
		}
		return f.Children[0].ArrowField()
	}
	switch f.LogicalType {
	case "list", "list.struct":
		c, err := child()
		if err != nil {
			return nil, err
		}
		return arrow.ListOfField(c), nil
	case "large_list", "large_list.struct":
		c, err := child()
		if err != nil {
			return nil, err
		}
		return arrow.LargeListOfField(c), nil
	case "struct":
		fs := make([]arrow.Field, 0, len(f.Children))
		for _, c := range f.Children {
			af, err := c.ArrowField()
			if err != nil {
				return nil, err
			}
			fs = append(fs, af)
		}
		return arrow.StructOf(fs...), nil
	}
	dt, err := ParseLogicalType(f.LogicalType)
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", f.Name, err)
	}
	return dt, nil
}

// ArrowField converts the field (and its children) to an Arrow field.
func (f *Field) ArrowField() (arrow.Field, error) {
	dt, err := f.DataType()
	if err != nil {
		return arrow.Field{}, err
	}
	md := f.Metadata
	if f.LogicalType == "json" {
		md = maps.Clone(md)
		if md == nil {
			md = map[string]string{}
		}
		md[ExtensionNameKey] = JSONExtName
	}
	return arrow.Field{Name: f.Name, Type: dt, Nullable: f.Nullable, Metadata: arrowMetadata(md)}, nil
}

// ToArrow converts the schema to an Arrow schema with its metadata.
func (s *Schema) ToArrow() (*arrow.Schema, error) {
	fs := make([]arrow.Field, 0, len(s.Fields))
	for _, f := range s.Fields {
		af, err := f.ArrowField()
		if err != nil {
			return nil, err
		}
		fs = append(fs, af)
	}
	md := arrowMetadata(s.Metadata)
	return arrow.NewSchema(fs, &md), nil
}

// Validate checks Lance's schema rules: no '.' in top-level names, unique
// names among siblings, unique ids, parent ids that match the tree.
func (s *Schema) Validate() error {
	ids := map[int32]string{}
	var walk func(parent int32, path string, fs []*Field) error
	walk = func(parent int32, path string, fs []*Field) error {
		names := map[string]bool{}
		for _, f := range fs {
			full := f.Name
			if path != "" {
				full = path + "." + f.Name
			}
			if parent == -1 && strings.Contains(f.Name, ".") {
				return fmt.Errorf("%w: top-level field %q contains '.'", ErrInvalidSchema, f.Name)
			}
			if names[f.Name] {
				return fmt.Errorf("%w: duplicate field name %q", ErrInvalidSchema, full)
			}
			names[f.Name] = true
			if f.ParentID != parent {
				return fmt.Errorf("%w: field %q has parent id %d, want %d", ErrInvalidSchema, full, f.ParentID, parent)
			}
			if other, dup := ids[f.ID]; dup {
				return fmt.Errorf("%w: fields %q and %q share id %d", ErrInvalidSchema, other, full, f.ID)
			}
			ids[f.ID] = full
			if err := walk(f.ID, full, f.Children); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(-1, "", s.Fields)
}

// Flatten lists every field depth-first (parents before children), the order
// Lance uses for field ids and for v2 file columns.
func (s *Schema) Flatten() []*Field {
	var out []*Field
	var walk func(fs []*Field)
	walk = func(fs []*Field) {
		for _, f := range fs {
			out = append(out, f)
			walk(f.Children)
		}
	}
	walk(s.Fields)
	return out
}

// FieldByID finds a field anywhere in the tree, or returns nil.
func (s *Schema) FieldByID(id int32) *Field {
	for _, f := range s.Flatten() {
		if f.ID == id {
			return f
		}
	}
	return nil
}

// FieldByName finds a top-level field by name, or a nested struct member by
// dotted path ("a.b.c"). It returns nil if there is none.
func (s *Schema) FieldByName(name string) *Field {
	if i := s.FieldIndex(name); i >= 0 {
		return s.Fields[i]
	}
	parts := strings.Split(name, ".")
	fs := s.Fields
	var cur *Field
	for _, p := range parts {
		cur = nil
		for _, f := range fs {
			if f.Name == p {
				cur = f
				break
			}
		}
		if cur == nil {
			return nil
		}
		fs = cur.Children
	}
	return cur
}

// FieldIndex returns the position of the top-level field called name, or -1.
func (s *Schema) FieldIndex(name string) int {
	return slices.IndexFunc(s.Fields, func(f *Field) bool { return f.Name == name })
}

// MaxFieldID returns the largest field id in the schema, or -1 if it is empty.
func (s *Schema) MaxFieldID() int32 {
	m := int32(-1)
	for _, f := range s.Flatten() {
		m = max(m, f.ID)
	}
	return m
}

// Project returns a schema with only the named fields, in the order named.
// A dotted name selects one member of a struct; its ancestors are kept with
// only the selected members. Field ids are preserved. The result shares no
// memory with s.
func (s *Schema) Project(names []string) (*Schema, error) {
	out := &Schema{Metadata: maps.Clone(s.Metadata)}
	for _, name := range names {
		if i := s.FieldIndex(name); i >= 0 {
			if slices.ContainsFunc(out.Fields, func(f *Field) bool { return f.Name == name }) {
				continue
			}
			out.Fields = append(out.Fields, s.Fields[i].Clone())
			continue
		}
		parts := strings.Split(name, ".")
		src := s.Fields
		dst := &out.Fields
		for depth, p := range parts {
			i := slices.IndexFunc(src, func(f *Field) bool { return f.Name == p })
			if i < 0 || (depth < len(parts)-1 && src[i].LogicalType != "struct") {
				return nil, fmt.Errorf("project %q: %w", name, ErrFieldNotFound)
			}
			j := slices.IndexFunc(*dst, func(f *Field) bool { return f.Name == p })
			if depth == len(parts)-1 {
				if j < 0 {
					*dst = append(*dst, src[i].Clone())
				}
				break
			}
			if j < 0 {
				shell := src[i].Clone()
				shell.Children = nil
				*dst = append(*dst, shell)
				j = len(*dst) - 1
			}
			next := (*dst)[j]
			src = src[i].Children
			dst = &next.Children
		}
	}
	return out, nil
}

// Clone deep-copies the field and its children.
func (f *Field) Clone() *Field {
	c := *f
	c.Metadata = maps.Clone(f.Metadata)
	c.Children = make([]*Field, len(f.Children))
	for i, ch := range f.Children {
		c.Children[i] = ch.Clone()
	}
	if len(c.Children) == 0 {
		c.Children = nil
	}
	return &c
}

// Clone deep-copies the schema.
func (s *Schema) Clone() *Schema {
	out := &Schema{Metadata: maps.Clone(s.Metadata)}
	for _, f := range s.Fields {
		out.Fields = append(out.Fields, f.Clone())
	}
	return out
}

func metadataMap(md arrow.Metadata) map[string]string {
	if md.Len() == 0 {
		return nil
	}
	out := make(map[string]string, md.Len())
	for i, k := range md.Keys() {
		out[k] = md.Values()[i]
	}
	return out
}

func arrowMetadata(m map[string]string) arrow.Metadata {
	if len(m) == 0 {
		return arrow.Metadata{}
	}
	keys := slices.Sorted(maps.Keys(m))
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = m[k]
	}
	return arrow.NewMetadata(keys, vals)
}
