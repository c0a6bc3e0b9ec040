package api_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sarissa-db/sarissa/internal/api"
)

// Bad bodies are 4xx with a precise message, and nothing is committed.
func TestBadBodies(t *testing.T) {
	forEachStore(t, api.Config{MaxBodyBytes: 64 << 10}, func(t *testing.T, e *env) {
		e.createItems("t")
		good := e.itemStream(item{id: 10}, item{id: 11})
		wrongSchema := func() []byte {
			sch := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "nope", Type: arrow.BinaryTypes.String}}, nil)
			b := array.NewRecordBuilder(e.mem, sch)
			defer b.Release()
			b.Field(0).(*array.Int64Builder).Append(1)
			b.Field(1).(*array.StringBuilder).Append("x")
			rec := b.NewRecordBatch()
			defer rec.Release()
			return stream(t, sch, rec)
		}()
		wrongType := func() []byte {
			sch := arrow.NewSchema([]arrow.Field{
				{Name: "id", Type: arrow.BinaryTypes.String}, {Name: "vector", Type: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float32), Nullable: true},
				{Name: "label", Type: arrow.BinaryTypes.String, Nullable: true}, {Name: "price", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
			}, nil)
			b := array.NewRecordBuilder(e.mem, sch)
			defer b.Release()
			b.Field(0).(*array.StringBuilder).Append("1")
			b.Field(1).AppendNull()
			b.Field(2).AppendNull()
			b.Field(3).AppendNull()
			rec := b.NewRecordBatch()
			defer rec.Release()
			return stream(t, sch, rec)
		}()
		nullID := func() []byte {
			b := array.NewRecordBuilder(e.mem, arrow.NewSchema([]arrow.Field{
				{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, itemsSchema.Field(1), itemsSchema.Field(2), itemsSchema.Field(3)}, nil))
			defer b.Release()
			for i := range 4 {
				b.Field(i).AppendNull()
			}
			rec := b.NewRecordBatch()
			defer rec.Release()
			return stream(t, rec.Schema(), rec)
		}()
		// A stream whose first message claims a gigabyte of metadata
		// (internal/api/arrowhttp tests the other hostile lengths).
		hostile := bytes.Clone(good)
		binary.LittleEndian.PutUint32(hostile[4:], 1<<30)
		// Distinct labels so that LZ4 cannot shrink the body below the limit.
		var many []item
		for i := range 4000 {
			many = append(many, item{id: int64(1000 + i), label: fmt.Sprintf("%08x%08x", i*2654435761, i*40503)})
		}
		oversized := e.itemStream(many...)
		if len(oversized) <= 64<<10 {
			t.Fatalf("oversized body is only %d bytes", len(oversized))
		}
		// Many batches, each small, together over the limit: only the
		// body limit itself can catch this.
		var batches []arrow.RecordBatch
		for k := range 40 {
			batches = append(batches, items(e.mem, many[k*100:(k+1)*100]...))
		}
		manyBatches := stream(t, itemsSchema, batches...)
		for _, b := range batches {
			b.Release()
		}

		cases := []struct {
			name   string
			path   string
			body   []byte
			status int
			frags  []string
		}{
			{"json to an arrow endpoint", "/v1/table/t/insert/", []byte(`{"rows":[1]}`), 400, []string{"not start with an Arrow IPC stream"}},
			{"empty arrow body", "/v1/table/t/insert/", nil, 400, []string{"empty"}},
			{"missing columns", "/v1/table/t/insert/", wrongSchema, 400, []string{`lacks column(s) "vector", "label", "price"`}},
			{"wrong type", "/v1/table/t/insert/", wrongType, 400, []string{`column "id" has type utf8`}},
			{"null in a non-null column", "/v1/table/t/insert/", nullID, 400, []string{`"id" is not nullable`}},
			{"truncated stream", "/v1/table/t/insert/", good[:len(good)-8], 400, []string{"end-of-stream marker"}},
			{"cut mid-message", "/v1/table/t/insert/", good[:len(good)-30], 400, []string{"truncated"}},
			{"hostile length", "/v1/table/t/insert/", hostile, 400, []string{"metadata length 1073741824"}},
			{"oversized body", "/v1/table/t/insert/", oversized, 413, []string{"limit of 65536 bytes"}},
			{"many batches over the limit", "/v1/table/t/insert/", manyBatches, 413, []string{"max_body_bytes"}},
			{"oversized merge", "/v1/table/t/merge_insert/?on=id&when_matched_update_all=true", oversized, 413, []string{"limit"}},
			{"truncated merge", "/v1/table/t/merge_insert/?on=id&when_matched_update_all=true", good[:len(good)-8], 400, []string{"end-of-stream"}},
			{"overwrite with garbage", "/v1/table/t/insert/?mode=overwrite", []byte("garbage!"), 400, []string{"Arrow IPC"}},
			{"create with garbage", "/v1/table/new/create/", []byte("garbage!"), 400, []string{"Arrow IPC"}},
			{"create truncated", "/v1/table/new/create/", good[:len(good)-8], 400, []string{"end-of-stream"}},
			{"malformed json", "/v1/table/t/count_rows/", []byte(`{"predicate": `), 400, []string{"invalid JSON body"}},
			{"json syntax", "/v1/table/t/delete/", []byte(`{"predicate" "x"}`), 400, []string{"invalid JSON body at byte"}},
			{"json type", "/v1/table/t/count_rows/", []byte(`{"version": "one"}`), 400, []string{`field "version"`}},
			{"negative version", "/v1/table/t/describe/", []byte(`{"version": -1}`), 400, []string{`field "version"`}},
			{"bad filter", "/v1/table/t/count_rows/", []byte(`{"predicate": "price >>> 3"}`), 400, []string{"expected an expression but found '>'"}},
			{"unknown column in filter", "/v1/table/t/count_rows/", []byte(`{"predicate": "nope = 1"}`), 400, []string{`unknown column "nope"`}},
			{"bad query", "/v1/table/t/query/", []byte(`{"vector": [1, 0, 0], "k": 3}`), 400, []string{"dimension"}},
			{"bad query filter", "/v1/table/t/query/", []byte(`{"vector": [], "k": 3, "filter": "id ="}`), 400, []string{"filter"}},
			{"bad update expression", "/v1/table/t/update/", []byte(`{"updates": [["price", "price +"]]}`), 400, []string{"price"}},
			{"update unknown column", "/v1/table/t/update/", []byte(`{"updates": [["nope", "1"]]}`), 400, []string{"nope"}},
			{"divide by zero", "/v1/table/t/update/", []byte(`{"updates": [["id", "id / 0"]]}`), 400, []string{"ivide by zero"}},
		}
		v0 := e.version("t")
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := e.post(tc.path, tc.body)
				if r.status != tc.status {
					t.Fatalf("status %d (%s), want %d", r.status, r.body, tc.status)
				}
				for _, f := range tc.frags {
					if !strings.Contains(string(r.body), f) {
						t.Fatalf("body %q lacks %q", r.body, f)
					}
				}
			})
		}
		if v := e.version("t"); v != v0 || e.count("t") != 4 {
			t.Fatalf("bad bodies committed: version %d (was %d), %d rows", v, v0, e.count("t"))
		}
		e.fails(e.post("/v1/table/new/count_rows/", nil), http.StatusNotFound)
	})
}

