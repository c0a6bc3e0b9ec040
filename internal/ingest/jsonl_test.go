package ingest

import (
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/testkit/arrowjson"
)

func TestJSONLinesInference(t *testing.T) {
	vec := arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float32)
	info := arrow.StructOf(
		arrow.Field{Name: "lang", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "pages", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "nested", Type: arrow.StructOf(arrow.Field{Name: "x", Type: arrow.FixedWidthTypes.Boolean, Nullable: true}), Nullable: true},
	)
	for _, tc := range []struct {
		name, file, content string
		opts                Options
		fields              []arrow.Field
		rows                string
	}{{
		name: "types, nesting, nulls, absent keys, blank lines, CRLF",
		file: "t.jsonl",
		content: `{"id": 1, "score": 1, "ok": true, "text": "a", "tags": ["x", "y"], "vector": [1, 2, 3], "info": {"lang": "en", "pages": 3}}` + "\r\n" +
			"\n   \n" +
			`{"id": 2, "score": 2.5, "ok": false, "text": null, "tags": [], "vector": [0.5, 0.25, -1e-3], "info": {"nested": {"x": true}}, "later": "new"}` + "\n" +
			`{"id": 3, "tags": null, "vector": null, "info": null, "nothing": null}`,
		fields: []arrow.Field{
			{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
			{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
			{Name: "text", Type: arrow.BinaryTypes.String, Nullable: true},
			{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
			{Name: "vector", Type: vec, Nullable: true},
			{Name: "info", Type: info, Nullable: true},
			{Name: "later", Type: arrow.BinaryTypes.String, Nullable: true},
			{Name: "nothing", Type: arrow.BinaryTypes.String, Nullable: true},
		},
		rows: `[
			{"id": 1, "score": 1, "ok": true, "text": "a", "tags": ["x", "y"], "vector": [1, 2, 3], "info": {"lang": "en", "pages": 3, "nested": null}, "later": null, "nothing": null},
			{"id": 2, "score": 2.5, "ok": false, "text": null, "tags": [], "vector": [0.5, 0.25, -0.001], "info": {"lang": null, "pages": null, "nested": {"x": true}}, "later": "new", "nothing": null},
			{"id": 3, "score": null, "ok": null, "text": null, "tags": null, "vector": null, "info": null, "later": null, "nothing": null}
		]`,
	}, {
		name:    "lists of numbers that are not vector columns",
		file:    "t.ndjson",
		content: "{\"v\": [1, 2], \"m\": [[1], [2.5]]}\n{\"v\": [3]}\n",
		fields: []arrow.Field{
			{Name: "v", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
			{Name: "m", Type: arrow.ListOf(arrow.ListOf(arrow.PrimitiveTypes.Float64)), Nullable: true},
		},
		rows: `[{"v": [1, 2], "m": [[1], [2.5]]}, {"v": [3], "m": null}]`,
	}, {
		name:    "chosen vector column, integers as floats",
		file:    "t.json",
		content: "{\"emb\": [1, 2, 3], \"n\": 9007199254740993}\n",
		opts:    Options{VectorColumns: []string{"emb"}},
		fields: []arrow.Field{
			{Name: "emb", Type: vec, Nullable: true},
			{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		},
		rows: `[{"emb": [1, 2, 3], "n": 9007199254740993}]`,
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
			if r.BytesRead() != r.Size() {
				t.Errorf("BytesRead %d of %d at the end", r.BytesRead(), r.Size())
			}
		})
	}
}

func TestJSONLinesBatches(t *testing.T) {
	var b strings.Builder
	for i := range 1234 {
		b.WriteString(`{"i": `)
		b.WriteString(strings.Repeat("1", 1+i%4))
		b.WriteString(`, "vector": [1, 2]}` + "\n")
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	_, got, r := readAll(t, mem, writeFile(t, "b.jsonl", b.String()), Options{BatchRows: 500, InferRows: 10})
	defer release(got)
	defer r.Release()
	if len(got) != 3 || got[2].NumRows() != 234 || r.Rows() != 1234 {
		t.Errorf("%d batches, %d rows; want 500+500+234", len(got), r.Rows())
	}
}

func TestJSONLinesErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		opts          Options
		want          []string
	}{
		{"array file", "[{\"a\": 1}]\n", Options{}, []string{"x.jsonl:1:", "JSON array", "jq -c"}},
		{"not an object", "{\"a\": 1}\n\n7\n", Options{}, []string{"x.jsonl:3:", "must be a JSON object, not a number"}},
		{"bad json", "{\"a\": 1}\n{\"a\": }\n", Options{}, []string{"x.jsonl:2:", "invalid JSON"}},
		{"unclosed", "{\"a\": 1}\n{\"a\": 2\n", Options{}, []string{"x.jsonl:2:", "not closed on its line"}},
		{"two objects on a line", "{\"a\": 1} {\"a\": 2}\n", Options{}, []string{"x.jsonl:1:", "after the object"}},
		{"conflict in sample", "{\"a\": 1}\n{\"a\": \"x\"}\n", Options{}, []string{"x.jsonl:2:", `"a" holds a string here but an integer on line 1`}},
		{"nested conflict", "{\"s\": {\"b\": true}}\n{\"s\": {\"b\": [1]}}\n", Options{}, []string{"x.jsonl:2:", `"s.b" holds an array here but a boolean on line 1`}},
		{"duplicate key", "{\"a\": 1, \"a\": 2}\n", Options{}, []string{"x.jsonl:1:", `key "a" appears twice`}},
		{"unknown key after sample", "{\"a\": 1}\n{\"a\": 2, \"b\": 3}\n", Options{InferRows: 1}, []string{"x.jsonl:2:", `key "b" did not appear in the first 1 rows`}},
		{"type after sample", "{\"a\": 1}\n{\"a\": 2.5}\n", Options{InferRows: 1}, []string{"x.jsonl:2:", `"a" holds 2.5`, "integers", "--infer-rows"}},
		{"null-only column gets a number", "{\"a\": null}\n{\"a\": 5}\n", Options{InferRows: 1}, []string{"x.jsonl:2:", "only null"}},
		{"vector of strings", "{\"vector\": [\"a\"]}\n", Options{}, []string{"x.jsonl:1:", "arrays of numbers"}},
		{"vector dims in sample", "{\"vector\": [1, 2]}\n{\"vector\": [1]}\n", Options{}, []string{"x.jsonl:2:", "1 values here but 2 on line 1"}},
		{"vector dims after sample", "{\"vector\": [1, 2]}\n{\"vector\": [1, 2, 3]}\n", Options{InferRows: 1}, []string{"x.jsonl:2:", "3 values; the column holds 2-dimensional"}},
		{"empty vector", "{\"vector\": []}\n", Options{}, []string{"x.jsonl:1:", "empty array"}},
		{"float32 overflow", "{\"vector\": [1e39]}\n", Options{}, []string{"x.jsonl:1:", "32-bit float"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := readErr(t, writeFile(t, "x.jsonl", tc.content), tc.opts)
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

func TestJSONLinesLongLine(t *testing.T) {
	// A line longer than the 1 MiB read buffer, but within the limit.
	var b strings.Builder
	b.WriteString(`{"vector": [`)
	for i := range 300000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("0.5")
	}
	b.WriteString("]}\n")
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sch, got, r := readAll(t, mem, writeFile(t, "long.jsonl", b.String()), Options{})
	defer release(got)
	defer r.Release()
	if typ := sch.Field(0).Type.(*arrow.FixedSizeListType); typ.Len() != 300000 || r.Rows() != 1 {
		t.Errorf("got %s with %d rows", typ, r.Rows())
	}
}
