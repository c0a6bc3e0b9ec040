package lance

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
)

func TestFirstCreateIndexIsKept(t *testing.T) {
	tbl, _ := createTable(t, memory.New(), "t", 5)
	mustCommit(t, tbl, 1, NewAppend(newFragment(t, tbl, 5)))
	ci := &tablepb.Transaction{Operation: &tablepb.Transaction_CreateIndex_{CreateIndex: &tablepb.Transaction_CreateIndex{
		NewIndices: []*tablepb.IndexMetadata{testIndex(t, "id_idx", 1, 0, false, 0)},
	}}}
	s := mustCommit(t, tbl, 2, ci)
	if got := indexNames(t, s); !slices.Equal(got, []string{"id_idx"}) {
		t.Fatalf("indexes after the first CreateIndex: %v", got)
	}
}

func TestIndexedFragments(t *testing.T) {
	ctx := context.Background()
	noBitmap := testIndex(t, "legacy_idx", 4, 0, false)
	noBitmap.FragmentBitmap = nil
	cases := []struct {
		name string
		ixs  []*tablepb.IndexMetadata
		want []uint64
		err  error
	}{
		{"no indexes", nil, nil, nil},
		{"union of every delta", []*tablepb.IndexMetadata{
			testIndex(t, "vec_idx", 1, 1, true, 0), testIndex(t, "id_idx", 2, 0, false, 2), testIndex(t, "id_idx", 3, 0, false, 7),
		}, []uint64{0, 2, 7}, nil},
		{"the MemWAL index covers nothing", []*tablepb.IndexMetadata{testIndex(t, memWalIndexName, 5, 0, false, 1)}, nil, nil},
		{"an index without a bitmap covers everything", []*tablepb.IndexMetadata{noBitmap}, []uint64{0, 1, 2}, nil},
		{"a fragment reuse index is refused", []*tablepb.IndexMetadata{testIndex(t, fragReuseIndexName, 6, 0, false)}, nil, ErrUnsupportedFeature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var tbl *Table
			if c.ixs == nil {
				tbl, _ = createTable(t, memory.New(), "t", 5)
				mustCommit(t, tbl, 1, NewAppend(newFragment(t, tbl, 5), newFragment(t, tbl, 5), newFragment(t, tbl, 5)))
			} else {
				tbl, _ = tableWithIndices(t, c.ixs...)
			}
			s, err := tbl.Latest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.IndexedFragments(ctx)
			if !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			if ids := slices.Sorted(maps.Keys(got)); !slices.Equal(ids, c.want) {
				t.Fatalf("covered = %v, want %v", ids, c.want)
			}
		})
	}
}

func TestRewriteCommit(t *testing.T) {
	ctx := context.Background()
	tbl, _ := createTable(t, memory.New(), "t", 7)
	s := mustCommit(t, tbl, 1, NewAppend(newFragment(t, tbl, 4), newFragment(t, tbl, 4), newFragment(t, tbl, 4)))
	read := s.Version()
	// A concurrent append rebases under the rewrite; the new fragment goes
	// behind it, sorted by id.
	mustCommit(t, tbl, read, NewAppend(newFragment(t, tbl, 2)))
	rw := NewRewrite(&tablepb.Transaction_Rewrite_RewriteGroup{
		OldFragments: s.Fragments()[:2],
		NewFragments: []*tablepb.DataFragment{newFragment(t, tbl, 8)},
	})
	got := mustCommit(t, tbl, read, rw)
	if !slices.Equal(fragmentIDs(got), []uint64{2, 3, 4}) || got.NumRows() != 14 || got.Proto().GetMaxFragmentId() != 4 {
		t.Fatalf("after rewrite: ids %v rows %d max %d", fragmentIDs(got), got.NumRows(), got.Proto().GetMaxFragmentId())
	}
	txn, err := tbl.Transaction(ctx, got.Version())
	if err != nil || len(txn.GetRewrite().GetGroups()) != 1 {
		t.Fatalf("recorded transaction %v, %v", txn, err)
	}
	// A rewrite read before a delete of one of its fragments conflicts.
	s = got
	mustCommit(t, tbl, s.Version(), deleteRows(t, tbl, s, 2, 1))
	rw = NewRewrite(&tablepb.Transaction_Rewrite_RewriteGroup{
		OldFragments: s.Fragments()[:2],
		NewFragments: []*tablepb.DataFragment{newFragment(t, tbl, 8)},
	})
	if _, err := tbl.Commit(ctx, s.Version(), rw); !errors.Is(err, ErrIncompatibleConflict) {
		t.Fatalf("rewrite after a delete of its fragment: %v", err)
	}
}
