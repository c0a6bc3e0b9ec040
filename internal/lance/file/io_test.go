package file

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/lance/schema"
)

// countingSource records every request (ReadRange only, like an object
// store without RangeReaderAt).
type countingSource struct {
	src   RangeReader
	mu    sync.Mutex
	reads [][2]int64
}

func (c *countingSource) ReadRange(ctx context.Context, off, n int64) ([]byte, error) {
	c.mu.Lock()
	c.reads = append(c.reads, [2]int64{off, n})
	c.mu.Unlock()
	return c.src.ReadRange(ctx, off, n)
}

func (c *countingSource) reset() (n int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.reads {
		bytes += r[1]
	}
	n = len(c.reads)
	c.reads = nil
	return n, bytes
}

func TestReadsOnlyWhatIsNeeded(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	as := arrow.NewSchema([]arrow.Field{
		nullable("vec", arrow.FixedSizeListOf(128, arrow.PrimitiveTypes.Float32)),
		nullable("s", arrow.BinaryTypes.String),
		nullable("l", arrow.ListOf(arrow.PrimitiveTypes.Int64)),
	}, nil)
	ls, _ := schema.FromArrow(as, 0)
	as, _ = ls.ToArrow()
	const rows = 20000
	rec := makeBatch(3, mem, as, rows)
	defer rec.Release()
	data, _ := writeFile(t, ls, []arrow.RecordBatch{rec}, WriterOptions{PageSize: 1 << 20})
	src := &countingSource{src: ReaderAtSource{bytes.NewReader(data)}}
	ctx := context.Background()

	r, err := Open(ctx, src, int64(len(data)), ReaderOptions{Allocator: mem, CoalesceGap: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := src.reset(); n != 1 {
		t.Errorf("Open made %d requests, want 1 (the 64 KiB tail)", n)
	}
	// Metadata larger than the tail (thousands of tiny pages): Open needs
	// exactly one more request.
	many, _ := writeFile(t, ls, []arrow.RecordBatch{rec}, WriterOptions{PageSize: 4096})
	msrc := &countingSource{src: ReaderAtSource{bytes.NewReader(many)}}
	mr, err := Open(ctx, msrc, int64(len(many)), ReaderOptions{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := msrc.reset(); n != 2 || len(mr.columns[0].pages) < 1000 {
		t.Errorf("Open of a file with %d pages made %d requests, want 2", len(mr.columns[0].pages), n)
	}

	rowsWanted := []uint64{5, 10000, 19999}
	for _, tc := range []struct {
		name     string
		col      int
		maxBytes int64
	}{
		// Three vectors: 512 bytes, a validity byte, 128 item validity bits.
		{"vec", 0, 3 * (512 + 1 + 16)},
		// For strings: two offsets per row (the row's and the previous
		// one's end), a validity byte is not involved, then the bytes.
		{"s", 1, 3*16 + 3*32},
		// Lists: two offsets per row, then their items (<= 4 x 8 bytes each
		// plus validity).
		{"l", 2, 3*16 + 3*(4*8+2)},
	} {
		got, err := r.Take(ctx, []int{tc.col}, rowsWanted)
		if err != nil {
			t.Fatal(err)
		}
		for k, row := range rowsWanted {
			sliceEqual(t, tc.name, rec.Column(tc.col), int64(row), int64(row)+1, got.Column(0), int64(k), int64(k)+1)
		}
		got.Release()
		n, nb := src.reset()
		if nb > tc.maxBytes {
			t.Errorf("take %s: %d requests reading %d bytes, want at most %d bytes", tc.name, n, nb, tc.maxBytes)
		}
	}

	// A whole-column read fetches the column's pages and nothing else.
	got, err := r.Read(ctx, []int{0}, 0, rows)
	if err != nil {
		t.Fatal(err)
	}
	if !array.Equal(got.Column(0), rec.Column(0)) {
		t.Error("vec differs")
	}
	got.Release()
	_, nb := src.reset()
	if want := int64(rows*512 + rows/8 + rows*128/8); nb < want || nb > want+int64(len(r.columns[0].pages))*64*2 {
		t.Errorf("read vec: %d bytes, want about %d", nb, want)
	}
}

// A read whose values come from one contiguous range adopts the bytes
// read instead of copying them: nothing is allocated for the values.
func TestSingleRangeReadIsZeroCopy(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dt := arrow.FixedSizeListOf(16, arrow.PrimitiveTypes.Float32)
	as := arrow.NewSchema([]arrow.Field{{Name: "vec", Type: dt}}, nil)
	ls, _ := schema.FromArrow(as, 0)
	as, _ = ls.ToArrow()
	g := newGen(5, mem)
	g.nullPct = 0
	col := g.array(as.Field(0).Type, 1000)
	rec := array.NewRecordBatch(as, []arrow.Array{col}, 1000)
	col.Release()
	defer rec.Release()
	data, _ := writeFile(t, ls, []arrow.RecordBatch{rec}, WriterOptions{})
	src := &countingSource{src: ReaderAtSource{bytes.NewReader(data)}}
	r, err := Open(context.Background(), src, int64(len(data)), ReaderOptions{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	before := mem.CurrentAlloc() // the input batch
	got, err := r.Read(context.Background(), nil, 100, 300)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	sliceEqual(t, "vec", rec.Column(0), 100, 300, got.Column(0), 0, 200)
	if n := mem.CurrentAlloc() - before; n != 0 {
		t.Errorf("read allocated %d bytes; the values should alias the bytes read", n)
	}
}
