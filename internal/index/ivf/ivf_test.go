package ivf

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sarissa-db/sarissa/internal/vector"
)

func TestDefaultPartitions(t *testing.T) {
	cases := []struct {
		kind Kind
		rows int
		want int
	}{
		{KindFlat, 0, 1}, {KindFlat, 4095, 1}, {KindFlat, 20000, 4},
		{KindPQ, 1_000_000, 122}, {KindSQ, 1_000_000, 122},
		{KindHNSWSQ, 1_000_000, 1}, {KindHNSWSQ, 3_000_000, 2},
		{KindFlat, 100_000_000, 4096},
	}
	for _, c := range cases {
		if got := (BuildParams{Kind: c.kind}).Partitions(c.rows); got != c.want {
			t.Errorf("%v over %d rows: %d partitions, want %d", c.kind, c.rows, got, c.want)
		}
	}
	if got := (BuildParams{Kind: KindPQ}).SampleRows(1_000_000); got != 256*256 {
		t.Errorf("IVF_PQ sample rows = %d, want 65536 (256 per codeword)", got)
	}
}

// Recall@10 of every kind and metric on clustered data, at the parameters
// stated per case. Measured (20k × 32, l2/cosine/dot): FLAT
// 0.994/0.992/0.970, PQ 8-bit + refine 0.992/0.984/0.962, PQ 4-bit + refine
// 0.992/0.982/0.950, SQ 0.982/0.974/0.952, HNSW_SQ 0.984/0.976/0.956.
func TestRecallEveryKindAndMetric(t *testing.T) {
	f := clustered(t, recallRows)
	cases := []struct {
		name   string
		p      BuildParams
		sp     SearchParams
		refine bool
		min    float64
	}{
		{"flat", BuildParams{Kind: KindFlat, NumPartitions: 16}, SearchParams{K: 10, MinProbes: 8}, false, 0.95},
		{"pq8+refine", BuildParams{Kind: KindPQ, NumPartitions: 16, NumSubVectors: 8}, SearchParams{K: 10, MinProbes: 8}, true, 0.95},
		{"pq4+refine", BuildParams{Kind: KindPQ, NumPartitions: 16, NumSubVectors: 16, NumBits: 4}, SearchParams{K: 10, MinProbes: 8}, true, 0.9},
		{"sq", BuildParams{Kind: KindSQ, NumPartitions: 16}, SearchParams{K: 10, MinProbes: 8}, false, 0.9},
		{"hnsw_sq", BuildParams{Kind: KindHNSWSQ, M: 12, EfConstruction: 48}, SearchParams{K: 10, Ef: 100}, false, 0.9},
	}
	for _, c := range cases {
		for _, m := range []vector.Metric{vector.L2, vector.Cosine, vector.Dot} {
			t.Run(c.name+"/"+m.String(), func(t *testing.T) {
				p := c.p
				p.Metric = m
				file := build(t, f, p)
				r := recall(t, f, file, m, c.sp, nil, c.refine)
				t.Logf("recall@10 %.3f", r)
				if r < c.min {
					t.Fatalf("recall@10 %.3f < %.2f", r, c.min)
				}
			})
		}
	}
}

