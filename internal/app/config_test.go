package app

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sarissa-db/sarissa/internal/agent"
)

var serveCmd = command{name: "serve", bind: func(fs *flag.FlagSet, cfg *Config) { cfg.RegisterFlags(fs) }}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sarissa.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c := DefaultConfig()
	want := Config{
		Target: "all", Listen: "127.0.0.1:8080", DataDir: "./sarissa-data",
		MaxBodyBytes: 256 << 20, MaxJSONBodyBytes: 32 << 20, RequestTimeout: 10 * time.Minute, ShutdownTimeout: 30 * time.Second,
		QueryCacheBytes: 512 << 20, LogFormat: "text", LogLevel: "info",
		IndexCacheBytes: 1 << 30, IndexBuildMemoryBytes: 1 << 30,
		IndexSpillDir: filepath.Join(os.TempDir(), "sarissa-index-spill"),
		DistConfig: DistConfig{
			Replicas: 2, FlightListen: "127.0.0.1:8815",
			CacheMemoryBytes: 512 << 20, CacheBytes: 10 << 30, CacheBlockBytes: 1 << 20,
			EventsGroup: "sarissa-agent", Agent: agent.DefaultPolicy(), AgentReconcileInterval: 5 * time.Minute,
			Launcher: "local", LauncherMaxRunning: 1,
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults\n got %+v\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	// Parsing no arguments gives the same.
	got, pos, err := serveCmd.parse(nil, io.Discard)
	if err != nil || len(pos) != 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("parse(nil) = %+v, %v, %v", got, pos, err)
	}
}

