package ingest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// FuzzTextFormats feeds arbitrary bytes to the CSV and JSON Lines readers,
// which are Sarissa's own code: they must fail with an error, never panic
// (Reader.guard would turn a panic into a "corrupt ... file" error, which
// for these formats means a bug), and never leak.
func FuzzTextFormats(f *testing.F) {
	for _, seed := range []string{
		"a,b\n1,2\n",
		"vector,x\n\"[1,2]\",3\n\"[4]\",\n",
		"\xef\xbb\xbfa\n\"unterminated\n",
		`{"a": 1, "vector": [1, 2], "s": {"x": [true]}}` + "\n" + `{"a": 2.5, "vector": [3, 4]}`,
		`{"vector": [1e39]}`,
		`[{"a":1}]`,
		"{\"a\": \"\\u00e9\"}\n{\"b\": null}\n",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"in.csv", "in.jsonl"} {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			r, err := Open(t.Context(), path, Options{Allocator: mem, BatchRows: 3, InferRows: 2})
			if err == nil {
				for r.Next() {
				}
				err = r.Err()
				r.Release()
			}
			if err != nil && strings.Contains(err.Error(), "corrupt ") {
				t.Fatalf("%s: reader panicked: %v", name, err)
			}
			mem.AssertSize(t, 0)
		}
	})
}
