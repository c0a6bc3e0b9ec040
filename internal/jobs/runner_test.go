package jobs

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/index/ivf"
	"github.com/sarissa-db/sarissa/internal/vector"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

func rows(first, n int) arrow.RecordBatch {
	r := rand.New(rand.NewPCG(uint64(first), 1))
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "vec", Type: arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Float32)},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	vb := b.Field(1).(*array.FixedSizeListBuilder)
	fb := vb.ValueBuilder().(*array.Float32Builder)
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(first + i))
		vb.Append(true)
		for range 4 {
			fb.Append(float32(r.NormFloat64()))
		}
	}
	return b.NewRecordBatch()
}

func reader(rec arrow.RecordBatch) array.RecordReader {
	rr, _ := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	return rr
}

// The three job kinds against a real table: the index job covers appended
// rows, compaction merges small fragments keeping every row, cleanup removes
// old versions; each reports its commit.
func TestTableRunnerJobs(t *testing.T) {
	ctx := context.Background()
	cat, err := catalog.New(catalog.Config{DefaultLocation: "file://" + t.TempDir()}, catalog.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := cat.Database(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	first := rows(0, 600)
	defer first.Release()
	rr := reader(first)
	defer rr.Release()
	created, err := db.CreateTable(ctx, catalog.Ident{Name: "t"}, catalog.CreateModeCreate, first.Schema(), rr)
	if err != nil {
		t.Fatal(err)
	}
	tbl := created.Table
	mgr := vindex.New(vindex.Config{SpillDir: t.TempDir(), CacheBytes: 8 << 20, Seed: 1})
	defer mgr.Close()
	ref := vindex.TableRef{Table: tbl, URI: db.TableURI(catalog.Ident{Name: "t"}), Name: "t"}
	job, err := mgr.Create(ctx, ref, vindex.Spec{Column: "vec", Params: ivf.BuildParams{Kind: ivf.KindFlat, Metric: vector.L2, NumPartitions: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Wait(ctx, job); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		rec := rows(1000+i*10, 10)
		rr := reader(rec)
		if _, _, err := tbl.Append(ctx, rr); err != nil {
			t.Fatal(err)
		}
		rr.Release()
		rec.Release()
	}
	var mu sync.Mutex
	var published []events.Event
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	runner, err := NewTableRunner(TableRunnerConfig{CleanupRetention: time.Hour, CleanupGrace: time.Hour}, TableRunnerDeps{
		Catalog: cat, Indexes: mgr, Now: clock,
		Publish: func(e events.Event) { mu.Lock(); published = append(published, e); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := tbl.Latest(ctx)
	in, err := mgr.Describe(ctx, ref, snap, "vec_idx")
	if err != nil || in.NumUnindexedRows != 60 {
		t.Fatalf("before the index job: %+v, %v", in, err)
	}
	if err := runner.Run(ctx, Spec{Kind: KindIndex, Database: "db", Table: "t", Version: snap.Version(), Index: "vec_idx"}); err != nil {
		t.Fatal(err)
	}
	if in, _ = mgr.Describe(ctx, ref, snap, "vec_idx"); in.NumUnindexedRows != 0 {
		t.Fatalf("after the index job: %d unindexed rows", in.NumUnindexedRows)
	}

	before, _ := tbl.Latest(ctx)
	wantRows := before.NumRows()
	if err := runner.Run(ctx, Spec{Kind: KindCompact, Database: "db", Table: "t", Version: before.Version()}); err != nil {
		t.Fatal(err)
	}
	after, _ := tbl.Latest(ctx)
	if got := len(after.Lance().Fragments()); got >= len(before.Lance().Fragments()) {
		t.Fatalf("compaction left %d fragments of %d", got, len(before.Lance().Fragments()))
	}
	if after.NumRows() != wantRows {
		t.Fatalf("compaction changed the row count: %d, want %d", after.NumRows(), wantRows)
	}
	ids, err := after.Count(ctx, "id >= 1000")
	if err != nil || ids != 60 {
		t.Fatalf("appended rows after compaction: %d, %v", ids, err)
	}

	versions, _ := tbl.Lance().ListVersions(ctx)
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if err := runner.Run(ctx, Spec{Kind: KindCleanup, Database: "db", Table: "t", Version: after.Version()}); err != nil {
		t.Fatal(err)
	}
	left, _ := tbl.Lance().ListVersions(ctx)
	if len(left) != 1 || len(versions) < 3 {
		t.Fatalf("cleanup kept %d of %d versions, want only the latest", len(left), len(versions))
	}
	if n, _ := tbl.Latest(ctx); n.NumRows() != wantRows {
		t.Fatalf("rows after cleanup: %d", n.NumRows())
	}

	mu.Lock()
	got := append([]events.Event(nil), published...)
	mu.Unlock()
	if len(got) != 2 || got[0].Operation != events.OpIndexOptimize || got[1].Operation != events.OpCompact ||
		got[1].Version != after.Version() {
		t.Fatalf("published %+v", got)
	}

	// A table that is gone: nothing to do.
	if err := runner.Run(ctx, Spec{Kind: KindCompact, Database: "db", Table: "gone"}); err != nil {
		t.Fatalf("job on a dropped table: %v", err)
	}
	if err := runner.Run(ctx, Spec{Kind: KindIndex, Database: "db", Table: "t", Index: "nope"}); err != nil {
		t.Fatalf("job on a dropped index: %v", err)
	}
}
