package table_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"google.golang.org/protobuf/proto"

	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	memstore "github.com/sarissa-db/sarissa/internal/objstore/memory"
	"github.com/sarissa-db/sarissa/internal/table"
)

// createLanceIndex commits index metadata as stock LanceDB would after
// building an index over the given fragments (the index files themselves
// do not matter to compaction).
func createLanceIndex(t *testing.T, tb *table.Table, name string, frags ...uint32) *table.Snapshot {
	t.Helper()
	ctx := context.Background()
	bm, err := roaring.BitmapOf(frags...).ToBytes()
	if err != nil {
		t.Fatal(err)
	}
	latest := mustLatest(t, tb)
	ix := &tablepb.IndexMetadata{
		Uuid: &tablepb.UUID{Uuid: bytes.Repeat([]byte{byte(len(name))}, 16)}, Name: name, Fields: []int32{0},
		DatasetVersion: latest.Version(), FragmentBitmap: bm,
	}
	txn := &tablepb.Transaction{Operation: &tablepb.Transaction_CreateIndex_{CreateIndex: &tablepb.Transaction_CreateIndex{NewIndices: []*tablepb.IndexMetadata{ix}}}}
	if _, err := tb.Lance().Commit(ctx, latest.Version(), txn); err != nil {
		t.Fatal(err)
	}
	return mustLatest(t, tb)
}

func TestCompactLeavesLanceIndexedFragments(t *testing.T) {
	ctx := context.Background()
	opts, _ := checkedOpts(t)
	tb := mixedTable(t, memstore.New(), opts)
	// Fragments 1-3 and 5-6 are small; an index covers 2 and 6.
	before := createLanceIndex(t, tb, "id_idx", 0, 2, 6)
	sorted := doc(t, before, "id")
	res, err := tb.Compact(ctx, table.CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after := mustLatest(t, tb)
	// [1] and [3] are alone around the pinned 2, [5] alone before the pinned
	// 6: nothing to merge.
	if res.Version != 0 || !slices.Equal(res.Pinned, []uint64{2, 6}) || after.Version() != before.Version() {
		t.Fatalf("result %+v", res)
	}
	// With 1 unindexed too, [0 1] ... : index only 2; [1] alone, [3] alone,
	// [5 6] merge.
	tb2 := mixedTable(t, memstore.New(), opts)
	before2 := createLanceIndex(t, tb2, "id_idx", 2)
	res, err = tb2.Compact(ctx, table.CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after2 := mustLatest(t, tb2)
	if res.Groups != 1 || !slices.Equal(res.Pinned, []uint64{2}) || !slices.Equal(fragIDs(after2), []uint64{0, 1, 2, 3, 4, 7}) {
		t.Fatalf("result %+v, fragments %v", res, fragIDs(after2))
	}
	// The pinned fragment is untouched and the index section is unchanged.
	if !proto.Equal(before2.Lance().Fragments()[2], after2.Lance().Fragments()[2]) {
		t.Fatal("indexed fragment changed")
	}
	ixBefore, err := before2.Lance().Indices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ixAfter, err := after2.Lance().Indices(ctx)
	if err != nil || len(ixAfter) != 1 || !proto.Equal(ixBefore[0], ixAfter[0]) {
		t.Fatalf("index section after compaction: %v, %v", ixAfter, err)
	}
	if d := doc(t, mustLatest(t, tb), "id"); !bytes.Equal(d, sorted) {
		t.Fatal("first table changed")
	}
}

// A stock index created while compaction was writing covers fragments it
// rewrites: the commit conflicts, and the new plan leaves them alone.
func TestCompactReplansAroundConcurrentIndex(t *testing.T) {
	opts, _ := checkedOpts(t)
	tb := mixedTable(t, memstore.New(), opts)
	res, err := tb.Compact(context.Background(), table.WithBeforeCommit(table.CompactOptions{}, func(attempt int) {
		if attempt == 1 {
			createLanceIndex(t, tb, "id_idx", 5)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || res.Groups != 1 || !slices.Equal(res.Pinned, []uint64{5}) {
		t.Fatalf("result %+v", res)
	}
	if ids := fragIDs(mustLatest(t, tb)); !slices.Equal(ids, []uint64{0, 4, 5, 6, 7}) {
		t.Fatalf("fragments %v", ids)
	}
	checkNoOrphans(t, tb)
}

func TestCompactRefusesWhatItCannotRewrite(t *testing.T) {
	ctx := context.Background()
	opts, _ := checkedOpts(t)
	cases := []struct {
		name   string
		forge  func(m *tablepb.Manifest)
		expect string
	}{
		{"stable row ids", func(m *tablepb.Manifest) {
			m.ReaderFeatureFlags |= lance.FlagStableRowIDs
			m.WriterFeatureFlags |= lance.FlagStableRowIDs
		}, "stable row ids"},
		{"another data format", func(m *tablepb.Manifest) { m.DataFormat.Version = "2.1" }, "Lance 2.1 data files"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := mixedTable(t, memstore.New(), opts)
			forgeVersion(t, tb, c.forge)
			res, err := tb.Compact(ctx, table.CompactOptions{})
			if !errors.Is(err, lance.ErrUnsupportedFeature) || !strings.Contains(err.Error(), c.expect) || res.Version != 0 {
				t.Fatalf("compact: %+v, %v", res, err)
			}
			if _, err := mustLatest(t, tb).PlanCompaction(ctx, table.CompactOptions{}); !errors.Is(err, lance.ErrUnsupportedFeature) {
				t.Fatalf("plan: %v", err)
			}
			checkNoOrphans(t, tb)
		})
	}
	t.Run("fragment reuse index", func(t *testing.T) {
		tb := mixedTable(t, memstore.New(), opts)
		createLanceIndex(t, tb, "__lance_frag_reuse")
		if _, err := tb.Compact(ctx, table.CompactOptions{}); !errors.Is(err, lance.ErrUnsupportedFeature) || !strings.Contains(err.Error(), "fragment reuse index") {
			t.Fatalf("compact: %v", err)
		}
	})
}

// forgeVersion writes the next version as a copy of the latest manifest
// changed by edit, without index or transaction sections: enough for a
// table that compaction must refuse before committing anything.
func forgeVersion(t *testing.T, tb *table.Table, edit func(*tablepb.Manifest)) {
	t.Helper()
	ctx := context.Background()
	latest := mustLatest(t, tb)
	m := proto.Clone(latest.Lance().Proto()).(*tablepb.Manifest)
	m.Version++
	m.IndexSection, m.TransactionSection = nil, nil
	edit(m)
	raw, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(raw))))
	buf.Write(raw)
	footer := binary.LittleEndian.AppendUint64(nil, 0)
	footer = binary.LittleEndian.AppendUint16(footer, 0)
	footer = binary.LittleEndian.AppendUint16(footer, 2)
	buf.Write(append(footer, "LANC"...))
	key := tb.Lance().Key(fmt.Sprintf("_versions/%020d.manifest", uint64(math.MaxUint64)-m.Version))
	if err := tb.Lance().Bucket().PutIfAbsent(ctx, key, &buf); err != nil {
		t.Fatal(err)
	}
}
