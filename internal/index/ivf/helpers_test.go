package ivf

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/sarissa-db/sarissa/internal/index/indextest"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
	"github.com/sarissa-db/sarissa/internal/vector"
)

type fixture struct {
	dim     int
	data    []float32
	queries []float32
}

// clustered: n × 32 from a 64-component Gaussian mixture (σ 0.6, centres
// in [-1,1]^32); 50 queries from the same mixture. Row i has address i.
func clustered(t testing.TB, n int) fixture {
	t.Helper()
	const dim = 32
	r := rand.New(rand.NewPCG(11, 12))
	all, _ := indextest.Mixture(r, n+50, dim, 64, 0.6)
	return fixture{dim: dim, data: all[:n*dim], queries: all[n*dim:]}
}

// build trains on all rows, encodes them in batches of 1,000 and writes
// the file to a memory bucket, as internal/vindex does with a table.
func build(t testing.TB, f fixture, p BuildParams) *File {
	t.Helper()
	ctx := context.Background()
	n := len(f.data) / f.dim
	m, err := Train(ctx, f.data, f.dim, n, p)
	if err != nil {
		t.Fatal(err)
	}
	rb := m.RowBytes()
	np := m.NumPartitions()
	addrs := make([][]uint64, np)
	payloads := make([][]byte, np)
	for lo := 0; lo < n; lo += 1000 {
		hi := min(lo+1000, n)
		parts := make([]int32, hi-lo)
		payload := make([]byte, (hi-lo)*rb)
		m.Encode(f.data[lo*f.dim:hi*f.dim], parts, payload)
		for i, p := range parts {
			addrs[p] = append(addrs[p], uint64(lo+i))
			payloads[p] = append(payloads[p], payload[i*rb:(i+1)*rb]...)
		}
	}
	b := memory.New()
	size, err := m.Write(ctx, b, "idx/index.ivf", func(p int) ([]uint64, []byte, error) { return addrs[p], payloads[p], nil })
	if err != nil {
		t.Fatal(err)
	}
	file, err := Open(ctx, b, "idx/index.ivf")
	if err != nil {
		t.Fatal(err)
	}
	if file.Size() != size || file.NumRows() != int64(n) {
		t.Fatalf("opened size %d rows %d, wrote %d bytes of %d rows", file.Size(), file.NumRows(), size, n)
	}
	return file
}

// recall is the mean recall@k of the index against exact search over the
// allowed rows.
func recall(t *testing.T, f fixture, file *File, m vector.Metric, sp SearchParams, allow func(uint64) bool, refine bool) float64 {
	t.Helper()
	var sum float64
	nq := len(f.queries) / f.dim
	k := sp.K
	for qi := 0; qi < nq; qi++ {
		q := f.queries[qi*f.dim : (qi+1)*f.dim]
		want := indextest.Exact(m, q, f.data, k, allow)
		sp := sp
		if refine {
			sp.K = 10 * k
		}
		got, err := file.Search(context.Background(), q, sp, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range got {
			if allow != nil && !allow(h.Addr) {
				t.Fatalf("row %d returned despite the filter", h.Addr)
			}
		}
		if refine { // exact re-rank, as the query layer does with refine_factor
			top := vector.NewTopK(k)
			d := make([]float32, 1)
			for _, h := range got {
				vector.Distances(m, q, f.data[int(h.Addr)*f.dim:(int(h.Addr)+1)*f.dim], d, nil)
				top.Push(d[0], h.Addr)
			}
			got = top.Sorted()
		}
		sum += indextest.Recall(got, want)
	}
	return sum / float64(nq)
}
