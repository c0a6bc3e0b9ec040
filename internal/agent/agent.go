// Package agent is the Lance Agent: it consumes write events, evaluates the
// tables they name, and launches maintenance jobs (index, compaction,
// cleanup) through a jobs.Launcher.
//
// The decisions are a pure function of (table state, the launcher's jobs,
// policy): Decide in decide.go, tested by the transcripts in
// testdata/decide. Around it, agent_eval.go loads a table's state (the
// edge: the catalog, the index manager, the table's manifests) and
// launches what Decide returns; agent.go and agent_events.go are the loop:
// events mark tables dirty, a dirty table is evaluated after Config.Settle
// (a burst of writes is one evaluation), tables are evaluated again when a
// decision asked for it (unindexed rows that will have waited
// IndexMaxWait), when one of their jobs finishes, and at every reconcile,
// which scans the whole catalog so that a lost event only delays work.
//
// Event offsets are committed once every table an event names has been
// evaluated after the event arrived: delivery is at least once, and a
// duplicate event is at worst one more evaluation, since the same decision
// yields the same job name and launching a known name is a no-op.
//
// The agent keeps no durable state. What it remembers (when unindexed rows
// appeared, when a table was last cleaned up, the latest decision) is lost
// at a restart and re-derived: docs/agent.md says how.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/jobs"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

const (
	// fetchWait bounds one Fetch, so that the consuming goroutine, which
	// alone talks to the Source, commits offsets at least this often.
	fetchWait = time.Second
	// errorRetry is when a table whose evaluation failed is tried again
	// (capped by the reconcile interval).
	errorRetry = 30 * time.Second
	// defaultSourceRetry is the pause after a failed Fetch (the broker is
	// down: writes go on, and the reconcile finds the work).
	defaultSourceRetry = 5 * time.Second
	// commitTimeout bounds the last commit at shutdown.
	commitTimeout = 5 * time.Second
)

// Deps are the agent's collaborators.
type Deps struct {
	// Source delivers write events; nil: no events, reconcile only.
	Source events.Source
	// Launcher starts jobs (required).
	Launcher jobs.Launcher
	// Catalog lists and opens tables (required).
	Catalog *catalog.Catalog
	// Indexes reads index coverage (required).
	Indexes *vindex.Manager
	Logger  *slog.Logger
	// Registerer receives the metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Now is the clock of decisions (default time.Now). The loop's timers
	// are wake-up hints: due work is found by this clock at the next wake,
	// at the latest after Config.PollInterval.
	Now func() time.Time
}

// Agent is the Lance Agent. Run drives it; Reconcile and Handler may be used
// concurrently with Run.
type Agent struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	now     func() time.Time
	m       *metrics
	running atomic.Bool
	// reconciling keeps Run from starting a reconcile while one runs.
	reconciling atomic.Bool
	// batchCh carries fetched messages to the loop; wake tells the loop to
	// look at the tables again (an evaluation finished).
	batchCh chan []events.Message
	wake    chan struct{}
	// sourceRetry is the pause after a failed Fetch (tests shorten it).
	sourceRetry time.Duration

	mu     sync.Mutex
	tables map[tableKey]*tracked
	// seq numbers event batches; batches are those fetched and not yet
	// handed over for commit, oldest first; toCommit is the newest
	// message per partition ready to be committed.
	seq      uint64
	batches  []*batch
	toCommit map[int32]events.Message
	// interruptFetch ends the consumer's current Fetch, so that offsets
	// ready to commit are committed now rather than after fetchWait.
	interruptFetch context.CancelFunc
	jobs           jobCache
}

type tableKey struct{ Database, Table string }

