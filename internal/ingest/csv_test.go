package ingest

import (
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/testkit/arrowjson"
)

// expectRows builds the expected batch from JSON rows.
func expectRows(t *testing.T, mem memory.Allocator, sch *arrow.Schema, rows string) arrow.RecordBatch {
	t.Helper()
	rec, _, err := array.RecordFromJSON(mem, sch, strings.NewReader(rows))
	if err != nil {
		t.Fatalf("expected rows: %v", err)
	}
	return rec
}

func TestCSVInference(t *testing.T) {
	tsUTC := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	ts := &arrow.TimestampType{Unit: arrow.Microsecond}
	vec := arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float32)
	for _, tc := range []struct {
		name, file, content string
		opts                Options
		fields              []arrow.Field
		rows                string
	}{{
		name: "every inferred type",
		file: "t.csv",
		content: "\xef\xbb\xbfid,score,ok,day,at,at_utc,name,vector,empty\n" +
			"1,2,true,2024-01-02,2024-01-02 03:04:05,2024-01-02T03:04:05Z,\"Smith, J\",\"[1, 2, 3]\",\n" +
			"2,2.5,FALSE,2024-02-29,2024-02-29T23:59:59.5,2024-02-29T23:59:59+01:00,,\"[0.5,0.25,-1]\",\n" +
			",,,,,,x,,\n",
		fields: []arrow.Field{
			{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
			{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
			{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
			{Name: "at", Type: ts, Nullable: true},
			{Name: "at_utc", Type: tsUTC, Nullable: true},
			{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
			{Name: "vector", Type: vec, Nullable: true},
			{Name: "empty", Type: arrow.BinaryTypes.String, Nullable: true},
		},
		rows: `[
			{"id": 1, "score": 2, "ok": true, "day": "2024-01-02", "at": "2024-01-02T03:04:05", "at_utc": "2024-01-02T03:04:05Z", "name": "Smith, J", "vector": [1, 2, 3], "empty": ""},
			{"id": 2, "score": 2.5, "ok": false, "day": "2024-02-29", "at": "2024-02-29T23:59:59.5", "at_utc": "2024-02-29T22:59:59Z", "name": "", "vector": [0.5, 0.25, -1], "empty": ""},
			{"id": null, "score": null, "ok": null, "day": null, "at": null, "at_utc": null, "name": "x", "vector": null, "empty": ""}
		]`,
	}, {
		name:    "tsv, mixed column falls back to text, custom vector column",
		file:    "t.tsv",
		content: "a\tb\temb\n1\tx\t[1,2,3]\n2.5\t3\t[4,5,6]\n",
		opts:    Options{VectorColumns: []string{"emb"}},
		fields: []arrow.Field{
			{Name: "a", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
			{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
			{Name: "emb", Type: vec, Nullable: true},
		},
		rows: `[{"a": 1, "b": "x", "emb": [1,2,3]}, {"a": 2.5, "b": "3", "emb": [4,5,6]}]`,
	}, {
		name:    "no vector columns: brackets stay text; semicolon delimiter",
		file:    "t.csv",
		content: "vector;n\n[1,2];7\n",
		opts:    Options{VectorColumns: []string{}, Delimiter: ';'},
		fields: []arrow.Field{
			{Name: "vector", Type: arrow.BinaryTypes.String, Nullable: true},
			{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		},
		rows: `[{"vector": "[1,2]", "n": 7}]`,
	}, {
		name:    "header only",
		file:    "t.csv",
		content: "a,b\n",
		fields: []arrow.Field{
			{Name: "a", Type: arrow.BinaryTypes.String, Nullable: true},
			{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
		},
		rows: `[]`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			path := writeFile(t, tc.file, tc.content)
			sch, got, r := readAll(t, mem, path, tc.opts)
			defer release(got)
			defer r.Release()
			wantSch := arrow.NewSchema(tc.fields, nil)
			if !sch.Equal(wantSch) {
				t.Fatalf("schema\n got %s\nwant %s", sch, wantSch)
			}
			want := expectRows(t, mem, wantSch, tc.rows)
			defer want.Release()
			if d := arrowjson.Diff(canonical(t, sch, got), canonical(t, wantSch, []arrow.RecordBatch{want})); d != "" {
				t.Fatal(d)
			}
		})
	}
}

func TestCSVBatchesAndInferenceWindow(t *testing.T) {
	var b strings.Builder
	b.WriteString("n,v\n")
	for i := range 2500 {
		b.WriteString(strings.Repeat("9", 1+i%3))
		b.WriteString(",")
		if i == 2400 {
			b.WriteString("1.5") // beyond the inference window of 1000 rows
		} else {
			b.WriteString("7")
		}
		b.WriteString("\n")
	}
	path := writeFile(t, "big.csv", b.String())

	err := readErr(t, path, Options{BatchRows: 300})
	var ie *InputError
	if !errors.As(err, &ie) || !errors.Is(err, ErrInput) {
		t.Fatalf("got %v, want an InputError", err)
	}
	// Line 2402: header is line 1, row i is line i+2. Column 2 is v.
	if ie.Pos != "2402:5" && !strings.HasPrefix(ie.Pos, "2402:") {
		t.Errorf("position %q, want line 2402", ie.Pos)
	}
	for _, want := range []string{`column "v"`, `"1.5" is not a 64-bit integer`, "--infer-rows", "big.csv:2402:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}

	// Sampling every row makes v a float column, in batches of 300 rows.
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sch, got, r := readAll(t, mem, path, Options{BatchRows: 300, InferRows: 5000})
	defer release(got)
	defer r.Release()
	if typ := sch.Field(1).Type; typ.ID() != arrow.FLOAT64 {
		t.Errorf("v inferred as %s over the whole file, want double", typ)
	}
	if len(got) != 9 || got[0].NumRows() != 300 || got[8].NumRows() != 100 || r.Rows() != 2500 {
		t.Errorf("%d batches, %d rows; want 9 batches of 300 (last 100), 2500 rows", len(got), r.Rows())
	}
}

func TestCSVErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		want          []string
	}{
		{"field count", "a,b\n1,2\n3\n", []string{"x.csv:3:", "wrong number of fields"}},
		{"bad quote", "a,b\n1,\"2\n", []string{"x.csv:2:", "extraneous or missing"}},
		{"bare quote", "a,b\n1,2\"x\n", []string{"x.csv:2:", `bare "`}},
		{"empty header name", "a,,c\n1,2,3\n", []string{"x.csv:1:", "column 2 has no name"}},
		{"duplicate header", "a,b,a\n1,2,3\n", []string{"x.csv:1:", `columns 1 and 3 are both named "a"`}},
		{"vector dims differ in sample", "vector\n\"[1,2]\"\n\"[1,2,3]\"\n", []string{"x.csv:3:", "3 values after vectors of 2"}},
		{"vector not a list", "vector\nabc\n", []string{"x.csv:2:", "[x, y, ...]"}},
		{"vector element", "vector\n\"[1,zz]\"\n", []string{"x.csv:2:", `element "zz"`}},
		{"empty vector", "vector\n[]\n", []string{"x.csv:2:", "empty vector"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := readErr(t, writeFile(t, "x.csv", tc.content), Options{})
			if !errors.Is(err, ErrInput) {
				t.Fatalf("got %v, want ErrInput", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestCSVVectorDimensionAfterSample(t *testing.T) {
	content := "vector\n\"[1,2]\"\n\"[3,4]\"\n\"[5,6,7]\"\n"
	err := readErr(t, writeFile(t, "v.csv", content), Options{InferRows: 2})
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "v.csv:4:") || !strings.Contains(err.Error(), "3 values in a column of 2-dimensional vectors") {
		t.Fatalf("got %v", err)
	}
}

func TestCSVKindMerge(t *testing.T) {
	for _, tc := range []struct {
		vals []string
		want csvKind
	}{
		{[]string{"1", "2"}, csvInt},
		{[]string{"1", "2.0"}, csvFloat},
		{[]string{"1e3", "4"}, csvFloat},
		{[]string{"true", "1"}, csvString},
		{[]string{"2024-01-01", "2024-01-01 00:00:00"}, csvString},
		{[]string{"2024-01-01T00:00:00Z", "2024-01-01 10:00:00+02:00"}, csvTimestampTZ},
		{[]string{"99999999999999999999"}, csvFloat},
		{[]string{"NaN", "1"}, csvFloat},
		{nil, csvUnknown},
	} {
		k := csvUnknown
		for _, v := range tc.vals {
			k = k.merge(inferCSVKind(v))
		}
		if k != tc.want {
			t.Errorf("%q: kind %d, want %d", tc.vals, k, tc.want)
		}
	}
}
