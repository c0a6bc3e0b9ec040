package vindex

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/index/indextest"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/filesystem"
	memstore "github.com/sarissa-db/sarissa/internal/objstore/memory"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// fixture is a table of (id int64, vec fixed_size_list<float32|float16>)
// rows with a checked allocator.
type fixture struct {
	t      testing.TB
	bucket objstore.Bucket
	tbl    *table.Table
	mem    *memory.CheckedAllocator
	dim    int
	half   bool
	nextID int64
	ref    TableRef
}

type fixtureOpts struct {
	bucket      objstore.Bucket // nil: memory
	rowsPerFile int64
	half        bool
}

func newFixture(t testing.TB, dim int, vecs []float32, o fixtureOpts) *fixture {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	if o.bucket == nil {
		o.bucket = memstore.New()
	}
	f := &fixture{t: t, bucket: o.bucket, mem: mem, dim: dim, half: o.half}
	rec := f.batch(vecs, nil)
	defer rec.Release()
	rr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	tbl, _, err := table.Create(context.Background(), o.bucket, "db/t.lance", rec.Schema(), rr,
		table.Options{Allocator: mem, MaxRowsPerFile: o.rowsPerFile, BatchRows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	f.tbl = tbl
	f.ref = TableRef{Table: tbl, URI: "test://" + t.Name() + "/db/t.lance", Name: "db.t"}
	return f
}

func memBucket() objstore.Bucket { return memstore.New() }

func fsBucket(t testing.TB) objstore.Bucket {
	b, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) schema() *arrow.Schema {
	elem := arrow.DataType(arrow.PrimitiveTypes.Float32)
	if f.half {
		elem = arrow.FixedWidthTypes.Float16
	}
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "vec", Type: arrow.FixedSizeListOf(int32(f.dim), elem), Nullable: true},
	}, nil)
}

// batch builds rows with consecutive ids; null[i] makes row i's vector null.
func (f *fixture) batch(vecs []float32, null map[int]bool) arrow.RecordBatch {
	b := array.NewRecordBuilder(f.mem, f.schema())
	defer b.Release()
	ids := b.Field(0).(*array.Int64Builder)
	vb := b.Field(1).(*array.FixedSizeListBuilder)
	n := len(vecs) / f.dim
	for i := range n {
		ids.Append(f.nextID)
		f.nextID++
		if null[i] {
			vb.AppendNull()
			continue
		}
		vb.Append(true)
		row := vecs[i*f.dim : (i+1)*f.dim]
		if f.half {
			hb := vb.ValueBuilder().(*array.Float16Builder)
			for _, x := range row {
				hb.Append(float16.New(x))
			}
		} else {
			vb.ValueBuilder().(*array.Float32Builder).AppendValues(row, nil)
		}
	}
	return b.NewRecordBatch()
}

func (f *fixture) append(vecs []float32, null map[int]bool) *table.Snapshot {
	f.t.Helper()
	rec := f.batch(vecs, null)
	defer rec.Release()
	rr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	if err != nil {
		f.t.Fatal(err)
	}
	defer rr.Release()
	snap, _, err := f.tbl.Append(context.Background(), rr)
	if err != nil {
		f.t.Fatal(err)
	}
	return snap
}

func (f *fixture) latest() *table.Snapshot {
	f.t.Helper()
	s, err := f.tbl.Latest(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// rows returns every live row of snap: address → vector.
func (f *fixture) rows(snap *table.Snapshot) map[uint64][]float32 {
	f.t.Helper()
	out := map[uint64][]float32{}
	vc, err := resolveColumn(snap, "vec")
	if err != nil {
		f.t.Fatal(err)
	}
	err = scanVectors(context.Background(), snap, vc, nil, func(addrs []uint64, vecs []float32) error {
		for i, a := range addrs {
			out[a] = append([]float32(nil), vecs[i*f.dim:(i+1)*f.dim]...)
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// exact is the exact top k of rows under m restricted to allow.
func exact(m vector.Metric, q []float32, rows map[uint64][]float32, k int, allow func(uint64) bool) []vector.Hit {
	top := vector.NewTopK(k)
	out := make([]float32, 1)
	scratch := make([]float32, 1)
	for a, v := range rows {
		if allow != nil && !allow(a) {
			continue
		}
		vector.Distances(m, q, v, out, scratch)
		top.Push(out[0], a)
	}
	return top.Sorted()
}

func mixture(seed uint64, n, dim int) []float32 {
	data, _ := indextest.Mixture(rand.New(rand.NewPCG(seed, 7)), n, dim, 24, 0.15)
	return data
}

func newManager(t testing.TB, cfg Config) *Manager {
	if cfg.Seed == 0 {
		cfg.Seed = 42
	}
	if cfg.SpillDir == "" {
		cfg.SpillDir = t.TempDir()
	}
	m := New(cfg)
	t.Cleanup(m.Close)
	return m
}

// createWait creates an index and waits for its build.
func createWait(t testing.TB, m *Manager, ref TableRef, spec Spec) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id, err := m.Create(ctx, ref, spec)
	if err != nil {
		t.Fatalf("create %+v: %v", spec, err)
	}
	if err := m.Wait(ctx, id); err != nil {
		t.Fatalf("build %+v: %v", spec, err)
	}
	return id
}

// slowBucket delays every read, so a build over it runs long enough to be
// canceled.
type slowBucket struct {
	objstore.Bucket
	delay time.Duration
}

func (s slowBucket) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Bucket.GetRange(ctx, key, off, n)
}

func (s slowBucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Bucket.Get(ctx, key)
}

func isNotExist(err error) bool { return errors.Is(err, objstore.ErrNotExist) }

func arrayReader(rec arrow.RecordBatch) (array.RecordReader, error) {
	return array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
}
