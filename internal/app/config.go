package app

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/objstore/location"
)

// ErrConfig marks every configuration error: bad flags, bad YAML, bad values.
var ErrConfig = errors.New("invalid configuration")

// Targets a node can run: every role in one process, or one role.
const (
	TargetAll      = "all"
	TargetQuery    = "query"
	TargetExecutor = "executor"
	TargetAgent    = "agent"
	TargetIndexer  = "indexer"
)

// Config is the whole server configuration. Every field has a YAML key
// (snake_case) and a flag (dash-case); flags override the file. The defaults
// are the values RegisterFlags gives the flags, and nowhere else.
type Config struct {
	// Target selects the roles this process runs.
	Target string `yaml:"target"`
	// Listen is the HTTP listen address (host:port; port 0 picks a free port).
	Listen string `yaml:"listen"`
	// DataDir holds the databases when no other storage is configured:
	// database d, table t lives in <data_dir>/d/t.lance.
	DataDir string `yaml:"data_dir"`
	// Insecure allows listening on a non-loopback address without API keys.
	Insecure bool `yaml:"insecure"`
	// MaxBodyBytes bounds every request body as sent.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// MaxJSONBodyBytes bounds JSON request bodies, which are read whole.
	MaxJSONBodyBytes ByteSize `yaml:"max_json_body_bytes"`
	// MaxDecodedBytes bounds what one Arrow request body may decode to after
	// decompression (0: 4 × max_body_bytes).
	MaxDecodedBytes ByteSize `yaml:"max_decoded_bytes"`
	// QueryParallelism is the number of goroutines one query scans with
	// (0: one per CPU).
	QueryParallelism int `yaml:"query_parallelism"`
	// RequestTimeout bounds the work of one request (0: no bound); a client's
	// x-request-timeout-ms can only shorten it.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// ShutdownTimeout is how long in-flight requests may finish after a
	// SIGINT/SIGTERM before connections are closed.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// QueryCacheBytes is the memory budget of the query node's cache of
	// table metadata and data pages.
	QueryCacheBytes ByteSize `yaml:"query_cache_bytes"`
	// IndexCacheBytes is the memory budget of loaded vector index partitions.
	IndexCacheBytes ByteSize `yaml:"index_cache_bytes"`
	// IndexBuildMemoryBytes bounds the memory of one index build; beyond it
	// the build spills to IndexSpillDir.
	IndexBuildMemoryBytes ByteSize `yaml:"index_build_memory_bytes"`
	// IndexSpillDir holds the temporary files of index builds (created at
	// start; each process works in its own subdirectory, removed on exit).
	IndexSpillDir string `yaml:"index_spill_dir"`
	// LogFormat is text or json; LogLevel is debug, info, warn or error.
	LogFormat string `yaml:"log_format"`
	LogLevel  string `yaml:"log_level"`
	// DefaultLocation is the storage location of every database without an
	// entry in Databases (database d lives at <default_location>/d); empty
	// means file://<absolute data_dir>.
	DefaultLocation string `yaml:"default_location"`
	// Databases gives single databases their own location (YAML only):
	//   databases: {sales: {location: "az://sales/lance?account=prod"}}
	Databases map[string]catalog.DatabaseConfig `yaml:"databases"`
	// Accounts are the Azure storage accounts that az:// locations name
	// (YAML only); secrets preferably come from environment variables.
	Accounts map[string]location.Account `yaml:"accounts"`
	// DistConfig holds the settings of the distributed roles.
	DistConfig `yaml:",inline"`

	// configPath is the --config file the settings came from ("" if
	// none); children started for jobs read the same file.
	configPath string
}

// RegisterFlags binds every setting to a flag of fs and sets the defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.registerServerFlags(fs)
	c.registerStorageFlags(fs)
	c.registerLogFlags(fs)
	c.DistConfig.registerFlags(fs)
}

func (c *Config) registerServerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Target, "target", TargetAll, "roles to run: all (in one process), query, executor, agent or indexer")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "HTTP listen address host:port (port 0 picks a free port)")
	fs.BoolVar(&c.Insecure, "insecure", false, "allow a non-loopback listen address without API keys")
	c.MaxBodyBytes = 256 << 20
	fs.Var(&c.MaxBodyBytes, "max-body-bytes", "largest request body accepted (`size`, e.g. 256MiB)")
	c.MaxJSONBodyBytes = 32 << 20
	fs.Var(&c.MaxJSONBodyBytes, "max-json-body-bytes", "largest JSON request body accepted (`size`)")
	fs.Var(&c.MaxDecodedBytes, "max-decoded-bytes", "largest decoded size of one Arrow request body (`size`; 0: 4 × max-body-bytes)")
	fs.IntVar(&c.QueryParallelism, "query-parallelism", 0, "goroutines one query scans with (0: one per CPU)")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", 10*time.Minute, "upper bound on one request's work (0: none)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "grace period for in-flight requests on shutdown")
	c.QueryCacheBytes = 512 << 20
	fs.Var(&c.QueryCacheBytes, "query-cache-bytes", "memory budget of the query cache (`size`, e.g. 1GiB)")
	c.registerIndexFlags(fs)
}

func (c *Config) registerIndexFlags(fs *flag.FlagSet) {
	c.IndexCacheBytes = 1 << 30
	fs.Var(&c.IndexCacheBytes, "index-cache-bytes", "memory budget of loaded vector index partitions (`size`)")
	c.IndexBuildMemoryBytes = 1 << 30
	fs.Var(&c.IndexBuildMemoryBytes, "index-build-memory-bytes", "memory one index build may use before spilling to --index-spill-dir (`size`)")
	fs.StringVar(&c.IndexSpillDir, "index-spill-dir", filepath.Join(os.TempDir(), "sarissa-index-spill"), "directory for the temporary files of index builds (created at start)")
}