func TestConfigFileAndFlags(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, `# a comment
listen: 127.0.0.1:9000
data_dir: `+dir+`
max_body_bytes: 1GiB
request_timeout: 90s
log_format: json
query_cache_bytes: 1000
insecure:
`)
	cfg, _, err := serveCmd.parse([]string{"--config", path, "--listen", "localhost:0", "--log-level=debug"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Listen = "localhost:0" // the flag wins over the file
	want.DataDir = dir
	want.MaxBodyBytes = 1 << 30
	want.RequestTimeout = 90 * time.Second
	want.LogFormat = "json"
	want.LogLevel = "debug"
	want.QueryCacheBytes = 1000
	want.configPath = path
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
	// A flag set to its default value still overrides the file.
	cfg, _, err = serveCmd.parse([]string{"--config=" + path, "--log-format", "text"}, io.Discard)
	if err != nil || cfg.LogFormat != "text" || cfg.Listen != "127.0.0.1:9000" {
		t.Errorf("got %+v, %v", cfg, err)
	}
	// An empty file changes nothing.
	empty := writeConfig(t, "# nothing\n")
	cfg, _, err = serveCmd.parse([]string{"--config", empty}, io.Discard)
	cfg.configPath = ""
	if err != nil || !reflect.DeepEqual(cfg, DefaultConfig()) {
		t.Errorf("empty file: %+v, %v", cfg, err)
	}
}

func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"unknown key", "listen: 127.0.0.1:1\n\nlistn: x\n", `sarissa.yaml:3: unknown key "listn" (did you mean "listen"?)`},
		{"unknown key far from any", "zzzzzzzzzz: 1\n", `sarissa.yaml:1: unknown key "zzzzzzzzzz" (known keys: accounts, agent, agent_reconcile_interval, cache_block_bytes, cache_bytes, cache_dir, cache_memory_bytes, data_dir, databases,`},
		{"unknown agent key", "agent:\n  index_min_rows: 5\n", "sarissa.yaml:2: agent: field index_min_rows not found"},
		{"bad kubernetes quantity", "kubernetes:\n  namespace: ns\n  image: img\n  resources:\n    limits: {cpu: lots}\n", "kubernetes: "},
		{"unknown kubernetes key", "kubernetes:\n  imagee: x\n", `unknown field "imagee"`},
		{"duration without unit", "log_level: info\nrequest_timeout: 30\n", "sarissa.yaml:2: request_timeout: cannot unmarshal !!int `30` into time.Duration"},
		{"bad size", "max_body_bytes: lots\n", `sarissa.yaml:1: max_body_bytes: size "lots" is not a number`},
		{"negative size", "query_cache_bytes: -1\n", `sarissa.yaml:1: query_cache_bytes: size "-1" is negative`},
		{"size as list", "max_body_bytes: [1]\n", "sarissa.yaml:1: max_body_bytes: want a size"},
		{"bad bool", "insecure: maybe\n", "sarissa.yaml:1: insecure: cannot unmarshal !!str `maybe` into bool"},
		{"duplicate", "listen: a:1\nlisten: b:2\n", `sarissa.yaml:2: key "listen" is already set on line 1`},
		{"not a mapping", "- listen\n", "sarissa.yaml:1: the file must be a mapping of settings (key: value), not a list"},
		{"two documents", "listen: a:1\n---\nlisten: b:2\n", "only one YAML document"},
		{"syntax", "listen: [\n", "sarissa.yaml:"},
		{"valid file, invalid value", "log_format: xml\n", `log_format "xml": want text or json`},
		{"unknown nested key", "listen: a:1\ndatabases:\n  sales:\n    location: file:///tmp/x\n    locaton: y\n", "sarissa.yaml:5: databases: field locaton not found"},
		{"bad database location", "databases:\n  sales:\n    location: s3://bucket\n", "databases: "},
		{"bad default location", "default_location: ftp://x\n", "default_location: "},
		{"bad account", "accounts:\n  prod:\n    auth: magic\n", "accounts: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := serveCmd.parse([]string{"--config", writeConfig(t, tc.content)}, io.Discard)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant ErrConfig containing %q", err, tc.want)
			}
		})
	}
	_, _, err := serveCmd.parse([]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, io.Discard)
	if !errors.Is(err, ErrConfig) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestValidate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string // "" means valid
	}{
		{[]string{"--listen", "localhost:0"}, ""},
		{[]string{"--listen", "[::1]:8080"}, ""},
		{[]string{"--listen", "127.0.0.2:65535"}, ""},
		{[]string{"--listen", "0.0.0.0:8080", "--insecure"}, ""},
		{[]string{"--listen", "0.0.0.0:8080"}, "not a loopback address and no API keys are configured"},
		{[]string{"--listen", ":8080"}, "pass --insecure"},
		{[]string{"--listen", "db.example.com:80"}, "not a loopback address"},
		{[]string{"--listen", "db.example.com:80", "--insecure"}, ""},
		{[]string{"--listen", "8080"}, "want host:port"},
		{[]string{"--listen", "127.0.0.1:99999"}, `port "99999" is not a number from 0 to 65535`},
		{[]string{"--listen", "127.0.0.1:http"}, `port "http"`},
		{[]string{"--listen", "bad host:1"}, "neither an IP address nor a host name"},
		{[]string{"--data-dir", ""}, "data_dir \"\": must not be empty"},
		{[]string{"--data-dir", file}, "exists but is not a directory"},
		{[]string{"--max-body-bytes", "100"}, "max_body_bytes 100: must be at least 1KiB"},
		{[]string{"--request-timeout", "-1s"}, "request_timeout -1s: must not be negative"},
		{[]string{"--max-json-body-bytes", "1"}, "max_json_body_bytes 1: must be at least 1KiB"},
		{[]string{"--max-decoded-bytes", "1MiB"}, "max_decoded_bytes 1MiB: must be 0 or at least max_body_bytes (256MiB)"},
		{[]string{"--max-decoded-bytes", "1GiB"}, ""},
		{[]string{"--query-parallelism", "-2"}, "query_parallelism -2"},
		{[]string{"--shutdown-timeout", "-1s"}, "shutdown_timeout"},
		{[]string{"--target", "query"}, "target query needs --executors"},
		{[]string{"--target", "query", "--executors", "127.0.0.1:8815,h:99999"}, `executor address "h:99999": port must be in 1..65535`},
		{[]string{"--target", "query", "--executors", "dns:///svc"}, "want dns:///name:port"},
		{[]string{"--target", "query", "--executors", "dns:///svc:8815"}, ""},
		{[]string{"--target", "query", "--executors", "a:1", "--events", "memory://"}, `connects roles of one process only`},
		{[]string{"--target", "query", "--executors", "a:1", "--events", "kafka://"}, "events: "},
		{[]string{"--target", "query", "--executors", "a:1", "--events", "amqp://x"}, "want kafka://host:port/topic"},
		{[]string{"--target", "query", "--executors", "a:1", "--events", "kafka://127.0.0.1:9092/sarissa-events"}, ""},
		{[]string{"--target", "executor", "--flight-listen", "0.0.0.0:8815"}, "executors do not authenticate query nodes"},
		{[]string{"--target", "executor", "--cache-dir", file}, "exists but is not a directory"},
		{[]string{"--target", "executor", "--cache-dir", t.TempDir(), "--cache-memory-bytes", "0"}, "needs the memory tier"},
		{[]string{"--cache-block-bytes", "1"}, "cache_block_bytes 1: must be between 4KiB and 64MiB"},
		{[]string{"--replicas", "0"}, "replicas 0: must be at least 1"},
		{[]string{"--target", "agent", "--launcher", "docker"}, `launcher "docker"`},
		{[]string{"--target", "agent", "--launcher", "indexer"}, "launcher indexer needs indexer_url"},
		{[]string{"--launcher", "kubernetes"}, "launcher kubernetes needs --target agent"},
		{[]string{"--target", "agent", "--launcher", "kubernetes"}, "kubernetes: "},
		{[]string{"--agent-index-rows", "-1"}, "agent: "},
		{[]string{"--agent-reconcile-interval", "1ms"}, "agent_reconcile_interval 1ms: must be at least 1s"},
		{[]string{"--target", "indexer"}, ""},
		{[]string{"--target", "everything"}, `unknown target "everything" (want all, query, executor, agent or indexer)`},
		{[]string{"--log-format", "xml"}, "want text or json"},
		{[]string{"--log-level", "loud"}, "want debug, info, warn or error"},
		{[]string{"--log-level", "WARN"}, ""},
		{[]string{"--index-cache-bytes", "0"}, "index_cache_bytes 0: must be at least 1MiB"},
		{[]string{"--index-build-memory-bytes", "1MiB"}, "index_build_memory_bytes 1MiB: must be at least 16MiB"},
		{[]string{"--index-build-memory-bytes", "64MiB", "--index-cache-bytes", "2GiB"}, ""},
		{[]string{"--index-spill-dir", ""}, `index_spill_dir "": must not be empty`},
		{[]string{"--index-spill-dir", file}, "index_spill_dir " + strconv.Quote(file) + ": exists but is not a directory"},
	} {
		_, _, err := serveCmd.parse(tc.args, io.Discard)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: unexpected error %v", tc.args, err)
		case tc.want != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: got %v, want ErrConfig containing %q", tc.args, err, tc.want)
		}
	}
	// Flag syntax errors are usage errors, not configuration errors.
	if _, _, err := serveCmd.parse([]string{"--max-body-bytes", "x"}, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("bad flag value: %v", err)
	}
	if _, _, err := serveCmd.parse([]string{"--no-such-flag"}, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("unknown flag: %v", err)
	}
	if _, _, err := serveCmd.parse([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
		str  string
	}{
		{"0", 0, "0"},
		{"1000", 1000, "1000"},
		{"1024", 1024, "1KiB"},
		{"64MiB", 64 << 20, "64MiB"},
		{"64 mib", 64 << 20, "64MiB"},
		{"1.5GiB", 3 << 29, "1536MiB"},
		{"2GB", 2e9, "1953125KiB"},
		{"10kb", 10000, "10000"},
		{"7B", 7, "7"},
		{"1TiB", 1 << 40, "1TiB"},
	} {
		got, err := ParseByteSize(tc.in)
		if err != nil || got != tc.want || got.String() != tc.str {
			t.Errorf("ParseByteSize(%q) = %d (%s), %v; want %d (%s)", tc.in, got, got, err, tc.want, tc.str)
		}
		if back, err := ParseByteSize(got.String()); err != nil || back != got {
			t.Errorf("%s does not parse back: %d, %v", got, back, err)
		}
	}
	for _, bad := range []string{"", "MiB", "-5", "1.5", "x1", "1PiB", "NaN", "1e30GiB", "9223372036854775808"} {
		if v, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) = %d, want an error", bad, v)
		}
	}
}

