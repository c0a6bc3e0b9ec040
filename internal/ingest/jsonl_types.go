package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// jsonKind is the inferred type of a JSON value.
type jsonKind uint8

const (
	jsonNull   jsonKind = iota // only nulls seen: stored as text
	jsonBool                   // Boolean
	jsonInt                    // Int64: integers that fit
	jsonFloat                  // Float64: any other number
	jsonString                 // Utf8
	jsonList                   // List<elem>
	jsonStruct                 // Struct<fields>
	jsonVector                 // FixedSizeList<Float32, dim>, for vector columns
)

func (k jsonKind) String() string {
	return [...]string{"null", "a boolean", "an integer", "a number", "a string", "an array", "an object", "a vector"}[k]
}

// jsonType is an inferred type with the line that settled it, for errors.
type jsonType struct {
	kind   jsonKind
	line   int
	elem   *jsonType            // jsonList
	names  []string             // jsonStruct: keys in order of first appearance
	fields map[string]*jsonType // jsonStruct
	dim    int                  // jsonVector
	idx    int                  // position among the parent object's keys
	raw    json.RawMessage      // jsonVector: scratch for one value
}

// inferRow widens the root type with the object on one line.
func (t *jsonType) inferRow(text []byte, vectorCols []string, line int) error {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return jsonSyntax(err)
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("a row must be a JSON object, not %s", describeToken(tok))
	}
	if err := t.observeObject(dec, "", line, vectorCols); err != nil {
		return err
	}
	return expectEnd(dec)
}

// observeObject reads the members of an object whose '{' was consumed.
// vectorCols applies to the members of this object only (top level).
func (t *jsonType) observeObject(dec *json.Decoder, path string, line int, vectorCols []string) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonSyntax(err)
		}
		key := tok.(string) // the decoder guarantees a string key here
		if seen[key] {
			return fmt.Errorf("key %q appears twice", joinPath(path, key))
		}
		seen[key] = true
		ft, ok := t.fields[key]
		if !ok {
			ft = &jsonType{idx: len(t.names)}
			t.fields[key] = ft
			t.names = append(t.names, key)
		}
		if err := ft.observe(dec, joinPath(path, key), line, slices.Contains(vectorCols, key)); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return jsonSyntax(err)
	}
	return nil
}

// observe reads one value and widens t to hold it.
func (t *jsonType) observe(dec *json.Decoder, path string, line int, vector bool) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonSyntax(err)
	}
	var kind jsonKind
	switch v := tok.(type) {
	case nil:
		return nil
	case bool:
		kind = jsonBool
	case string:
		kind = jsonString
	case json.Number:
		kind = jsonFloat
		if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			kind = jsonInt
		}
	case json.Delim:
		if v == '{' {
			kind = jsonStruct
		} else {
			kind = jsonList
			if vector {
				kind = jsonVector
			}
		}
	}
	if err := t.settle(kind, path, line); err != nil {
		return err
	}
	switch t.kind {
	case jsonStruct:
		if t.fields == nil {
			t.fields = map[string]*jsonType{}
		}
		return t.observeObject(dec, path, line, nil)
	case jsonList:
		if t.elem == nil {
			t.elem = &jsonType{}
		}
		for dec.More() {
			if err := t.elem.observe(dec, path+"[]", line, false); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	case jsonVector:
		n := 0
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return jsonSyntax(err)
			}
			if _, ok := tok.(json.Number); !ok {
				return fmt.Errorf("vector column %q holds %s; vectors are arrays of numbers", path, describeToken(tok))
			}
			n++
		}
		if _, err := dec.Token(); err != nil {
			return jsonSyntax(err)
		}
		if n == 0 {
			return fmt.Errorf("vector column %q holds an empty array", path)
		}
		if t.dim != 0 && t.dim != n {
			return fmt.Errorf("vector column %q holds %d values here but %d on line %d", path, n, t.dim, t.line)
		}
		t.dim = n
	}
	return nil
}

// settle records that a value of kind was seen, widening integers to
// numbers; other mixtures are errors.
func (t *jsonType) settle(kind jsonKind, path string, line int) error {
	switch {
	case t.kind == jsonNull:
		t.kind, t.line = kind, line
	case t.kind == kind:
	case t.kind == jsonInt && kind == jsonFloat:
		t.kind = jsonFloat
	case t.kind == jsonFloat && kind == jsonInt:
	default:
		return fmt.Errorf("%q holds %s here but %s on line %d; a column needs one type", path, kind, t.kind, t.line)
	}
	return nil
}

func (t *jsonType) arrowType() arrow.DataType {
	switch t.kind {
	case jsonBool:
		return arrow.FixedWidthTypes.Boolean
	case jsonInt:
		return arrow.PrimitiveTypes.Int64
	case jsonFloat:
		return arrow.PrimitiveTypes.Float64
	case jsonList:
		return arrow.ListOf(t.elem.arrowType())
	case jsonStruct:
		return arrow.StructOf(t.structFields()...)
	case jsonVector:
		return arrow.FixedSizeListOf(int32(t.dim), arrow.PrimitiveTypes.Float32)
	}
	return arrow.BinaryTypes.String
}

func (t *jsonType) structFields() []arrow.Field {
	fields := make([]arrow.Field, len(t.names))
	for i, name := range t.names {
		fields[i] = arrow.Field{Name: name, Type: t.fields[name].arrowType(), Nullable: true}
	}
	return fields
}

