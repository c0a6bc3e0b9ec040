package vindex

import (
	"errors"
	"testing"

	"github.com/sarissa-db/sarissa/internal/vector"
)

// A planned search cut into partition groups, searched separately and
// merged (as executors and the query node do) finds what Search finds when
// both probe the same partitions; rows of stale fragments never come back.
func TestPlanSearchSplitMatchesSearch(t *testing.T) {
	f := newFixture(t, testDim, mixture(3, 2000, testDim), fixtureOpts{bucket: fsBucket(t), rowsPerFile: 1000})
	m := newManager(t, Config{MaxSegments: 4})
	ctx := t.Context()
	createWait(t, m, f.ref, flatSpec(8))
	f.append(mixture(4, 500, testDim), nil)
	if err := m.Optimize(ctx, f.ref, "vec_idx"); err != nil {
		t.Fatal(err)
	}
	// Delete fragment 0 entirely through an overwrite-free path: a stale
	// fragment is one the snapshot no longer has as indexed.
	snap, _, err := f.tbl.Delete(ctx, "id < 1000")
	if err != nil {
		t.Fatal(err)
	}
	queries := [][]float32{mixture(9, 1, testDim), mixture(10, 1, testDim)}
	q := Query{Column: "vec", K: 7, MinProbes: 3, MaxProbes: 3}
	plan, err := m.PlanSearch(ctx, f.ref, snap, q, queries, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Segments) != 2 || plan.Index.Name != "vec_idx" {
		t.Fatalf("plan: %d segments, index %q; want 2 segments of vec_idx", len(plan.Segments), plan.Index.Name)
	}
	if plan.Covered[0] || !plan.Covered[1] || !plan.Covered[2] {
		t.Fatalf("coverage %v: fragment 0 was deleted, 1 and 2 are indexed", plan.Covered)
	}
	for qi, vec := range queries {
		whole, err := m.Search(ctx, f.ref, snap, Query{Column: "vec", Vector: vec, K: 7, MinProbes: 3, MaxProbes: 3})
		if err != nil {
			t.Fatal(err)
		}
		var lists [][]vector.Hit
		for _, seg := range plan.Segments {
			probes := seg.Probes[qi]
			if len(probes) == 0 || len(probes) > 3 {
				t.Fatalf("segment %s probes %v, want 1..3", seg.File, probes)
			}
			for _, group := range [][]int{probes[:1], probes[1:]} {
				qq := q
				qq.Vector = vec
				hits, err := m.SearchPartitions(ctx, f.ref, seg.File, qq, group, seg.Stale)
				if err != nil {
					t.Fatal(err)
				}
				lists = append(lists, hits)
			}
		}
		merged := vector.Merge(7, lists...)
		if len(merged) != len(whole.Hits) {
			t.Fatalf("query %d: %d split hits, %d whole", qi, len(merged), len(whole.Hits))
		}
		for i := range merged {
			if merged[i].Addr != whole.Hits[i].Addr {
				t.Fatalf("query %d hit %d: %x split, %x whole", qi, i, merged[i].Addr, whole.Hits[i].Addr)
			}
			if merged[i].Addr>>32 == 0 {
				t.Fatalf("query %d: hit %x in the deleted fragment", qi, merged[i].Addr)
			}
		}
	}
	// Only index files can be searched.
	for _, file := range []string{"data/x.lance", "_sarissa_indices/_catalog/1.json", "_sarissa_indices/../data/x"} {
		qq := q
		qq.Vector = queries[0]
		if _, err := m.SearchPartitions(ctx, f.ref, file, qq, []int{0}, nil); !errors.Is(err, ErrInvalid) {
			t.Fatalf("SearchPartitions(%q): %v, want ErrInvalid", file, err)
		}
	}
	if _, err := m.PlanSearch(ctx, f.ref, snap, Query{Column: "id", K: 1}, queries, false); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("plan on a column without index: %v, want ErrNoIndex", err)
	}
	if _, err := m.PlanSearch(ctx, f.ref, snap, q, [][]float32{{1, 2}}, false); !errors.Is(err, ErrInvalid) {
		t.Fatalf("plan with a short vector: %v, want ErrInvalid", err)
	}
}
