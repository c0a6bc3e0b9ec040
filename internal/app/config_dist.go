package app

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sarissa-db/sarissa/internal/agent"
	"github.com/sarissa-db/sarissa/internal/events/kafka"
	"github.com/sarissa-db/sarissa/internal/executor"
	"github.com/sarissa-db/sarissa/internal/jobs"
	"github.com/sarissa-db/sarissa/internal/jobs/kube"
)

// Settings of the distributed roles: where the plan executors are, their
// cache, the write-event queue, the agent's policy and how it launches
// jobs. With --target all none of them is needed: the roles talk in
// process.

// Event transports (--events).
const (
	eventsMemory = "memory://" // in process: --target all only
	eventsNone   = "none"
)

// Job launchers (--launcher).
const (
	launcherLocal      = "local"      // goroutines in the agent
	launcherProcess    = "process"    // a `sarissa job run` child per job
	launcherKubernetes = "kubernetes" // a Kubernetes Job per job
	launcherIndexer    = "indexer"    // an indexer node (--target indexer) at IndexerURL
)

// DistConfig is embedded in Config.
type DistConfig struct {
	// Executors lists the plan executors a query node sends query tasks to:
	// host:port,... or dns:///name:port (A records of a headless service)
	// or dns+srv:///_port._tcp.name (SRV records: stable pod names).
	Executors string `yaml:"executors"`
	// Replicas is how many executors keep each fragment and index
	// partition warm (the replication factor).
	Replicas int `yaml:"replicas"`
	// HedgeAfter sends a task part that has not been answered after this
	// long to another executor as well (0: only on failure).
	HedgeAfter time.Duration `yaml:"hedge_after"`
	// FlightListen is the executor's gRPC (Arrow Flight) listen address.
	FlightListen string `yaml:"flight_listen"`

	// CacheMemoryBytes and CacheDir/CacheBytes are the memory and local
	// disk tiers of the block cache that plan executors (and --target all
	// over object storage) keep in front of blob storage.
	CacheMemoryBytes ByteSize `yaml:"cache_memory_bytes"`
	CacheDir         string   `yaml:"cache_dir"`
	CacheBytes       ByteSize `yaml:"cache_bytes"`
	CacheBlockBytes  ByteSize `yaml:"cache_block_bytes"`

	// Events is the write-event queue: kafka://broker:port/topic?... (also
	// Azure Event Hubs), memory:// (in process, --target all), or none.
	// Empty: memory:// for --target all, none otherwise.
	Events string `yaml:"events"`
	// EventsGroup is the agent's consumer group.
	EventsGroup string `yaml:"events_group"`

	// Agent is the Lance Agent's policy (thresholds, retention).
	Agent agent.Policy `yaml:"agent"`
	// AgentReconcileInterval is how often the agent scans every table.
	AgentReconcileInterval time.Duration `yaml:"agent_reconcile_interval"`
	// Launcher is how the agent runs jobs: local, process, kubernetes or
	// indexer.
	Launcher string `yaml:"launcher"`
	// IndexerURL is the indexer node of the indexer launcher.
	IndexerURL string `yaml:"indexer_url"`
	// LauncherMaxRunning bounds the jobs a local or process launcher runs
	// at once.
	LauncherMaxRunning int `yaml:"launcher_max_running"`
	// Kubernetes is the Job template of the kubernetes launcher (YAML
	// only; see docs/kubernetes-jobs.md).
	Kubernetes KubeConfig `yaml:"kubernetes"`
	// Kubeconfig is the kubeconfig file of the kubernetes launcher (empty:
	// the in-cluster service account).
	Kubeconfig string `yaml:"kubeconfig"`
}

func (c *DistConfig) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Executors, "executors", "", "plan executors of a query node: host:port,... or dns:///name:port or dns+srv:///_port._tcp.name")
	fs.IntVar(&c.Replicas, "replicas", 2, "executors that keep each fragment and index partition warm (replication factor)")
	fs.DurationVar(&c.HedgeAfter, "hedge-after", 0, "also send a task part to a replica when an executor has not answered after this long (0: only on failure)")
	fs.StringVar(&c.FlightListen, "flight-listen", "127.0.0.1:8815", "gRPC (Arrow Flight) listen address of an executor")
	c.CacheMemoryBytes = 512 << 20
	fs.Var(&c.CacheMemoryBytes, "cache-memory-bytes", "memory tier of the executors' block cache (`size`; 0: no block cache)")
	fs.StringVar(&c.CacheDir, "cache-dir", "", "directory of the block cache's local-disk tier (empty: no disk tier)")
	c.CacheBytes = 10 << 30
	fs.Var(&c.CacheBytes, "cache-bytes", "budget of the block cache's disk tier (`size`)")
	c.CacheBlockBytes = 1 << 20
	fs.Var(&c.CacheBlockBytes, "cache-block-bytes", "block size of the block cache (`size`)")
	fs.StringVar(&c.Events, "events", "", "write-event queue: kafka://host:port/topic?..., memory:// (one process) or none (default: memory:// with --target all, else none)")
	fs.StringVar(&c.EventsGroup, "events-group", "sarissa-agent", "consumer group of the agent")
	c.Agent = agent.DefaultPolicy()
	fs.Int64Var(&c.Agent.IndexMinUnindexedRows, "agent-index-rows", c.Agent.IndexMinUnindexedRows, "unindexed rows that make the agent update an index")
	fs.DurationVar(&c.Agent.IndexMaxWait, "agent-index-wait", c.Agent.IndexMaxWait, "how long unindexed rows may wait before the agent updates the index anyway")
	fs.IntVar(&c.Agent.CompactMinFragments, "agent-compact-fragments", c.Agent.CompactMinFragments, "small fragments that make the agent compact a table")
	fs.DurationVar(&c.Agent.CleanupRetention, "agent-retention", c.Agent.CleanupRetention, "age of versions the agent's cleanup removes")
	fs.DurationVar(&c.AgentReconcileInterval, "agent-reconcile-interval", 5*time.Minute, "how often the agent scans every table")
	fs.StringVar(&c.Launcher, "launcher", launcherLocal, "how the agent runs jobs: local (goroutines), process (sarissa job run children), kubernetes (Jobs) or indexer (an indexer node at --indexer-url)")
	fs.StringVar(&c.IndexerURL, "indexer-url", "", "indexer node of --launcher indexer (http://host:port)")
	fs.IntVar(&c.LauncherMaxRunning, "launcher-max-running", 1, "jobs a local or process launcher runs at once")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig of the kubernetes launcher (empty: in-cluster)")
}

