package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/objstore/filesystem"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/testkit/arrowjson"
)

// sampleBatch is n rows starting at first: an id, text, a number and a
// 4-dimensional vector, the shape of a typical LanceDB table.
func sampleBatch(mem memory.Allocator, first, n int) arrow.RecordBatch {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "text", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "vector", Type: arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Float32), Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	for i := first; i < first+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("row %d, \"quoted\"", i))
		if i%7 == 3 {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.Float64Builder).Append(float64(i) / 4)
		}
		vb := b.Field(3).(*array.FixedSizeListBuilder)
		vb.Append(true)
		for j := range 4 {
			vb.ValueBuilder().(*array.Float32Builder).Append(float32(i) + float32(j)/8)
		}
	}
	return b.NewRecordBatch()
}

// writeSample writes rows [first, first+n) of sampleBatch as format.
func writeSample(t *testing.T, dir, format string, first, n int) string {
	t.Helper()
	mem := memory.NewGoAllocator()
	rec := sampleBatch(mem, first, n)
	defer rec.Release()
	ext := map[string]string{"parquet": ".parquet", "arrow-file": ".arrow", "arrow-stream": ".arrows", "csv": ".csv", "jsonl": ".jsonl"}[format]
	path := filepath.Join(dir, fmt.Sprintf("rows-%d%s", first, ext))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	switch format {
	case "parquet":
		w, err := pqarrow.NewFileWriter(rec.Schema(), f, nil, pqarrow.DefaultWriterProps())
		if err == nil {
			err = w.Write(rec)
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
	case "arrow-file", "arrow-stream":
		var err error
		if format == "arrow-file" {
			var w *ipc.FileWriter
			if w, err = ipc.NewFileWriter(f, ipc.WithSchema(rec.Schema())); err == nil {
				if err = w.Write(rec); err == nil {
					err = w.Close()
				}
			}
		} else {
			w := ipc.NewWriter(f, ipc.WithSchema(rec.Schema()))
			if err = w.Write(rec); err == nil {
				err = w.Close()
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	case "csv", "jsonl":
		var b strings.Builder
		if format == "csv" {
			b.WriteString("id,text,score,vector\n")
		}
		for i := range int(rec.NumRows()) {
			id := rec.Column(0).(*array.Int64).Value(i)
			text := rec.Column(1).(*array.String).Value(i)
			score := "null"
			if rec.Column(2).IsValid(i) {
				score = strconv.FormatFloat(rec.Column(2).(*array.Float64).Value(i), 'g', -1, 64)
			}
			vals := rec.Column(3).(*array.FixedSizeList).ListValues().(*array.Float32).Float32Values()[i*4 : i*4+4]
			var vec []string
			for _, v := range vals {
				vec = append(vec, strconv.FormatFloat(float64(v), 'g', -1, 32))
			}
			if format == "csv" {
				if score == "null" {
					score = ""
				}
				fmt.Fprintf(&b, "%d,\"%s\",%s,\"[%s]\"\n", id, strings.ReplaceAll(text, `"`, `""`), score, strings.Join(vec, ","))
			} else {
				fmt.Fprintf(&b, "{\"id\": %d, \"text\": %s, \"score\": %s, \"vector\": [%s]}\n", id, strconv.Quote(text), score, strings.Join(vec, ", "))
			}
		}
		if _, err := f.WriteString(b.String()); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// tableContent returns the canonical JSON of table db/t under dataDir and its
// version.
func tableContent(t *testing.T, dataDir, db, name string) ([]byte, uint64) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	bucket, err := filesystem.New(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tbl, err := table.Open(ctx, bucket, db+"/"+name+".lance", table.Options{Allocator: mem})
	if err != nil {
		t.Fatalf("open table: %v", err)
	}
	snap, err := tbl.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, sch, err := snap.Collect(ctx, table.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	doc, err := arrowjson.Canonical(sch, recs)
	if err != nil {
		t.Fatal(err)
	}
	return doc, snap.Version()
}

func expectedContent(t *testing.T, ranges ...[2]int) []byte {
	t.Helper()
	mem := memory.NewGoAllocator()
	var recs []arrow.RecordBatch
	for _, r := range ranges {
		rec := sampleBatch(mem, r[0], r[1])
		defer rec.Release()
		recs = append(recs, rec)
	}
	doc, err := arrowjson.Canonical(recs[0].Schema(), recs)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

var summaryRE = regexp.MustCompile(`imported (\d+) rows from (\S+) into (\S+) \(version (\d+), (\d+) rows in the table\) in [0-9.]+ s, [0-9]+ rows/s`)

func runImportCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), append([]string{"import"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestImportEachFormat(t *testing.T) {
	for _, format := range []string{"parquet", "arrow-file", "arrow-stream", "csv", "jsonl"} {
		t.Run(format, func(t *testing.T) {
			src, data := t.TempDir(), t.TempDir()
			first := writeSample(t, src, format, 0, 300)
			second := writeSample(t, src, format, 300, 120)
			common := []string{"--data-dir", data, "--database", "db", "--table", "items", "--batch-rows", "64", "--progress", "none"}

			code, out, errOut := runImportCmd(t, append(common, first)...)
			if code != 0 {
				t.Fatalf("create: exit %d\n%s", code, errOut)
			}
			m := summaryRE.FindStringSubmatch(out)
			if m == nil || m[1] != "300" || m[2] != first || m[3] != "db/items" || m[4] != "1" || m[5] != "300" {
				t.Errorf("create summary: %q", out)
			}
			got, v := tableContent(t, data, "db", "items")
			if d := arrowjson.Diff(got, expectedContent(t, [2]int{0, 300})); d != "" || v != 1 {
				t.Fatalf("after create (version %d): %s", v, d)
			}

			// Flags after the file work too.
			code, out, errOut = runImportCmd(t, append([]string{second}, append(common, "--mode", "append")...)...)
			if code != 0 {
				t.Fatalf("append: exit %d\n%s", code, errOut)
			}
			if m := summaryRE.FindStringSubmatch(out); m == nil || m[1] != "120" || m[4] != "2" || m[5] != "420" {
				t.Errorf("append summary: %q", out)
			}
			got, v = tableContent(t, data, "db", "items")
			if d := arrowjson.Diff(got, expectedContent(t, [2]int{0, 300}, [2]int{300, 120})); d != "" || v != 2 {
				t.Fatalf("after append (version %d): %s", v, d)
			}

			code, out, errOut = runImportCmd(t, append(common, "--mode", "overwrite", second)...)
			if code != 0 {
				t.Fatalf("overwrite: exit %d\n%s", code, errOut)
			}
			if m := summaryRE.FindStringSubmatch(out); m == nil || m[4] != "3" || m[5] != "120" {
				t.Errorf("overwrite summary: %q", out)
			}
			got, _ = tableContent(t, data, "db", "items")
			if d := arrowjson.Diff(got, expectedContent(t, [2]int{300, 120})); d != "" {
				t.Fatalf("after overwrite: %s", d)
			}
		})
	}
}

func TestImportModesAndErrors(t *testing.T) {
	src, data := t.TempDir(), t.TempDir()
	good := writeSample(t, src, "csv", 0, 50)
	common := []string{"--data-dir", data, "--database", "db", "--progress", "none"}

	// Overwrite creates a missing table; create refuses an existing one;
	// append refuses a missing one.
	if code, _, errOut := runImportCmd(t, append(common, "--table", "t", "--mode", "overwrite", good)...); code != 0 {
		t.Fatalf("overwrite of a missing table: %s", errOut)
	}
	code, _, errOut := runImportCmd(t, append(common, "--table", "t", good)...)
	if code != 1 || !strings.Contains(errOut, "table db/t already exists; use --mode append or --mode overwrite") {
		t.Errorf("create existing: exit %d, %q", code, errOut)
	}
	code, _, errOut = runImportCmd(t, append(common, "--table", "missing", "--mode", "append", good)...)
	if code != 1 || !strings.Contains(errOut, "table db/missing does not exist; use --mode create") {
		t.Errorf("append to missing: exit %d, %q", code, errOut)
	}

	// Bad rows past the inference sample: the error names file, line and
	// column, and nothing is committed.
	var b strings.Builder
	b.WriteString("id,text,score,vector\n")
	for i := range 40 {
		fmt.Fprintf(&b, "%d,x,1.5,\"[1,2,3,4]\"\n", i)
	}
	b.WriteString("40,x,oops,\"[1,2,3,4]\"\n")
	bad := filepath.Join(src, "bad.csv")
	if err := os.WriteFile(bad, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	before, v := tableContent(t, data, "db", "t")
	code, _, errOut = runImportCmd(t, append(common, "--table", "t", "--mode", "append", "--infer-rows", "10", "--batch-rows", "8", bad)...)
	if code != 1 || !strings.Contains(errOut, bad+":42:") || !strings.Contains(errOut, `column "score": "oops" is not a number`) {
		t.Errorf("bad row: exit %d, %q", code, errOut)
	}
	after, v2 := tableContent(t, data, "db", "t")
	if v2 != v || !bytes.Equal(before, after) {
		t.Errorf("a failed append changed the table: version %d → %d", v, v2)
	}
	code, _, _ = runImportCmd(t, append(common, "--table", "fresh", "--infer-rows", "10", "--batch-rows", "8", bad)...)
	if code != 1 {
		t.Errorf("bad create: exit %d", code)
	}
	bucket, _ := filesystem.New(data)
	if _, err := table.Open(context.Background(), bucket, "db/fresh.lance", table.Options{}); !errors.Is(err, lance.ErrTableNotFound) {
		t.Errorf("a failed create left a table behind: %v", err)
	}

	// Schema that does not match the table.
	other := filepath.Join(src, "other.jsonl")
	os.WriteFile(other, []byte(`{"id": "not a number"}`+"\n"), 0o644)
	code, _, errOut = runImportCmd(t, append(common, "--table", "t", "--mode", "append", other)...)
	if code != 1 || !strings.Contains(errOut, "import "+other+" into db/t") {
		t.Errorf("mismatched schema: exit %d, %q", code, errOut)
	}
}

func TestImportUsage(t *testing.T) {
	data := t.TempDir()
	file := writeSample(t, t.TempDir(), "csv", 0, 3)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--database", "db", "--table", "t"}, "want exactly one FILE"},
		{[]string{"--database", "db", "--table", "t", file, file}, "want exactly one FILE"},
		{[]string{"--table", "t", file}, "--database and --table are required"},
		{[]string{"--database", "db", "--table", "t", "--mode", "upsert", file}, `--mode "upsert"`},
		{[]string{"--database", "db", "--table", "t", "--format", "xlsx", file}, "--format"},
		{[]string{"--database", "db", "--table", "t", "--delimiter", "ab", file}, "single character"},
		{[]string{"--database", "db", "--table", "t", "--progress", "fancy", file}, `--progress "fancy"`},
		{[]string{"--database", "db", "--table", "t", "--batch-rows", "0", file}, "must be positive"},
		{[]string{"--database", "db", "--table", "t", "--log-format", "xml", file}, "want text or json"},
	} {
		code, _, errOut := runImportCmd(t, append([]string{"--data-dir", data}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, %q; want 2 with %q", tc.args, code, errOut, tc.want)
		}
	}
	for _, tc := range []struct{ db, table string }{{"a/b", "t"}, {"db", ".."}, {"db", "x/y"}} {
		code, _, errOut := runImportCmd(t, "--data-dir", data, "--database", tc.db, "--table", tc.table, "--progress", "none", file)
		if code != 2 || !strings.Contains(errOut, "invalid name") {
			t.Errorf("names %q/%q: exit %d, %q", tc.db, tc.table, code, errOut)
		}
	}
}

// TestImportProgressOffTerminal checks the log lines an import writes when
// stderr is not a terminal: periodic lines and a last one at 100%, no bar
// control characters.
func TestImportProgressOffTerminal(t *testing.T) {
	src, data := t.TempDir(), t.TempDir()
	file := writeSample(t, src, "jsonl", 0, 20000)
	code, out, errOut := runImportCmd(t, "--data-dir", data, "--database", "db", "--table", "big",
		"--progress-interval", "1ms", "--batch-rows", "500", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := regexp.MustCompile(`(?m)^time=\S+ level=INFO msg="import progress" file=rows-0.jsonl read=.* percent=([0-9.]+) rows=(\d+) rows_per_sec=\d+$`).FindAllStringSubmatch(errOut, -1)
	if len(lines) < 2 {
		t.Fatalf("want periodic progress lines, got:\n%s", errOut)
	}
	last := lines[len(lines)-1]
	if last[1] != "100.0" || last[2] != "20000" {
		t.Errorf("last progress line %q, want 100%% and 20000 rows", last[0])
	}
	if strings.ContainsAny(errOut, "\r\x1b") {
		t.Errorf("terminal control characters in non-terminal output: %q", errOut)
	}
	if !summaryRE.MatchString(out) {
		t.Errorf("summary: %q", out)
	}
	// --progress bar draws the bar even on a buffer (for users who want it
	// in a captured log); it ends with a newline before the summary.
	code, _, errOut = runImportCmd(t, "--data-dir", data, "--database", "db", "--table", "bar", "--progress", "bar", file)
	if code != 0 || !strings.Contains(errOut, "importing rows-0.jsonl") || !strings.HasSuffix(errOut, "\n") {
		t.Errorf("bar: exit %d, %q", code, errOut)
	}
}

// TestImportStorageConfig places databases through the configuration: one
// database at its own location, the others under --default-location.
func TestImportStorageConfig(t *testing.T) {
	src, own, def := t.TempDir(), t.TempDir(), t.TempDir()
	file := writeSample(t, src, "csv", 0, 10)
	cfg := writeConfig(t, "databases:\n  sales:\n    location: file://"+own+"\n")
	for _, tc := range []struct {
		db, dir, root string
	}{
		{"sales", own, ""},      // <location>/<table>.lance
		{"other", def, "other"}, // <default>/<database>/<table>.lance
	} {
		code, _, errOut := runImportCmd(t, "--config", cfg, "--default-location", "file://"+def, "--database", tc.db, "--table", "t", "--progress", "none", file)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.db, code, errOut)
		}
		if _, err := os.Stat(filepath.Join(tc.dir, tc.root, "t.lance", "_versions")); err != nil {
			t.Errorf("%s: table not where the configuration puts it: %v", tc.db, err)
		}
	}
	// A table in a namespace needs the namespace to exist.
	code, _, errOut := runImportCmd(t, "--default-location", "file://"+def, "--database", "db", "--table", "ns$t", "--progress", "none", file)
	if code != 1 || !strings.Contains(errOut, "namespace") {
		t.Errorf("missing namespace: exit %d, %q", code, errOut)
	}
}