// tracked is what the agent remembers about one table. Fields after evalMu
// are guarded by Agent.mu.
type tracked struct {
	key tableKey
	// evalMu serializes evaluations of the table (the loop's and a
	// Reconcile's).
	evalMu sync.Mutex

	dirty  bool      // an event arrived since the last evaluation started
	dueAt  time.Time // when dirty: evaluate then (first event + Settle)
	queued bool      // handed to a loop worker
	// firstWrite is the time of the earliest event since the last
	// evaluation started (when its rows appeared, for UnindexedSince).
	firstWrite time.Time
	// markedSeq is the newest batch naming the table; coveredSeq the
	// newest batch an evaluation that started after it finished.
	markedSeq, coveredSeq uint64
	lastSeen              time.Time // last event or listing
	nextCheck             time.Time // requested by the last decision

	unindexedSince   map[string]time.Time
	lastCleanup      time.Time
	cleanupNotBefore time.Time

	// For the admin endpoint.
	state     *TableState
	decision  *Decision
	launched  []jobs.Spec
	evaluated time.Time
	err       string
}

type batch struct {
	seq    uint64
	msgs   []events.Message
	tables []tableKey
}

// New checks cfg and deps and returns an agent.
func New(cfg Config, deps Deps) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	switch {
	case deps.Launcher == nil:
		return nil, errors.New("agent: a launcher is required")
	case deps.Catalog == nil:
		return nil, errors.New("agent: a catalog is required")
	case deps.Indexes == nil:
		return nil, errors.New("agent: an index manager is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Agent{
		cfg: cfg, deps: deps, log: deps.Logger.With("component", "agent"), now: deps.Now,
		m:           newMetrics(deps.Registerer),
		batchCh:     make(chan []events.Message),
		wake:        make(chan struct{}, 1),
		sourceRetry: defaultSourceRetry,
		tables:      map[tableKey]*tracked{}, toCommit: map[int32]events.Message{},
		jobs: jobCache{overlay: map[string]overlayJob{}},
	}, nil
}

// Run consumes events, evaluates tables and reconciles until ctx ends, then
// commits what was evaluated and returns nil. It starts with a reconcile,
// which catches up on work missed while no agent ran.
func (a *Agent) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("agent: already running")
	}
	defer a.running.Store(false)
	var bg sync.WaitGroup
	workersDone := make(chan struct{})
	defer func() {
		// The consumer's last commit waits for the workers, so that it
		// covers every evaluation that finished.
		close(workersDone)
		bg.Wait()
	}()
	if a.deps.Source != nil {
		bg.Go(func() { a.consume(ctx, workersDone) })
	}
	bg.Go(func() { a.reconcileLoop(ctx) })

	var workers sync.WaitGroup
	defer workers.Wait()
	inflight := 0
	done := make(chan struct{}, a.cfg.Parallelism)
	poll := time.NewTicker(a.cfg.PollInterval)
	defer poll.Stop()
	timer := time.NewTimer(a.cfg.PollInterval)
	defer timer.Stop()
	a.refreshJobs(ctx)
	for {
		for _, tr := range a.dueTables(a.cfg.Parallelism - inflight) {
			inflight++
			workers.Go(func() {
				_ = a.evaluate(ctx, tr) // logged and counted there
				a.mu.Lock()
				tr.queued = false
				a.mu.Unlock()
				done <- struct{}{}
			})
		}
		// Due tables left over wait for a worker (done wakes the loop).
		wait := a.cfg.PollInterval
		if inflight < a.cfg.Parallelism {
			wait = a.untilDue()
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case msgs := <-a.batchCh:
			a.noteEvents(msgs)
		case <-done:
			inflight--
		case <-a.wake:
		case <-poll.C:
			a.refreshJobs(ctx)
		case <-timer.C:
		}
	}
}