func TestRequestErrors(t *testing.T) {
	e := newEnv(t, "mem", api.Config{})
	e.createItems("t")
	e.fails(e.do("GET", "/v1/table/", nil, "x-lancedb-database", ""), http.StatusBadRequest, "x-lancedb-database")
	e.fails(e.do("GET", "/v1/table/", nil, "x-lancedb-database", "a/b"), http.StatusBadRequest, "database name")
	e.fails(e.post("/v1/table/a..b/count_rows/", nil), http.StatusBadRequest, `".."`)
	e.fails(e.post("/v1/table/a%20b/count_rows/", nil), http.StatusBadRequest, "' '")
	e.fails(e.post("/v1/table/t/count_rows/", nil, "x-request-timeout-ms", "soon"), http.StatusBadRequest, "x-request-timeout-ms")
	e.fails(e.post("/v1/table/t/count_rows/", nil, "x-lancedb-min-version", "v2"), http.StatusBadRequest, "x-lancedb-min-version")
	e.fails(e.do("GET", "/v1/table/t/count_rows/", nil), http.StatusMethodNotAllowed)
	// Freshness: a read never sees an older version than the client has.
	e.ok(e.post("/v1/table/t/count_rows/", nil, "x-lancedb-min-version", "1"), nil)
	e.fails(e.post("/v1/table/t/count_rows/", nil, "x-lancedb-min-version", "5"), http.StatusServiceUnavailable, "version 5")
	e.fails(e.post("/v1/table/t/query/", map[string]any{"vector": []float64{}, "k": 1}, "x-lancedb-min-read-version", "2"), http.StatusServiceUnavailable, "version 2")
	// A pinned version ignores the freshness headers (checkout).
	e.ok(e.post("/v1/table/t/count_rows/", map[string]any{"version": 1}, "x-lancedb-min-version", "5"), nil)
	e.ok(e.post("/v1/table/t/count_rows/", nil, "x-request-timeout-ms", "60000"), nil)
}

