package table_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/objstore/filesystem"
	"github.com/sarissa-db/sarissa/internal/table"
)

const benchDim = 128

// vectorBatch is the side-by-side benchmark's shape: id int32, vector
// fixed_size_list<float32>[128].
func vectorBatch(first, n int) arrow.RecordBatch {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int32},
		{Name: "vector", Type: arrow.FixedSizeListOf(benchDim, arrow.PrimitiveTypes.Float32)},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	ids := b.Field(0).(*array.Int32Builder)
	vb := b.Field(1).(*array.FixedSizeListBuilder)
	fb := vb.ValueBuilder().(*array.Float32Builder)
	rng := rand.New(rand.NewPCG(1, uint64(first)))
	ids.Reserve(n)
	fb.Reserve(n * benchDim)
	for i := range n {
		ids.UnsafeAppend(int32(first + i))
		vb.Append(true)
		for range benchDim {
			fb.UnsafeAppend(rng.Float32())
		}
	}
	return b.NewRecordBatch()
}

func oneBatch(rec arrow.RecordBatch) array.RecordReader {
	rr, _ := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	return rr
}

// BenchmarkAppend100kRows appends 100k-row batches of 128-d vectors to a
// table on local disk; rows/s is the figure to compare with LanceDB's ingest.
func BenchmarkAppend100kRows(b *testing.B) {
	ctx := context.Background()
	bucket, err := filesystem.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	rec := vectorBatch(0, 100_000)
	defer rec.Release()
	tb, _, err := table.Create(ctx, bucket, "bench.lance", rec.Schema(), nil, table.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(100_000 * (4 + 4*benchDim))
	b.ResetTimer()
	for b.Loop() {
		rr := oneBatch(rec)
		if _, _, err := tb.Append(ctx, rr); err != nil {
			b.Fatal(err)
		}
		rr.Release()
	}
	b.ReportMetric(float64(b.N)*100_000/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkScanVectorColumn1M scans the vector column of a 1M × 128 table
// on local disk (one 512 MB data file).
func BenchmarkScanVectorColumn1M(b *testing.B) {
	ctx := context.Background()
	bucket, err := filesystem.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	const rows = 1_000_000
	var recs []arrow.RecordBatch
	for off := 0; off < rows; off += 100_000 {
		recs = append(recs, vectorBatch(off, 100_000))
	}
	rr, _ := array.NewRecordReader(recs[0].Schema(), recs)
	for _, r := range recs {
		r.Release()
	}
	_, snap, err := table.Create(ctx, bucket, "scan.lance", rr.Schema(), rr, table.Options{})
	rr.Release()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(rows * 4 * benchDim)
	b.ResetTimer()
	for b.Loop() {
		sc, err := snap.Scan(ctx, table.ScanOptions{Columns: []string{"vector"}, BatchRows: 65536})
		if err != nil {
			b.Fatal(err)
		}
		n := int64(0)
		for {
			rec, err := sc.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n += rec.NumRows()
			rec.Release()
		}
		if n != rows {
			b.Fatalf("scanned %d rows", n)
		}
	}
}
