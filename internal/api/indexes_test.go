package api_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/api"
	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/index/indextest"
	"github.com/sarissa-db/sarissa/internal/table"
)

// vecDim is the dimension of the index tests' vectors.
const vecDim = 16

var vecSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "vector", Type: arrow.FixedSizeListOf(vecDim, arrow.PrimitiveTypes.Float32), Nullable: true},
	{Name: "label", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "bytes", Type: arrow.FixedSizeListOf(4, arrow.PrimitiveTypes.Uint8), Nullable: true},
}, nil)

// vecRows holds generated rows: ids from first, vectors of a Gaussian
// mixture, label "even"/"odd" by id.
type vecRows struct {
	first int64
	data  []float32
}

func genRows(seed uint64, first int64, n, clusters int) vecRows {
	data, _ := indextest.Mixture(rand.New(rand.NewPCG(seed, 7)), n, vecDim, clusters, 0.08)
	return vecRows{first: first, data: data}
}

func (e *env) vecStream(r vecRows) []byte {
	e.t.Helper()
	b := array.NewRecordBuilder(e.mem, vecSchema)
	defer b.Release()
	n := len(r.data) / vecDim
	for i := range n {
		id := r.first + int64(i)
		b.Field(0).(*array.Int64Builder).Append(id)
		vb := b.Field(1).(*array.FixedSizeListBuilder)
		vb.Append(true)
		vb.ValueBuilder().(*array.Float32Builder).AppendValues(r.data[i*vecDim:(i+1)*vecDim], nil)
		label := "odd"
		if id%2 == 0 {
			label = "even"
		}
		b.Field(2).(*array.StringBuilder).Append(label)
		bb := b.Field(3).(*array.FixedSizeListBuilder)
		bb.Append(true)
		bb.ValueBuilder().(*array.Uint8Builder).AppendValues([]byte{byte(id), 1, 2, 3}, nil)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return stream(e.t, vecSchema, rec)
}

// waitIndexed polls index/list and stats like the client's waitForIndex
// until the index is listed with no unindexed rows.
func (e *env) waitIndexed(table, name string) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var list struct {
			Indexes []struct {
				Name string `json:"index_name"`
			} `json:"indexes"`
		}
		e.ok(e.post("/v1/table/"+table+"/index/list/", map[string]any{"version": nil}), &list)
		listed := false
		for _, x := range list.Indexes {
			listed = listed || x.Name == name
		}
		if listed && e.indexStats(table, name).Unindexed == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("index %s on %s not ready after 60s", name, table)
}

type indexStats struct {
	Indexed   int64  `json:"num_indexed_rows"`
	Unindexed int64  `json:"num_unindexed_rows"`
	Type      string `json:"index_type"`
	Distance  string `json:"distance_type"`
	Indices   int    `json:"num_indices"`
}

func (e *env) indexStats(table, name string) indexStats {
	e.t.Helper()
	var st indexStats
	e.ok(e.post("/v1/table/"+table+"/index/"+name+"/stats/", map[string]any{"version": nil}), &st)
	return st
}

// search runs a query body and returns ids and distances.
func (e *env) search(table string, body map[string]any) ([]int64, []float64) {
	e.t.Helper()
	if _, ok := body["columns"]; !ok {
		body["columns"] = []string{"id"}
	}
	_, cols := e.arrowFile(e.post("/v1/table/"+table+"/query/", body))
	var ids []int64
	var dists []float64
	for i, s := range cols["id"] {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, id)
		d, err := strconv.ParseFloat(cols["_distance"][i], 64)
		if err != nil {
			e.t.Fatal(err)
		}
		dists = append(dists, d)
	}
	return ids, dists
}

func recall(got, want []int64) float64 {
	if len(want) == 0 {
		return 1
	}
	n := 0
	for _, w := range want {
		if slices.Contains(got, w) {
			n++
		}
	}
	return float64(n) / float64(len(want))
}

func vec(data []float32, i int) []float32 { return data[i*vecDim : (i+1)*vecDim] }