// reconcileLoop reconciles at once and then every ReconcileInterval.
func (a *Agent) reconcileLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		if a.reconciling.CompareAndSwap(false, true) {
			// Tables that failed were logged one by one; only a listing
			// that failed is news here.
			if err := a.Reconcile(ctx); errors.Is(err, errListTables) && ctx.Err() == nil {
				a.log.Warn("reconcile", "err", err)
			}
			a.reconciling.Store(false)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// errListTables marks a reconcile that could not list the tables.
var errListTables = errors.New("list tables")

// Reconcile lists every table of the catalog and evaluates each now,
// Config.Parallelism at a time. Tables the listing no longer shows (and no
// event named since it began) are forgotten. It returns the listing's error,
// or the evaluations' errors joined (each is also logged and counted, and
// its table retried later).
func (a *Agent) Reconcile(ctx context.Context) error {
	start := a.now()
	names, err := a.deps.Catalog.AllTables(ctx)
	if err != nil {
		a.m.reconcileErrors.Inc()
		return fmt.Errorf("agent: reconcile: %w: %w", errListTables, err)
	}
	a.m.reconciles.Inc()
	listed := make([]*tracked, 0, len(names))
	a.mu.Lock()
	seen := make(map[tableKey]bool, len(names))
	for _, n := range names {
		k := tableKey{n.Database, n.ID.String()}
		seen[k] = true
		tr := a.trackLocked(k)
		tr.lastSeen = laterOf(tr.lastSeen, start)
		listed = append(listed, tr)
	}
	for k, tr := range a.tables {
		if !seen[k] && tr.lastSeen.Before(start) && !tr.dirty && !tr.queued {
			a.forgetLocked(k)
		}
	}
	a.advanceCommitsLocked()
	a.mu.Unlock()
	a.refreshJobs(ctx)

	var mu sync.Mutex
	var errs []error
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.cfg.Parallelism)
	for _, tr := range listed {
		g.Go(func() error {
			if err := a.evaluate(gctx, tr); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines return nil; errors are collected
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("agent: reconcile: %w", err)
	}
	return errors.Join(errs...)
}

// trackLocked returns the table's record, creating it.
func (a *Agent) trackLocked(k tableKey) *tracked {
	tr := a.tables[k]
	if tr == nil {
		tr = &tracked{key: k, unindexedSince: map[string]time.Time{}}
		a.tables[k] = tr
		a.m.tables.Set(float64(len(a.tables)))
	}
	return tr
}

// forgetLocked drops everything the agent remembers about a table.
func (a *Agent) forgetLocked(k tableKey) {
	if _, ok := a.tables[k]; ok {
		delete(a.tables, k)
		a.m.tables.Set(float64(len(a.tables)))
	}
}

// dueTables claims up to n tables that are due (dirty and settled, or at
// their next check), earliest first.
func (a *Agent) dueTables(n int) []*tracked {
	if n <= 0 {
		return nil
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	type dueTable struct {
		tr *tracked
		at time.Time
	}
	var due []dueTable
	for _, tr := range a.tables {
		if at, ok := tr.due(); ok && !tr.queued && !now.Before(at) {
			due = append(due, dueTable{tr, at})
		}
	}
	slices.SortFunc(due, func(x, y dueTable) int { return x.at.Compare(y.at) })
	out := make([]*tracked, 0, min(n, len(due)))
	for _, d := range due[:min(n, len(due))] {
		d.tr.queued = true
		out = append(out, d.tr)
	}
	return out
}

// due is when the table should be evaluated next; ok is false when
// nothing is scheduled (until an event, a finished job or a reconcile).
// Guarded by Agent.mu.
func (tr *tracked) due() (t time.Time, ok bool) {
	if tr.dirty {
		t, ok = tr.dueAt, true
	}
	if !tr.nextCheck.IsZero() && (!ok || tr.nextCheck.Before(t)) {
		t, ok = tr.nextCheck, true
	}
	return t, ok
}

// untilDue is how long the loop may sleep: until the earliest due table,
// at most PollInterval (the poll wakes it anyway).
func (a *Agent) untilDue() time.Duration {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	wait := a.cfg.PollInterval
	for _, tr := range a.tables {
		if at, ok := tr.due(); ok && !tr.queued {
			wait = min(wait, max(at.Sub(now), 0))
		}
	}
	return wait
}

// signal wakes the loop without blocking.
func (a *Agent) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}
