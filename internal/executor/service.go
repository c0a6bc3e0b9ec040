// Package executor is the plan executors' side of the distributed mode and
// the query node's client of them.
//
// A plan executor serves Arrow Flight over gRPC: DoGet takes a ticket
// naming a table version and a query task (query.Task), opens the table
// through its own catalog — the same storage configuration as the query
// node, with reads going through the executor's caches — runs the task
// (query.RunTask) and streams the result batches back. Executors hold no
// state beyond caches.
//
// Fleet is the query node's query.Fleet over a set of executors: it places
// every unit of a task (a fragment, an index partition) by rendezvous
// hashing over (table, unit), sends each executor one part with its units,
// and runs a part again on the unit's replica when an executor fails or is
// slow, so a client sees a result, not an error.
package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/query"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

// ticketVersion is the version of the ticket encoding; an executor refuses
// tickets of other versions (a mixed-version fleet during an upgrade then
// fails over to executors that speak the query node's version).
const ticketVersion = 1

// ticket is the Flight ticket of one task part.
type ticket struct {
	V        int        `json:"v"`
	Database string     `json:"database"`
	Table    string     `json:"table"`
	Version  uint64     `json:"version"`
	Task     query.Task `json:"task"`
}

// DefaultMaxMessageBytes bounds one Flight message: result batches are
// sliced to stay below it, and both ends accept messages this large.
const DefaultMaxMessageBytes = 16 << 20

// ServiceConfig tunes a Service.
type ServiceConfig struct {
	// Parallelism is the number of goroutines one task scans with
	// (0: GOMAXPROCS).
	Parallelism int
	// MaxMessageBytes bounds one message of a result stream (default
	// DefaultMaxMessageBytes).
	MaxMessageBytes int
}

// ServiceDeps are a Service's collaborators.
type ServiceDeps struct {
	// Catalog opens tables (required). Its buckets are where the executor's
	// block cache sits.
	Catalog *catalog.Catalog
	// Cache holds decoded columns across tasks (nil: none).
	Cache *query.Cache
	// Indexes opens index files and caches their partitions (nil: tasks
	// with index partitions are refused).
	Indexes    *vindex.Manager
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Allocator  memory.Allocator
	Now        func() time.Time
}

// Service is a plan executor's Flight service.
type Service struct {
	flight.BaseFlightServer
	cfg  ServiceConfig
	deps ServiceDeps

	tasks    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewService returns the service; Register puts it on a gRPC server.
func NewService(cfg ServiceConfig, deps ServiceDeps) (*Service, error) {
	if deps.Catalog == nil {
		return nil, errors.New("executor: a catalog is required")
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
	return &Service{
		cfg: cfg, deps: deps,
		tasks: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sarissa_executor_tasks_total",
			Help: "Query tasks this executor ran, by kind and outcome (ok, invalid, not_found, canceled, error).",
		}, []string{"kind", "outcome"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sarissa_executor_task_seconds",
			Help:    "Time to run a query task and stream its result, by kind.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"kind"}),
	}, nil
}

// ServerOptions are the gRPC server options a Service needs (message
// sizes that fit its result messages).
func (s *Service) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.cfg.MaxMessageBytes + 1<<20),
		grpc.MaxSendMsgSize(s.cfg.MaxMessageBytes + 1<<20),
	}
}

// Register registers the Flight service and the standard gRPC health
// service on g.
func (s *Service) Register(g *grpc.Server) {
	flight.RegisterFlightServiceServer(g, s)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(g, hs)
}

// DoGet runs the task of the ticket and streams its result.
func (s *Service) DoGet(tkt *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	ctx := stream.Context()
	start := s.deps.Now()
	var tk ticket
	if err := json.Unmarshal(tkt.GetTicket(), &tk); err != nil {
		s.tasks.WithLabelValues("unknown", "invalid").Inc()
		return status.Errorf(codes.InvalidArgument, "executor: bad ticket: %v", err)
	}
	kind := tk.Task.Kind.String()
	err := s.run(ctx, tk, stream)
	s.duration.WithLabelValues(kind).Observe(s.deps.Now().Sub(start).Seconds())
	st := toStatus(ctx, err)
	s.tasks.WithLabelValues(kind, outcome(st)).Inc()
	if err != nil && status.Code(st) != codes.InvalidArgument && status.Code(st) != codes.Canceled {
		s.deps.Logger.Warn("task failed", "database", tk.Database, "table", tk.Table, "version", tk.Version, "kind", kind, "err", err)
	}
	return st
}

func (s *Service) run(ctx context.Context, tk ticket, stream flight.FlightService_DoGetServer) error {
	if tk.V != ticketVersion {
		return fmt.Errorf("%w: ticket version %d, this executor speaks %d", query.ErrInvalidRequest, tk.V, ticketVersion)
	}
	db, err := s.deps.Catalog.Database(ctx, tk.Database)
	if err != nil {
		return err
	}
	id, err := catalog.ParseTableID(tk.Table, "")
	if err != nil {
		return fmt.Errorf("%w: %w", query.ErrInvalidRequest, err)
	}
	t, err := db.OpenTable(ctx, id)
	if err != nil {
		return err
	}
	snap, err := t.Checkout(ctx, tk.Version)
	if err != nil {
		return fmt.Errorf("check out %s version %d: %w", tk.Table, tk.Version, err)
	}
	uri := db.TableURI(id)
	res, err := query.RunTask(ctx, snap, tk.Task, query.Options{
		Cache:       s.deps.Cache,
		TableURI:    uri,
		Parallelism: s.cfg.Parallelism,
		Allocator:   s.deps.Allocator,
		Indexes:     s.deps.Indexes,
		Table:       vindex.TableRef{Table: t, URI: uri, Name: id.String()},
	})
	if err != nil {
		return err
	}
	defer res.Release()
	w := flight.NewRecordWriter(stream, ipc.WithSchema(res.Schema), ipc.WithAllocator(s.deps.Allocator))
	for i, b := range res.Batches {
		if err := writeSliced(w, b, i, s.cfg.MaxMessageBytes); err != nil {
			w.Close()
			return fmt.Errorf("send result: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("send result: %w", err)
	}
	return nil
}

// writeSliced writes result batch i in slices of at most about maxBytes
// each. Every message carries i as its app metadata, so the reader puts
// the slices of one batch back together: batch boundaries carry meaning
// (a search task answers with one batch per query vector, an empty one
// included).
func writeSliced(w *flight.Writer, rec arrow.RecordBatch, i, maxBytes int) error {
	meta := []byte(strconv.Itoa(i))
	n := rec.NumRows()
	size := batchBytes(rec)
	if n <= 1 || size <= int64(maxBytes) {
		return w.WriteWithAppMetadata(rec, meta)
	}
	step := max(int64(1), n*int64(maxBytes)/size)
	for off := int64(0); off < n; off += step {
		part := rec.NewSlice(off, min(off+step, n))
		err := w.WriteWithAppMetadata(part, meta)
		part.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// batchBytes is the size of rec's buffers.
func batchBytes(rec arrow.RecordBatch) int64 {
	var n int64
	var walk func(d arrow.ArrayData)
	walk = func(d arrow.ArrayData) {
		for _, b := range d.Buffers() {
			if b != nil {
				n += int64(b.Len())
			}
		}
		for _, c := range d.Children() {
			walk(c)
		}
	}
	for _, c := range rec.Columns() {
		walk(c.Data())
	}
	return n
}
