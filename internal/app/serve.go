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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sarissa-db/sarissa/internal/api"
	"github.com/sarissa-db/sarissa/internal/catalog"
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

	reg      *prometheus.Registry
	catalog  *catalog.Catalog
	indexes  *vindex.Manager
	spillDir string // this process's own directory under index_spill_dir
	api      http.Handler
	ln       net.Listener
	srv      *http.Server
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

// close releases what init built if run did not get to (or ended): the
// listener, then the index manager (which cancels running builds), then the
// builds' spill files.
func (n *node) close() {
	if n.ln != nil {
		n.ln.Close()
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
	var err error
	n.catalog, err = newCatalog(n.cfg, n.logger)
	return err
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
		QueryCache: query.NewCache(int64(n.cfg.QueryCacheBytes)),
		Indexes:    n.indexes,
	})
	if err != nil {
		return err
	}
	n.api = h
	return nil
}

// initServer opens the listener. The API handler serves every path,
// /healthz and /metrics included, so that they share its request metrics
// and logs.
func initServer(_ context.Context, n *node) error {
	ln, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", n.cfg.Listen, err)
	}
	n.ln = ln
	n.srv = &http.Server{
		Handler: n.api,
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
	fmt.Fprintf(n.stdout, `sarissa listening on %s
  version  %s
  target   %s
  storage  %s
  metrics  %s/metrics

Connect with the LanceDB SDKs (any database name; the API key is not checked yet):
  TypeScript  const db = await lancedb.connect("db://mydb", { apiKey: "any", hostOverride: "%s" });
  Python      db = lancedb.connect("db://mydb", api_key="any", host_override="%s")
`, url, versionString(), n.cfg.Target, n.storageDescription(), url, url, url)
}

// storageDescription says where tables go.
func (n *node) storageDescription() string {
	if n.dataDir != "" {
		return fmt.Sprintf("%s (database d, table t: %s)", n.dataDir, filepath.Join(n.dataDir, "d", "t.lance"))
	}
	return n.cfg.DefaultLocation + "/<database>"
}
