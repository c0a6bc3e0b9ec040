package agent

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/index/ivf"
	"github.com/sarissa-db/sarissa/internal/jobs"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vector"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

// These tests run the agent against real tables on t.TempDir(), the real
// index manager and job runner, the in-process event transport and the
// local launcher. They wait for outcomes, never for durations.

// testClock is wall time plus a skew the test can advance, so that the
// loop's settle waits pass on their own while a test can jump past
// IndexMaxWait.
type testClock struct {
	mu   sync.Mutex
	skew time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skew)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.skew += d
	c.mu.Unlock()
}

// countingLauncher counts Launch calls by job name.
type countingLauncher struct {
	jobs.Launcher
	mu    sync.Mutex
	calls map[string]int
	order []jobs.Spec
	fail  int // fail this many calls first
}

func (l *countingLauncher) Launch(ctx context.Context, spec jobs.Spec) error {
	l.mu.Lock()
	if l.fail > 0 {
		l.fail--
		l.mu.Unlock()
		return errors.New("launcher unavailable")
	}
	l.calls[spec.Name()]++
	l.order = append(l.order, spec)
	l.mu.Unlock()
	return l.Launcher.Launch(ctx, spec)
}

func (l *countingLauncher) launches() []jobs.Spec {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.order)
}

type harness struct {
	t        *testing.T
	ctx      context.Context
	clock    *testClock
	cat      *catalog.Catalog
	db       *catalog.Database
	mgr      *vindex.Manager
	mem      *events.Memory
	sink     events.Sink
	src      events.Source
	stop     func()
	local    *jobs.Local
	launcher *countingLauncher
	reg      *prometheus.Registry
	agent    *Agent

	mu      sync.Mutex
	running map[string]map[jobs.Kind]int // by table
	overlap []string
}

type harnessOptions struct {
	noSource   bool
	maxRunning int
	failFirst  int
}

func newHarness(t *testing.T, p Policy, o harnessOptions) *harness {
	t.Helper()
	ctx := t.Context()
	h := &harness{t: t, ctx: ctx, clock: &testClock{}, reg: prometheus.NewRegistry(), running: map[string]map[jobs.Kind]int{}}
	var err error
	h.cat, err = catalog.New(catalog.Config{DefaultLocation: "file://" + t.TempDir()}, catalog.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if h.db, err = h.cat.Database(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	h.mgr = vindex.New(vindex.Config{SpillDir: t.TempDir(), CacheBytes: 8 << 20, Seed: 1, Workers: 1, Now: h.clock.Now})
	t.Cleanup(h.mgr.Close)
	h.mem = events.NewMemory()
	h.sink = h.mem.Sink()
	runner, err := jobs.NewTableRunner(p.RunnerConfig(), jobs.TableRunnerDeps{
		Catalog: h.cat, Indexes: h.mgr, Now: h.clock.Now,
		// As in one process: jobs report their commits on the same topic.
		Publish: func(e events.Event) { _ = h.sink.Publish(context.Background(), e) },
	})
	if err != nil {
		t.Fatal(err)
	}
	h.local = jobs.NewLocal(jobs.RunnerFunc(func(ctx context.Context, spec jobs.Spec) error {
		h.enter(spec, 1)
		defer h.enter(spec, -1)
		return runner.Run(ctx, spec)
	}), jobs.LocalConfig{MaxRunning: max(o.maxRunning, 1)}, jobs.LocalDeps{Now: h.clock.Now})
	t.Cleanup(h.local.Close)
	h.launcher = &countingLauncher{Launcher: h.local, calls: map[string]int{}, fail: o.failFirst}
	deps := Deps{Launcher: h.launcher, Catalog: h.cat, Indexes: h.mgr, Registerer: h.reg, Now: h.clock.Now}
	if !o.noSource {
		h.src = h.mem.Source("agent")
		t.Cleanup(func() { _ = h.src.Close() })
		deps.Source = h.src
	}
	h.agent, err = New(Config{
		Policy: p, ReconcileInterval: time.Hour, Settle: time.Millisecond, PollInterval: 20 * time.Millisecond, Parallelism: 2,
	}, deps)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// enter tracks running jobs per table and records index and compaction
// jobs of one table running at once.
func (h *harness) enter(spec jobs.Spec, d int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.running[spec.Table]
	if m == nil {
		m = map[jobs.Kind]int{}
		h.running[spec.Table] = m
	}
	m[spec.Kind] += d
	if m[jobs.KindIndex] > 0 && m[jobs.KindCompact] > 0 {
		h.overlap = append(h.overlap, spec.String())
	}
}

// start runs the agent until stop or the end of the test.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan error, 1)
	go func() { done <- h.agent.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("Run: %v", err)
			}
			if h.src != nil {
				_ = h.src.Close()
			}
		})
	}
	h.t.Cleanup(h.stop)
}

