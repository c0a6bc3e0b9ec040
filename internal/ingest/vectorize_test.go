package ingest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/sarissa-db/sarissa/internal/testkit/arrowjson"
)

// writeParquetJSON writes rows given as JSON with schema sch to a Parquet
// file without the stored Arrow schema, as non-Arrow writers produce.
func writeParquetJSON(t *testing.T, sch *arrow.Schema, rows string) string {
	t.Helper()
	mem := memory.NewGoAllocator()
	rec := expectRows(t, mem, sch, rows)
	defer rec.Release()
	path := filepath.Join(t.TempDir(), "lists.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pqarrow.NewFileWriter(sch, f, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVectorizeListColumns(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "vector", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64), Nullable: true},
		{Name: "emb", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
	}, nil)
	path := writeParquetJSON(t, sch, `[
		{"id": 1, "vector": null, "emb": [1, 2], "tags": [1]},
		{"id": 2, "vector": [0.5, 1.5, 2.5], "emb": [3, 4], "tags": [1, 2, 3]},
		{"id": 3, "vector": [1e-3, 2, 3], "emb": null, "tags": []}
	]`)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	got, recs, r := readAll(t, mem, path, Options{VectorColumns: []string{"vector", "emb"}, BatchRows: 1})
	defer release(recs)
	defer r.Release()
	wantSch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "vector", Type: arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float32), Nullable: true},
		{Name: "emb", Type: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float32), Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
	}, nil)
	sameTypes(t, got, wantSch)
	want := expectRows(t, mem, wantSch, `[
		{"id": 1, "vector": null, "emb": [1, 2], "tags": [1]},
		{"id": 2, "vector": [0.5, 1.5, 2.5], "emb": [3, 4], "tags": [1, 2, 3]},
		{"id": 3, "vector": [0.001, 2, 3], "emb": null, "tags": []}
	]`)
	defer want.Release()
	if d := arrowjson.Diff(canonical(t, got, recs), canonical(t, wantSch, []arrow.RecordBatch{want})); d != "" {
		t.Fatal(d)
	}
	if len(recs) != 3 {
		t.Errorf("%d batches, want 3 (read-ahead batches are replayed)", len(recs))
	}

	// Without vector columns the lists stay lists.
	got2, recs2, r2 := readAll(t, mem, path, Options{VectorColumns: []string{}})
	defer release(recs2)
	defer r2.Release()
	sameTypes(t, got2, sch)
}

func TestVectorizeErrors(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "vector", Type: arrow.ListOf(arrow.PrimitiveTypes.Float32), Nullable: true},
	}, nil)
	path := writeParquetJSON(t, sch, `[{"vector": [1, 2]}, {"vector": [1, 2]}, {"vector": [1, 2, 3]}]`)
	err := readErr(t, path, Options{BatchRows: 2})
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "lists.parquet: row 2: vector column \"vector\" has 3 values; the column holds 2-dimensional vectors") {
		t.Errorf("got %v", err)
	}
	path = writeParquetJSON(t, sch, `[{"vector": []}]`)
	if err := readErr(t, path, Options{}); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "empty list") {
		t.Errorf("empty: %v", err)
	}
	// Only nulls: the dimension is unknown, the list type stays.
	path = writeParquetJSON(t, sch, `[{"vector": null}]`)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	got, recs, r := readAll(t, mem, path, Options{})
	defer release(recs)
	defer r.Release()
	if got.Field(0).Type.ID() != arrow.LIST || r.Rows() != 1 {
		t.Errorf("all-null vector column: %s, %d rows", got, r.Rows())
	}
}

// sameTypes compares names and types, not the names of list elements
// (Parquet calls them "element", Arrow "item").
func sameTypes(t *testing.T, got, want *arrow.Schema) {
	t.Helper()
	if got.NumFields() != want.NumFields() {
		t.Fatalf("schema\n got %s\nwant %s", got, want)
	}
	for i, f := range got.Fields() {
		w := want.Field(i)
		if f.Name != w.Name || !arrow.TypeEqual(f.Type, w.Type) || f.Metadata.Len() != 0 {
			t.Errorf("field %d: got %s %s %v, want %s %s", i, f.Name, f.Type, f.Metadata, w.Name, w.Type)
		}
	}
}
