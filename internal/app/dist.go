package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/sarissa-db/sarissa/internal/agent"
	"github.com/sarissa-db/sarissa/internal/blockcache"
	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/events/kafka"
	"github.com/sarissa-db/sarissa/internal/executor"
	"github.com/sarissa-db/sarissa/internal/jobs"
	"github.com/sarissa-db/sarissa/internal/jobs/kube"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/location"
	"github.com/sarissa-db/sarissa/internal/query"
)

// The modules of the distributed roles.

// initBlockCache opens the block cache's tiers (none when
// cache_memory_bytes is 0).
func initBlockCache(ctx context.Context, n *node) error {
	if n.cfg.CacheMemoryBytes == 0 {
		return nil
	}
	mem, err := blockcache.NewMemoryTier(int64(n.cfg.CacheMemoryBytes), n.reg)
	if err != nil {
		return err
	}
	n.blockMem = mem
	if n.cfg.CacheDir != "" {
		disk, err := blockcache.OpenDiskTier(ctx, blockcache.DiskConfig{Dir: n.cfg.CacheDir, Budget: int64(n.cfg.CacheBytes)}, n.reg, n.logger.With("component", "blockcache"))
		if err != nil {
			return fmt.Errorf("cache_dir %s: %w", n.cfg.CacheDir, err)
		}
		n.blockDisk = disk
	}
	return nil
}

// wrapBucket puts the block cache in front of blob storage. Local files
// are left alone: the kernel's page cache already keeps them, and a second
// copy would only cost memory.
func (n *node) wrapBucket(loc string, b objstore.Bucket) (objstore.Bucket, error) {
	l, err := location.Parse(loc)
	if err != nil {
		return nil, err
	}
	if l.Scheme == location.File {
		return b, nil
	}
	return blockcache.New(b, blockcache.Config{Namespace: loc, BlockSize: int64(n.cfg.CacheBlockBytes)},
		blockcache.Deps{Memory: n.blockMem, Disk: n.blockDisk, Logger: n.logger.With("component", "blockcache")})
}

// initEvents sets up the write-event publisher: to the in-process bus
// (--target all), to Kafka, or nowhere.
func initEvents(ctx context.Context, n *node) error {
	var sink events.Sink
	switch ev := n.cfg.eventsURL(n.cfg.Target); {
	case ev == eventsNone:
		if n.cfg.Target == TargetQuery {
			n.logger.Warn("no write-event queue (--events): the agent finds work only when it reconciles")
		}
		return nil
	case ev == eventsMemory:
		n.bus = events.NewMemory()
		sink = n.bus.Sink()
	default:
		kc, err := kafka.ParseURL(ev, os.Getenv)
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		kc.ClientID = "sarissa-" + n.cfg.Target
		s, err := kafka.NewSink(ctx, kc, kafka.Deps{Logger: n.logger, Registerer: n.reg})
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		sink = s
	}
	n.sink = sink
	n.publisher = events.NewPublisher(sink, events.PublisherConfig{}, events.PublisherDeps{Logger: n.logger, Registerer: n.reg})
	n.onClose(func() {
		// Give buffered events a moment to reach the broker; what does
		// not make it is counted as dropped (the agent reconciles).
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.publisher.Close(ctx); err != nil {
			n.logger.Warn("write events not delivered at shutdown", "err", err)
		}
		if err := n.sink.Close(); err != nil {
			n.logger.Warn("close the event sink", "err", err)
		}
	})
	return nil
}

