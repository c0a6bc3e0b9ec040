package file

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/testkit/nodejs"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// openFile opens a Lance file on disk with a checked allocator.
func openFile(t *testing.T, path string, mem memory.Allocator) *Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), ReaderAtSource{f}, st.Size(), ReaderOptions{Path: filepath.Base(path), Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkStockFile reads every column of a file written by stock LanceDB and
// compares it with the values the writing script recorded, both with Read
// over all rows and with Take of a scattered subset.
func checkStockFile(t *testing.T, path string, exp *expectedFile) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r := openFile(t, path, mem)
	if maj, min := r.Version(); maj != 0 || min != 3 {
		t.Errorf("footer version %d.%d, want 0.3", maj, min)
	}
	if r.NumRows() != int64(exp.Rows) {
		t.Fatalf("rows %d, want %d", r.NumRows(), exp.Rows)
	}
	if len(r.Schema().Fields) != len(exp.Columns) {
		t.Errorf("file has %d fields, script wrote %d", len(r.Schema().Fields), len(exp.Columns))
	}
	ctx := context.Background()
	rec, err := r.Read(ctx, nil, 0, r.NumRows())
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	all := make([]int, exp.Rows)
	for i := range all {
		all[i] = i
	}
	for i, f := range rec.Schema().Fields() {
		want, ok := exp.Columns[f.Name]
		if !ok {
			t.Errorf("unexpected column %s", f.Name)
			continue
		}
		checkColumn(t, f.Name, rec.Column(i), want, all)
	}

	var rows []uint64
	var idx []int
	for i := 0; i < exp.Rows; i += 1 + i%7 {
		rows = append(rows, uint64(i))
		idx = append(idx, i)
	}
	taken, err := r.Take(ctx, nil, rows)
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Release()
	for i, f := range taken.Schema().Fields() {
		checkColumn(t, "take "+f.Name, taken.Column(i), exp.Columns[f.Name], idx)
	}
}

func TestReadStockFixture(t *testing.T) {
	checkStockFile(t, "testdata/stock-2.0.lance", loadExpected(t, "testdata/stock-2.0.json"))
}

// TestReadStockNode writes a fresh table with stock LanceDB through Node
// (testdata/write-stock.mjs, @lancedb/lancedb 0.39.0 in /work/main's
// node_modules) and reads every data file. LANCE_FILE_WRITER_MAX_PAGE_BYTES
// makes Lance cut small pages, so every column spans several pages
// (including list offsets, list items and dictionary-encoded strings).
func TestReadStockNode(t *testing.T) {
	nodejs.RequireModules(t) // fails (never skips) without node and the LanceDB packages
	ctx, cancel := context.WithTimeout(context.Background(), nodejs.DefaultTimeout)
	defer cancel()
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, "node", "write-stock.mjs", dir, "5000", "32", "zstd")
	cmd.Dir = "testdata"
	cmd.Env = append(os.Environ(), "LANCE_FILE_WRITER_MAX_PAGE_BYTES=16384")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("write-stock.mjs: %v\n%s", err, out)
	}
	exp := loadExpected(t, filepath.Join(dir, "expected.json"))
	if len(exp.Files) != 1 {
		t.Fatalf("expected one data file, got %v", exp.Files)
	}
	r := openFile(t, exp.Files[0], memory.DefaultAllocator)
	for _, name := range []string{"vec", "s", "cat", "st"} {
		n := r.nodes[r.schema.FieldIndex(name)]
		if name == "st" {
			n = n.children[1]
		}
		if pages := len(n.col.pages); pages < 2 {
			t.Errorf("column %s has %d pages; the test wants several", name, pages)
		}
	}
	zs := r.nodes[r.schema.FieldIndex("zs")].col.pages[0].enc.GetBinary()
	if zs.GetBytes().GetFlat().GetCompression().GetScheme() != "zstd" {
		t.Errorf("column zs is not zstd-compressed: %v", zs)
	}
	// Lance never splits list offsets pages, but the items are split.
	if pages := len(r.nodes[r.schema.FieldIndex("lstr")].children[0].col.pages); pages < 2 {
		t.Errorf("list items have %d pages; the test wants several", pages)
	}
	checkStockFile(t, exp.Files[0], exp)
}
