package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"google.golang.org/grpc"

	"github.com/sarissa-db/sarissa/internal/agent"
	"github.com/sarissa-db/sarissa/internal/api"
	"github.com/sarissa-db/sarissa/internal/blockcache"
	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/executor"
	"github.com/sarissa-db/sarissa/internal/jobs"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/query"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

// node is one running process: the configuration and every part the
// target's modules built.
type node struct {
	cfg     Config
	logger  *slog.Logger
	stdout  io.Writer
	now     func() time.Time
	dataDir string // absolute

	reg        *prometheus.Registry
	blockMem   *blockcache.MemoryTier // nil: no block cache
	blockDisk  *blockcache.DiskTier
	catalog    *catalog.Catalog
	indexes    *vindex.Manager
	spillDir   string // this process's own directory under index_spill_dir
	queryCache *query.Cache

	bus       *events.Memory    // the in-process event transport (--target all)
	sink      events.Sink       // owned; nil without events
	publisher *events.Publisher // in front of sink
	fleet     *executor.Fleet   // --target query
	members   *executor.DNSMembers

	flightLn net.Listener
	flight   *grpc.Server

	launcher jobs.Launcher
	agent    *agent.Agent

	api     http.Handler
	handler http.Handler // what the HTTP listener serves
	ln      net.Listener
	srv     *http.Server
	closers []func()
}

// publish is the write-event hook (nil without events).
func (n *node) publish() func(events.Event) {
	if n.publisher == nil {
		return nil
	}
	return n.publisher.Publish
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := command{
		name:     "serve",
		synopsis: "[flags]",
		summary: "Run the Sarissa server. With --target all (the default) every role runs in this\n" +
			"process and serves any database name the client asks for, stored under --data-dir.",
		bind: func(fs *flag.FlagSet, cfg *Config) { cfg.RegisterFlags(fs) },
	}
	cfg, pos, err := cmd.parse(args, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("serve takes no arguments, got %q", pos)
	}
	n := &node{cfg: cfg, logger: newLogger(cfg, stderr), stdout: stdout, now: time.Now}
	return n.run(ctx)
}

// run builds the target's modules in dependency order and runs their
// services until ctx is cancelled or one of them fails.
func (n *node) run(ctx context.Context) error {
	graph := moduleGraph()
	order, err := resolve(graph, n.cfg.Target)
	if err != nil {
		return err
	}
	defer n.close()
	var services []func(context.Context, *node) error
	for _, name := range order {
		m := graph[name]
		if m.init != nil {
			if err := m.init(ctx, n); err != nil {
				return fmt.Errorf("start %s: %w", name, err)
			}
		}
		if m.run != nil {
			services = append(services, m.run)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(services))
	for _, s := range services {
		go func() { errc <- s(ctx, n) }()
	}
	var first error
	for range services {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel() // one service failing stops the others
		}
	}
	return first
}

// close releases what init built if run did not get to (or ended), last
// built first: listeners, jobs, the event publisher (flushing what it can),
// the index manager (which cancels running builds), then the builds' spill
// files.
func (n *node) close() {
	if n.ln != nil {
		n.ln.Close()
	}
	if n.flightLn != nil {
		n.flightLn.Close()
	}
	for i := len(n.closers) - 1; i >= 0; i-- {
		n.closers[i]()
	}
	if n.indexes != nil {
		n.indexes.Close()
	}
	if n.spillDir != "" {
		if err := os.RemoveAll(n.spillDir); err != nil {
			n.logger.Warn("remove index spill directory", "dir", n.spillDir, "err", err)
		}
	}
}

// onClose registers a cleanup of close.
func (n *node) onClose(f func()) { n.closers = append(n.closers, f) }

func initMetrics(_ context.Context, n *node) error {
	n.reg = prometheus.NewRegistry()
	n.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return nil
}

