package hnsw

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/sarissa-db/sarissa/internal/index/indextest"
	"github.com/sarissa-db/sarissa/internal/vector"
)

type points struct {
	dim  int
	data []float32
}

func (p points) dist(i, j int) float32 {
	var out [1]float32
	vector.L2Squared(p.data[i*p.dim:(i+1)*p.dim], p.data[j*p.dim:(j+1)*p.dim], out[:])
	return out[0]
}

func (p points) qdist(q []float32) func(int) float32 {
	return func(i int) float32 {
		var out [1]float32
		vector.L2Squared(q, p.data[i*p.dim:(i+1)*p.dim], out[:])
		return out[0]
	}
}

func fixture(t testing.TB, n int) (points, []float32, *Graph) {
	t.Helper()
	const dim = 32
	r := rand.New(rand.NewPCG(5, 6))
	all, _ := indextest.Mixture(r, n+50, dim, 64, 0.6)
	p := points{dim: dim, data: all[:n*dim]}
	g, err := Build(context.Background(), n, p.dist, Params{M: 12, EfConstruction: 100, Workers: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return p, all[n*dim:], g
}

func toHits(nb []Neighbor) []vector.Hit {
	out := make([]vector.Hit, len(nb))
	for i, x := range nb {
		out[i] = vector.Hit{Dist: x.Dist, Addr: uint64(x.ID)}
	}
	return out
}

// Recall@10 against exact search at ef 64 (measured 0.99+ on 20k × 32).
func TestRecall(t *testing.T) {
	p, queries, g := fixture(t, 20000)
	var sum float64
	nq := len(queries) / p.dim
	for qi := 0; qi < nq; qi++ {
		q := queries[qi*p.dim : (qi+1)*p.dim]
		got := g.Search(64, 10, p.qdist(q), nil)
		for i := 1; i < len(got); i++ {
			if got[i].Dist < got[i-1].Dist {
				t.Fatalf("results not nearest first: %v", got)
			}
		}
		sum += indextest.Recall(toHits(got), indextest.Exact(vector.L2, q, p.data, 10, nil))
	}
	if r := sum / float64(nq); r < 0.95 {
		t.Fatalf("recall@10 %.3f < 0.95", r)
	} else {
		t.Logf("recall@10 %.3f", r)
	}
}

// Filtered searches return only allowed nodes, and k of them whenever k
// exist, at a 10 % and a 0.5 % allow-list.
func TestFilteredSearch(t *testing.T) {
	p, queries, g := fixture(t, 20000)
	for _, every := range []int{10, 200} {
		allow := func(i int) bool { return i%every == 0 }
		var sum float64
		nq := len(queries) / p.dim
		for qi := 0; qi < nq; qi++ {
			q := queries[qi*p.dim : (qi+1)*p.dim]
			got := g.Search(64, 10, p.qdist(q), allow)
			if len(got) != 10 {
				t.Fatalf("1/%d allowed: %d results", every, len(got))
			}
			for _, x := range got {
				if !allow(int(x.ID)) {
					t.Fatalf("node %d returned despite the filter", x.ID)
				}
			}
			sum += indextest.Recall(toHits(got), indextest.Exact(vector.L2, q, p.data, 10, func(a uint64) bool { return allow(int(a)) }))
		}
		if r := sum / float64(nq); r < 0.9 {
			t.Fatalf("1/%d allowed: recall %.3f", every, r)
		}
	}
}

func TestEncodingRoundTrip(t *testing.T) {
	p, queries, g := fixture(t, 3000)
	buf := g.AppendBinary([]byte("prefix"))
	h, err := Decode(buf[len("prefix"):], 3000)
	if err != nil {
		t.Fatal(err)
	}
	q := queries[:p.dim]
	a, b := g.Search(40, 10, p.qdist(q), nil), h.Search(40, 10, p.qdist(q), nil)
	if len(a) != len(b) {
		t.Fatalf("%d vs %d results", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("result %d: %v vs %v", i, a[i], b[i])
		}
	}
	if g.SizeBytes() <= 0 || h.Len() != 3000 {
		t.Fatal("size or length")
	}
	// Damage: wrong node count, truncation, a link out of range.
	if _, err := Decode(buf[len("prefix"):], 2999); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("wrong n: %v", err)
	}
	enc := buf[len("prefix"):]
	for _, cut := range []int{0, 10, len(enc) / 2, len(enc) - 1} {
		if _, err := Decode(enc[:cut], 3000); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated at %d: %v", cut, err)
		}
	}
	bad := append([]byte(nil), enc...)
	pos := graphHeader + 3000 + 2 // first id of node 0's layer-0 list
	bad[pos], bad[pos+1], bad[pos+2], bad[pos+3] = 0xff, 0xff, 0xff, 0x7f
	if _, err := Decode(bad, 3000); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("link out of range: %v", err)
	}
}

func TestBuildCancelAndInvalid(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, _, _ := fixture(t, 100)
	if _, err := Build(ctx, 5000, func(i, j int) float32 { return p.dist(i%100, j%100) }, Params{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled build: %v", err)
	}
	if _, err := Build(context.Background(), 0, p.dist, Params{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty build: %v", err)
	}
	if _, err := Build(context.Background(), 10, p.dist, Params{M: 1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("m 1: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	p, _, g := fixture(f, 50)
	_ = p
	f.Add(g.AppendBinary(nil), 50)
	f.Add([]byte("HNSW"), 1)
	f.Fuzz(func(t *testing.T, buf []byte, n int) {
		if n <= 0 || n > 1<<16 {
			return
		}
		g, err := Decode(buf, n)
		if err != nil {
			return
		}
		// A graph that decodes must be searchable without panicking.
		g.Search(10, 5, func(i int) float32 { return float32(i) }, nil)
	})
}