func TestCreateIndexValidation(t *testing.T) {
	e := newEnv(t, "mem", api.Config{})
	e.ok(e.post("/v1/table/v/create/", e.vecStream(genRows(1, 0, 300, 4))), nil)
	post := func(body any) resp { return e.post("/v1/table/v/create_index/", body) }
	for _, tc := range []struct {
		body any
		want string
	}{
		{map[string]any{}, `names no column to index ("column")`},
		{map[string]any{"column": "nope", "index_type": "IVF_PQ"}, "cannot index column \"nope\": table 'v' has no such column (columns: `id`, `vector`, `label`, `bytes`)"},
		{map[string]any{"column": "nope", "index_type": "BTREE"}, `"nope"`},
		{map[string]any{"column": "label"}, `no index_type given for column "label" (utf8): scalar indexes are not supported yet`},
		{map[string]any{"column": "label", "index_type": "BTREE"}, "index type BTREE is not supported yet (supported: IVF_FLAT, IVF_PQ, IVF_SQ, IVF_HNSW_SQ)"},
		{map[string]any{"column": "label", "index_type": "FTS", "with_position": false}, "index type FTS is not supported yet"},
		{map[string]any{"column": "vector", "index_type": "IVF_RQ", "num_bits": 1}, "index type IVF_RQ is not supported yet"},
		{map[string]any{"column": "vector", "index_type": "IVF_HNSW_PQ"}, "index type IVF_HNSW_PQ is not supported yet"},
		{map[string]any{"column": "vector", "index_type": "IVF_HNSW_FLAT"}, "index type IVF_HNSW_FLAT is not supported yet"},
		{map[string]any{"column": "vector", "index_type": "LSH"}, `unknown index type "LSH" (supported: IVF_FLAT, IVF_PQ, IVF_SQ, IVF_HNSW_SQ)`},
		{map[string]any{"column": "id", "index_type": "IVF_PQ"}, `cannot build a IVF_PQ index on column "id": it has type int64, not a vector`},
		{map[string]any{"column": "bytes", "index_type": "IVF_FLAT", "metric_type": "hamming"}, `its vectors are uint8; vector indexes support float16 and float32 vectors`},
		{map[string]any{"column": "vector", "index_type": "IVF_FLAT", "metric_type": "hamming"}, "metric_type hamming needs binary (uint8) vectors"},
		{map[string]any{"column": "vector", "index_type": "IVF_PQ", "metric_type": "manhattan"}, `metric_type "manhattan": want l2, cosine or dot`},
		{map[string]any{"column": "vector", "index_type": "IVF_PQ", "metric_type": 2}, "metric_type must be a string, got 2"},
		{map[string]any{"column": "vector", "index_type": "IVF_PQ", "num_partitions": 0}, "num_partitions must be a positive integer below 2^32, got 0"},
		{map[string]any{"column": "vector", "index_type": "IVF_PQ", "num_partitions": -3}, "num_partitions must be a positive integer below 2^32, got -3"},
		{map[string]any{"column": "vector", "index_type": "IVF_PQ", "sample_rate": 2.5}, "sample_rate must be a positive integer below 2^32, got 2.5"},
		{map[string]any{"column": "vector", "index_type": "IVF_PQ", "max_iterations": "50"}, `max_iterations must be a positive integer, got "50"`},
		{map[string]any{"column": "vector", "index_type": "IVF_PQ", "target_partition_size": 1e10}, "target_partition_size must be a positive integer below 2^32"},
		{map[string]any{"column": "vector", "index_type": "IVF_PQ", "m": 20}, "m does not apply to IVF_PQ indexes"},
		{map[string]any{"column": "vector", "index_type": "IVF_FLAT", "num_sub_vectors": 4}, "num_sub_vectors does not apply to IVF_FLAT indexes"},
		{map[string]any{"column": "vector", "index_type": "IVF_SQ", "ef_construction": 300}, "ef_construction does not apply to IVF_SQ indexes"},
		{map[string]any{"column": "vector", "index_type": "IVF_PQ", "num_bits": 5}, "num_bits"},
		{map[string]any{"column": "vector", "index_type": "IVF_PQ", "num_sub_vectors": 5}, "num_sub_vectors"},
		{map[string]any{"column": "vector", "index_type": "IVF_PQ", "name": "a/b"}, `index name "a/b" must not contain '/'`},
		{map[string]any{"column": "vector", "index_type": "IVF_PQ", "branch": "dev"}, `branches are not supported (branch "dev")`},
		{`[1]`, "invalid JSON body: want an object"},
		{`{"column":`, "invalid JSON body"},
	} {
		r := post(tc.body)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%v: %d %s\nwant 400 containing %q", tc.body, r.status, r.body, tc.want)
		}
	}
	e.fails(e.post("/v1/table/missing/create_index/", map[string]any{"column": "vector", "index_type": "IVF_PQ"}), http.StatusNotFound)
	// Nothing was created by any of them.
	var list struct {
		Indexes []any `json:"indexes"`
	}
	e.ok(e.post("/v1/table/v/index/list/", map[string]any{"version": nil}), &list)
	if len(list.Indexes) != 0 {
		t.Fatalf("indexes after refused creates: %v", list.Indexes)
	}
}