func TestObservability(t *testing.T) {
	e := newEnv(t, "mem", api.Config{})
	r := e.do("GET", "/healthz", nil)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != "ok" {
		t.Fatalf("healthz: %d %q", r.status, r.body)
	}
	e.createItems("t")
	r = e.post("/v1/table/t/count_rows/", nil, "x-request-id", "client-chosen-id")
	if r.header.Get("x-request-id") != "client-chosen-id" {
		t.Fatalf("x-request-id not echoed: %q", r.header.Get("x-request-id"))
	}
	r = e.post("/v1/table/missing/count_rows/", nil)
	generated := r.header.Get("x-request-id")
	if len(generated) != 36 || generated[14] != '4' {
		t.Fatalf("generated request id %q is not a UUIDv4", generated)
	}
	logs := e.logs.String()
	for _, want := range []string{`"request_id":"client-chosen-id"`, `"route":"POST /v1/table/{id}/count_rows/"`, `"database":"db"`, `"status":404`, generated} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "secret-key-never-logged") {
		t.Error("the API key appears in the logs")
	}
	r = e.do("GET", "/metrics", nil)
	m := string(r.body)
	for _, want := range []string{
		`sarissa_http_requests_total{code="200",method="POST",route="POST /v1/table/{id}/create/"} 1`,
		`sarissa_http_requests_total{code="404",method="POST",route="POST /v1/table/{id}/count_rows/"} 1`,
		`sarissa_http_request_errors_total{code="404",route="POST /v1/table/{id}/count_rows/"} 1`,
		`sarissa_rows_written_total{operation="create"} 4`,
		`sarissa_http_request_duration_seconds_count{route="POST /v1/table/{id}/count_rows/"} 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", m)
	}
	// The trailing slash is optional.
	var n int64
	e.ok(e.post("/v1/table/t/count_rows", nil), &n)
	if n != 4 {
		t.Fatalf("count without slash: %d", n)
	}
}

// Concurrent writers through HTTP: appends never conflict, and every row lands.
func TestConcurrentInserts(t *testing.T) {
	e := newEnv(t, "file", api.Config{})
	e.createItems("t")
	const writers, each = 6, 5
	var wg sync.WaitGroup
	errs := make(chan string, writers*each)
	for w := range writers {
		wg.Go(func() {
			for k := range each {
				body := e.itemStream(item{id: int64(100 + w*each + k)})
				req, _ := http.NewRequest("POST", e.url+"/v1/table/t/insert/", bytes.NewReader(body))
				req.Header.Set("x-lancedb-database", "db")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					continue
				}
				msg, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					errs <- fmt.Sprintf("%d %s", res.StatusCode, msg)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := e.count("t"); n != 4+writers*each {
		t.Fatalf("%d rows, want %d", n, 4+writers*each)
	}
}

func TestNewChecksDeps(t *testing.T) {
	if _, err := api.New(api.Config{}, api.Deps{}); err == nil {
		t.Fatal("New without a catalog succeeded")
	}
}