// source returns the agent's event source (nil without events).
func (n *node) source(ctx context.Context) (events.Source, error) {
	switch ev := n.cfg.eventsURL(n.cfg.Target); {
	case ev == eventsNone:
		return nil, nil
	case ev == eventsMemory:
		return n.bus.Source(n.cfg.EventsGroup), nil
	default:
		kc, err := kafka.ParseURL(ev, os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
		if kc.Group == "" {
			kc.Group = n.cfg.EventsGroup
		}
		kc.ClientID = "sarissa-agent"
		return kafka.NewSource(ctx, kc, kafka.Deps{Logger: n.logger, Registerer: n.reg})
	}
}

// queryFleet is the API's fleet: the executors' client for --target
// query, nil (in process) otherwise.
func (n *node) queryFleet() query.Fleet {
	if n.fleet == nil {
		return nil
	}
	return n.fleet
}

// initFleet connects the query node to its plan executors.
func initFleet(ctx context.Context, n *node) error {
	spec, err := executor.ParseMembers(n.cfg.Executors)
	if err != nil {
		return err
	}
	var members executor.Members = executor.StaticMembers(spec.Static)
	if spec.Static == nil {
		dm, err := executor.NewDNSMembers(ctx, spec, nil, 0, n.logger.With("component", "fleet"))
		if err != nil {
			return fmt.Errorf("executors: %w", err)
		}
		n.members, members = dm, dm
	}
	f, err := executor.NewFleet(executor.FleetConfig{Replicas: n.cfg.Replicas, HedgeAfter: n.cfg.HedgeAfter},
		executor.FleetDeps{Members: members, Logger: n.logger.With("component", "fleet"), Registerer: n.reg, Now: n.now})
	if err != nil {
		return err
	}
	n.fleet = f
	n.onClose(func() { f.Close() })
	return nil
}

// runFleet follows DNS membership changes.
func runFleet(ctx context.Context, n *node) error {
	if n.members == nil {
		<-ctx.Done()
		return nil
	}
	return n.members.Run(ctx)
}

// initFlight opens a plan executor's Arrow Flight listener.
func initFlight(_ context.Context, n *node) error {
	svc, err := executor.NewService(executor.ServiceConfig{Parallelism: n.cfg.QueryParallelism}, executor.ServiceDeps{
		Catalog: n.catalog, Cache: n.queryCache, Indexes: n.indexes,
		Logger: n.logger.With("component", "executor"), Registerer: n.reg, Now: n.now,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", n.cfg.FlightListen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", n.cfg.FlightListen, err)
	}
	n.flightLn = ln
	n.flight = grpc.NewServer(svc.ServerOptions()...)
	svc.Register(n.flight)
	return nil
}

func runFlight(ctx context.Context, n *node) error {
	errc := make(chan error, 1)
	go func() { errc <- n.flight.Serve(n.flightLn) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve flight: %w", err)
	case <-ctx.Done():
	}
	done := make(chan struct{})
	go func() { n.flight.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(n.cfg.ShutdownTimeout):
		n.flight.Stop()
	}
	return nil
}

// initAgent builds the job launcher and the Lance Agent.
func initAgent(ctx context.Context, n *node) error {
	l, err := n.newLauncher()
	if err != nil {
		return err
	}
	n.launcher = l
	src, err := n.source(ctx)
	if err != nil {
		return err
	}
	if src != nil {
		n.onClose(func() { src.Close() })
	}
	a, err := agent.New(agent.Config{Policy: n.cfg.Agent, ReconcileInterval: n.cfg.AgentReconcileInterval}, agent.Deps{
		Source: src, Launcher: l, Catalog: n.catalog, Indexes: n.indexes,
		Logger: n.logger.With("component", "agent"), Registerer: n.reg, Now: n.now,
	})
	if err != nil {
		return err
	}
	n.agent = a
	return nil
}

func runAgent(ctx context.Context, n *node) error { return n.agent.Run(ctx) }

// newLauncher builds the launcher --launcher names.
func (n *node) newLauncher() (jobs.Launcher, error) {
	log := n.logger.With("component", "jobs")
	switch n.cfg.Launcher {
	case launcherKubernetes:
		client, err := kube.NewClient(n.cfg.Kubeconfig)
		if err != nil {
			return nil, err
		}
		return kube.New(client, n.cfg.Kubernetes.Config, kube.Deps{Logger: log, Now: n.now})
	case launcherIndexer:
		return jobs.NewRemote(n.cfg.IndexerURL)
	case launcherProcess:
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("launcher process: find this binary: %w", err)
		}
		runner := jobs.ProcessRunner{Path: self, Args: n.storageArgs(), Output: func(line string) { log.Info("job output", "line", line) }}
		return n.localLauncher(runner), nil
	}
	runner, err := n.tableRunner()
	if err != nil {
		return nil, err
	}
	return n.localLauncher(runner), nil
}

func (n *node) localLauncher(r jobs.Runner) jobs.Launcher {
	l := jobs.NewLocal(r, jobs.LocalConfig{MaxRunning: n.cfg.LauncherMaxRunning}, jobs.LocalDeps{Logger: n.logger.With("component", "jobs"), Now: n.now})
	n.onClose(l.Close)
	return l
}

// tableRunner runs jobs in this process, reporting their commits.
func (n *node) tableRunner() (*jobs.TableRunner, error) {
	return jobs.NewTableRunner(n.cfg.Agent.RunnerConfig(), jobs.TableRunnerDeps{
		Catalog: n.catalog, Indexes: n.indexes, Publish: n.publish(), Logger: n.logger.With("component", "jobs"), Now: n.now,
	})
}

// storageArgs is how a `sarissa job run` child finds the same storage and
// event queue as this process: the config file if there is one, else the
// flags that matter.
func (n *node) storageArgs() []string {
	if n.cfg.configPath != "" {
		return []string{"--config", n.cfg.configPath}
	}
	args := []string{"--data-dir", n.cfg.DataDir, "--log-format", n.cfg.LogFormat}
	if n.cfg.DefaultLocation != "" {
		args = append(args, "--default-location", n.cfg.DefaultLocation)
	}
	if ev := n.cfg.Events; ev != "" && ev != eventsMemory {
		args = append(args, "--events", ev)
	}
	return args
}

// initAdminServer opens the HTTP listener of roles without the REST API:
// /healthz, /metrics, and the agent's or the indexer's endpoints.
func initAdminServer(_ context.Context, n *node) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{}))
	if n.agent != nil {
		mux.Handle("/v1/agent/", n.agent.Handler())
	}
	if n.cfg.Target == TargetIndexer {
		mux.Handle("/v1/jobs", jobs.Handler(n.launcher))
	}
	n.handler = mux
	return n.listen()
}

// initJobPool is the indexer node: jobs an agent launches over HTTP run
// here, at most launcher_max_running at a time.
func initJobPool(_ context.Context, n *node) error {
	runner, err := n.tableRunner()
	if err != nil {
		return err
	}
	n.launcher = n.localLauncher(runner)
	return nil
}

// producerName names this process in the events it publishes.
func producerName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return fmt.Sprintf("%s/%d", strings.SplitN(host, ".", 2)[0], os.Getpid())
}