// decodeObject appends the members of an object whose '{' was consumed to
// the builders field(i) of t's fields, and nulls for absent members.
func (t *jsonType) decodeObject(dec *json.Decoder, field func(int) array.Builder, path string, inferRows int) error {
	var present []bool
	if len(t.names) <= 64 {
		var a [64]bool
		present = a[:len(t.names)]
	} else {
		present = make([]bool, len(t.names))
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonSyntax(err)
		}
		key := tok.(string)
		ft, ok := t.fields[key]
		if !ok {
			return fmt.Errorf("key %q did not appear in the first %d rows, which fix the columns; pass --infer-rows to look further", joinPath(path, key), inferRows)
		}
		i := ft.idx
		if present[i] {
			return fmt.Errorf("key %q appears twice", joinPath(path, key))
		}
		present[i] = true
		if err := ft.decode(dec, field(i), joinPath(path, key), inferRows); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return jsonSyntax(err)
	}
	for i, ok := range present {
		if !ok {
			field(i).AppendNull()
		}
	}
	return nil
}

// decode appends one value to b, a builder of t.arrowType().
func (t *jsonType) decode(dec *json.Decoder, b array.Builder, path string, inferRows int) error {
	if t.kind == jsonVector {
		return t.decodeVector(dec, b.(*array.FixedSizeListBuilder), path)
	}
	tok, err := dec.Token()
	if err != nil {
		return jsonSyntax(err)
	}
	if tok == nil {
		b.AppendNull()
		return nil
	}
	mismatch := func() error {
		was := t.kind.String()
		if t.kind == jsonNull {
			was = "only null (so it is stored as text)"
		}
		return fmt.Errorf("%q holds %s, but in the first %d rows it holds %s; pass --infer-rows to look further", path, describeToken(tok), inferRows, was)
	}
	switch t.kind {
	case jsonNull, jsonString:
		s, ok := tok.(string)
		if !ok {
			return mismatch()
		}
		b.(*array.StringBuilder).Append(s)
	case jsonBool:
		v, ok := tok.(bool)
		if !ok {
			return mismatch()
		}
		b.(*array.BooleanBuilder).Append(v)
	case jsonInt:
		num, ok := tok.(json.Number)
		if !ok {
			return mismatch()
		}
		n, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			return fmt.Errorf("%q holds %s, but in the first %d rows it holds integers; pass --infer-rows to look further", path, num, inferRows)
		}
		b.(*array.Int64Builder).Append(n)
	case jsonFloat:
		num, ok := tok.(json.Number)
		if !ok {
			return mismatch()
		}
		f, err := strconv.ParseFloat(string(num), 64)
		if err != nil {
			return fmt.Errorf("%q: %s is out of the range of a 64-bit float", path, num)
		}
		b.(*array.Float64Builder).Append(f)
	case jsonStruct:
		if tok != json.Delim('{') {
			return mismatch()
		}
		sb := b.(*array.StructBuilder)
		sb.Append(true)
		return t.decodeObject(dec, sb.FieldBuilder, path, inferRows)
	case jsonList:
		if tok != json.Delim('[') {
			return mismatch()
		}
		lb := b.(*array.ListBuilder)
		lb.Append(true)
		for dec.More() {
			if err := t.elem.decode(dec, lb.ValueBuilder(), path+"[]", inferRows); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	}
	return nil
}

// decodeVector appends one vector. Vectors are most of the bytes of a
// typical file, and reading them token by token costs about half a
// microsecond per number, so the array is taken whole (one scan, no
// allocation per element) and its numbers parsed directly.
func (t *jsonType) decodeVector(dec *json.Decoder, fb *array.FixedSizeListBuilder, path string) error {
	if err := dec.Decode(&t.raw); err != nil {
		return jsonSyntax(err)
	}
	text := bytes.TrimSpace(t.raw)
	if string(text) == "null" {
		fb.AppendNull()
		return nil
	}
	if len(text) < 2 || text[0] != '[' {
		return fmt.Errorf("vector %q holds %s; vectors are arrays of numbers", path, abbreviate(string(text)))
	}
	body := bytes.TrimSpace(text[1 : len(text)-1])
	fb.Append(true)
	vb := fb.ValueBuilder().(*array.Float32Builder)
	n := 0
	for len(body) > 0 {
		item := body
		if k := bytes.IndexByte(body, ','); k >= 0 {
			item, body = body[:k], body[k+1:]
		} else {
			body = nil
		}
		item = bytes.TrimSpace(item)
		f, err := strconv.ParseFloat(string(item), 32)
		if err != nil || !isJSONNumber(item) {
			var ne *strconv.NumError
			if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
				return fmt.Errorf("vector %q: %s is out of the range of a 32-bit float", path, item)
			}
			return fmt.Errorf("vector %q holds %s; vectors are arrays of numbers", path, abbreviate(string(item)))
		}
		vb.Append(float32(f))
		n++
	}
	if n != t.dim {
		return fmt.Errorf("vector %q has %d values; the column holds %d-dimensional vectors", path, n, t.dim)
	}
	return nil
}

// isJSONNumber rejects what ParseFloat accepts but JSON does not ("inf",
// "0x1p3", "1_000"); the decoder has already checked the JSON syntax, so
// only letters other than an exponent can appear here.
func isJSONNumber(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			return false
		}
	}
	return len(b) > 0
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