// TestIndexLifecycle builds an index through the REST API the way the
// client does and checks list, stats, searches (recall, filters, deletions,
// an unindexed tail, fast_search, bypass, a metric mismatch), explain and
// drop.
func TestIndexLifecycle(t *testing.T) {
	forEachStore(t, api.Config{}, func(t *testing.T, e *env) {
		const n = 2000
		base := genRows(2, 0, n, 16)
		e.ok(e.post("/v1/table/v/create/", e.vecStream(base)), nil)

		// Index.ivfFlat({numPartitions: 8}) as the 0.39 client sends it.
		var created map[string]string
		e.ok(e.post("/v1/table/v/create_index/", map[string]any{
			"column": "vector", "index_type": "IVF_FLAT", "metric_type": "l2", "num_partitions": 8,
			"sample_rate": 256, "max_iterations": 50,
		}), &created)
		if created["index_name"] != "vector_idx" {
			t.Fatalf("create_index answered %v", created)
		}
		e.waitIndexed("v", "vector_idx")

		var list struct {
			Indexes []map[string]any `json:"indexes"`
		}
		e.ok(e.post("/v1/table/v/index/list/", map[string]any{"version": nil}), &list)
		if len(list.Indexes) != 1 {
			t.Fatalf("list: %v", list.Indexes)
		}
		in := list.Indexes[0]
		if in["index_name"] != "vector_idx" || fmt.Sprint(in["columns"]) != "[vector]" || in["index_type"] != "IVF_FLAT" ||
			in["num_indexed_rows"] != float64(n) || in["num_unindexed_rows"] != float64(0) || in["index_uuid"] == "" {
			t.Errorf("list entry: %v", in)
		}
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(in["created_at"])); err != nil {
			t.Errorf("created_at %v: %v", in["created_at"], err)
		}
		if d, _ := in["index_details"].(string); !strings.Contains(d, `"num_partitions":8`) {
			t.Errorf("index_details %v", in["index_details"])
		}
		st := e.indexStats("v", "vector_idx")
		if st != (indexStats{Indexed: n, Unindexed: 0, Type: "IVF_FLAT", Distance: "l2", Indices: 1}) {
			t.Errorf("stats: %+v", st)
		}

		// Every partition probed: IVF_FLAT is then exact.
		for qi := range 5 {
			q := vec(base.data, qi*97)
			want, wantD := e.search("v", map[string]any{"vector": q, "k": 10, "bypass_vector_index": true})
			got, gotD := e.search("v", map[string]any{"vector": q, "k": 10, "nprobes": 8, "minimum_nprobes": 8, "maximum_nprobes": 8})
			if !slices.Equal(got, want) || !closeAll(gotD, wantD) {
				t.Errorf("query %d, all partitions: got %v %v, want %v %v", qi, got, gotD, want, wantD)
			}
		}
		// Default probes on clustered data: high recall, and fewer
		// probes cannot find more.
		var r1, r20 float64
		for qi := range 20 {
			q := vec(base.data, qi*53+1)
			want, _ := e.search("v", map[string]any{"vector": q, "k": 10, "bypass_vector_index": true})
			got, _ := e.search("v", map[string]any{"vector": q, "k": 10, "nprobes": 20, "minimum_nprobes": 20, "maximum_nprobes": 20})
			one, _ := e.search("v", map[string]any{"vector": q, "k": 10, "nprobes": 1, "minimum_nprobes": 1, "maximum_nprobes": 1})
			r20 += recall(got, want) / 20
			r1 += recall(one, want) / 20
		}
		if r20 < 0.99 || r1 > r20 {
			t.Errorf("recall@10: nprobes 20 %.3f, nprobes 1 %.3f", r20, r1)
		}

		// A prefilter: every result matches and k come back.
		q := vec(base.data, 11)
		got, _ := e.search("v", map[string]any{"vector": q, "k": 10, "filter": "label = 'even'", "columns": []string{"id", "label"}})
		want, _ := e.search("v", map[string]any{"vector": q, "k": 10, "filter": "label = 'even'", "bypass_vector_index": true})
		if len(got) != 10 || recall(got, want) < 0.9 {
			t.Errorf("prefiltered: got %v, exact %v", got, want)
		}
		for _, id := range got {
			if id%2 != 0 {
				t.Errorf("prefiltered result %d does not match", id)
			}
		}

		// Deleted rows never come back, even when they are the nearest.
		var del struct {
			Deleted int64 `json:"num_deleted_rows"`
		}
		e.ok(e.post("/v1/table/v/delete/", map[string]any{"predicate": "id < 100"}), &del)
		if del.Deleted != 100 {
			t.Fatalf("deleted %d", del.Deleted)
		}
		for _, row := range []int{5, 50, 99} {
			got, _ := e.search("v", map[string]any{"vector": vec(base.data, row), "k": 20})
			for _, id := range got {
				if id < 100 {
					t.Errorf("deleted row %d returned for the vector of row %d", id, row)
				}
			}
		}
		if st := e.indexStats("v", "vector_idx"); st.Indexed != n-100 || st.Unindexed != 0 {
			t.Errorf("stats after delete: %+v", st)
		}

		// Appended rows are not indexed, but searched.
		tail := genRows(3, n, 200, 2)
		for i := range tail.data {
			tail.data[i] += 10 // far from every indexed row
		}
		e.ok(e.post("/v1/table/v/insert/", e.vecStream(tail)), nil)
		if st := e.indexStats("v", "vector_idx"); st.Indexed != n-100 || st.Unindexed != 200 {
			t.Errorf("stats after append: %+v", st)
		}
		q = vec(tail.data, 7)
		got, _ = e.search("v", map[string]any{"vector": q, "k": 5})
		want, _ = e.search("v", map[string]any{"vector": q, "k": 5, "bypass_vector_index": true})
		if !slices.Equal(got, want) || got[0] != n+7 {
			t.Errorf("search near the unindexed tail: %v, exact %v", got, want)
		}
		if fast, _ := e.search("v", map[string]any{"vector": q, "k": 5, "fast_search": true}); slices.ContainsFunc(fast, func(id int64) bool { return id >= n }) || len(fast) != 5 {
			t.Errorf("fast_search returned %v: want 5 indexed rows only", fast)
		}

		// A metric other than the index's searches exactly with it.
		got, gotD := e.search("v", map[string]any{"vector": q, "k": 5, "distance_type": "cosine"})
		want, wantD := e.search("v", map[string]any{"vector": q, "k": 5, "distance_type": "cosine", "bypass_vector_index": true})
		if !slices.Equal(got, want) || !closeAll(gotD, wantD) {
			t.Errorf("cosine over an l2 index: %v %v, exact %v %v", got, gotD, want, wantD)
		}
		e.fails(e.post("/v1/table/v/query/", map[string]any{"vector": q, "k": 5, "refine_factor": 0}), http.StatusBadRequest, "refine_factor must be greater than 0")

		var plan string
		e.ok(e.post("/v1/table/v/explain_plan/", map[string]any{"verbose": false, "query": map[string]any{"vector": q, "k": 5, "refine_factor": 2, "filter": "id > 3"}}), &plan)
		for _, part := range []string{"ANNIndexExec: index=vector_idx, type=IVF_FLAT", "RefineExec: refine_factor=2", "FlatKNNExec:", "unindexed_rows=200", "PrefilterExec"} {
			if !strings.Contains(plan, part) {
				t.Errorf("plan lacks %q:\n%s", part, plan)
			}
		}

		// Drop: gone from list and stats; a second drop is a 404.
		e.ok(e.post("/v1/table/v/index/vector_idx/drop/", nil), nil)
		e.fails(e.post("/v1/table/v/index/vector_idx/stats/", map[string]any{"version": nil}), http.StatusNotFound, "vector_idx")
		e.fails(e.post("/v1/table/v/index/vector_idx/drop/", nil), http.StatusNotFound, "vector_idx")
		e.ok(e.post("/v1/table/v/index/list/", map[string]any{"version": nil}), &list)
		if len(list.Indexes) != 0 {
			t.Errorf("list after drop: %v", list.Indexes)
		}
		e.ok(e.post("/v1/table/v/explain_plan/", map[string]any{"query": map[string]any{"vector": q, "k": 5}}), &plan)
		if strings.Contains(plan, "ANNIndexExec") {
			t.Errorf("plan after drop uses an index:\n%s", plan)
		}
	})
}