func testRows(first, n int) arrow.RecordBatch {
	r := rand.New(rand.NewPCG(uint64(first), 7))
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

func withReader(t *testing.T, first, n int, f func(array.RecordReader)) {
	t.Helper()
	rec := testRows(first, n)
	defer rec.Release()
	rr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	f(rr)
}

// createIndexed creates table name with 600 rows and an IVF_FLAT index
// vec_idx (2 partitions).
func (h *harness) createIndexed(name string) *table.Table {
	h.t.Helper()
	var tbl *table.Table
	withReader(h.t, 0, 600, func(rr array.RecordReader) {
		created, err := h.db.CreateTable(h.ctx, catalog.Ident{Name: name}, catalog.CreateModeCreate, rr.Schema(), rr)
		if err != nil {
			h.t.Fatal(err)
		}
		tbl = created.Table
	})
	job, err := h.mgr.Create(h.ctx, h.ref(name, tbl), vindex.Spec{
		Column: "vec", Params: ivf.BuildParams{Kind: ivf.KindFlat, Metric: vector.L2, NumPartitions: 2},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.mgr.Wait(h.ctx, job); err != nil {
		h.t.Fatal(err)
	}
	return tbl
}

func (h *harness) ref(name string, tbl *table.Table) vindex.TableRef {
	id := catalog.Ident{Name: name}
	return vindex.TableRef{Table: tbl, URI: h.db.TableURI(id), Name: name}
}

// appendRows appends n rows and returns the committed version.
func (h *harness) appendRows(tbl *table.Table, first, n int) uint64 {
	h.t.Helper()
	var v uint64
	withReader(h.t, first, n, func(rr array.RecordReader) {
		snap, _, err := tbl.Append(h.ctx, rr)
		if err != nil {
			h.t.Fatal(err)
		}
		v = snap.Version()
	})
	return v
}

// publish sends the event the query node sends after an append.
func (h *harness) publish(name string, version uint64, op string, rows int64) {
	h.t.Helper()
	err := h.sink.Publish(h.ctx, events.Event{
		ID: events.NewID("db", name, version, op), Database: "db", Table: name, Version: version,
		Operation: op, RowsAdded: rows, Time: h.clock.Now().UTC(), Producer: "test",
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) unindexed(name string, tbl *table.Table) int64 {
	h.t.Helper()
	snap, err := tbl.Latest(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	in, err := h.mgr.Describe(h.ctx, h.ref(name, tbl), snap, "vec_idx")
	if err != nil {
		h.t.Fatal(err)
	}
	return in.NumUnindexedRows
}

func (h *harness) activeJobs() int {
	list, err := h.local.List(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	n := 0
	for _, s := range list {
		if !s.State.Done() {
			n++
		}
	}
	return n
}

// idle reports that the agent has nothing left to do right now: every
// fetched event is committed, no table waits for an evaluation, no job
// runs.
func (h *harness) idle() bool {
	a := h.agent
	a.mu.Lock()
	busy := len(a.batches) > 0 || len(a.toCommit) > 0
	for _, tr := range a.tables {
		busy = busy || tr.dirty || tr.queued
	}
	a.mu.Unlock()
	return !busy && h.activeJobs() == 0
}

// waitFor polls cond until it holds; on timeout it fails with the agent's
// view of its tables.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tables, _ := json.MarshalIndent(h.agent.Tables(), "", "  ")
			list, _ := h.local.List(h.ctx)
			h.t.Fatalf("timed out waiting until %s\ntables: %s\njobs: %+v", what, tables, list)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) metric(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

func (h *harness) noOverlap() {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.overlap) > 0 {
		h.t.Errorf("index and compaction jobs of one table ran at once: %v", h.overlap)
	}
}

// testPolicy is DefaultPolicy with compaction out of the way.
func testPolicy() Policy {
	p := DefaultPolicy()
	p.CompactMinFragments = 1000
	return p
}

// An index exists; appends pass the row threshold and the agent brings
// num_unindexed_rows back to 0. Then rows below the threshold are indexed
// once they have waited IndexMaxWait.
func TestAgentIndexesAppendedRows(t *testing.T) {
	p := testPolicy()
	p.IndexMinUnindexedRows, p.IndexMaxWait = 25, time.Hour
	h := newHarness(t, p, harnessOptions{})
	tbl := h.createIndexed("t")
	h.start()
	for i := range 3 {
		v := h.appendRows(tbl, 1000+10*i, 10)
		h.publish("t", v, events.OpInsert, 10)
	}
	h.waitFor("the appended rows are indexed", func() bool { return h.unindexed("t", tbl) == 0 })
	if n := h.metric(h.agent.m.launched.WithLabelValues("index")); n < 1 {
		t.Fatalf("index jobs launched: %v", n)
	}

	// Below the threshold: evaluated, left pending, nothing launched.
	v := h.appendRows(tbl, 2000, 10)
	h.publish("t", v, events.OpInsert, 10)
	h.waitFor("the agent sees the rows waiting", func() bool {
		for _, ti := range h.agent.Tables() {
			if ti.State != nil && ti.State.Version == v && ti.Decision != nil && len(ti.Decision.Pending) > 0 && !ti.Dirty {
				return true
			}
		}
		return false
	})
	launched := len(h.launcher.launches())
	if h.unindexed("t", tbl) != 10 {
		t.Fatalf("unindexed rows before the wait: %d", h.unindexed("t", tbl))
	}
	h.clock.Advance(time.Hour)
	h.waitFor("rows that waited IndexMaxWait are indexed", func() bool { return h.unindexed("t", tbl) == 0 })
	if got := h.launcher.launches(); len(got) != launched+1 || got[len(got)-1].Version != v || got[len(got)-1].Kind != jobs.KindIndex {
		t.Fatalf("launches after the wait: %v (had %d)", got, launched)
	}
}

// Many small appends: the agent compacts (fewer fragments, the same rows),
// then indexes the rewritten fragments, never both at once.
func TestAgentCompactsSmallFragments(t *testing.T) {
	p := DefaultPolicy()
	p.CompactMinFragments, p.CompactTargetRowsPerFragment, p.IndexMinUnindexedRows = 10, 10_000, 50
	h := newHarness(t, p, harnessOptions{maxRunning: 2})
	tbl := h.createIndexed("t")
	for i := range 12 {
		v := h.appendRows(tbl, 1000+10*i, 10)
		h.publish("t", v, events.OpInsert, 10)
	}
	before, err := tbl.Latest(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := ids(t, before)
	fragsBefore := len(before.Lance().Fragments())

	h.start()
	h.waitFor("compacted and indexed", func() bool {
		snap, err := tbl.Latest(h.ctx)
		return err == nil && len(snap.Lance().Fragments()) < fragsBefore && h.unindexed("t", tbl) == 0 && h.idle()
	})
	after, err := tbl.Latest(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(t, after); !slices.Equal(got, wantIDs) {
		t.Fatalf("rows after compaction differ: %d ids, want %d", len(got), len(wantIDs))
	}
	if n, err := after.Count(h.ctx, "id >= 1000"); err != nil || n != 120 {
		t.Fatalf("appended rows after compaction: %d, %v", n, err)
	}
	got := h.launcher.launches()
	if len(got) < 2 || got[0].Kind != jobs.KindCompact || got[0].Version != before.Version() {
		t.Fatalf("launches %v: want the compaction at version %d first", got, before.Version())
	}
	if n := h.metric(h.agent.m.launched.WithLabelValues("compact")); n != 1 {
		t.Fatalf("compactions launched: %v", n)
	}
	h.noOverlap()
}

func ids(t *testing.T, snap *table.Snapshot) []int64 {
	t.Helper()
	recs, _, err := snap.Collect(t.Context(), table.ScanOptions{Columns: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, r := range recs {
		out = append(out, r.Column(0).(*array.Int64).Int64Values()...)
		r.Release()
	}
	slices.Sort(out)
	return out
}

// The same events three times, out of order: one job for the one piece of
// work, and every event committed.
func TestAgentDuplicateEvents(t *testing.T) {
	p := testPolicy()
	p.IndexMinUnindexedRows = 30
	h := newHarness(t, p, harnessOptions{})
	tbl := h.createIndexed("t")
	for i := range 4 {
		h.appendRows(tbl, 1000+10*i, 10) // versions 2..5
	}
	for range 3 {
		for _, v := range []uint64{5, 3, 4, 5} {
			h.publish("t", v, events.OpInsert, 10)
		}
	}
	h.start()
	h.waitFor("indexed, every event processed", func() bool {
		return h.unindexed("t", tbl) == 0 && h.metric(h.agent.m.events.WithLabelValues("insert")) == 12 && h.idle()
	})
	// Once more, after the work is done.
	for _, v := range []uint64{5, 3} {
		h.publish("t", v, events.OpInsert, 10)
	}
	h.waitFor("the late duplicates processed", func() bool {
		return h.metric(h.agent.m.events.WithLabelValues("insert")) == 14 && h.idle()
	})
	got := h.launcher.launches()
	if len(got) != 1 || got[0].Kind != jobs.KindIndex || got[0].Version != 5 {
		t.Fatalf("launches %v: want one index job at version 5", got)
	}
	if list, _ := h.local.List(h.ctx); len(list) != 1 || list[0].State != jobs.StateSucceeded {
		t.Fatalf("launcher jobs %+v", list)
	}
	if n := h.metric(h.agent.m.launched.WithLabelValues("index")); n != 1 {
		t.Fatalf("index jobs launched (metric): %v", n)
	}
	h.waitFor("the jobs gauge shows the job", func() bool {
		return h.metric(h.agent.m.jobs.WithLabelValues("succeeded")) == 1 && h.metric(h.agent.m.jobs.WithLabelValues("running")) == 0
	})
	// The group's next consumer starts after the committed offset: it has
	// nothing to fetch.
	h.stop()
	ctx, cancel := context.WithTimeout(h.ctx, 50*time.Millisecond)
	defer cancel()
	next := h.mem.Source("agent")
	defer next.Close()
	if msgs, err := next.Fetch(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after the agent stopped: %v, %v; want nothing left uncommitted", msgs, err)
	}
}

// flakySource fails every Fetch while down, like a consumer whose brokers
// are unreachable.
type flakySource struct {
	events.Source
	mu   sync.Mutex
	down bool
}

func (s *flakySource) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

func (s *flakySource) Fetch(ctx context.Context) ([]events.Message, error) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return nil, errors.New("broker unreachable")
	}
	return s.Source.Fetch(ctx)
}

// The broker is down: writes go on, the reconcile indexes them meanwhile;
// when the broker is back, the events queued meanwhile are consumed and
// what they announce is indexed, with one job per version.
func TestAgentSourceDown(t *testing.T) {
	p := testPolicy()
	p.IndexMinUnindexedRows = 25
	h := newHarness(t, p, harnessOptions{})
	flaky := &flakySource{Source: h.src, down: true}
	h.agent.deps.Source = flaky
	h.agent.sourceRetry = 10 * time.Millisecond
	tbl := h.createIndexed("t")
	h.start()
	h.waitFor("fetch errors are counted", func() bool { return h.metric(h.agent.m.sourceErrors) > 0 })
	for i := range 3 {
		v := h.appendRows(tbl, 1000+10*i, 10)
		h.publish("t", v, events.OpInsert, 10)
	}
	if err := h.agent.Reconcile(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the reconcile's job indexed the rows", func() bool { return h.unindexed("t", tbl) == 0 })

	v := h.appendRows(tbl, 2000, 30)
	h.publish("t", v, events.OpInsert, 30)
	flaky.setDown(false)
	h.waitFor("the events are consumed and the rows indexed", func() bool {
		return h.metric(h.agent.m.events.WithLabelValues("insert")) == 4 && h.unindexed("t", tbl) == 0 && h.idle()
	})
	got := h.launcher.launches()
	if len(got) != 2 || got[0].Version != v-1 || got[1].Version != v {
		t.Fatalf("launches %v: want index jobs at versions %d and %d", got, v-1, v)
	}
}

// Without events, Reconcile finds the work; a failing launch is counted and
// retried; a dropped table is forgotten.
func TestReconcileWithoutEvents(t *testing.T) {
	p := testPolicy()
	p.IndexMinUnindexedRows = 25
	h := newHarness(t, p, harnessOptions{noSource: true, failFirst: 1})
	tbl := h.createIndexed("t")
	for i := range 3 {
		h.appendRows(tbl, 1000+10*i, 10)
	}
	h.createIndexed("other")

	err := h.agent.Reconcile(h.ctx)
	if err == nil || !strings.Contains(err.Error(), "launcher unavailable") {
		t.Fatalf("reconcile with a failing launcher: %v", err)
	}
	if n := h.metric(h.agent.m.evaluationErrors); n != 1 {
		t.Fatalf("evaluation errors: %v", n)
	}
	if err := h.agent.Reconcile(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.waitFor("indexed", func() bool { return h.unindexed("t", tbl) == 0 && h.activeJobs() == 0 })
	if err := h.agent.Reconcile(h.ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.launcher.launches(); len(got) != 1 || got[0].Table != "t" {
		t.Fatalf("launches %v: want one index job of t", got)
	}
	if n := h.metric(h.agent.m.tables); n != 2 {
		t.Fatalf("tracked tables: %v", n)
	}

	if err := h.db.DropTable(h.ctx, catalog.Ident{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	if err := h.agent.Reconcile(h.ctx); err != nil {
		t.Fatal(err)
	}
	if tables := h.agent.Tables(); len(tables) != 1 || tables[0].Table != "t" {
		t.Fatalf("tables after the drop: %+v", tables)
	}
	if n := h.metric(h.agent.m.reconciles); n != 4 {
		t.Fatalf("reconciles: %v", n)
	}
}

// Drop and rename events make the agent forget the old name (and look at
// the new one); events of tables that do not exist are nothing to do.
func TestAgentDropRenameEvents(t *testing.T) {
	p := testPolicy()
	p.IndexMinUnindexedRows = 25
	h := newHarness(t, p, harnessOptions{})
	tbl := h.createIndexed("t")
	h.appendRows(tbl, 1000, 10)
	h.start()
	h.publish("t", 2, events.OpInsert, 10)
	h.waitFor("t is tracked with unindexed rows", func() bool {
		h.agent.mu.Lock()
		defer h.agent.mu.Unlock()
		tr := h.agent.tables[tableKey{"db", "t"}]
		return tr != nil && !tr.unindexedSince["vec_idx"].IsZero()
	})
	if err := h.db.RenameTable(h.ctx, catalog.Ident{Name: "t"}, catalog.Ident{Name: "u"}); err != nil {
		t.Fatal(err)
	}
	err := h.sink.Publish(h.ctx,
		events.Event{Database: "db", Table: "t", NewTable: "u", Version: 2, Operation: events.OpRenameTable, Time: h.clock.Now()},
		events.Event{Database: "db", Table: "missing", Version: 9, Operation: "a_future_operation", Time: h.clock.Now()},
		events.Event{Database: "db", Table: "bad/name", Version: 1, Operation: events.OpInsert, Time: h.clock.Now()},
	)
	if err != nil {
		t.Fatal(err)
	}
	h.waitFor("the rename is processed", func() bool {
		tables := h.agent.Tables()
		return len(tables) == 1 && tables[0].Table == "u" && tables[0].State != nil && h.idle()
	})
	if n := h.metric(h.agent.m.events.WithLabelValues("other")); n != 1 {
		t.Fatalf("events of unknown operations: %v", n)
	}
	if n := h.metric(h.agent.m.evaluationErrors); n != 0 {
		t.Fatalf("evaluation errors: %v", n)
	}
}

// The admin endpoints return the launcher's jobs and the tracked tables as
// JSON.
func TestAdminEndpoint(t *testing.T) {
	p := testPolicy()
	p.IndexMinUnindexedRows = 25
	h := newHarness(t, p, harnessOptions{noSource: true})
	tbl := h.createIndexed("t")
	for i := range 3 {
		h.appendRows(tbl, 1000+10*i, 10)
	}
	if err := h.agent.Reconcile(h.ctx); err != nil {
		t.Fatal(err)
	}
	h.waitFor("indexed", func() bool { return h.unindexed("t", tbl) == 0 && h.activeJobs() == 0 })
	srv := httptest.NewServer(h.agent.Handler())
	defer srv.Close()

	var js struct{ Jobs []jobs.Status }
	get(t, srv.URL+"/v1/agent/jobs", &js)
	want := jobs.Spec{Kind: jobs.KindIndex, Database: "db", Table: "t", Version: 4, Index: "vec_idx"}
	if len(js.Jobs) != 1 || js.Jobs[0].Spec != want || js.Jobs[0].Name != want.Name() || js.Jobs[0].State != jobs.StateSucceeded {
		t.Fatalf("jobs: %+v", js.Jobs)
	}
	var ts struct{ Tables []TableInfo }
	get(t, srv.URL+"/v1/agent/tables", &ts)
	if len(ts.Tables) != 1 || ts.Tables[0].Table != "t" || ts.Tables[0].State == nil || ts.Tables[0].State.Version != 4 ||
		len(ts.Tables[0].Launched) != 1 || ts.Tables[0].Decision == nil || len(ts.Tables[0].State.Indexes) != 1 {
		t.Fatalf("tables: %+v", ts.Tables)
	}
	resp, err := http.Post(srv.URL+"/v1/agent/jobs", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %s", resp.Status)
	}
}

func get(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %s %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func TestNewChecksDeps(t *testing.T) {
	for _, tc := range []struct {
		deps Deps
		want string
	}{
		{Deps{}, "launcher"},
		{Deps{Launcher: &countingLauncher{}}, "catalog"},
		{Deps{Launcher: &countingLauncher{}, Catalog: &catalog.Catalog{}}, "index manager"},
	} {
		if _, err := New(Config{Policy: DefaultPolicy()}, tc.deps); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): %v, want an error about the %s", tc.deps, err, tc.want)
		}
	}
	if _, err := New(Config{}, Deps{}); err == nil || !strings.Contains(err.Error(), "agent policy") {
		t.Errorf("New with a zero policy: %v", err)
	}
}
