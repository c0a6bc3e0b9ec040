package filter

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// benchRecord builds n rows: id = 0..n-1 and name = "<prefix>-<i>" where
// every third row starts with "abc" (so LIKE 'abc%' keeps a third).
func benchRecord(mem memory.Allocator, n int) arrow.RecordBatch {
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String},
	}, nil)
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	ids := b.Field(0).(*array.Int64Builder)
	names := b.Field(1).(*array.StringBuilder)
	ids.Reserve(n)
	names.Reserve(n)
	prefixes := []string{"abc", "xyz", "abd"}
	for i := range n {
		ids.UnsafeAppend(int64(i))
		names.Append(fmt.Sprintf("%s-%d", prefixes[(i*7)%3], i))
	}
	return b.NewRecordBatch()
}

func BenchmarkEvalPredicate(b *testing.B) {
	const rows = 1 << 20
	mem := memory.NewGoAllocator()
	rec := benchRecord(mem, rows)
	defer rec.Release()
	for _, f := range []string{
		"id > 500000",
		"name LIKE 'abc%'",
		"id > 500000 AND name LIKE 'abc%'",
		"name LIKE '%c-1%'",
		"id IN (1, 5, 9, 100000, 200000, 300000, 400000, 500000, 600000, 700000)",
	} {
		bd, err := Compile(f, rec.Schema())
		if err != nil {
			b.Fatal(err)
		}
		b.Run(f, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				m, err := bd.EvalPredicate(ctx, rec, mem)
				if err != nil {
					b.Fatal(err)
				}
				m.Release()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rows, "ns/row")
		})
	}
}