// TestIndexKinds builds each supported kind with the parameters the client
// sends and checks that searches through it reach a stated recall.
func TestIndexKinds(t *testing.T) {
	e := newEnv(t, "mem", api.Config{})
	const n = 3000
	base := genRows(4, 0, n, 24)
	for _, tc := range []struct {
		name   string
		body   map[string]any
		kind   string
		metric string
		query  map[string]any
		min    float64
	}{
		{"auto", map[string]any{"metric_type": "l2"}, "IVF_PQ", "l2", map[string]any{"refine_factor": 10}, 0.9},
		{"pq", map[string]any{"index_type": "IVF_PQ", "metric_type": "cosine", "num_partitions": 8, "num_sub_vectors": 8, "num_bits": 8, "sample_rate": 256, "max_iterations": 50}, "IVF_PQ", "cosine", map[string]any{"refine_factor": 5}, 0.9},
		{"sq", map[string]any{"index_type": "IVF_SQ", "metric_type": "dot", "num_partitions": 8, "sample_rate": 256, "max_iterations": 50}, "IVF_SQ", "dot", map[string]any{}, 0.8},
		{"hnsw", map[string]any{"index_type": "IVF_HNSW_SQ", "metric_type": "l2", "num_partitions": 4, "m": 16, "ef_construction": 100, "sample_rate": 256, "max_iterations": 50}, "IVF_HNSW_SQ", "l2", map[string]any{"ef": 64}, 0.8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table := "k_" + tc.name
			e.ok(e.post("/v1/table/"+table+"/create/", e.vecStream(base)), nil)
			tc.body["column"] = "vector"
			e.ok(e.post("/v1/table/"+table+"/create_index/", tc.body), nil)
			e.waitIndexed(table, "vector_idx")
			if st := e.indexStats(table, "vector_idx"); st.Type != tc.kind || st.Distance != tc.metric || st.Indexed != n {
				t.Fatalf("stats: %+v", st)
			}
			var r float64
			const queries = 20
			for qi := range queries {
				q := vec(base.data, qi*131+3)
				exact := map[string]any{"vector": q, "k": 10, "bypass_vector_index": true, "distance_type": tc.metric}
				want, _ := e.search(table, exact)
				body := map[string]any{"vector": q, "k": 10}
				for k, v := range tc.query {
					body[k] = v
				}
				got, _ := e.search(table, body)
				r += recall(got, want) / queries
			}
			t.Logf("%s (%s): recall@10 %.3f", tc.kind, tc.metric, r)
			if r < tc.min {
				t.Errorf("%s recall@10 %.3f < %.2f", tc.kind, r, tc.min)
			}
		})
	}
}

