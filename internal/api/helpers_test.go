package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sarissa-db/sarissa/internal/api"
	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/query"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	t      testing.TB
	url    string
	reg    *prometheus.Registry
	logs   *syncBuffer
	mem    *memory.CheckedAllocator
	db     string
	events *eventLog
}

// eventLog records the write events the handler publishes.
type eventLog struct {
	mu     sync.Mutex
	events []events.Event
}

func (l *eventLog) add(e events.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// take returns the events published since the last take.
func (l *eventLog) take() []events.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

// newEnv starts the handler on a loopback port over a catalog in a temporary
// directory ("file") or in memory ("mem").
func newEnv(t testing.TB, kind string, cfg api.Config) *env {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	loc := "mem://api-test"
	if kind == "file" {
		loc = "file://" + filepath.ToSlash(t.TempDir())
	}
	cat, err := catalog.New(catalog.Config{DefaultLocation: loc}, catalog.Deps{Table: table.Options{Allocator: mem}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	indexes := vindex.New(vindex.Config{
		Logger: logger, CacheBytes: 64 << 20, BuildMemoryBytes: 64 << 20,
		SpillDir: t.TempDir(), Workers: 2, Seed: 1,
	})
	log := &eventLog{}
	h, err := api.New(cfg, api.Deps{
		Publish:    log.add,
		Producer:   "test-node",
		Catalog:    cat,
		Logger:     logger,
		Registerer: reg,
		QueryCache: query.NewCache(64 << 20),
		Indexes:    indexes,
		Allocator:  mem,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		indexes.Close() // ends builds still running before the allocator is checked
		mem.AssertSize(t, 0)
	})
	return &env{t: t, url: srv.URL, reg: reg, logs: logs, mem: mem, db: "db", events: log}
}

// forEachStore runs f against a file-backed and a memory-backed server.
func forEachStore(t *testing.T, cfg api.Config, f func(t *testing.T, e *env)) {
	for _, kind := range []string{"file", "mem"} {
		t.Run(kind, func(t *testing.T) { f(t, newEnv(t, kind, cfg)) })
	}
}

type resp struct {
	status int
	body   []byte
	header http.Header
}

func (r resp) String() string { return string(r.body) }

// do sends a request with the database header set (unless headers sets it
// to ""); body is sent as is ([]byte) or JSON-encoded.
func (e *env) do(method, path string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("x-lancedb-database", e.db)
	req.Header.Set("x-api-key", "secret-key-never-logged")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, body: data, header: res.Header}
}

func (e *env) post(path string, body any, headers ...string) resp {
	e.t.Helper()
	return e.do(http.MethodPost, path, body, headers...)
}

// ok asserts a 2xx and decodes the JSON body into v (if not nil).
func (e *env) ok(r resp, v any) {
	e.t.Helper()
	if r.status/100 != 2 {
		e.t.Fatalf("status %d: %s", r.status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			e.t.Fatalf("decode %s: %v", r.body, err)
		}
	}
}

// fails asserts a status and that the body contains every fragment.
func (e *env) fails(r resp, status int, fragments ...string) {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d (%s), want %d", r.status, r.body, status)
	}
	for _, f := range fragments {
		if !strings.Contains(string(r.body), f) {
			e.t.Fatalf("body %q lacks %q", r.body, f)
		}
	}
}

var itemsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "vector", Type: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float32), Nullable: true},
	{Name: "label", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "price", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, func() *arrow.Metadata {
	m := arrow.NewMetadata([]string{"embedding_functions"}, []string{"[]"})
	return &m
}())

type item struct {
	id    int64
	vec   [2]float32
	label string
	price float64
}

// items builds a batch of itemsSchema.
func items(mem memory.Allocator, rows ...item) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, itemsSchema)
	defer b.Release()
	for _, r := range rows {
		b.Field(0).(*array.Int64Builder).Append(r.id)
		vb := b.Field(1).(*array.FixedSizeListBuilder)
		vb.Append(true)
		vb.ValueBuilder().(*array.Float32Builder).AppendValues(r.vec[:], nil)
		b.Field(2).(*array.StringBuilder).Append(r.label)
		b.Field(3).(*array.Float64Builder).Append(r.price)
	}
	return b.NewRecordBatch()
}

// stream encodes batches as the client does: an LZ4-compressed IPC stream.
func stream(t testing.TB, sch *arrow.Schema, batches ...arrow.RecordBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(sch), ipc.WithLZ4())
	for _, b := range batches {
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// itemStream encodes rows of itemsSchema and releases the batch.
func (e *env) itemStream(rows ...item) []byte {
	b := items(e.mem, rows...)
	defer b.Release()
	return stream(e.t, itemsSchema, b)
}

var baseItems = []item{
	{id: 1, vec: [2]float32{1, 0}, label: "a", price: 1.5},
	{id: 2, vec: [2]float32{0, 1}, label: "b", price: 2.5},
	{id: 3, vec: [2]float32{2, 2}, label: "a", price: 3.5},
	{id: 4, vec: [2]float32{-1, 0}, label: "c", price: 4.5},
}

// createItems creates table name with baseItems.
func (e *env) createItems(name string) {
	e.t.Helper()
	e.ok(e.post("/v1/table/"+name+"/create/?mode=create", e.itemStream(baseItems...), "content-type", "application/vnd.apache.arrow.stream"), nil)
}

// arrowFile decodes a query response and returns the schema and the values
// of the named column rendered as strings.
func (e *env) arrowFile(r resp) (*arrow.Schema, map[string][]string) {
	e.t.Helper()
	if r.status != http.StatusOK {
		e.t.Fatalf("query status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/vnd.apache.arrow.file" {
		e.t.Fatalf("content type %q", ct)
	}
	fr, err := ipc.NewFileReader(bytes.NewReader(r.body))
	if err != nil {
		e.t.Fatalf("decode arrow file: %v", err)
	}
	defer fr.Close()
	cols := map[string][]string{}
	for i := range fr.NumRecords() {
		rec, err := fr.RecordBatch(i)
		if err != nil {
			e.t.Fatal(err)
		}
		for c, f := range rec.Schema().Fields() {
			for k := range int(rec.NumRows()) {
				cols[f.Name] = append(cols[f.Name], rec.Column(c).ValueStr(k))
			}
		}
		rec.Release()
	}
	return fr.Schema(), cols
}

// version returns the table's version through describe.
func (e *env) version(name string) uint64 {
	e.t.Helper()
	var d struct {
		Version uint64 `json:"version"`
	}
	e.ok(e.post("/v1/table/"+name+"/describe/", map[string]any{"version": nil}), &d)
	return d.Version
}

func (e *env) count(name string) int64 {
	e.t.Helper()
	var n int64
	e.ok(e.post("/v1/table/"+name+"/count_rows/", map[string]any{"version": nil}), &n)
	return n
}
