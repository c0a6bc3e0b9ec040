package ingest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BenchmarkJSONLinesVectors reads 20,000 rows of a 128-dimensional vector
// and an id, the shape of a typical embedding export.
func BenchmarkJSONLinesVectors(b *testing.B) {
	var sb strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&sb, `{"id": %d, "text": "row %d", "vector": [`, i, i)
		for j := range 128 {
			if j > 0 {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "%g", float32(i*j%997)/997)
		}
		sb.WriteString("]}\n")
	}
	path := filepath.Join(b.TempDir(), "v.jsonl")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(sb.Len()))
	b.ResetTimer()
	for range b.N {
		r, err := Open(b.Context(), path, Options{Allocator: memory.NewGoAllocator()})
		if err != nil {
			b.Fatal(err)
		}
		for r.Next() {
		}
		if err := r.Err(); err != nil {
			b.Fatal(err)
		}
		r.Release()
	}
	b.ReportMetric(float64(20000*b.N)/b.Elapsed().Seconds(), "rows/s")
}