// A prefilter keeps out rejected rows and, with maximum probes, still finds
// k rows when the allowed ones sit in few partitions.
func TestFilterAndMaxProbes(t *testing.T) {
	f := clustered(t, recallRows)
	allow := func(a uint64) bool { return a%50 == 0 } // 2 %
	for _, p := range []BuildParams{
		{Kind: KindFlat, Metric: vector.L2, NumPartitions: 16},
		{Kind: KindSQ, Metric: vector.L2, NumPartitions: 16},
		{Kind: KindHNSWSQ, Metric: vector.L2, M: 8, EfConstruction: 40},
	} {
		file := build(t, f, p)
		sp := SearchParams{K: 10, MinProbes: 1, MaxProbes: 16, Filter: Filter{Allow: allow}}
		wide := sp
		wide.MinProbes = 8
		q := f.queries[:f.dim]
		got, err := file.Search(context.Background(), q, sp, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 10 {
			t.Fatalf("%v: %d rows with max probes 16, want 10", p.Kind, len(got))
		}
		if r := recall(t, f, file, vector.L2, wide, allow, false); r < 0.85 {
			t.Fatalf("%v: filtered recall %.3f", p.Kind, r)
		}
	}
}

// Probing stops at MinProbes once k rows were found, and goes on to
// MaxProbes only while fewer survived.
func TestMinProbesStopsWhenFull(t *testing.T) {
	f := clustered(t, 5000)
	file := build(t, f, BuildParams{Kind: KindFlat, Metric: vector.L2, NumPartitions: 8})
	loads := 0
	load := func(ctx context.Context, p int) (*Partition, error) { loads++; return file.ReadPartition(ctx, p) }
	if _, err := file.Search(context.Background(), f.queries[:f.dim], SearchParams{K: 5, MinProbes: 1, MaxProbes: 8}, load); err != nil {
		t.Fatal(err)
	}
	if loads != 1 {
		t.Fatalf("loaded %d partitions, want 1", loads)
	}
	loads = 0
	none := Filter{Allow: func(uint64) bool { return false }}
	got, err := file.Search(context.Background(), f.queries[:f.dim], SearchParams{K: 5, MinProbes: 1, MaxProbes: 8, Filter: none}, load)
	if err != nil || len(got) != 0 || loads != 8 {
		t.Fatalf("nothing allowed: %d rows, %d loads, %v; want 0 rows after 8 loads", len(got), loads, err)
	}
}

func TestValidateNamesTheParameter(t *testing.T) {
	cases := []struct {
		p    BuildParams
		dim  int
		want string
	}{
		{BuildParams{Kind: KindPQ, Metric: vector.L2, NumSubVectors: 7}, 128, "num_sub_vectors 7"},
		{BuildParams{Kind: KindPQ, Metric: vector.L2, NumBits: 6}, 128, "num_bits 6"},
		{BuildParams{Kind: KindPQ, Metric: vector.L2, NumSubVectors: 3, NumBits: 4}, 129, "even num_sub_vectors"},
		{BuildParams{Kind: KindSQ, Metric: vector.L2, NumBits: 4}, 128, "num_bits 4"},
		{BuildParams{Kind: KindFlat, Metric: vector.L2, NumPartitions: 5000}, 128, "num_partitions 5000"},
		{BuildParams{Kind: KindFlat, Metric: vector.L2, M: 10}, 128, "m and ef_construction"},
		{BuildParams{Kind: KindHNSWSQ, Metric: vector.L2, M: 1}, 128, "m 1"},
		{BuildParams{Kind: KindFlat, Metric: vector.Hamming}, 128, "hamming"},
		{BuildParams{Kind: KindFlat, Metric: vector.L2, SampleRate: -1}, 128, "sample_rate"},
	}
	for _, c := range cases {
		err := c.p.Validate(c.dim)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want ErrInvalid mentioning %q", c.p, err, c.want)
		}
	}
	for _, s := range []string{"ivf_flat", "IVF_PQ", "Ivf_Sq", "IVF_HNSW_SQ"} {
		if _, err := ParseKind(s); err != nil {
			t.Errorf("ParseKind(%q): %v", s, err)
		}
	}
	if _, err := ParseKind("IVF_RQ"); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("IVF_RQ: %v", err)
	}
}

func TestTrainNeedsRowsForPartitions(t *testing.T) {
	f := clustered(t, 100)
	_, err := Train(context.Background(), f.data, f.dim, 100, BuildParams{Kind: KindFlat, Metric: vector.L2, NumPartitions: 200})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("200 partitions over 100 rows: %v", err)
	}
}

// A search split into partition groups (as the query node spreads it over
// executors) and merged finds exactly what one search over the same
// partitions finds, for every kind.
func TestSplitSearchMatchesWhole(t *testing.T) {
	f := clustered(t, 4000)
	ctx := context.Background()
	for _, kind := range []Kind{KindFlat, KindPQ, KindSQ, KindHNSWSQ} {
		p := BuildParams{Kind: kind, Metric: vector.Cosine, NumPartitions: 12}
		if kind == KindPQ {
			p.NumSubVectors = 8
		}
		file := build(t, f, p)
		for qi := range 5 {
			q := f.queries[qi*f.dim : (qi+1)*f.dim]
			order, err := file.ProbeOrder(q, 6)
			if err != nil {
				t.Fatal(err)
			}
			if len(order) == 0 || len(order) > 6 {
				t.Fatalf("%v: probe order %v, want 1..6 partitions", kind, order)
			}
			sp := SearchParams{K: 10, MinProbes: len(order), MaxProbes: len(order)}
			whole, err := file.Search(ctx, q, sp, nil)
			if err != nil {
				t.Fatal(err)
			}
			a, err := file.SearchPartitions(ctx, q, sp, order[:len(order)/2], nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := file.SearchPartitions(ctx, q, sp, order[len(order)/2:], nil)
			if err != nil {
				t.Fatal(err)
			}
			merged := vector.Merge(10, a, b)
			if len(whole) != len(merged) {
				t.Fatalf("%v query %d: %d hits split, %d whole", kind, qi, len(merged), len(whole))
			}
			for i := range whole {
				if whole[i].Addr != merged[i].Addr {
					t.Fatalf("%v query %d: hit %d is %v split, %v whole", kind, qi, i, merged[i], whole[i])
				}
			}
		}
	}
	file := build(t, f, BuildParams{Kind: KindFlat, Metric: vector.L2, NumPartitions: 4})
	if _, err := file.SearchPartitions(ctx, f.queries[:f.dim], SearchParams{K: 1}, []int{4}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("partition out of range: %v, want ErrInvalid", err)
	}
	if _, err := file.ProbeOrder(f.queries[:3], 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short query: %v, want ErrInvalid", err)
	}
}
