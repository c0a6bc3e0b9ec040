package schema

import (
	"reflect"

	"errors"
	"github.com/apache/arrow-go/v18/arrow/array"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"google.golang.org/protobuf/proto"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/filepb"
)

func TestLogicalTypeStrings(t *testing.T) {
	// The expected strings are the ones rust/lance-core/src/datatypes.rs
	// produces; the stock-file test in internal/lance/file checks the same
	// strings against a file written by LanceDB.
	cases := []struct {
		dt   arrow.DataType
		want string
	}{
		{arrow.Null, "null"},
		{arrow.FixedWidthTypes.Boolean, "bool"},
		{arrow.PrimitiveTypes.Int8, "int8"},
		{arrow.PrimitiveTypes.Int16, "int16"},
		{arrow.PrimitiveTypes.Int32, "int32"},
		{arrow.PrimitiveTypes.Int64, "int64"},
		{arrow.PrimitiveTypes.Uint8, "uint8"},
		{arrow.PrimitiveTypes.Uint16, "uint16"},
		{arrow.PrimitiveTypes.Uint32, "uint32"},
		{arrow.PrimitiveTypes.Uint64, "uint64"},
		{arrow.FixedWidthTypes.Float16, "halffloat"},
		{arrow.PrimitiveTypes.Float32, "float"},
		{arrow.PrimitiveTypes.Float64, "double"},
		{arrow.BinaryTypes.String, "string"},
		{arrow.BinaryTypes.LargeString, "large_string"},
		{arrow.BinaryTypes.Binary, "binary"},
		{arrow.BinaryTypes.LargeBinary, "large_binary"},
		{arrow.FixedWidthTypes.Date32, "date32:day"},
		{arrow.FixedWidthTypes.Date64, "date64:ms"},
		{arrow.FixedWidthTypes.Time32s, "time32:s"},
		{arrow.FixedWidthTypes.Time32ms, "time32:ms"},
		{arrow.FixedWidthTypes.Time64us, "time64:us"},
		{arrow.FixedWidthTypes.Time64ns, "time64:ns"},
		{&arrow.TimestampType{Unit: arrow.Second}, "timestamp:s:-"},
		{&arrow.TimestampType{Unit: arrow.Millisecond}, "timestamp:ms:-"},
		{&arrow.TimestampType{Unit: arrow.Microsecond}, "timestamp:us:-"},
		{&arrow.TimestampType{Unit: arrow.Nanosecond}, "timestamp:ns:-"},
		{&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, "timestamp:us:UTC"},
		{&arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "America/New_York"}, "timestamp:ms:America/New_York"},
		{&arrow.DurationType{Unit: arrow.Nanosecond}, "duration:ns"},
		{&arrow.Decimal128Type{Precision: 7, Scale: 3}, "decimal:128:7:3"},
		{&arrow.Decimal256Type{Precision: 40, Scale: -2}, "decimal:256:40:-2"},
		{&arrow.FixedSizeBinaryType{ByteWidth: 16}, "fixed_size_binary:16"},
		{arrow.FixedSizeListOf(128, arrow.PrimitiveTypes.Float32), "fixed_size_list:float:128"},
		{arrow.FixedSizeListOf(64, arrow.FixedWidthTypes.Float16), "fixed_size_list:halffloat:64"},
		{arrow.FixedSizeListOf(32, arrow.PrimitiveTypes.Uint8), "fixed_size_list:uint8:32"},
		{arrow.FixedSizeListOf(32, arrow.PrimitiveTypes.Int8), "fixed_size_list:int8:32"},
		{arrow.ListOf(arrow.PrimitiveTypes.Int32), "list"},
		{arrow.LargeListOf(arrow.BinaryTypes.String), "large_list"},
		{arrow.ListOf(arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int8})), "list.struct"},
		{arrow.LargeListOf(arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int8})), "large_list.struct"},
		{arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int8}), "struct"},
		{&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, "dict:string:int32:false"},
	}
	for _, c := range cases {
		got, err := LogicalType(c.dt)
		if err != nil {
			t.Errorf("%s: %v", c.dt, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: got %q want %q", c.dt, got, c.want)
		}
		switch c.dt.ID() {
		case arrow.LIST, arrow.LARGE_LIST, arrow.STRUCT:
			continue // need child fields; covered by the schema round trip
		}
		back, err := ParseLogicalType(got)
		if err != nil {
			t.Errorf("parse %q: %v", got, err)
			continue
		}
		if !arrow.TypeEqual(back, c.dt) {
			t.Errorf("parse %q: got %s want %s", got, back, c.dt)
		}
	}
}