// eventsURL is the effective --events for target.
func (c *DistConfig) eventsURL(target string) string {
	if c.Events == "" {
		if target == TargetAll {
			return eventsMemory
		}
		return eventsNone
	}
	return c.Events
}

func (c *DistConfig) validate(target string, insecure bool) error {
	if target == TargetQuery {
		if c.Executors == "" {
			return errors.New("target query needs --executors (executors: host:port,... or dns:///name:port)")
		}
		if _, err := executor.ParseMembers(c.Executors); err != nil {
			return err
		}
	}
	if c.Replicas < 1 {
		return fmt.Errorf("replicas %d: must be at least 1", c.Replicas)
	}
	if c.HedgeAfter < 0 {
		return fmt.Errorf("hedge_after %s: must not be negative", c.HedgeAfter)
	}
	if target == TargetExecutor {
		loopback, err := checkListen(c.FlightListen)
		if err != nil {
			return fmt.Errorf("flight_listen %q: %w", c.FlightListen, err)
		}
		if !loopback && !insecure {
			return fmt.Errorf("flight_listen %q is not a loopback address; executors do not authenticate query nodes, so pass --insecure (insecure: true) when the network is private", c.FlightListen)
		}
	}
	if c.CacheMemoryBytes < 0 || c.CacheBytes < 0 {
		return errors.New("cache_memory_bytes and cache_bytes must not be negative")
	}
	if c.CacheDir != "" {
		if c.CacheMemoryBytes == 0 {
			return errors.New("cache_dir needs the memory tier (cache_memory_bytes > 0)")
		}
		if err := checkDataDir(c.CacheDir); err != nil {
			return fmt.Errorf("cache_dir %q: %w", c.CacheDir, err)
		}
		if c.CacheBytes < 16<<20 {
			return fmt.Errorf("cache_bytes %s: must be at least 16MiB", c.CacheBytes)
		}
	}
	if c.CacheBlockBytes < 4<<10 || c.CacheBlockBytes > 64<<20 {
		return fmt.Errorf("cache_block_bytes %s: must be between 4KiB and 64MiB", c.CacheBlockBytes)
	}
	switch ev := c.eventsURL(target); {
	case ev == eventsNone:
	case ev == eventsMemory:
		if target != TargetAll {
			return fmt.Errorf("events %q connects roles of one process only; --target %s needs kafka://... (or none)", ev, target)
		}
	case strings.HasPrefix(ev, "kafka://"):
		if _, err := kafka.ParseURL(ev, os.Getenv); err != nil {
			return fmt.Errorf("events: %w", err)
		}
	default:
		return fmt.Errorf("events %q: want kafka://host:port/topic, memory:// or none", ev)
	}
	if c.EventsGroup == "" {
		return errors.New("events_group must not be empty")
	}
	if err := c.Agent.Validate(); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if c.AgentReconcileInterval < time.Second {
		return fmt.Errorf("agent_reconcile_interval %s: must be at least 1s", c.AgentReconcileInterval)
	}
	switch c.Launcher {
	case launcherLocal, launcherProcess:
	case launcherIndexer:
		if _, err := jobs.NewRemote(c.IndexerURL); err != nil && target == TargetAgent {
			return fmt.Errorf("launcher indexer needs indexer_url: %w", err)
		}
	case launcherKubernetes:
		if target == TargetAgent {
			if err := c.Kubernetes.Config.Validate(); err != nil {
				return fmt.Errorf("kubernetes: %w", err)
			}
		}
	default:
		return fmt.Errorf("launcher %q: want %s, %s, %s or %s", c.Launcher, launcherLocal, launcherProcess, launcherKubernetes, launcherIndexer)
	}
	if (c.Launcher == launcherKubernetes || c.Launcher == launcherIndexer) && target == TargetAll {
		return fmt.Errorf("launcher %s needs --target agent: with --target all jobs run in process (local or process)", c.Launcher)
	}
	if c.LauncherMaxRunning < 1 {
		return fmt.Errorf("launcher_max_running %d: must be at least 1", c.LauncherMaxRunning)
	}
	return nil
}

// KubeConfig is the kubernetes launcher's Job template as the YAML file
// writes it. The nested Kubernetes types (resources, tolerations, env,
// volumes) decode as Kubernetes manifests do, through their JSON form, so
// that quantities such as "500m" and "2Gi" work.
type KubeConfig struct{ kube.Config }

// UnmarshalYAML decodes the mapping through JSON, refusing unknown keys.
func (k *KubeConfig) UnmarshalYAML(n *yaml.Node) error {
	var generic any
	if err := n.Decode(&generic); err != nil {
		return err
	}
	data, err := json.Marshal(generic)
	if err != nil {
		return fmt.Errorf("kubernetes: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var cfg kube.Config
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("kubernetes: %w", err)
	}
	k.Config = cfg
	return nil
}
