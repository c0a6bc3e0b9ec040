package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/sarissa-db/sarissa/internal/query"
	"github.com/sarissa-db/sarissa/internal/table"
)

// FleetConfig tunes a Fleet. Zero values select defaults.
type FleetConfig struct {
	// Replicas is the replication factor R: every unit has R executors
	// that keep it warm and take turns serving it (default 2).
	Replicas int
	// HedgeAfter starts a part again on another executor when the first
	// has not answered after this long, and takes whichever answers
	// first (default 0: never; a failure always fails over).
	HedgeAfter time.Duration
	// DownFor is how long an executor that failed is passed over by new
	// queries before it is tried again (default 5s).
	DownFor time.Duration
	// MaxMessageBytes is the largest result message accepted (default
	// DefaultMaxMessageBytes; executors slice batches below it).
	MaxMessageBytes int
}

// FleetDeps are a Fleet's collaborators.
type FleetDeps struct {
	// Members lists the executors (required).
	Members    Members
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Allocator  memory.Allocator
	Now        func() time.Time
	// DialOptions are added to every connection (tests, TLS).
	DialOptions []grpc.DialOption
}

// Fleet runs query tasks on plan executors; it implements query.Fleet.
type Fleet struct {
	cfg  FleetConfig
	deps FleetDeps
	turn atomic.Uint64

	mu    sync.Mutex
	conns map[string]*conn
	down  map[string]time.Time // executor → passed over until

	parts, failovers, hedges *prometheus.CounterVec
	latency                  *prometheus.HistogramVec
}

type conn struct {
	cc     *grpc.ClientConn
	client flight.Client
}

var _ query.Fleet = (*Fleet)(nil)

// NewFleet returns a fleet over deps.Members. Connections open lazily.
func NewFleet(cfg FleetConfig, deps FleetDeps) (*Fleet, error) {
	if deps.Members == nil {
		return nil, errors.New("executor fleet: members are required")
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 2
	}
	if cfg.DownFor <= 0 {
		cfg.DownFor = 5 * time.Second
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	if deps.Allocator == nil {
		deps.Allocator = memory.DefaultAllocator
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	f := promauto.With(deps.Registerer)
	return &Fleet{
		cfg: cfg, deps: deps,
		conns: map[string]*conn{}, down: map[string]time.Time{},
		parts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sarissa_fleet_parts_total",
			Help: "Task parts sent to executors, by executor and outcome (ok, invalid, not_found, canceled, error).",
		}, []string{"executor", "outcome"}),
		failovers: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sarissa_fleet_failovers_total",
			Help: "Task parts run again elsewhere because an executor failed, by the executor that failed.",
		}, []string{"executor"}),
		hedges: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sarissa_fleet_hedges_total",
			Help: "Task parts started a second time because an executor was slow, by the slow executor.",
		}, []string{"executor"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sarissa_fleet_part_seconds",
			Help:    "Time for an executor to answer a task part, by executor.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"executor"}),
	}, nil
}

// Close closes every connection.
func (f *Fleet) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for addr, c := range f.conns {
		errs = append(errs, c.cc.Close())
		delete(f.conns, addr)
	}
	return errors.Join(errs...)
}

// Run implements query.Fleet.
func (f *Fleet) Run(ctx context.Context, tgt query.Target, _ *table.Snapshot, t query.Task) ([]*query.Result, error) {
	nodes := f.deps.Members.Nodes()
	if len(nodes) == 0 {
		return nil, errors.New("no plan executors are known")
	}
	units := t.Units()
	r := &run{f: f, tgt: tgt, task: t, turn: int(f.turn.Add(1)), failed: map[string]error{}}
	r.owners = make([][]string, len(units))
	for i, u := range units {
		r.owners[i] = Owners(nodes, tgt.URI+"\x00"+u.Key)
	}
	r.units = units
	idx := make([]int, len(units))
	for i := range idx {
		idx[i] = i
	}
	if err := r.runUnits(ctx, idx); err != nil {
		r.release()
		return nil, err
	}
	return r.results, nil
}