func TestParseLogicalTypeErrors(t *testing.T) {
	for _, s := range []string{"", "int128", "timestamp:us", "timestamp:xs:-", "decimal:64:1:1",
		"fixed_size_list:float", "fixed_size_list:nope:3", "fixed_size_list:float:0", "fixed_size_list:float:-1", "fixed_size_binary:x", "dict:string:float:false",
		"time32:us", "time64:s", "struct"} {
		if _, err := ParseLogicalType(s); !errors.Is(err, ErrUnsupportedType) {
			t.Errorf("%q: got %v, want ErrUnsupportedType", s, err)
		}
	}
	// Lance cannot parse zones containing ':'; we accept them on read.
	dt, err := ParseLogicalType("timestamp:us:+05:30")
	if err != nil || dt.(*arrow.TimestampType).TimeZone != "+05:30" {
		t.Fatalf("got %v %v", dt, err)
	}
}

func testArrowSchema() *arrow.Schema {
	md := arrow.NewMetadata([]string{"k"}, []string{"v"})
	pk := arrow.NewMetadata([]string{PrimaryKeyKey}, []string{"true"})
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Metadata: pk},
		{Name: "vec", Type: arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Float32), Nullable: true, Metadata: md},
		{Name: "tags", Type: arrow.ListOfField(arrow.Field{Name: "item", Type: arrow.BinaryTypes.String, Nullable: true}), Nullable: true},
		{Name: "pt", Type: arrow.StructOf(
			arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Float64},
			arrow.Field{Name: "ys", Type: arrow.LargeListOfField(arrow.Field{Name: "element", Type: arrow.PrimitiveTypes.Int16, Nullable: true})},
		), Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, Nullable: true},
	}, &md)
}

