package lance

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
)

func testIndex(t *testing.T, name string, uuid byte, field int32, vector bool, frags ...uint32) *tablepb.IndexMetadata {
	t.Helper()
	bm, err := encodeRoaring(roaring.BitmapOf(frags...))
	if err != nil {
		t.Fatal(err)
	}
	ix := &tablepb.IndexMetadata{
		Uuid: &tablepb.UUID{Uuid: bytes.Repeat([]byte{uuid}, 16)}, Name: name, Fields: []int32{field},
		DatasetVersion: uint64(uuid), FragmentBitmap: bm,
	}
	if vector {
		ix.IndexDetails = &anypb.Any{TypeUrl: "/lance.table.VectorIndexDetails"}
	}
	return ix
}

// tableWithIndices builds a table whose version 2 (written as stock Lance
// would) has fragments 0..2 and the given index section.
func tableWithIndices(t *testing.T, ixs ...*tablepb.IndexMetadata) (*Table, []byte) {
	t.Helper()
	b := memory.New()
	tbl, _ := createTable(t, b, "t", 91)
	s := mustCommit(t, tbl, 1, NewAppend(newFragment(t, tbl, 5), newFragment(t, tbl, 5), newFragment(t, tbl, 5)))
	raw, err := proto.Marshal(&tablepb.IndexSection{Indices: ixs})
	if err != nil {
		t.Fatal(err)
	}
	m := proto.Clone(s.Proto()).(*tablepb.Manifest)
	m.Version = 3
	txn := NewUpdateConfig(nil, nil)
	txn.ReadVersion, txn.Uuid = 2, "stock-create-index"
	rawTxn, err := proto.Marshal(txn)
	if err != nil {
		t.Fatal(err)
	}
	m.TransactionFile = transactionFileName(2, txn.Uuid)
	if err := b.Put(context.Background(), "t/_transactions/"+m.TransactionFile, bytes.NewReader(rawTxn)); err != nil {
		t.Fatal(err)
	}
	data, err := encodeManifest(m, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(context.Background(), "t/"+manifestName(NamingV2, 3), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return tbl, raw
}

func indexNames(t *testing.T, s *Snapshot) []string {
	t.Helper()
	ixs, err := s.Indices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ix := range ixs {
		names = append(names, ix.GetName())
	}
	slices.Sort(names)
	return names
}

func TestIndexSectionPassThrough(t *testing.T) {
	tbl, raw := tableWithIndices(t, testIndex(t, "vec_idx", 1, 1, true, 0, 1), testIndex(t, "id_idx", 2, 0, false, 0, 1, 2))
	s := mustCommit(t, tbl, 3, NewAppend(newFragment(t, tbl, 1)))
	got, err := s.IndexSectionBytes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, raw) {
		t.Fatal("append did not keep the index section byte for byte")
	}
	s = mustCommit(t, tbl, s.Version(), NewOverwrite(testFields(), nil, nil, nil))
	if s.Proto().IndexSection != nil {
		t.Fatal("overwrite kept indexes")
	}
}

func TestIndexMaintenance(t *testing.T) {
	ixs := func() []*tablepb.IndexMetadata {
		return []*tablepb.IndexMetadata{
			testIndex(t, "vec_idx", 1, 1, true, 0, 1),
			testIndex(t, "id_idx", 2, 0, false, 0),
			testIndex(t, "id_idx", 3, 0, false, 2), // a delta of id_idx
		}
	}
	t.Run("project drops indexes on dropped fields", func(t *testing.T) {
		tbl, _ := tableWithIndices(t, ixs()...)
		s := mustCommit(t, tbl, 3, NewProject(testFields()[:1]))
		if got := indexNames(t, s); !slices.Equal(got, []string{"id_idx", "id_idx"}) {
			t.Fatalf("indexes %v", got)
		}
	})
	t.Run("delete drops vector index without fragments, keeps a scalar delta", func(t *testing.T) {
		tbl, _ := tableWithIndices(t, ixs()...)
		s := mustCommit(t, tbl, 3, NewDelete(nil, []uint64{0, 1}, "x"))
		got, err := s.Indices(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// vec_idx covered only fragments 0 and 1; id_idx's delta covering 0
		// is empty now but the one covering 2 is not.
		if len(got) != 1 || got[0].GetName() != "id_idx" || got[0].GetUuid().GetUuid()[0] != 3 {
			t.Fatalf("indexes %v", got)
		}
	})
	t.Run("update prunes modified fragments", func(t *testing.T) {
		tbl, _ := tableWithIndices(t, ixs()...)
		s, err := tbl.Checkout(context.Background(), 3)
		if err != nil {
			t.Fatal(err)
		}
		upd := NewUpdate(nil, []*tablepb.DataFragment{s.Fragments()[0]}, nil, []uint32{1})
		s = mustCommit(t, tbl, 3, upd)
		got, err := s.Indices(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		bm, err := fragmentBitmap(got[0])
		if err != nil || got[0].GetName() != "vec_idx" || !slices.Equal(bm.ToArray(), []uint32{1}) {
			t.Fatalf("vec_idx after update covers %v (%v)", bm, err)
		}
	})
	t.Run("create index replaces same name", func(t *testing.T) {
		tbl, _ := tableWithIndices(t, ixs()...)
		ci := &tablepb.Transaction{Operation: &tablepb.Transaction_CreateIndex_{CreateIndex: &tablepb.Transaction_CreateIndex{
			NewIndices: []*tablepb.IndexMetadata{testIndex(t, "id_idx", 9, 0, false, 0, 1, 2)},
		}}}
		s := mustCommit(t, tbl, 3, ci)
		got, err := s.Indices(context.Background())
		if err != nil || len(got) != 2 || got[1].GetUuid().GetUuid()[0] != 9 {
			t.Fatalf("indexes %v %v", got, err)
		}
	})
	t.Run("rewrite remaps covered fragments", func(t *testing.T) {
		tbl, _ := tableWithIndices(t, ixs()...)
		s, err := tbl.Checkout(context.Background(), 3)
		if err != nil {
			t.Fatal(err)
		}
		rw := &tablepb.Transaction{Operation: &tablepb.Transaction_Rewrite_{Rewrite: &tablepb.Transaction_Rewrite{
			Groups: []*tablepb.Transaction_Rewrite_RewriteGroup{{
				OldFragments: s.Fragments()[:2],
				NewFragments: []*tablepb.DataFragment{newFragment(t, tbl, 10)},
			}},
			RewrittenIndices: []*tablepb.Transaction_Rewrite_RewrittenIndex{{
				OldId: &tablepb.UUID{Uuid: bytes.Repeat([]byte{1}, 16)},
				NewId: &tablepb.UUID{Uuid: bytes.Repeat([]byte{7}, 16)},
			}},
		}}}
		s = mustCommit(t, tbl, 3, rw)
		if !slices.Equal(fragmentIDs(s), []uint64{2, 3}) {
			t.Fatalf("fragments after rewrite %v", fragmentIDs(s))
		}
		got, err := s.Indices(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		bm, err := fragmentBitmap(got[0])
		if err != nil || got[0].GetUuid().GetUuid()[0] != 7 || !slices.Equal(bm.ToArray(), []uint32{3}) {
			t.Fatalf("vec_idx after rewrite: %v covers %v (%v)", got[0].GetUuid(), bm, err)
		}
	})
}
