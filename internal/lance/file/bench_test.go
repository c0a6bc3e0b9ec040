package file

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/lance/schema"
)

const (
	benchRows = 1 << 20
	benchDim  = 128
)

// writeVectorFile writes benchRows vectors of benchDim float32 (512 MiB) to
// a file in dir and returns its path.
func writeVectorFile(b *testing.B, dir string) string {
	b.Helper()
	dt := arrow.FixedSizeListOf(benchDim, arrow.PrimitiveTypes.Float32)
	as := arrow.NewSchema([]arrow.Field{{Name: "vec", Type: dt}}, nil)
	ls, err := schema.FromArrow(as, 0)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "vectors.lance")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w, err := NewWriter(f, ls, WriterOptions{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	// Write in batches of 64Ki rows built straight from a float32 slice.
	const batch = 1 << 16
	vals := make([]float32, batch*benchDim)
	for i := range vals {
		vals[i] = float32(i%1000) * 0.001
	}
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&vals[0])), len(vals)*4)
	child := array.NewData(arrow.PrimitiveTypes.Float32, len(vals), []*memory.Buffer{nil, memory.NewBufferBytes(raw)}, nil, 0, 0)
	fsl := array.NewData(dt, batch, []*memory.Buffer{nil}, []arrow.ArrayData{child}, 0, 0)
	col := array.MakeFromData(fsl)
	rec := array.NewRecordBatch(as, []arrow.Array{col}, batch)
	for range benchRows / batch {
		if err := w.Write(context.Background(), rec); err != nil {
			b.Fatal(err)
		}
	}
	rec.Release()
	col.Release()
	fsl.Release()
	child.Release()
	if _, err := w.Finish(); err != nil {
		b.Fatal(err)
	}
	return path
}

// rangeOnly hides the RangeReaderAt capability of a source, forcing the
// read-then-copy path an object store source without it takes.
type rangeOnly struct{ RangeReader }

// BenchmarkReadVectorColumn reads the whole 1M x 128 float32 column from a
// local file. "direct" reads pages straight into the Arrow buffer
// (RangeReaderAt); "copy" reads each page into its own slice and copies.
func BenchmarkReadVectorColumn(b *testing.B) {
	path := writeVectorFile(b, b.TempDir())
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	for _, tc := range []struct {
		name string
		src  RangeReader
	}{{"direct", ReaderAtSource{f}}, {"copy", rangeOnly{ReaderAtSource{f}}}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			r, err := Open(ctx, tc.src, st.Size(), ReaderOptions{Path: path})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(benchRows * benchDim * 4)
			b.ResetTimer()
			for b.Loop() {
				rec, err := r.Read(ctx, []int{0}, 0, benchRows)
				if err != nil {
					b.Fatal(err)
				}
				if rec.NumRows() != benchRows {
					b.Fatalf("%d rows", rec.NumRows())
				}
				rec.Release()
			}
		})
	}
}

// BenchmarkTakeVectors takes 1000 random rows of the same column.
func BenchmarkTakeVectors(b *testing.B) {
	path := writeVectorFile(b, b.TempDir())
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	ctx := context.Background()
	r, err := Open(ctx, ReaderAtSource{f}, st.Size(), ReaderOptions{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	rows := make([]uint64, 1000)
	for i := range rows {
		rows[i] = uint64(rnd.IntN(benchRows))
	}
	slices.Sort(rows)
	b.SetBytes(int64(len(rows)) * benchDim * 4)
	b.ResetTimer()
	for b.Loop() {
		rec, err := r.Take(ctx, []int{0}, rows)
		if err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
}