func (c *Config) registerStorageFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", "./sarissa-data", "directory holding the databases (<data-dir>/<database>/<table>.lance)")
	fs.StringVar(&c.DefaultLocation, "default-location", "", "storage location URL of the databases instead of --data-dir (file:///dir, az://container/prefix?account=name)")
}

// catalogConfig is where databases live: the default location (from
// data_dir unless set) and the explicitly placed databases.
func (c *Config) catalogConfig() (catalog.Config, error) {
	def := c.DefaultLocation
	if def == "" {
		abs, err := filepath.Abs(c.DataDir)
		if err != nil {
			return catalog.Config{}, fmt.Errorf("data_dir %q: %w", c.DataDir, err)
		}
		def = "file://" + filepath.ToSlash(abs)
	}
	return catalog.Config{DefaultLocation: def, Databases: c.Databases}, nil
}

func (c *Config) registerLogFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// DefaultConfig returns the configuration with every default applied.
func DefaultConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("defaults", flag.ContinueOnError))
	return c
}

// Validate checks every setting and reports the first problem precisely.
func (c *Config) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

func (c *Config) validate() error {
	switch c.Target {
	case TargetAll, TargetQuery, TargetExecutor, TargetAgent, TargetIndexer:
	default:
		return fmt.Errorf("unknown target %q (want %s, %s, %s, %s or %s)", c.Target, TargetAll, TargetQuery, TargetExecutor, TargetAgent, TargetIndexer)
	}
	loopback, err := checkListen(c.Listen)
	if err != nil {
		return fmt.Errorf("listen %q: %w", c.Listen, err)
	}
	// API keys arrive with a later release; until then nothing authenticates
	// requests, so only loopback is safe without an explicit opt-in.
	if !loopback && !c.Insecure {
		return fmt.Errorf("listen %q is not a loopback address and no API keys are configured, so anyone who reaches it can read and change every table; pass --insecure (insecure: true) to serve without authentication", c.Listen)
	}
	if err := checkDataDir(c.DataDir); err != nil {
		return fmt.Errorf("data_dir %q: %w", c.DataDir, err)
	}
	if c.MaxBodyBytes < 1024 {
		return fmt.Errorf("max_body_bytes %s: must be at least 1KiB", c.MaxBodyBytes)
	}
	if c.MaxJSONBodyBytes < 1024 {
		return fmt.Errorf("max_json_body_bytes %s: must be at least 1KiB", c.MaxJSONBodyBytes)
	}
	if c.MaxDecodedBytes != 0 && c.MaxDecodedBytes < c.MaxBodyBytes {
		return fmt.Errorf("max_decoded_bytes %s: must be 0 or at least max_body_bytes (%s)", c.MaxDecodedBytes, c.MaxBodyBytes)
	}
	if c.QueryParallelism < 0 {
		return fmt.Errorf("query_parallelism %d: must not be negative", c.QueryParallelism)
	}
	if c.QueryCacheBytes < 0 {
		return fmt.Errorf("query_cache_bytes %s: must not be negative", c.QueryCacheBytes)
	}
	if c.IndexCacheBytes < 1<<20 {
		return fmt.Errorf("index_cache_bytes %s: must be at least 1MiB", c.IndexCacheBytes)
	}
	// A build needs room for at least its training sample and one batch.
	if c.IndexBuildMemoryBytes < 16<<20 {
		return fmt.Errorf("index_build_memory_bytes %s: must be at least 16MiB", c.IndexBuildMemoryBytes)
	}
	if err := checkDataDir(c.IndexSpillDir); err != nil {
		return fmt.Errorf("index_spill_dir %q: %w", c.IndexSpillDir, err)
	}
	if c.RequestTimeout < 0 {
		return fmt.Errorf("request_timeout %s: must not be negative", c.RequestTimeout)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("shutdown_timeout %s: must not be negative", c.ShutdownTimeout)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log_format %q: want text or json", c.LogFormat)
	}
	if _, err := parseLogLevel(c.LogLevel); err != nil {
		return fmt.Errorf("log_level %q: %w", c.LogLevel, err)
	}
	if c.DefaultLocation != "" {
		if _, err := location.Parse(c.DefaultLocation); err != nil {
			return fmt.Errorf("default_location: %w", err)
		}
	}
	cc, err := c.catalogConfig()
	if err != nil {
		return err
	}
	if err := cc.Validate(); err != nil {
		return fmt.Errorf("databases: %w", err)
	}
	if _, err := location.NewResolver(c.Accounts); err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	return c.DistConfig.validate(c.Target, c.Insecure)
}

// checkListen validates host:port and reports whether the host is loopback.
// Host names other than localhost count as non-loopback: they may resolve to
// anything.
func checkListen(addr string) (loopback bool, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("want host:port, e.g. 127.0.0.1:8080 (%w)", err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || (port != "0" && p == 0) {
		return false, fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if host == "" {
		return false, nil // every interface
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if strings.ContainsAny(host, " /\\") {
			return false, fmt.Errorf("host %q is neither an IP address nor a host name", host)
		}
		return false, nil
	}
	return ip.IsLoopback(), nil
}

func checkDataDir(dir string) error {
	if strings.TrimSpace(dir) == "" {
		return errors.New("must not be empty")
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil // created on first use
	case err != nil:
		return err
	case !fi.IsDir():
		return errors.New("exists but is not a directory")
	}
	return nil
}

func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, errors.New("want debug, info, warn or error")
}
