// Package api serves the LanceDB REST protocol (what the official clients
// speak in remote mode, docs/lancedb-rest-protocol.md) over the tables of a
// catalog: table management, reads and writes, versions and tags, schema
// evolution and namespaces, plus /healthz and /metrics.
//
// New returns a plain http.Handler; the caller owns the listener and server
// (timeouts, TLS, shutdown).
package api

import (
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sarissa-db/sarissa/internal/api/arrowhttp"
	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/query"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

// Defaults for Config.
const (
	DefaultMaxBodyBytes     = 256 << 20
	DefaultMaxJSONBodyBytes = 32 << 20
)

// Config tunes the handler. Zero values select defaults.
type Config struct {
	// MaxBodyBytes bounds every request body as sent (413 beyond).
	MaxBodyBytes int64
	// MaxJSONBodyBytes bounds JSON bodies, which are read whole (at most
	// MaxBodyBytes).
	MaxJSONBodyBytes int64
	// MaxDecodedBytes bounds what one Arrow request body may decode to
	// (after decompression); default 4 × MaxBodyBytes.
	MaxDecodedBytes int64
	// RequestTimeout bounds each request's work (0: none). A client's
	// x-request-timeout-ms can only shorten it.
	RequestTimeout time.Duration
	// QueryParallelism is the number of goroutines one query scans with
	// (0: GOMAXPROCS).
	QueryParallelism int
}

func (c Config) withDefaults() Config {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxJSONBodyBytes <= 0 {
		c.MaxJSONBodyBytes = DefaultMaxJSONBodyBytes
	}
	c.MaxJSONBodyBytes = min(c.MaxJSONBodyBytes, c.MaxBodyBytes)
	if c.MaxDecodedBytes <= 0 {
		c.MaxDecodedBytes = 4 * c.MaxBodyBytes
	}
	return c
}

// Deps are the handler's collaborators.
type Deps struct {
	// Catalog resolves databases and tables (required).
	Catalog *catalog.Catalog
	// Logger receives one line per request and server faults (discarded if
	// nil).
	Logger *slog.Logger
	// Registerer receives the metrics (a private registry if nil).
	Registerer prometheus.Registerer
	// Gatherer is served on /metrics; default: Registerer when it is a
	// Gatherer (as *prometheus.Registry is).
	Gatherer prometheus.Gatherer
	// Now is the clock for latencies (time.Now).
	Now func() time.Time
	// QueryCache caches decoded vector columns across queries (nil: none).
	QueryCache *query.Cache
	// Indexes builds, lists and searches vector indexes (nil: create_index
	// is refused and every search is flat).
	Indexes *vindex.Manager
	// Fleet runs query tasks on plan executors (nil: in this process).
	Fleet query.Fleet
	// Publish receives a write event after every commit (nil: none). It
	// must not block: the write has been acknowledged by storage already
	// (events.Publisher buffers).
	Publish func(events.Event)
	// Producer names this process in the events it publishes.
	Producer string
	// Allocator allocates Arrow buffers for decoding bodies and for query
	// results (memory.DefaultAllocator).
	Allocator memory.Allocator
	// Entropy generates request ids for requests without x-request-id
	// (crypto/rand).
	Entropy io.Reader
}

type server struct {
	cfg     Config
	cat     *catalog.Catalog
	log     *slog.Logger
	now     func() time.Time
	cache   *query.Cache
	indexes *vindex.Manager
	fleet   query.Fleet
	publish func(events.Event)
	prod    string
	mem     memory.Allocator
	entropy io.Reader
	m       *metrics
	mux     *http.ServeMux
	limits  arrowhttp.Limits
}

// New returns the REST handler.
func New(cfg Config, deps Deps) (http.Handler, error) {
	if deps.Catalog == nil {
		return nil, errors.New("api: a catalog is required")
	}
	cfg = cfg.withDefaults()
	s := &server{
		cfg:     cfg,
		cat:     deps.Catalog,
		log:     deps.Logger,
		now:     deps.Now,
		cache:   deps.QueryCache,
		indexes: deps.Indexes,
		fleet:   deps.Fleet,
		publish: deps.Publish,
		prod:    deps.Producer,
		mem:     deps.Allocator,
		entropy: deps.Entropy,
		limits:  arrowhttp.Limits{MaxMessageBytes: cfg.MaxBodyBytes, MaxDecodedBytes: cfg.MaxDecodedBytes},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.mem == nil {
		s.mem = memory.DefaultAllocator
	}
	if s.entropy == nil {
		s.entropy = rand.Reader
	}
	reg, gather := deps.Registerer, deps.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		reg, gather = r, r
	}
	if gather == nil {
		gather, _ = reg.(prometheus.Gatherer)
	}
	var err error
	func() {
		// promauto panics on duplicate registration; report it instead.
		defer func() {
			if p := recover(); p != nil {
				err = errors.New("api: registering metrics: " + strings.TrimSpace(errString(p)))
			}
		}()
		s.m = newMetrics(reg)
	}()
	if err != nil {
		return nil, err
	}
	s.mux = http.NewServeMux()
	s.routes(gather)
	return s, nil
}

func errString(p any) string {
	if e, ok := p.(error); ok {
		return e.Error()
	}
	if s, ok := p.(string); ok {
		return s
	}
	return "unexpected panic"
}

// handlerFunc is an endpoint: it writes a success response or returns an
// error, which the wrapper turns into the status the client expects.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// routes registers every endpoint. Table operations are registered with and
// without the trailing slash (the client sends it on most paths, §2).
func (s *server) routes(gather prometheus.Gatherer) {
	both := func(method, path string, h handlerFunc) {
		route := method + " " + path
		s.mux.Handle(route+"{$}", s.wrap(route, h))
		s.mux.Handle(method+" "+strings.TrimSuffix(path, "/"), s.wrap(route, h))
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		state(r).route = "GET /healthz"
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	if gather != nil {
		h := promhttp.HandlerFor(gather, promhttp.HandlerOpts{})
		s.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
			state(r).route = "GET /metrics"
			h.ServeHTTP(w, r)
		})
	}

	both("GET", "/v1/table/", s.listTables)
	both("GET", "/v1/namespace/{ns}/table/list/", s.listNamespaceTables)
	both("GET", "/v1/namespace/{ns}/list/", s.listNamespaces)
	both("POST", "/v1/namespace/{ns}/create/", s.createNamespace)
	both("POST", "/v1/namespace/{ns}/describe/", s.describeNamespace)
	both("POST", "/v1/namespace/{ns}/drop/", s.dropNamespace)

	t := func(op string, h handlerFunc) { both("POST", "/v1/table/{id}/"+op+"/", h) }
	t("create", s.createTable)
	t("describe", s.describeTable)
	t("drop", s.dropTable)
	t("rename", s.renameTable)
	t("stats", s.tableStats)
	t("insert", s.insert)
	t("query", s.query)
	t("explain_plan", s.explainPlan)
	t("analyze_plan", s.analyzePlan)
	t("count_rows", s.countRows)
	t("delete", s.deleteRows)
	t("update", s.updateRows)
	t("merge_insert", s.mergeInsert)
	t("add_columns", s.addColumns)
	t("alter_columns", s.alterColumns)
	t("drop_columns", s.dropColumns)
	t("version/list", s.listVersions)
	t("restore", s.restore)
	t("tags/list", s.listTags)
	t("tags/create", s.createTag)
	t("tags/update", s.updateTag)
	t("tags/delete", s.deleteTag)
	t("tags/version", s.tagVersion)
	t("create_index", s.createIndex)
	t("index/list", s.listIndexes)
	t("index/{name}/stats", s.indexStats)
	t("index/{name}/drop", s.dropIndex)
	t("index/{name}/prewarm", s.prewarmIndex)
	t("page_cache/prewarm", s.prewarmPageCache)

	// Anything else under a table is an operation this server does not
	// implement. Not 404: the client reports every 404 on a table path as
	// "table not found".
	s.mux.Handle("POST /v1/table/{id}/{rest...}", s.wrap("POST /v1/table/{id}/{rest...}", s.notImplemented))
}

func (s *server) notImplemented(w http.ResponseWriter, r *http.Request) error {
	return errorf(http.StatusNotImplemented, "%s %s is not implemented by this server", r.Method, r.URL.Path)
}

// written reports a commit to the write-event queue. Publishing never
// blocks and never fails the write: the version is durable already, and a
// lost event only delays the agent's work until it reconciles.
func (s *server) written(ref tableRef, version uint64, op string, change events.Event) {
	if s.publish == nil {
		return
	}
	change.Schema = events.SchemaVersion
	change.ID = events.NewID(ref.db.Name(), ref.String(), version, op)
	change.Database, change.Table, change.Version, change.Operation = ref.db.Name(), ref.String(), version, op
	change.Time = s.now().UTC()
	change.Producer = s.prod
	s.publish(change)
}
