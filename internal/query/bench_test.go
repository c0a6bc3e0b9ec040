package query

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/objstore/filesystem"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// benchReader streams n rows of (id int32, vector float32[dim]) in batches.
type benchReader struct {
	sch      *arrow.Schema
	rng      *rand.Rand
	n, dim   int
	next     int
	cur      arrow.RecordBatch
	refCount int64
}

func newBenchReader(n, dim int) *benchReader {
	return &benchReader{
		sch: arrow.NewSchema([]arrow.Field{
			{Name: "id", Type: arrow.PrimitiveTypes.Int32},
			{Name: "vector", Type: arrow.FixedSizeListOf(int32(dim), arrow.PrimitiveTypes.Float32), Nullable: true},
		}, nil),
		rng: rand.New(rand.NewPCG(42, 42)), n: n, dim: dim, refCount: 1,
	}
}

func (r *benchReader) Schema() *arrow.Schema { return r.sch }
func (r *benchReader) Retain()               { r.refCount++ }
func (r *benchReader) Release() {
	if r.refCount--; r.refCount == 0 && r.cur != nil {
		r.cur.Release()
	}
}
func (r *benchReader) Err() error                { return nil }
func (r *benchReader) Record() arrow.RecordBatch { return r.cur }
func (r *benchReader) RecordBatch() arrow.RecordBatch {
	return r.cur
}
func (r *benchReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.next >= r.n {
		return false
	}
	m := min(65536, r.n-r.next)
	b := array.NewRecordBuilder(memory.DefaultAllocator, r.sch)
	defer b.Release()
	ids := b.Field(0).(*array.Int32Builder)
	vb := b.Field(1).(*array.FixedSizeListBuilder)
	fb := vb.ValueBuilder().(*array.Float32Builder)
	fb.Reserve(m * r.dim)
	for i := range m {
		ids.Append(int32(r.next + i))
		vb.Append(true)
		for range r.dim {
			fb.UnsafeAppend(float32(r.rng.NormFloat64()))
		}
	}
	r.next += m
	r.cur = b.NewRecordBatch()
	return true
}

var _ array.RecordReader = (*benchReader)(nil)

// BenchmarkFlatSearch1M is the exact-search target: 1M × 128 float32
// rows on local disk, k = 10, L2. "warm" answers from the vector cache (the
// steady state of a query node); "cold" empties the cache before every query,
// so each one reads and decodes the whole column first. p50/p99 are per
// query.
func BenchmarkFlatSearch1M(b *testing.B) {
	const n, dim = 1_000_000, 128
	ctx := context.Background()
	bucket, err := filesystem.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	rr := newBenchReader(n, dim)
	_, snap, err := table.Create(ctx, bucket, "db/t.lance", rr.Schema(), rr, table.Options{})
	rr.Release()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("created %d x %d table in %v (%d fragments); kernel %s", n, dim, time.Since(start).Round(time.Millisecond), len(snap.Lance().Fragments()), vector.Kernel())
	rng := rand.New(rand.NewPCG(7, 7))
	queries := make([]Request, 64)
	for i := range queries {
		q := make([]float32, dim)
		for j := range q {
			q[j] = float32(rng.NormFloat64())
		}
		req, err := ParseRequest([]byte(body(map[string]any{"vector": q, "k": 10, "columns": []string{"id"}})))
		if err != nil {
			b.Fatal(err)
		}
		queries[i] = req
	}
	cache := NewCache(2 << 30)
	opts := Options{Cache: cache, TableURI: "file:///bench/db/t.lance"}
	run := func(b *testing.B, cold bool) {
		var lat []time.Duration
		i := 0
		b.SetBytes(n * dim * 4)
		for b.Loop() {
			if cold {
				cache.Purge()
			}
			t0 := time.Now()
			res, err := Execute(ctx, snap, queries[i%len(queries)], opts)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			if res.NumRows() != 10 {
				b.Fatalf("%d rows, want 10", res.NumRows())
			}
			res.Release()
			i++
		}
		reportLatency(b, lat)
	}
	b.Run("cold", func(b *testing.B) { run(b, true) })
	// Fill the cache once outside the measured loop.
	if res, err := Execute(ctx, snap, queries[0], opts); err == nil {
		res.Release()
	} else {
		b.Fatal(err)
	}
	b.Run("warm", func(b *testing.B) { run(b, false) })
	for _, flt := range []string{"id % 10 = 0", "id < 5000"} {
		b.Run("warm-prefilter/"+flt, func(b *testing.B) {
			reqs := make([]Request, len(queries))
			for i, q := range queries {
				q.Filter = flt
				reqs[i] = q
			}
			var lat []time.Duration
			i := 0
			for b.Loop() {
				t0 := time.Now()
				res, err := Execute(ctx, snap, reqs[i%len(reqs)], opts)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
				if res.NumRows() != 10 {
					b.Fatalf("%d rows, want 10", res.NumRows())
				}
				res.Release()
				i++
			}
			reportLatency(b, lat)
		})
	}
	for _, par := range []int{1, 2} {
		b.Run(fmt.Sprintf("warm-par%d", par), func(b *testing.B) {
			o := opts
			o.Parallelism = par
			var lat []time.Duration
			i := 0
			b.SetBytes(n * dim * 4)
			for b.Loop() {
				t0 := time.Now()
				res, err := Execute(ctx, snap, queries[i%len(queries)], o)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
				res.Release()
				i++
			}
			reportLatency(b, lat)
		})
	}
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