func TestFromArrowIDsAndProto(t *testing.T) {
	s, err := FromArrow(testArrowSchema(), 0)
	if err != nil {
		t.Fatal(err)
	}
	fields, md := s.ToProto()
	type row struct {
		name, lt      string
		id, parent    int32
		enc           filepb.Encoding
		nullable, key bool
	}
	want := []row{
		{"id", "int64", 0, -1, filepb.Encoding_PLAIN, false, true},
		{"vec", "fixed_size_list:float:4", 1, -1, filepb.Encoding_PLAIN, true, false},
		{"tags", "list", 2, -1, filepb.Encoding_PLAIN, true, false},
		{"item", "string", 3, 2, filepb.Encoding_VAR_BINARY, true, false},
		{"pt", "struct", 4, -1, filepb.Encoding_NONE, true, false},
		{"x", "double", 5, 4, filepb.Encoding_PLAIN, false, false},
		{"ys", "large_list", 6, 4, filepb.Encoding_PLAIN, false, false},
		{"element", "int16", 7, 6, filepb.Encoding_PLAIN, true, false},
		{"ts", "timestamp:ns:UTC", 8, -1, filepb.Encoding_PLAIN, true, false},
	}
	if len(fields) != len(want) {
		t.Fatalf("got %d fields want %d", len(fields), len(want))
	}
	for i, w := range want {
		f := fields[i]
		got := row{f.Name, f.LogicalType, f.Id, f.ParentId, f.Encoding, f.Nullable, f.UnenforcedPrimaryKey}
		if got != w {
			t.Errorf("field %d: got %+v want %+v", i, got, w)
		}
		if f.Type != filepb.Field_PARENT {
			t.Errorf("field %d: type %v, Lance writes PARENT (0)", i, f.Type)
		}
	}
	if string(md["k"]) != "v" || string(fields[1].Metadata["k"]) != "v" {
		t.Errorf("metadata lost: %v %v", md, fields[1].Metadata)
	}
	if s.MaxFieldID() != 8 {
		t.Errorf("max id %d", s.MaxFieldID())
	}

	// Protobuf round trip, then back to Arrow: must equal the input.
	fd := &filepb.Schema{Fields: fields, Metadata: md}
	raw, err := proto.Marshal(fd)
	if err != nil {
		t.Fatal(err)
	}
	var fd2 filepb.Schema
	if err := proto.Unmarshal(raw, &fd2); err != nil {
		t.Fatal(err)
	}
	s2, err := FromProto(fd2.Fields, fd2.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	as, err := s2.ToArrow()
	if err != nil {
		t.Fatal(err)
	}
	if !as.Equal(testArrowSchema()) || !as.Metadata().Equal(testArrowSchema().Metadata()) {
		t.Errorf("round trip:\n got %s\nwant %s", as, testArrowSchema())
	}
	if err := s2.Validate(); err != nil {
		t.Error(err)
	}
}

func TestFromArrowStartID(t *testing.T) {
	s, err := FromArrow(testArrowSchema(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if s.Fields[0].ID != 10 || s.MaxFieldID() != 18 || s.FieldByID(13).Name != "item" || s.FieldByID(13).ParentID != 12 {
		t.Errorf("ids: %d %d", s.Fields[0].ID, s.MaxFieldID())
	}
	// Adding a field to an existing schema continues after the max id.
	nf, err := FieldFromArrow(arrow.Field{Name: "extra", Type: arrow.ListOf(arrow.PrimitiveTypes.Int8)})
	if err != nil {
		t.Fatal(err)
	}
	s.Fields = append(s.Fields, nf)
	s.AssignIDs(30)
	if nf.ID != 31 || nf.Children[0].ID != 32 || nf.Children[0].ParentID != 31 {
		t.Errorf("assign: %d %d %d", nf.ID, nf.Children[0].ID, nf.Children[0].ParentID)
	}
}

func TestRoundTripEveryType(t *testing.T) {
	types := []arrow.DataType{
		arrow.Null, arrow.FixedWidthTypes.Boolean,
		arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64,
		arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64,
		arrow.FixedWidthTypes.Float16, arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64,
		arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString, arrow.BinaryTypes.Binary, arrow.BinaryTypes.LargeBinary,
		arrow.FixedWidthTypes.Date32, arrow.FixedWidthTypes.Date64,
		&arrow.TimestampType{Unit: arrow.Second}, &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"},
		&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "Europe/Paris"}, &arrow.TimestampType{Unit: arrow.Nanosecond},
		&arrow.Decimal128Type{Precision: 38, Scale: 10}, &arrow.FixedSizeBinaryType{ByteWidth: 3},
		&arrow.DurationType{Unit: arrow.Millisecond},
		arrow.FixedSizeListOf(8, arrow.FixedWidthTypes.Float16), arrow.FixedSizeListOf(8, arrow.PrimitiveTypes.Float32),
		arrow.FixedSizeListOf(8, arrow.PrimitiveTypes.Uint8), arrow.FixedSizeListOf(8, arrow.PrimitiveTypes.Int8),
		arrow.ListOf(arrow.PrimitiveTypes.Float64), arrow.LargeListOf(arrow.BinaryTypes.Binary),
		arrow.ListOf(arrow.StructOf(arrow.Field{Name: "a", Type: arrow.BinaryTypes.String, Nullable: true})),
		&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Uint16, ValueType: arrow.BinaryTypes.String},
	}
	var fs []arrow.Field
	for i, dt := range types {
		fs = append(fs, arrow.Field{Name: string(rune('a'+i%26)) + dt.Name() + string(rune('0'+i/26)), Type: dt, Nullable: i%2 == 0})
	}
	in := arrow.NewSchema(fs, nil)
	s, err := FromArrow(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	pf, md := s.ToProto()
	s2, err := FromProto(pf, md)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s2.ToArrow()
	if err != nil {
		t.Fatal(err)
	}
	for i := range fs {
		got, want := out.Field(i), in.Field(i)
		if want.Type.ID() == arrow.FIXED_SIZE_LIST {
			// The item field is not stored: it comes back nullable, named "item".
			want.Type = arrow.FixedSizeListOfField(want.Type.(*arrow.FixedSizeListType).Len(),
				arrow.Field{Name: "item", Type: want.Type.(*arrow.FixedSizeListType).Elem(), Nullable: true})
		}
		if !got.Equal(want) {
			t.Errorf("field %d: got %s want %s", i, got, want)
		}
	}
}

func TestExtensionAndBFloat16(t *testing.T) {
	in := arrow.NewSchema([]arrow.Field{
		{Name: "u", Type: &uuidType{ExtensionBase: arrow.ExtensionBase{Storage: &arrow.FixedSizeBinaryType{ByteWidth: 16}}}, Nullable: true},
		{Name: "bf", Type: arrow.FixedSizeListOfField(4, arrow.Field{Name: "item", Type: &arrow.FixedSizeBinaryType{ByteWidth: 2}, Nullable: true,
			Metadata: arrow.NewMetadata([]string{ExtensionNameKey, ExtensionMetaKey}, []string{BFloat16ExtName, ""})})},
	}, nil)
	s, err := FromArrow(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	pf, _ := s.ToProto()
	if pf[0].LogicalType != "fixed_size_binary:16" || pf[0].ExtensionName != "arrow.uuid" {
		t.Errorf("uuid: %q %q", pf[0].LogicalType, pf[0].ExtensionName)
	}
	if pf[1].LogicalType != "fixed_size_list:lance.bfloat16:4" {
		t.Errorf("bf16: %q", pf[1].LogicalType)
	}
	s2, err := FromProto(pf, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s2.ToArrow()
	if err != nil {
		t.Fatal(err)
	}
	if !out.Field(1).Equal(in.Field(1)) {
		t.Errorf("bf16 round trip: %s", out.Field(1))
	}
	if name, _ := metaValue(out.Field(0).Metadata, ExtensionNameKey); name != "arrow.uuid" {
		t.Errorf("uuid metadata: %v", out.Field(0).Metadata)
	}
}

func TestValidateAndFromProtoErrors(t *testing.T) {
	bad := []*arrow.Schema{
		arrow.NewSchema([]arrow.Field{{Name: "a.b", Type: arrow.PrimitiveTypes.Int8}}, nil),
		arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int8}, {Name: "a", Type: arrow.PrimitiveTypes.Int8}}, nil),
	}
	for _, s := range bad {
		if _, err := FromArrow(s, 0); !errors.Is(err, ErrInvalidSchema) {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := FromArrow(arrow.NewSchema([]arrow.Field{{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String)}}, nil), 0); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("map: %v", err)
	}
	if _, err := FromProto([]*filepb.Field{{Name: "x", Id: 1, ParentId: 7, LogicalType: "int8"}}, nil); !errors.Is(err, ErrInvalidSchema) {
		t.Errorf("dangling parent: %v", err)
	}
	if _, err := FromProto([]*filepb.Field{{Name: "x", Id: 1, ParentId: -1}, {Name: "y", Id: 1, ParentId: -1}}, nil); !errors.Is(err, ErrInvalidSchema) {
		t.Errorf("dup id: %v", err)
	}
	if _, err := FromProto([]*filepb.Field{{Name: "x", Id: 1, ParentId: 1}}, nil); !errors.Is(err, ErrInvalidSchema) {
		t.Errorf("self parent: %v", err)
	}
}

func TestLookupsAndProject(t *testing.T) {
	s, err := FromArrow(testArrowSchema(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.FieldByName("pt.ys.element") == nil || s.FieldByName("pt.x").ID != 5 || s.FieldByName("nope") != nil {
		t.Error("FieldByName")
	}
	if s.FieldByID(99) != nil || s.FieldByID(7).Name != "element" {
		t.Error("FieldByID")
	}
	p, err := s.Project([]string{"ts", "pt.x", "id", "ts"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Fields) != 3 || p.Fields[0].Name != "ts" || p.Fields[1].Name != "pt" || len(p.Fields[1].Children) != 1 ||
		p.Fields[1].Children[0].ID != 5 || p.Fields[2].ID != 0 {
		t.Errorf("project: %+v", p.Fields)
	}
	p.Fields[1].Name = "changed"
	if s.Fields[3].Name != "pt" {
		t.Error("Project shares memory with the source")
	}
	if _, err := s.Project([]string{"pt.nope"}); !errors.Is(err, ErrFieldNotFound) {
		t.Errorf("missing: %v", err)
	}
	if _, err := s.Project([]string{"id.x"}); !errors.Is(err, ErrFieldNotFound) {
		t.Errorf("non-struct path: %v", err)
	}
}

// uuidType is a minimal extension type; arrow-go's own extensions package
// would drag parquet into the build.
type uuidType struct{ arrow.ExtensionBase }

func (*uuidType) ExtensionName() string { return "arrow.uuid" }
func (*uuidType) Serialize() string     { return "" }
func (u *uuidType) Deserialize(storage arrow.DataType, _ string) (arrow.ExtensionType, error) {
	return &uuidType{ExtensionBase: arrow.ExtensionBase{Storage: storage}}, nil
}
func (u *uuidType) ExtensionEquals(o arrow.ExtensionType) bool {
	return o.ExtensionName() == u.ExtensionName()
}
func (*uuidType) ArrayType() reflect.Type { return reflect.TypeOf(array.ExtensionArrayBase{}) }
