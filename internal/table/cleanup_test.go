package table_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/testkit/arrowjson"
)

func TestCompactThenCleanup(t *testing.T) {
	buckets(t, compactThenCleanup)
}

// compactThenCleanup compacts a table of 13 small fragments with deletions
// and cleans up in two steps: versions superseded before the compaction,
// then, a month later, everything but the latest and a tagged version.
// Vector index files under _sarissa_indices/ must survive both.
func compactThenCleanup(t *testing.T, b objstore.Bucket) {
	ctx := context.Background()
	opts, _ := checkedOpts(t)
	tb := smallFragmentsTable(t, b, "db/t.lance", opts) // versions 1-13
	mustDelete(t, tb, "id % 5 = 1")                     // 14: a deletion file in every fragment
	if err := tb.Lance().CreateTag(ctx, "v5", 5); err != nil {
		t.Fatal(err)
	}
	tagged, beforeCompaction := doc(t, mustCheckout(t, tb, 5), ""), doc(t, mustLatest(t, tb), "")
	res, err := tb.Compact(ctx, table.CompactOptions{})
	if err != nil || res.Version != 15 {
		t.Fatalf("compact: %+v, %v", res, err)
	}
	indexFiles := map[string]int{
		tb.Lance().Key("_sarissa_indices/_catalog/18446744073709551614.json"): 120,
		tb.Lance().Key("_sarissa_indices/vec_idx/c3a9/index.ivf"):             4096,
	}
	for k, size := range indexFiles {
		if err := b.Put(ctx, k, strings.NewReader(strings.Repeat("i", size))); err != nil {
			t.Fatal(err)
		}
	}
	orphan := tb.Lance().Key("data/00000000000000000000000000000000000000000000000000.lance")
	if err := b.Put(ctx, orphan, strings.NewReader("in flight")); err != nil {
		t.Fatal(err)
	}
	vs, err := tb.Lance().ListVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Cut at the compaction's commit: version 14, which it superseded, stays
	// with the tagged 5; the young orphan stays for the grace period.
	r, err := tb.CleanupOldVersions(ctx, lance.CleanupOptions{OlderThan: vs[14].Timestamp, Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	removed := slices.Concat(useq(1, 5), useq(6, 14))
	if !slices.Equal(r.VersionsRemoved, removed) || r.DataFilesRemoved != 0 || r.DeletionFilesRemoved != 0 ||
		r.TransactionFilesRemoved != 12 || r.UnverifiedKept != 1 || !slices.Equal(r.TaggedKept, []uint64{5}) {
		t.Fatalf("first cleanup: %+v", r)
	}
	if _, err := tb.Checkout(ctx, 3); !errors.Is(err, lance.ErrVersionNotFound) {
		t.Fatalf("checkout of a removed version: %v", err)
	}
	if d := arrowjson.Diff(beforeCompaction, doc(t, mustCheckout(t, tb, 14), "")); d != "" {
		t.Fatalf("version 14 after cleanup: %s", d)
	}

	// A month later: version 14 goes, and with it the data files of
	// fragments 5-12 (only 14 still had them), every deletion file and the
	// orphan.
	r, err = tb.CleanupOldVersions(ctx, lance.CleanupOptions{Now: func() time.Time { return time.Now().Add(30 * 24 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.VersionsRemoved, []uint64{14}) || r.DataFilesRemoved != 9 || r.DeletionFilesRemoved != 13 ||
		r.TransactionFilesRemoved != 1 || r.UnverifiedKept != 0 || r.BytesRemoved == 0 {
		t.Fatalf("second cleanup: %+v", r)
	}
	if _, err := b.Stat(ctx, orphan); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("old orphan: %v", err)
	}
	for k, size := range indexFiles {
		if a, err := b.Stat(ctx, k); err != nil || a.Size != int64(size) {
			t.Fatalf("index file %s after cleanup: %+v, %v", k, a, err)
		}
	}
	vs, err = tb.Lance().ListVersions(ctx)
	if err != nil || len(vs) != 2 || vs[0].Version != 5 || vs[1].Version != 15 {
		t.Fatalf("versions after cleanup: %+v, %v", vs, err)
	}
	if d := arrowjson.Diff(beforeCompaction, doc(t, mustLatest(t, tb), "")); d != "" {
		t.Fatalf("latest after cleanup: %s", d)
	}
	if d := arrowjson.Diff(tagged, doc(t, mustCheckout(t, tb, 5), "")); d != "" {
		t.Fatalf("tagged version after cleanup: %s", d)
	}
	checkRowIDs(t, mustLatest(t, tb))
}

// useq returns from, from+1, ..., to-1.
func useq(from, to uint64) []uint64 {
	var out []uint64
	for v := from; v < to; v++ {
		out = append(out, v)
	}
	return out
}