func TestResolveModules(t *testing.T) {
	graph := moduleGraph()
	covered := map[string]bool{}
	for _, target := range []string{TargetAll, TargetQuery, TargetExecutor, TargetAgent, TargetIndexer} {
		order, err := resolve(graph, target)
		if err != nil {
			t.Fatal(err)
		}
		pos := map[string]int{}
		for i, m := range order {
			pos[m] = i
			covered[m] = true
		}
		for _, name := range order {
			for _, d := range graph[name].deps {
				if pos[d] >= pos[name] {
					t.Errorf("%s: %s starts before its dependency %s: %v", target, name, d, order)
				}
			}
		}
		// The catalog must open its buckets through the block cache.
		if c, ok := pos[modBlockCache]; ok && c > pos[modCatalog] {
			t.Errorf("%s: the block cache starts after the catalog: %v", target, order)
		}
	}
	for name := range graph {
		if !covered[name] {
			t.Errorf("no target runs module %s", name)
		}
	}
	cyclic := map[string]module{"a": {deps: []string{"b"}}, "b": {deps: []string{"a"}}}
	if _, err := resolve(cyclic, "a"); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
	if _, err := resolve(moduleGraph(), "nope"); err == nil {
		t.Error("unknown target resolved")
	}
}

// The distributed settings in a file: the agent's policy as a nested
// mapping, and the kubernetes launcher's Job template with Kubernetes
// quantities, decoded the way manifests are.
func TestDistributedConfigFile(t *testing.T) {
	path := writeConfig(t, `target: agent
events: kafka://127.0.0.1:9092/sarissa-events?group=g1
launcher: kubernetes
agent:
  index_min_unindexed_rows: 500
  index_max_wait: 30s
kubernetes:
  namespace: sarissa
  image: registry.example/sarissa:1
  service_account_name: sarissa-indexer
  pod_labels: {azure.workload.identity/use: "true"}
  resources:
    requests: {cpu: 500m, memory: 2Gi}
    limits: {memory: 4Gi}
`)
	cfg, _, err := serveCmd.parse([]string{"--config", path}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Agent.IndexMinUnindexedRows != 500 || cfg.Agent.IndexMaxWait != 30*time.Second ||
		cfg.Agent.CompactMinFragments != agent.DefaultPolicy().CompactMinFragments {
		t.Errorf("agent policy %+v", cfg.Agent)
	}
	k := cfg.Kubernetes.Config
	if k.Namespace != "sarissa" || k.Image != "registry.example/sarissa:1" || k.ServiceAccountName != "sarissa-indexer" ||
		k.PodLabels["azure.workload.identity/use"] != "true" {
		t.Errorf("kubernetes %+v", k)
	}
	if got := k.Resources.Requests.Cpu().MilliValue(); got != 500 {
		t.Errorf("cpu request %d m, want 500", got)
	}
	if got := k.Resources.Limits.Memory().Value(); got != 4<<30 {
		t.Errorf("memory limit %d, want 4Gi", got)
	}
	// The flag overrides the file's policy.
	cfg, _, err = serveCmd.parse([]string{"--config", path, "--agent-index-rows", "7"}, io.Discard)
	if err != nil || cfg.Agent.IndexMinUnindexedRows != 7 || cfg.Agent.IndexMaxWait != 30*time.Second {
		t.Errorf("flag over file: %+v, %v", cfg.Agent, err)
	}
}
