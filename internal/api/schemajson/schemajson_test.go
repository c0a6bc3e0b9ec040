package schemajson

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sarissa-db/sarissa/internal/testkit/datagen"
)

func TestGolden(t *testing.T) {
	md := arrow.NewMetadata([]string{"embedding_functions"}, []string{"[]"})
	s := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "vector", Type: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float32), Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "d", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		{Name: "fb", Type: &arrow.FixedSizeBinaryType{ByteWidth: 16}, Nullable: true},
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Float64}), Nullable: true},
	}, &md)
	js, err := FromArrow(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(js)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"fields":[` +
		`{"name":"id","type":{"type":"int64"},"nullable":false},` +
		`{"name":"vector","type":{"type":"fixed_size_list","fields":[{"name":"item","type":{"type":"float"},"nullable":true}],"length":2},"nullable":true},` +
		`{"name":"ts","type":{"type":"timestamp:us:UTC"},"nullable":true},` +
		`{"name":"d","type":{"type":"dict:string:int32:false"},"nullable":true},` +
		`{"name":"tags","type":{"type":"list","fields":[{"name":"item","type":{"type":"string"},"nullable":true}]},"nullable":true},` +
		`{"name":"fb","type":{"type":"fixed_size_binary","length":16},"nullable":true},` +
		`{"name":"s","type":{"type":"struct","fields":[{"name":"a","type":{"type":"double"},"nullable":false}]},"nullable":true}` +
		`],"metadata":{"embedding_functions":"[]"}}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	back, err := js.ToArrow()
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(s) || !back.Metadata().Equal(s.Metadata()) {
		t.Fatalf("round trip: %v, want %v", back, s)
	}
}

func TestRoundTripAllTypes(t *testing.T) {
	s := datagen.AllTypesSchema()
	js, err := FromArrow(s)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(js)
	if err != nil {
		t.Fatal(err)
	}
	var decoded Schema
	if err := json.Unmarshal(raw, &decoded); err != nil {
		t.Fatal(err)
	}
	back, err := decoded.ToArrow()
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range s.Fields() {
		if !arrow.TypeEqual(back.Field(i).Type, f.Type) || back.Field(i).Nullable != f.Nullable || back.Field(i).Name != f.Name {
			t.Errorf("field %d: %v, want %v", i, back.Field(i), f)
		}
	}
}

func TestParseType(t *testing.T) {
	cases := map[string]arrow.DataType{
		`{"type":"float"}`:  arrow.PrimitiveTypes.Float32,
		`"double"`:          arrow.PrimitiveTypes.Float64,
		`{"type":"int64"}`:  arrow.PrimitiveTypes.Int64,
		`{"type":"string"}`: arrow.BinaryTypes.String,
		`{"type":"fixed_size_list","fields":[{"name":"item","type":{"type":"halffloat"},"nullable":true}],"length":4}`: arrow.FixedSizeListOf(4, arrow.FixedWidthTypes.Float16),
		`{"type":"timestamp:ms:-"}`: &arrow.TimestampType{Unit: arrow.Millisecond},
	}
	for in, want := range cases {
		got, err := ParseType(json.RawMessage(in))
		if err != nil || !arrow.TypeEqual(got, want) {
			t.Errorf("ParseType(%s) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, frag := range map[string]string{
		`{"type":"floaty"}`: "floaty",
		`{"type":""}`:       "empty type name",
		`{"type":"list"}`:   "exactly one item field",
		`{"type":"fixed_size_list","fields":[{"name":"item","type":{"type":"float"},"nullable":true}]}`: "positive length",
		`[1]`: "cannot unmarshal",
		`{"type":"struct","fields":[{"name":"a","type":{"type":"nope"}}]}`:                                                 `field "a"`,
		strings.Repeat(`{"type":"list","fields":[{"name":"i","type":`, 40) + `{"type":"int8"}` + strings.Repeat(`}]}`, 40): "nested more than",
	} {
		_, err := ParseType(json.RawMessage(in))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), frag) {
			t.Errorf("ParseType(%.60s) error %v, want ErrInvalid containing %q", in, err, frag)
		}
	}
}