func closeAll(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if d := a[i] - b[i]; d > 1e-4 || d < -1e-4 {
			return false
		}
	}
	return true
}

// TestIndexesDisabled: a server without an index manager refuses
// create_index, lists no indexes and searches flat.
func TestIndexesDisabled(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cat, err := catalog.New(catalog.Config{DefaultLocation: "mem://no-indexes"}, catalog.Deps{Table: table.Options{Allocator: mem}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{}, api.Deps{Catalog: cat, Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	e := &env{t: t, url: srv.URL, mem: mem, db: "db"}
	e.createItems("t")
	e.fails(e.post("/v1/table/t/create_index/", map[string]any{"column": "vector", "index_type": "IVF_PQ"}), http.StatusBadRequest, "vector indexes are not enabled on this server")
	e.fails(e.post("/v1/table/t/create_index/", map[string]any{"column": "nope", "index_type": "IVF_PQ"}), http.StatusBadRequest, "no such column")
	var list struct {
		Indexes []any `json:"indexes"`
	}
	e.ok(e.post("/v1/table/t/index/list/", nil), &list)
	if list.Indexes == nil || len(list.Indexes) != 0 {
		t.Errorf("list: %v", list.Indexes)
	}
	e.fails(e.post("/v1/table/t/index/vector_idx/stats/", nil), http.StatusNotFound, "vector_idx")
	e.fails(e.post("/v1/table/t/index/vector_idx/drop/", nil), http.StatusNotFound, "vector_idx")
	if ids, _ := e.search("t", map[string]any{"vector": []float32{1, 0}, "k": 2}); !slices.Equal(ids, []int64{1, 2}) {
		t.Errorf("flat search: %v", ids)
	}
}