// run is one Fleet.Run: the units, their owners, and the executors that
// failed during it.
type run struct {
	f      *Fleet
	tgt    query.Target
	task   query.Task
	units  []query.Unit
	owners [][]string
	turn   int

	mu      sync.Mutex
	failed  map[string]error // executors that failed during this run
	results []*query.Result
}

func (r *run) excluded(node string) bool {
	r.mu.Lock()
	_, failed := r.failed[node]
	r.mu.Unlock()
	return failed || r.f.isDown(node)
}

// runUnits runs the given units, one part per executor, failing parts
// over until every unit was answered or no executor is left.
func (r *run) runUnits(ctx context.Context, idx []int) error {
	groups := map[string][]int{}
	var order []string
	for _, i := range idx {
		node := pick(r.owners[i], r.f.cfg.Replicas, r.turn, r.excluded)
		if node == "" {
			// Every executor is down or failed this run: try the down ones
			// once more rather than fail (they may be back).
			node = pick(r.owners[i], r.f.cfg.Replicas, r.turn, r.failedThisRun)
		}
		if node == "" {
			return r.noneLeft()
		}
		if _, ok := groups[node]; !ok {
			order = append(order, node)
		}
		groups[node] = append(groups[node], i)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, node := range order {
		part := groups[node]
		g.Go(func() error {
			res, err := r.runPart(gctx, node, part)
			if err == nil {
				r.mu.Lock()
				r.results = append(r.results, res)
				r.mu.Unlock()
				return nil
			}
			if !retryable(gctx, err) {
				return err
			}
			r.mu.Lock()
			r.failed[node] = err
			r.mu.Unlock()
			r.f.markDown(node, err)
			r.f.failovers.WithLabelValues(node).Inc()
			return r.runUnits(gctx, part)
		})
	}
	return g.Wait()
}

func (r *run) failedThisRun(node string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.failed[node]
	return ok
}

func (r *run) noneLeft() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	errs := make([]error, 0, len(r.failed))
	for _, err := range r.failed {
		errs = append(errs, err)
	}
	return fmt.Errorf("no plan executor could run the task: %w", errors.Join(errs...))
}

func (r *run) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, res := range r.results {
		res.Release()
	}
	r.results = nil
}

// runPart sends the units idx to node; with hedging, a part node is slow
// to answer also goes to another executor, and the first answer wins.
func (r *run) runPart(ctx context.Context, node string, idx []int) (*query.Result, error) {
	units := make([]query.Unit, len(idx))
	for j, i := range idx {
		units[j] = r.units[i]
	}
	tk, err := json.Marshal(ticket{V: ticketVersion, Database: r.tgt.Database, Table: r.tgt.Table, Version: r.tgt.Version, Task: r.task.Subset(units)})
	if err != nil {
		return nil, fmt.Errorf("encode task: %w", err)
	}
	if r.f.cfg.HedgeAfter <= 0 {
		return r.f.call(ctx, node, tk)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		res *query.Result
		err error
	}
	answers := make(chan answer, 2)
	launch := func(node string) {
		go func() {
			res, err := r.f.call(ctx, node, tk)
			answers <- answer{res, err}
		}()
	}
	launch(node)
	pending := 1
	timer := time.NewTimer(r.f.cfg.HedgeAfter)
	defer timer.Stop()
	var first error
	for pending > 0 {
		select {
		case <-timer.C:
			// The slow executor stays in use for other parts; only this
			// part gets a second chance elsewhere.
			alt := pick(r.owners[idx[0]], r.f.cfg.Replicas, r.turn, func(n string) bool { return n == node || r.excluded(n) })
			if alt != "" {
				r.f.hedges.WithLabelValues(node).Inc()
				launch(alt)
				pending++
			}
		case a := <-answers:
			pending--
			if a.err == nil {
				if pending > 0 {
					cancel()
					go func() { // release the loser's answer when it comes
						if late := <-answers; late.res != nil {
							late.res.Release()
						}
					}()
				}
				return a.res, nil
			}
			if first == nil {
				first = a.err
			}
			if !retryable(ctx, a.err) {
				return nil, a.err
			}
		}
	}
	return nil, first
}