func initCatalog(_ context.Context, n *node) error {
	if n.cfg.DefaultLocation == "" {
		// Create the data directory now, so that a path that cannot be
		// created fails at startup rather than on the first request.
		dir, err := filepath.Abs(n.cfg.DataDir)
		if err != nil {
			return fmt.Errorf("data_dir %q: %w", n.cfg.DataDir, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create data_dir: %w", err)
		}
		n.dataDir = dir
	}
	var wrap func(string, objstore.Bucket) (objstore.Bucket, error)
	if n.blockMem != nil {
		wrap = n.wrapBucket
	}
	var err error
	n.catalog, err = newCatalog(n.cfg, n.logger, wrap)
	return err
}

func initQueryCache(_ context.Context, n *node) error {
	n.queryCache = query.NewCache(int64(n.cfg.QueryCacheBytes))
	return nil
}

// initIndexes starts the vector index manager. Builds spill into a
// directory of this process's own under index_spill_dir, so that servers
// sharing the setting never touch each other's files, and what a crash
// leaves behind is easy to recognise (sarissa-*).
func initIndexes(_ context.Context, n *node) error {
	if err := os.MkdirAll(n.cfg.IndexSpillDir, 0o755); err != nil {
		return fmt.Errorf("create index_spill_dir: %w", err)
	}
	dir, err := os.MkdirTemp(n.cfg.IndexSpillDir, "sarissa-")
	if err != nil {
		return fmt.Errorf("index_spill_dir %s: %w", n.cfg.IndexSpillDir, err)
	}
	n.spillDir = dir
	n.indexes = vindex.New(vindex.Config{
		Logger:           n.logger.With("component", "vindex"),
		Now:              n.now,
		BuildMemoryBytes: int64(n.cfg.IndexBuildMemoryBytes),
		CacheBytes:       int64(n.cfg.IndexCacheBytes),
		SpillDir:         dir,
	})
	return nil
}

func initAPI(_ context.Context, n *node) error {
	h, err := api.New(api.Config{
		MaxBodyBytes:     int64(n.cfg.MaxBodyBytes),
		MaxJSONBodyBytes: int64(n.cfg.MaxJSONBodyBytes),
		MaxDecodedBytes:  int64(n.cfg.MaxDecodedBytes),
		RequestTimeout:   n.cfg.RequestTimeout,
		QueryParallelism: n.cfg.QueryParallelism,
	}, api.Deps{
		Catalog:    n.catalog,
		Logger:     n.logger,
		Registerer: n.reg,
		Gatherer:   n.reg,
		Now:        n.now,
		QueryCache: n.queryCache,
		Indexes:    n.indexes,
		Fleet:      n.queryFleet(),
		Publish:    n.publish(),
		Producer:   producerName(),
	})
	if err != nil {
		return err
	}
	n.api = h
	return nil
}

// initServer opens the REST listener. The API handler serves every path,
// /healthz and /metrics included, so that they share its request metrics
// and logs; with the agent in this process, its admin paths too.
func initServer(ctx context.Context, n *node) error {
	n.handler = n.api
	if n.agent != nil {
		mux := http.NewServeMux()
		mux.Handle("/v1/agent/", n.agent.Handler())
		mux.Handle("/", n.api)
		n.handler = mux
	}
	return n.listen()
}

// listen opens the HTTP listener for n.handler.
func (n *node) listen() error {
	ln, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", n.cfg.Listen, err)
	}
	n.ln = ln
	n.srv = &http.Server{
		Handler: n.handler,
		// Bodies can be large inserts and responses long scans, so reads and
		// writes are bounded per request by the API (request_timeout), not
		// here; only a slow client sending headers is cut off.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(n.logger.Handler(), slog.LevelWarn),
	}
	return nil
}

func runServer(ctx context.Context, n *node) error {
	n.printBanner()
	n.logger.Info("serving", "addr", n.ln.Addr().String(), "storage", n.storageDescription(), "target", n.cfg.Target)
	errc := make(chan error, 1)
	go func() { errc <- n.srv.Serve(n.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	n.logger.Info("shutting down", "grace", n.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
	defer cancel()
	err := n.srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		n.logger.Warn("requests still running after the shutdown grace period; closing their connections")
		err = n.srv.Close()
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	n.logger.Info("stopped")
	return nil
}

// printBanner tells the user where the server listens and how to connect.
// The first line is stable for scripts and tests: "sarissa listening on URL".
func (n *node) printBanner() {
	addr := n.ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1" // reachable from this machine; others use its address
	}
	url := "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
	var b strings.Builder
	fmt.Fprintf(&b, "sarissa listening on %s\n  version  %s\n  target   %s\n  storage  %s\n  metrics  %s/metrics\n",
		url, versionString(), n.cfg.Target, n.storageDescription(), url)
	if n.flightLn != nil {
		fmt.Fprintf(&b, "  flight   %s\n", n.flightLn.Addr())
	}
	if n.fleet != nil {
		fmt.Fprintf(&b, "  executors %s\n", n.cfg.Executors)
	}
	if ev := n.cfg.eventsURL(n.cfg.Target); ev != eventsNone {
		fmt.Fprintf(&b, "  events   %s\n", redactURL(ev))
	}
	if n.agent != nil {
		fmt.Fprintf(&b, "  agent    %s/v1/agent/jobs (launcher %s)\n", url, n.cfg.Launcher)
	}
	if n.api != nil {
		fmt.Fprintf(&b, `
Connect with the LanceDB SDKs (any database name; the API key is not checked yet):
  TypeScript  const db = await lancedb.connect("db://mydb", { apiKey: "any", hostOverride: "%s" });
  Python      db = lancedb.connect("db://mydb", api_key="any", host_override="%s")
`, url, url)
	}
	fmt.Fprint(n.stdout, b.String())
}

// redactURL drops the query of a URL for display: it may name accounts or
// users (secrets themselves only ever come from the environment).
func redactURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?..."
	}
	return u
}

// storageDescription says where tables go.
func (n *node) storageDescription() string {
	if n.dataDir != "" {
		return fmt.Sprintf("%s (database d, table t: %s)", n.dataDir, filepath.Join(n.dataDir, "d", "t.lance"))
	}
	return n.cfg.DefaultLocation + "/<database>"
}
