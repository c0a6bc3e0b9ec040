package table_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/objstore/filesystem"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/testkit/arrowjson"
	"github.com/sarissa-db/sarissa/internal/testkit/datagen"
	"github.com/sarissa-db/sarissa/internal/testkit/nodejs"
)

// stockVersions lists the versions stock LanceDB sees.
func stockVersions(t *testing.T, root, name string) []uint64 {
	t.Helper()
	out := nodejs.RunScript(t, context.Background(), "versions.mjs", filepath.Join(root, "db"), name)
	var vs []uint64
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var v struct {
			Version uint64 `json:"version"`
		}
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("versions.mjs line %q: %v", line, err)
		}
		vs = append(vs, v.Version)
	}
	return vs
}

// stockAgrees checks that stock LanceDB reads version v as we do.
func stockAgrees(t *testing.T, tb *table.Table, root, name string, v uint64, orderBy string) {
	t.Helper()
	if d := arrowjson.Diff(canonical(t, tb, v, orderBy), stockDump(t, root, name, v, orderBy)); d != "" {
		t.Fatalf("version %d (order %q): stock LanceDB reads it differently (ours vs theirs): %s", v, orderBy, d)
	}
}

// TestStockLanceDBReadsCompactedTable: after compaction stock LanceDB reads
// the same rows; after cleanup it still opens the latest and the retained
// versions, and lists only those.
func TestStockLanceDBReadsCompactedTable(t *testing.T) {
	nodejs.RequireModules(t)
	ctx := context.Background()
	root := t.TempDir()
	b, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	opts := table.Options{Allocator: mem}
	rr := datagen.Reader(mem, 11, 0, 600, 600)
	tb, _, err := table.Create(ctx, b, "db/ours.lance", datagen.AllTypesSchema(), rr, opts)
	rr.Release()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		appendRows(t, tb, mem, 11, 600+150*i, 150)
	}
	mustDelete(t, tb, "id % 7 = 3")
	if _, _, err := tb.Update(ctx, "id % 11 = 5", []table.SetClause{{Column: "i32", Expr: "42"}, {Column: "category", Expr: "'updated'"}}); err != nil {
		t.Fatal(err)
	}
	if err := tb.Lance().CreateTag(ctx, "early", 3); err != nil {
		t.Fatal(err)
	}
	before := mustLatest(t, tb) // version 9
	sorted := doc(t, before, "id")
	res, err := tb.Compact(ctx, table.CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Eight small fragments (seven appended, one from the update) become one.
	if res.Version != 10 || res.FragmentsRemoved != 8 || res.FragmentsAdded != 1 {
		t.Fatalf("compaction %+v", res)
	}
	stockAgrees(t, tb, root, "ours", 10, "")
	stockAgrees(t, tb, root, "ours", 10, "id")
	if d := arrowjson.Diff(sorted, doc(t, mustLatest(t, tb), "id")); d != "" {
		t.Fatalf("compaction changed values: %s", d)
	}

	// Cut at the compaction: 9 (superseded by it) and the tagged 3 stay.
	vs, err := tb.Lance().ListVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := tb.CleanupOldVersions(ctx, lance.CleanupOptions{OlderThan: vs[9].Timestamp})
	if err != nil || !slices.Equal(r.VersionsRemoved, []uint64{1, 2, 4, 5, 6, 7, 8}) {
		t.Fatalf("cleanup: %+v, %v", r, err)
	}
	if got := stockVersions(t, root, "ours"); !slices.Equal(got, []uint64{3, 9, 10}) {
		t.Fatalf("stock lists versions %v after cleanup", got)
	}
	for _, v := range []uint64{3, 9, 10} {
		stockAgrees(t, tb, root, "ours", v, "id")
	}
	// A month later only the latest and the tagged version are left, and
	// the files only version 9 referenced are gone.
	r, err = tb.CleanupOldVersions(ctx, lance.CleanupOptions{Now: func() time.Time { return time.Now().Add(30 * 24 * time.Hour) }})
	if err != nil || !slices.Equal(r.VersionsRemoved, []uint64{9}) || r.DataFilesRemoved == 0 || r.DeletionFilesRemoved == 0 {
		t.Fatalf("second cleanup: %+v, %v", r, err)
	}
	if got := stockVersions(t, root, "ours"); !slices.Equal(got, []uint64{3, 10}) {
		t.Fatalf("stock lists versions %v after the second cleanup", got)
	}
	stockAgrees(t, tb, root, "ours", 10, "")
	stockAgrees(t, tb, root, "ours", 3, "id")
}

// TestCompactStockTable: we compact and clean up a table stock LanceDB
// wrote (2.0 data with dictionary-encoded strings, deletions, an update);
// stock LanceDB reads the result as we do, with the rows it had.
func TestCompactStockTable(t *testing.T) {
	nodejs.RequireModules(t)
	ctx := context.Background()
	root := t.TempDir()
	nodejs.RunScript(t, ctx, "write-stock.mjs", filepath.Join(root, "db"), "stock", "--rows", "3000")
	b, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	tb, err := table.Open(ctx, b, "db/stock.lance", table.Options{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	before := mustLatest(t, tb)
	theirs := stockDump(t, root, "stock", before.Version(), "id")
	res, err := tb.Compact(ctx, table.CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != before.Version()+1 || res.FragmentsAdded != 1 || res.DeletionsMaterialized == 0 {
		t.Fatalf("compaction of the stock table: %+v (fragments before %v)", res, fragIDs(before))
	}
	stockAgrees(t, tb, root, "stock", res.Version, "")
	// Same rows as stock had before, apart from the version key.
	after := stockDump(t, root, "stock", res.Version, "id")
	if d := arrowjson.Diff(bytes.Replace(theirs, []byte(`{"version":4,`), []byte(`{"version":5,`), 1), after); d != "" {
		t.Fatalf("stock reads other rows after our compaction: %s", d)
	}
	r, err := tb.CleanupOldVersions(ctx, lance.CleanupOptions{Now: func() time.Time { return time.Now().Add(30 * 24 * time.Hour) }})
	if err != nil || len(r.VersionsRemoved) != int(before.Version()) {
		t.Fatalf("cleanup: %+v, %v", r, err)
	}
	if got := stockVersions(t, root, "stock"); !slices.Equal(got, []uint64{res.Version}) {
		t.Fatalf("stock lists versions %v", got)
	}
	stockAgrees(t, tb, root, "stock", res.Version, "id")
}