// call runs one ticket on node and reads the whole result.
func (f *Fleet) call(ctx context.Context, node string, tk []byte) (*query.Result, error) {
	start := f.deps.Now()
	res, err := f.doGet(ctx, node, tk)
	f.latency.WithLabelValues(node).Observe(f.deps.Now().Sub(start).Seconds())
	if err != nil {
		err = fromStatus(node, err)
	}
	f.parts.WithLabelValues(node, outcome(statusOf(err))).Inc()
	return res, err
}

func (f *Fleet) doGet(ctx context.Context, node string, tk []byte) (*query.Result, error) {
	c, err := f.conn(node)
	if err != nil {
		return nil, err
	}
	stream, err := c.client.DoGet(ctx, &flight.Ticket{Ticket: tk})
	if err != nil {
		return nil, err
	}
	rdr, err := flight.NewRecordReader(stream, ipc.WithAllocator(f.deps.Allocator))
	if err != nil {
		return nil, err
	}
	defer rdr.Release()
	res := &query.Result{Schema: rdr.Schema()}
	// Slices of one result batch carry its index as app metadata; put
	// them back together.
	var slices []arrow.RecordBatch
	cur := -1
	flush := func() error {
		if len(slices) == 0 {
			return nil
		}
		rec, err := query.ConcatBatches(f.deps.Allocator, slices)
		for _, s := range slices {
			s.Release()
		}
		slices = slices[:0]
		if err != nil {
			return err
		}
		res.Batches = append(res.Batches, rec)
		return nil
	}
	for rdr.Next() {
		i, err := strconv.Atoi(string(rdr.LatestAppMetadata()))
		if err != nil {
			res.Release()
			return nil, fmt.Errorf("result message without a batch index: %q", rdr.LatestAppMetadata())
		}
		if i != cur {
			if err := flush(); err != nil {
				res.Release()
				return nil, err
			}
			cur = i
		}
		rec := rdr.RecordBatch()
		rec.Retain()
		slices = append(slices, rec)
	}
	if err := rdr.Err(); err != nil && !errors.Is(err, io.EOF) {
		for _, s := range slices {
			s.Release()
		}
		res.Release()
		return nil, err
	}
	if err := flush(); err != nil {
		res.Release()
		return nil, err
	}
	return res, nil
}

func (f *Fleet) conn(node string) (*conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.conns[node]; ok {
		return c, nil
	}
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(f.cfg.MaxMessageBytes + 1<<20)),
		// Notice a dead executor in seconds, and reconnect to a restarted
		// one quickly (gRPC's default backoff grows to two minutes).
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
			MinConnectTimeout: 3 * time.Second,
		}),
	}, f.deps.DialOptions...)
	cc, err := grpc.NewClient(node, opts...)
	if err != nil {
		return nil, fmt.Errorf("executor %s: %w", node, err)
	}
	c := &conn{cc: cc, client: flight.NewClientFromConn(cc, nil)}
	f.conns[node] = c
	return c, nil
}

func (f *Fleet) isDown(node string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	until, ok := f.down[node]
	if ok && !f.deps.Now().Before(until) {
		delete(f.down, node)
		return false
	}
	return ok
}

func (f *Fleet) markDown(node string, err error) {
	f.mu.Lock()
	_, was := f.down[node]
	f.down[node] = f.deps.Now().Add(f.cfg.DownFor)
	f.mu.Unlock()
	if !was {
		f.deps.Logger.Warn("executor failed; passing it over", "executor", node, "for", f.cfg.DownFor, "err", err)
	}
}
