package table_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/table"
)

// frag is a fragment of rows physical rows, deleted of them deleted, whose
// data file has size bytes (0: unknown).
func frag(id, rows, deleted, bytes uint64) *tablepb.DataFragment {
	f := &tablepb.DataFragment{
		Id:           id,
		PhysicalRows: rows,
		Files:        []*tablepb.DataFile{{Path: "f.lance", Fields: []int32{0}, FileMajorVersion: 2, FileSizeBytes: bytes}},
	}
	if deleted > 0 {
		f.DeletionFile = &tablepb.DeletionFile{NumDeletedRows: deleted}
	}
	return f
}

// sized returns fragments with the given physical row counts, ids from 0.
func sized(rows ...uint64) []*tablepb.DataFragment {
	out := make([]*tablepb.DataFragment, len(rows))
	for i, r := range rows {
		out[i] = frag(uint64(i), r, 0, 0)
	}
	return out
}

func TestPlanCompaction(t *testing.T) {
	// Target 1000 rows; byte bound far away unless a case sets it.
	base := table.CompactOptions{TargetRowsPerFragment: 1000, MaxRowsPerFile: 1 << 20, MaxBytesPerFile: 1 << 40}
	with := func(f func(*table.CompactOptions)) table.CompactOptions {
		o := base
		f(&o)
		return o
	}
	withSeq := sized(100, 100, 100)
	withSeq[1].RowIdSequence = &tablepb.DataFragment_InlineRowIds{InlineRowIds: []byte{1}}
	cases := []struct {
		name    string
		frags   []*tablepb.DataFragment
		indexed []uint64
		opts    table.CompactOptions
		want    [][]uint64
		pinned  []uint64
	}{
		{name: "empty table", opts: base},
		{name: "every fragment at the target", frags: sized(1000, 1000, 5000), opts: base},
		{name: "a lone small fragment is left alone", frags: sized(1000, 10, 1000), opts: base},
		{name: "the small tail merges", frags: sized(1000, 100, 200, 300), opts: base, want: [][]uint64{{1, 2, 3}}},
		{name: "only adjacent fragments merge", frags: sized(100, 100, 1000, 100, 100, 100, 1000, 100),
			opts: base, want: [][]uint64{{0, 1}, {3, 4, 5}}},
		{name: "small fragments separated by full ones stay", frags: sized(100, 1000, 100, 1000, 100), opts: base},
		{name: "the target bounds groups", frags: sized(300, 300, 300, 300, 300, 300, 300, 300, 300, 300),
			opts: base, want: [][]uint64{{0, 1, 2, 3}, {4, 5, 6, 7, 8, 9}}},
		{name: "the last group takes a remainder below the target", frags: sized(300, 300, 300, 300, 300),
			opts: base, want: [][]uint64{{0, 1, 2, 3, 4}}},
		{name: "a fragment over the deletion threshold is rewritten alone",
			frags: []*tablepb.DataFragment{frag(0, 1000, 0, 0), frag(1, 1000, 101, 0), frag(2, 1000, 0, 0)},
			opts:  base, want: [][]uint64{{1}}},
		{name: "exactly at the deletion threshold is not over it",
			frags: []*tablepb.DataFragment{frag(0, 1000, 100, 0)}, opts: base},
		{name: "a custom threshold",
			frags: []*tablepb.DataFragment{frag(0, 1000, 400, 0), frag(1, 2000, 1001, 0)},
			opts:  with(func(o *table.CompactOptions) { o.MaterializeDeletionsThreshold = 0.5 }), want: [][]uint64{{1}}},
		{name: "materializing deletions can be disabled",
			frags: []*tablepb.DataFragment{frag(0, 1000, 900, 0), frag(1, 1000, 0, 0)},
			opts:  with(func(o *table.CompactOptions) { o.DisableMaterializeDeletions = true })},
		{name: "small fragments still drop deletions when materializing is disabled",
			frags: []*tablepb.DataFragment{frag(0, 100, 90, 0), frag(1, 100, 0, 0)},
			opts:  with(func(o *table.CompactOptions) { o.DisableMaterializeDeletions = true }), want: [][]uint64{{0, 1}}},
		{name: "a lone small fragment with a few deletions is left alone",
			frags: []*tablepb.DataFragment{frag(0, 1000, 0, 0), frag(1, 100, 5, 0), frag(2, 1000, 0, 0)}, opts: base},
		{name: "a lone small fragment over the threshold is rewritten",
			frags: []*tablepb.DataFragment{frag(0, 1000, 0, 0), frag(1, 100, 50, 0), frag(2, 1000, 0, 0)},
			opts:  base, want: [][]uint64{{1}}},
		{name: "a fully deleted fragment is rewritten into nothing",
			frags: []*tablepb.DataFragment{frag(0, 1000, 0, 0), frag(1, 100, 100, 0)}, opts: base, want: [][]uint64{{1}}},
		{name: "a big fragment over the threshold joins its small neighbours",
			frags: []*tablepb.DataFragment{frag(0, 1000, 200, 0), frag(1, 100, 0, 0), frag(2, 1000, 0, 0)},
			opts:  base, want: [][]uint64{{0, 1}}},
		{name: "fragments covered by a lance index are pinned and end runs", frags: sized(100, 100, 100, 100, 100),
			indexed: []uint64{2}, opts: base, want: [][]uint64{{0, 1}, {3, 4}}, pinned: []uint64{2}},
		{name: "an indexed fragment between two small ones leaves both alone", frags: sized(100, 100, 100),
			indexed: []uint64{1}, opts: base, pinned: []uint64{1}},
		{name: "indexed fragments that are no candidates are not pinned", frags: sized(1000, 100),
			indexed: []uint64{0}, opts: base},
		{name: "row-id sequences pin a fragment", frags: withSeq, opts: base, pinned: []uint64{1}},
		{name: "a merge that saves no fragment and drops no row is skipped", frags: sized(1000, 600, 600, 1000), opts: base},
		{name: "the same merge with deleted rows runs",
			frags: []*tablepb.DataFragment{frag(0, 600, 10, 0), frag(1, 600, 0, 0)}, opts: base, want: [][]uint64{{0, 1}}},
		{name: "the effective target is at most MaxRowsPerFile", frags: sized(700, 700, 300, 300),
			opts: with(func(o *table.CompactOptions) { o.TargetRowsPerFragment = 1 << 20; o.MaxRowsPerFile = 700 }),
			want: [][]uint64{{2, 3}}},
		{name: "fragments near MaxBytesPerFile are full",
			frags: []*tablepb.DataFragment{frag(0, 100, 0, 950), frag(1, 100, 0, 950), frag(2, 100, 0, 100), frag(3, 100, 0, 100)},
			opts:  with(func(o *table.CompactOptions) { o.MaxBytesPerFile = 1000 }), want: [][]uint64{{2, 3}}},
		{name: "the byte bound splits groups too",
			frags: []*tablepb.DataFragment{frag(0, 10, 0, 400), frag(1, 10, 0, 400), frag(2, 10, 0, 400), frag(3, 10, 0, 400),
				frag(4, 10, 0, 400), frag(5, 10, 0, 400)},
			opts: with(func(o *table.CompactOptions) { o.MaxBytesPerFile = 1000 }), want: [][]uint64{{0, 1, 2}, {3, 4, 5}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			indexed := map[uint64]bool{}
			for _, id := range c.indexed {
				indexed[id] = true
			}
			plan, err := table.PlanCompaction(c.frags, indexed, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got [][]uint64
			for _, g := range plan.Groups {
				got = append(got, g.IDs())
			}
			if !slices.EqualFunc(got, c.want, slices.Equal) {
				t.Errorf("groups = %v, want %v", got, c.want)
			}
			if !slices.Equal(plan.Pinned, c.pinned) {
				t.Errorf("pinned = %v, want %v", plan.Pinned, c.pinned)
			}
		})
	}
}

func TestPlanCompactionCounts(t *testing.T) {
	frags := []*tablepb.DataFragment{frag(4, 100, 10, 0), frag(9, 50, 0, 0), frag(12, 30, 30, 0)}
	plan, err := table.PlanCompaction(frags, nil, table.CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Groups) != 1 {
		t.Fatalf("groups %+v", plan.Groups)
	}
	g := plan.Groups[0]
	if !slices.Equal(g.IDs(), []uint64{4, 9, 12}) || g.LiveRows != 140 || g.DeletedRows != 40 {
		t.Fatalf("group %v: live %d deleted %d, want [4 9 12] 140 40", g.IDs(), g.LiveRows, g.DeletedRows)
	}
	// The planner keeps the caller's fragments (no copies, no mutation).
	if g.Fragments[1] != frags[1] {
		t.Fatal("group does not hold the snapshot's fragment")
	}
}

func TestPlanCompactionInvalidOptions(t *testing.T) {
	for _, o := range []table.CompactOptions{
		{TargetRowsPerFragment: -1},
		{MaterializeDeletionsThreshold: 1.5},
		{MaterializeDeletionsThreshold: -0.1},
		{MaxAttempts: -2},
	} {
		if _, err := table.PlanCompaction(nil, nil, o); !errors.Is(err, table.ErrInvalidArgument) {
			t.Errorf("options %+v: err = %v, want ErrInvalidArgument", o, err)
		}
	}
}
