package api_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sarissa-db/sarissa/internal/api"
)

var benchSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "vector", Type: arrow.FixedSizeListOf(128, arrow.PrimitiveTypes.Float32), Nullable: true},
}, nil)

// benchTable creates table "b" with n random 128-d vectors through the API.
func benchTable(b *testing.B, e *env, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	const chunk = 10_000
	for start := 0; start < n; start += chunk {
		rb := array.NewRecordBuilder(e.mem, benchSchema)
		for i := start; i < min(start+chunk, n); i++ {
			rb.Field(0).(*array.Int64Builder).Append(int64(i))
			vb := rb.Field(1).(*array.FixedSizeListBuilder)
			vb.Append(true)
			for range 128 {
				vb.ValueBuilder().(*array.Float32Builder).Append(rng.Float32())
			}
		}
		rec := rb.NewRecordBatch()
		rb.Release()
		body := stream(b, benchSchema, rec)
		rec.Release()
		path := "/v1/table/b/insert/"
		if start == 0 {
			path = "/v1/table/b/create/"
		}
		if r := e.post(path, body); r.status != 200 {
			b.Fatalf("%s: %d %s", path, r.status, r.body)
		}
	}
}

// BenchmarkQueryREST measures a k=10 exact vector search over 50k × 128
// float32 rows through the whole HTTP stack (JSON request, snapshot lookup,
// search, Arrow IPC file response), client included.
func BenchmarkQueryREST(b *testing.B) {
	e := newEnv(b, "file", api.Config{})
	benchTable(b, e, 50_000)
	rng := rand.New(rand.NewPCG(3, 4))
	q := make([]float32, 128)
	for i := range q {
		q[i] = rng.Float32()
	}
	body, _ := json.Marshal(map[string]any{"vector": q, "k": 10, "columns": []string{"id"}, "prefilter": true, "version": nil})
	// Warm the vector cache.
	e.post("/v1/table/b/query/", body)
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest("POST", e.url+"/v1/table/b/query/", bytes.NewReader(body))
		req.Header.Set("x-lancedb-database", "db")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("status %d: %s", res.StatusCode, buf.Bytes())
		}
	}
}

// BenchmarkInsertREST measures appending 10k × 128 float32 rows (one
// LZ4-compressed Arrow stream of about 5 MB) per request.
func BenchmarkInsertREST(b *testing.B) {
	e := newEnv(b, "file", api.Config{})
	benchTable(b, e, 10_000)
	rng := rand.New(rand.NewPCG(5, 6))
	rb := array.NewRecordBuilder(e.mem, benchSchema)
	for i := range 10_000 {
		rb.Field(0).(*array.Int64Builder).Append(int64(i))
		vb := rb.Field(1).(*array.FixedSizeListBuilder)
		vb.Append(true)
		for range 128 {
			vb.ValueBuilder().(*array.Float32Builder).Append(rng.Float32())
		}
	}
	rec := rb.NewRecordBatch()
	rb.Release()
	body := stream(b, benchSchema, rec)
	rec.Release()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for b.Loop() {
		if r := e.post("/v1/table/b/insert/", body); r.status != 200 {
			b.Fatalf("insert: %d %s", r.status, r.body)
		}
	}
	b.ReportMetric(float64(10_000*b.N)/b.Elapsed().Seconds(), "rows/s")
}
