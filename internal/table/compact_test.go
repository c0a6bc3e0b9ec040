package table_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/proto"

	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/objstore"
	memstore "github.com/sarissa-db/sarissa/internal/objstore/memory"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/testkit/arrowjson"
	"github.com/sarissa-db/sarissa/internal/testkit/datagen"
)

// doc renders every row of s as the canonical document (no version key), in
// scan order or ordered by a column.
func doc(t *testing.T, s *table.Snapshot, orderBy string) []byte {
	t.Helper()
	recs, sch, err := s.Collect(context.Background(), table.ScanOptions{})
	if err != nil {
		t.Fatalf("scan version %d: %v", s.Version(), err)
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	d, err := arrowjson.CanonicalWith(sch, recs, arrowjson.Options{OrderBy: orderBy})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// scanIDs returns the id column in scan order.
func scanIDs(t *testing.T, s *table.Snapshot) []int64 {
	t.Helper()
	rec := collect(t, s, table.ScanOptions{Columns: []string{"id"}})
	defer rec.Release()
	return int64s(t, rec, "id")
}

func appendRows(t *testing.T, tb *table.Table, mem memory.Allocator, seed uint64, first, n int) *table.Snapshot {
	t.Helper()
	rr := datagen.Reader(mem, seed, first, n, n)
	defer rr.Release()
	s, _, err := tb.Append(context.Background(), rr)
	if err != nil {
		t.Fatalf("append %d rows from id %d: %v", n, first, err)
	}
	return s
}

// smallFragmentsTable creates a table of 13 small fragments: 300 rows, then
// 12 appends of 40, 50, ..., 150 rows (1440 rows, ids 0..1439).
func smallFragmentsTable(t *testing.T, b objstore.Bucket, root string, opts table.Options) *table.Table {
	t.Helper()
	rr := datagen.Reader(opts.Allocator, 21, 0, 300, 300)
	tb, _, err := table.Create(context.Background(), b, root, datagen.AllTypesSchema(), rr, opts)
	rr.Release()
	if err != nil {
		t.Fatal(err)
	}
	next := 300
	for i := range 12 {
		n := 40 + 10*i
		appendRows(t, tb, opts.Allocator, 21, next, n)
		next += n
	}
	return tb
}

func mustDelete(t *testing.T, tb *table.Table, pred string) int64 {
	t.Helper()
	_, n, err := tb.Delete(context.Background(), pred)
	if err != nil {
		t.Fatalf("delete %s: %v", pred, err)
	}
	return n
}

func mustLatest(t *testing.T, tb *table.Table) *table.Snapshot {
	t.Helper()
	s, err := tb.Latest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fragIDs(s *table.Snapshot) []uint64 {
	var ids []uint64
	for _, f := range s.Lance().Fragments() {
		ids = append(ids, f.GetId())
	}
	return ids
}

func physicalRows(s *table.Snapshot) int64 {
	var n int64
	for _, f := range s.Lance().Fragments() {
		n += int64(f.GetPhysicalRows())
	}
	return n
}

var compactFilters = []string{"", "id % 5 = 1", "category = 'beta'", "i32 > 0", "name IS NULL", "id BETWEEN 500 AND 900"}

func counts(t *testing.T, s *table.Snapshot) []int64 {
	t.Helper()
	var out []int64
	for _, f := range compactFilters {
		n, err := s.Count(context.Background(), f)
		if err != nil {
			t.Fatalf("count %q: %v", f, err)
		}
		out = append(out, n)
	}
	return out
}

func TestCompactEndToEnd(t *testing.T) {
	buckets(t, func(t *testing.T, b objstore.Bucket) {
		ctx := context.Background()
		opts, _ := checkedOpts(t) // 700 rows per file at most
		tb := smallFragmentsTable(t, b, "db/t.lance", opts)
		deleted := mustDelete(t, tb, "id % 5 = 1")
		// ids 300..339 are all of fragment 1: the delete removes it.
		mustDelete(t, tb, "id >= 300 AND id < 340")
		before := mustLatest(t, tb)
		if len(before.Lance().Fragments()) != 12 {
			t.Fatalf("fragments before: %v", fragIDs(before))
		}
		beforeDoc, beforeSorted, beforeCounts := doc(t, before, ""), doc(t, before, "id"), counts(t, before)

		res, err := tb.Compact(ctx, table.CompactOptions{TargetRowsPerFragment: 1000})
		if err != nil {
			t.Fatal(err)
		}
		after := mustLatest(t, tb)
		if res.Version != before.Version()+1 || after.Version() != res.Version || res.Attempts != 1 || res.Groups != 1 {
			t.Fatalf("result %+v, latest %d, before %d", res, after.Version(), before.Version())
		}
		// Every fragment is small with 20% deleted: one run, rewritten into
		// files of at most 700 rows (the table's MaxRowsPerFile caps the target).
		live := before.NumRows()
		wantFrags := int((live + 699) / 700)
		if len(after.Lance().Fragments()) != wantFrags || res.FragmentsRemoved != 12 || res.FragmentsAdded != wantFrags {
			t.Fatalf("fragments after %v, result %+v, want %d", fragIDs(after), res, wantFrags)
		}
		if res.RowsRewritten != live || res.DeletionsMaterialized != physicalRows(before)-live || deleted == 0 {
			t.Fatalf("result %+v: live %d physical %d", res, live, physicalRows(before))
		}
		for _, f := range after.Lance().Fragments() {
			if f.GetDeletionFile() != nil || int64(f.GetPhysicalRows()) > 700 {
				t.Fatalf("new fragment %d: %d rows, deletion file %v", f.GetId(), f.GetPhysicalRows(), f.GetDeletionFile())
			}
		}
		// Same rows, same values, same order; deleted rows stay deleted.
		if d := arrowjson.Diff(beforeDoc, doc(t, after, "")); d != "" {
			t.Fatalf("scan after compaction differs: %s", d)
		}
		if d := arrowjson.Diff(beforeSorted, doc(t, after, "id")); d != "" {
			t.Fatalf("sorted scan after compaction differs: %s", d)
		}
		if got := counts(t, after); !slices.Equal(got, beforeCounts) || got[1] != 0 {
			t.Fatalf("counts %v, before %v (filters %q)", got, beforeCounts, compactFilters)
		}
		checkRowIDs(t, after)
		// The old version is still there for time travel.
		if d := arrowjson.Diff(beforeDoc, doc(t, mustCheckout(t, tb, before.Version()), "")); d != "" {
			t.Fatalf("old version reads differently: %s", d)
		}
		// Nothing left to do: no commit.
		again, err := tb.Compact(ctx, table.CompactOptions{TargetRowsPerFragment: 1000})
		if err != nil || again.Version != 0 || mustLatest(t, tb).Version() != after.Version() {
			t.Fatalf("second compaction: %+v, %v", again, err)
		}
	})
}

// checkRowIDs checks that _rowid addresses rows of s: each is in a
// fragment of s, offsets count up from 0 in fragments without deletions, and
// Take at them returns the same rows.
func checkRowIDs(t *testing.T, s *table.Snapshot) {
	t.Helper()
	rec := collect(t, s, table.ScanOptions{Columns: []string{"id"}, WithRowID: true})
	defer rec.Release()
	ids := int64s(t, rec, "id")
	addrs := rec.Column(1).(*array.Uint64).Uint64Values()
	frags := map[uint64]*tablepb.DataFragment{}
	for _, f := range s.Lance().Fragments() {
		frags[f.GetId()] = f
	}
	next := map[uint64]uint32{}
	for i, a := range addrs {
		fid, off := table.SplitRowAddress(a)
		f, ok := frags[fid]
		if !ok || uint64(off) >= f.GetPhysicalRows() {
			t.Fatalf("row %d (id %d): address %d is not in version %d", i, ids[i], a, s.Version())
		}
		if f.GetDeletionFile() == nil && off != next[fid] {
			t.Fatalf("row %d: offset %d in fragment %d, want %d", i, off, fid, next[fid])
		}
		next[fid] = off + 1
	}
	var pick []uint64
	var want []int64
	for i := 0; i < len(addrs); i += 37 {
		pick, want = append(pick, addrs[i]), append(want, ids[i])
	}
	taken, err := s.Take(context.Background(), pick, []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Release()
	if got := int64s(t, taken, "id"); !slices.Equal(got, want) {
		t.Fatalf("take at row ids returned %v, want %v", got, want)
	}
}

// mixedTable has full fragments between runs of small ones:
// [0: 700 rows] [1-3: 100 each] [4: 700] [5-6: 100 each], ids in order.
func mixedTable(t *testing.T, b objstore.Bucket, opts table.Options) *table.Table {
	t.Helper()
	rr := datagen.Reader(opts.Allocator, 5, 0, 700, 700)
	tb, _, err := table.Create(context.Background(), b, "m.lance", datagen.AllTypesSchema(), rr, opts)
	rr.Release()
	if err != nil {
		t.Fatal(err)
	}
	next := 700
	for _, n := range []int{100, 100, 100, 700, 100, 100} {
		appendRows(t, tb, opts.Allocator, 5, next, n)
		next += n
	}
	return tb
}

func TestCompactOrderWithinGroups(t *testing.T) {
	buckets(t, func(t *testing.T, b objstore.Bucket) {
		opts, _ := checkedOpts(t)
		tb := mixedTable(t, b, opts)
		before := mustLatest(t, tb)
		sorted := doc(t, before, "id")
		res, err := tb.Compact(context.Background(), table.CompactOptions{})
		if err != nil {
			t.Fatal(err)
		}
		after := mustLatest(t, tb)
		if res.Groups != 2 || res.FragmentsRemoved != 5 || res.FragmentsAdded != 2 || !slices.Equal(fragIDs(after), []uint64{0, 4, 7, 8}) {
			t.Fatalf("result %+v, fragments %v", res, fragIDs(after))
		}
		// New fragments get new ids, so they follow the untouched ones (as in
		// Lance); rows keep their order within each group.
		want := slices.Concat(seq(0, 700), seq(1000, 1700), seq(700, 1000), seq(1700, 1900))
		if got := scanIDs(t, after); !slices.Equal(got, want) {
			t.Fatalf("scan order after compaction: %v", got)
		}
		if d := arrowjson.Diff(sorted, doc(t, after, "id")); d != "" {
			t.Fatalf("values differ: %s", d)
		}
		checkRowIDs(t, after)
	})
}

func TestCompactConcurrentAppend(t *testing.T) {
	buckets(t, func(t *testing.T, b objstore.Bucket) {
		opts, _ := checkedOpts(t)
		tb := mixedTable(t, b, opts)
		before := mustLatest(t, tb)
		var appended *table.Snapshot
		res, err := tb.Compact(context.Background(), table.WithBeforeCommit(table.CompactOptions{}, func(attempt int) {
			if attempt == 1 {
				appended = appendRows(t, tb, opts.Allocator, 5, 5000, 50)
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		after := mustLatest(t, tb)
		// The append landed first; the rewrite rebased over it.
		if res.Attempts != 1 || appended.Version() != before.Version()+1 || res.Version != before.Version()+2 || after.Version() != res.Version {
			t.Fatalf("result %+v, append version %d, before %d", res, appended.Version(), before.Version())
		}
		if after.NumRows() != before.NumRows()+50 {
			t.Fatalf("rows %d, want %d", after.NumRows(), before.NumRows()+50)
		}
		want := slices.Concat(seq(0, 700), seq(1000, 1700), seq(5000, 5050), seq(700, 1000), seq(1700, 1900))
		if got := scanIDs(t, after); !slices.Equal(got, want) {
			t.Fatalf("ids after compaction over an append: %v", got)
		}
		checkNoOrphans(t, tb)
	})
}

// dataFiles lists the keys under the table's data/.
func dataFiles(t *testing.T, tb *table.Table) []string {
	t.Helper()
	var keys []string
	for a, err := range tb.Lance().Bucket().List(context.Background(), tb.Lance().Key("data/")) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, a.Key)
	}
	return keys
}

// checkNoOrphans checks that every data file is referenced by some version:
// compaction deletes the files of attempts it did not commit.
func checkNoOrphans(t *testing.T, tb *table.Table) {
	t.Helper()
	ctx := context.Background()
	vs, err := tb.Lance().ListVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	referenced := map[string]bool{}
	for _, v := range vs {
		s, err := tb.Lance().Checkout(ctx, v.Version)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range s.Fragments() {
			for _, df := range f.GetFiles() {
				referenced[tb.Lance().Key(lance.DataFilePath(df.GetPath()))] = true
			}
		}
	}
	for _, k := range dataFiles(t, tb) {
		if !referenced[k] {
			t.Errorf("data file %s is referenced by no version", k)
		}
	}
}

func TestCompactReplansAfterConcurrentDelete(t *testing.T) {
	buckets(t, func(t *testing.T, b objstore.Bucket) {
		opts, _ := checkedOpts(t)
		tb := mixedTable(t, b, opts)
		before := mustLatest(t, tb)
		var firstAttempt []string
		res, err := tb.Compact(context.Background(), table.WithBeforeCommit(table.CompactOptions{}, func(attempt int) {
			if attempt == 1 {
				firstAttempt = dataFiles(t, tb)
				// id 1750 is in fragment 5, of the second group.
				mustDelete(t, tb, "id = 1750")
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		after := mustLatest(t, tb)
		if res.Attempts != 2 || res.Version != before.Version()+2 || res.DeletionsMaterialized != 1 {
			t.Fatalf("result %+v, before %d", res, before.Version())
		}
		if n, err := after.Count(context.Background(), "id = 1750"); err != nil || n != 0 || after.NumRows() != before.NumRows()-1 {
			t.Fatalf("deleted row: count %d (%v), rows %d", n, err, after.NumRows())
		}
		// The first group did not change: its files from attempt 1 were
		// reused. The second group was written again.
		files := func(id uint64) string {
			for _, f := range after.Lance().Fragments() {
				if f.GetId() == id {
					return tb.Lance().Key(lance.DataFilePath(f.GetFiles()[0].GetPath()))
				}
			}
			t.Fatalf("no fragment %d in %v", id, fragIDs(after))
			return ""
		}
		ids := fragIDs(after)
		if len(ids) != 4 || !slices.Contains(firstAttempt, files(ids[2])) || slices.Contains(firstAttempt, files(ids[3])) {
			t.Fatalf("fragments %v; attempt 1 wrote %v", ids, firstAttempt)
		}
		checkNoOrphans(t, tb)
	})
}

func TestCompactGivesUpAfterMaxAttempts(t *testing.T) {
	opts, _ := checkedOpts(t)
	tb := mixedTable(t, memstore.New(), opts)
	before := mustLatest(t, tb)
	res, err := tb.Compact(context.Background(), table.WithBeforeCommit(table.CompactOptions{MaxAttempts: 2}, func(attempt int) {
		mustDelete(t, tb, fmt.Sprintf("id = %d", 700+attempt))
	}))
	if !errors.Is(err, lance.ErrIncompatibleConflict) || !strings.Contains(err.Error(), "2 attempts") || res.Version != 0 {
		t.Fatalf("result %+v, err %v", res, err)
	}
	if v := mustLatest(t, tb).Version(); v != before.Version()+2 {
		t.Fatalf("latest %d, want the two deletes on %d", v, before.Version())
	}
	checkNoOrphans(t, tb)
}

// A delete prepared before a compaction and committed after it conflicts
// (it names fragments that are gone); Delete itself re-runs and wins.
func TestStaleDeleteConflictsWithCompaction(t *testing.T) {
	buckets(t, func(t *testing.T, b objstore.Bucket) {
		ctx := context.Background()
		opts, _ := checkedOpts(t)
		tb := mixedTable(t, b, opts)
		base := mustLatest(t, tb)
		// Row 750 is offset 50 of fragment 1.
		f1 := proto.Clone(base.Lance().Fragments()[1]).(*tablepb.DataFragment)
		dv := lance.NewDeletionVector(50)
		df, err := tb.Lance().WriteDeletionFile(ctx, f1.GetId(), base.Version(), dv)
		if err != nil {
			t.Fatal(err)
		}
		f1.DeletionFile = df
		if _, err := tb.Compact(ctx, table.CompactOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = tb.Lance().Commit(ctx, base.Version(), lance.NewDelete([]*tablepb.DataFragment{f1}, nil, "id = 750"))
		if !errors.Is(err, lance.ErrIncompatibleConflict) {
			t.Fatalf("stale delete after compaction: %v, want a conflict", err)
		}
		if n := mustDelete(t, tb, "id = 750"); n != 1 {
			t.Fatalf("delete on the compacted table removed %d rows", n)
		}
		if n, err := mustLatest(t, tb).Count(ctx, "id = 750"); err != nil || n != 0 {
			t.Fatalf("count %d, %v", n, err)
		}
	})
}

// Compaction, a delete and an append run at the same time: whatever the
// interleaving, every commit either lands or fails cleanly, the delete is
// never lost and no appended row is.
func TestCompactRacesWithWriters(t *testing.T) {
	buckets(t, compactRacesWithWriters)
}

func compactRacesWithWriters(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	opts, _ := checkedOpts(t)
	tb := mixedTable(t, b, opts)
	before := mustLatest(t, tb)
	var wg sync.WaitGroup
	var compactErr, deleteErr, appendErr error
	var deleted int64
	wg.Go(func() { _, compactErr = tb.Compact(ctx, table.CompactOptions{}) })
	wg.Go(func() { _, deleted, deleteErr = tb.Delete(ctx, "id = 750 OR id = 1800") })
	wg.Go(func() {
		rr := datagen.Reader(opts.Allocator, 5, 6000, 30, 30)
		defer rr.Release()
		_, _, appendErr = tb.Append(ctx, rr)
	})
	wg.Wait()
	if deleteErr != nil || appendErr != nil || deleted != 2 {
		t.Fatalf("delete: %d rows, %v; append: %v", deleted, deleteErr, appendErr)
	}
	if compactErr != nil && !errors.Is(compactErr, lance.ErrIncompatibleConflict) {
		t.Fatalf("compaction: %v", compactErr)
	}
	after := mustLatest(t, tb)
	if n, err := after.Count(ctx, "id = 750 OR id = 1800"); err != nil || n != 0 || after.NumRows() != before.NumRows()-2+30 {
		t.Fatalf("after the race: deleted rows counted %d (%v), rows %d", n, err, after.NumRows())
	}
	if n, err := after.Count(ctx, "id >= 6000"); err != nil || n != 30 {
		t.Fatalf("appended rows: %d, %v", n, err)
	}
	checkNoOrphans(t, tb)
}
