package file

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestRewriteStockIsByteIdentical reads the file stock LanceDB wrote and
// writes the decoded batch back with our writer. Every column of the
// fixture fits one page, so the page decisions are the same as Lance's and
// the files must match byte for byte: same buffers, padding, encodings
// (including the dictionary page and the all-null cases), metadata and
// footer.
func TestRewriteStockIsByteIdentical(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	want, err := os.ReadFile("testdata/stock-2.0.lance")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := Open(ctx, ReaderAtSource{bytes.NewReader(want)}, int64(len(want)), ReaderOptions{Path: "stock", Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Read(ctx, nil, 0, r.NumRows())
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	var out bytes.Buffer
	w, err := NewWriter(&out, r.Schema(), WriterOptions{Path: "rewrite"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	info, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	got := out.Bytes()
	if info.SizeBytes != uint64(len(got)) || info.NumRows != uint64(r.NumRows()) || info.NumColumns != r.NumColumns() {
		t.Errorf("info %+v for %d bytes", info, len(got))
	}
	for i, f := range r.Schema().Flatten() {
		if info.FieldIDs[i] != f.ID || info.ColumnIndices[i] != int32(i) {
			t.Errorf("field %d: id %d column %d, want %d %d", i, info.FieldIDs[i], info.ColumnIndices[i], f.ID, i)
		}
	}
	if info.MajorVersion != 2 || info.MinorVersion != 0 {
		t.Errorf("manifest version %d.%d, want 2.0", info.MajorVersion, info.MinorVersion)
	}
	if !bytes.Equal(got, want) {
		n := min(len(got), len(want))
		i := 0
		for i < n && got[i] == want[i] {
			i++
		}
		t.Fatalf("rewrite differs from the stock file at byte %d (sizes %d vs %d)", i, len(got), len(want))
	}
}
