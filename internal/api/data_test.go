package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sarissa-db/sarissa/internal/api"
)

func TestReadsAndWrites(t *testing.T) {
	forEachStore(t, api.Config{}, func(t *testing.T, e *env) {
		e.createItems("t")

		// Insert: append, then overwrite of another table.
		var v struct {
			Version uint64 `json:"version"`
		}
		e.ok(e.post("/v1/table/t/insert/", e.itemStream(item{id: 5, vec: [2]float32{3, -2}, label: "b", price: 5.5})), &v)
		if v.Version != 2 || e.count("t") != 5 {
			t.Fatalf("append: version %d, %d rows", v.Version, e.count("t"))
		}
		e.createItems("o")
		e.ok(e.post("/v1/table/o/insert/?mode=overwrite", e.itemStream(item{id: 60, label: "x"})), &v)
		if v.Version != 2 || e.count("o") != 1 {
			t.Fatalf("overwrite: version %d, %d rows", v.Version, e.count("o"))
		}
		e.fails(e.post("/v1/table/o/insert/?mode=upsert", e.itemStream(item{id: 1})), http.StatusBadRequest, "insert mode")
		e.fails(e.post("/v1/table/o/insert/?upload_id=u1&upload_part_id=p1", e.itemStream(item{id: 1})), http.StatusBadRequest, "multipart")

		// Counts: a bare integer, with the version read.
		r := e.post("/v1/table/t/count_rows/", map[string]any{"predicate": "label = 'a'", "version": nil})
		if r.status != 200 || string(r.body) != "2" || r.header.Get("x-lancedb-version") != "2" {
			t.Fatalf("count_rows: %d %q version header %q", r.status, r.body, r.header.Get("x-lancedb-version"))
		}
		var n int64
		e.ok(e.post("/v1/table/t/count_rows/", map[string]any{"version": 1}), &n)
		if n != 4 {
			t.Fatalf("count at version 1: %d", n)
		}

		// Queries: a plain filtered scan and a vector search.
		_, cols := e.arrowFile(e.post("/v1/table/t/query/", map[string]any{
			"columns": []string{"id"}, "filter": "price > 2", "k": int64(9223372036854775807), "prefilter": true, "vector": []float32{}, "version": nil,
		}))
		if !slices.Equal(cols["id"], []string{"2", "3", "4", "5"}) {
			t.Fatalf("filtered scan: %v", cols)
		}
		qr := e.post("/v1/table/t/query/", map[string]any{"vector": []float64{1, 0}, "k": 3, "columns": []string{"id"}, "with_row_id": true, "prefilter": true, "version": nil})
		if qr.header.Get("x-lancedb-version") != "2" {
			t.Fatalf("query version header %q", qr.header.Get("x-lancedb-version"))
		}
		sch, cols := e.arrowFile(qr)
		if !slices.Equal(cols["id"], []string{"1", "2", "4"}) || !slices.Equal(cols["_distance"], []string{"0", "2", "4"}) {
			t.Fatalf("vector search: %v", cols)
		}
		if f, _ := sch.FieldsByName("_distance"); len(f) != 1 || f[0].Type.ID() != arrow.FLOAT32 {
			t.Fatalf("_distance type: %v", sch)
		}
		if f, _ := sch.FieldsByName("_rowid"); len(f) != 1 || f[0].Type.ID() != arrow.UINT64 {
			t.Fatalf("_rowid type: %v", sch)
		}
		// An older version, and an empty result that still has its schema.
		_, cols = e.arrowFile(e.post("/v1/table/t/query/", map[string]any{"vector": []float64{3, -2}, "k": 1, "columns": []string{"id"}, "version": 1}))
		if !slices.Equal(cols["id"], []string{"1"}) {
			t.Fatalf("version 1 search: %v", cols)
		}
		sch, cols = e.arrowFile(e.post("/v1/table/t/query/", map[string]any{"filter": "id > 100", "vector": []float64{}, "k": 10, "columns": []string{"id", "label"}}))
		if sch.NumFields() != 2 || len(cols["id"]) != 0 {
			t.Fatalf("empty result: %v %v", sch, cols)
		}

		// Delete and update.
		var del struct {
			Deleted int64  `json:"num_deleted_rows"`
			Version uint64 `json:"version"`
		}
		e.ok(e.post("/v1/table/t/delete/", map[string]any{"predicate": "id = 5"}), &del)
		if del.Deleted != 1 || del.Version != 3 {
			t.Fatalf("delete: %+v", del)
		}
		var upd struct {
			Updated int64  `json:"rows_updated"`
			Version uint64 `json:"version"`
		}
		e.ok(e.post("/v1/table/t/update/", map[string]any{"updates": [][]string{{"label", "'z'"}, {"price", "price * 10"}}, "predicate": "id = 1"}), &upd)
		if upd.Updated != 1 || upd.Version != 4 {
			t.Fatalf("update: %+v", upd)
		}
		_, cols = e.arrowFile(e.post("/v1/table/t/query/", map[string]any{"filter": "id = 1", "vector": []float64{}, "k": 10}))
		if !slices.Equal(cols["label"], []string{"z"}) || !slices.Equal(cols["price"], []string{"15"}) {
			t.Fatalf("after update: %v", cols)
		}
		e.ok(e.post("/v1/table/t/update/", map[string]any{"updates": [][]string{{"price", "0"}}, "predicate": nil}), &upd)
		if upd.Updated != 4 {
			t.Fatalf("update without predicate: %+v", upd)
		}
		e.fails(e.post("/v1/table/t/update/", map[string]any{"updates": []any{[]string{"price"}}}), http.StatusBadRequest, "updates[0]")
		e.fails(e.post("/v1/table/t/delete/", map[string]any{}), http.StatusBadRequest, "predicate")
	})
}

func TestMergeInsertEndpoint(t *testing.T) {
	forEachStore(t, api.Config{}, func(t *testing.T, e *env) {
		e.createItems("m")
		type result struct {
			Version  uint64 `json:"version"`
			Inserted int64  `json:"num_inserted_rows"`
			Updated  int64  `json:"num_updated_rows"`
			Deleted  int64  `json:"num_deleted_rows"`
			Attempts int    `json:"num_attempts"`
		}
		var res result
		src := e.itemStream(
			item{id: 2, label: "b2", price: 1},   // 2.5 > 1: kept
			item{id: 3, label: "a2", price: 100}, // 3.5 < 100: updated
			item{id: 9, label: "new", price: 9.5},
		)
		e.ok(e.post("/v1/table/m/merge_insert/?on=id&when_matched_update_all=true&when_matched_update_all_filt=target.price%20%3C%20source.price&when_not_matched_insert_all=true&when_not_matched_by_source_delete=false", src), &res)
		if res != (result{Version: 2, Inserted: 1, Updated: 1, Attempts: 1}) {
			t.Fatalf("upsert: %+v", res)
		}
		_, cols := e.arrowFile(e.post("/v1/table/m/query/", map[string]any{"vector": []float64{}, "k": 100, "columns": []string{"id", "label"}, "filter": "id >= 2"}))
		got := map[string]string{}
		for i, id := range cols["id"] {
			got[id] = cols["label"][i]
		}
		if got["2"] != "b" || got["3"] != "a2" || got["9"] != "new" || len(got) != 4 {
			t.Fatalf("after upsert: %v", got)
		}
		e.ok(e.post("/v1/table/m/merge_insert/?on=id&when_matched_update_all=true&when_not_matched_insert_all=false&when_not_matched_by_source_delete=true&when_not_matched_by_source_delete_filt=id%20%3E%3D%204", e.itemStream(item{id: 1, label: "one"})), &res)
		if res != (result{Version: 3, Updated: 1, Deleted: 2, Attempts: 1}) {
			t.Fatalf("delete by source: %+v", res)
		}
		if n := e.count("m"); n != 3 {
			t.Fatalf("after delete by source: %d rows", n)
		}
		v := e.version("m")
		e.fails(e.post("/v1/table/m/merge_insert/?when_matched_update_all=true", e.itemStream(item{id: 1})), http.StatusBadRequest, "?on=")
		e.fails(e.post("/v1/table/m/merge_insert/?on=id&when_matched_update_all=maybe", e.itemStream(item{id: 1})), http.StatusBadRequest, "when_matched_update_all")
		e.fails(e.post("/v1/table/m/merge_insert/?on=id&when_matched_update_all=true", e.itemStream(item{id: 1}, item{id: 1})), http.StatusBadRequest, "ambiguous", "id = 1")
		e.fails(e.post("/v1/table/m/merge_insert/?on=id&when_matched_update_all=true&when_matched_update_all_filt=price%20%3E", e.itemStream(item{id: 1})), http.StatusBadRequest, "condition")
		e.fails(e.post("/v1/table/m/merge_insert/?on=nope&when_matched_update_all=true", e.itemStream(item{id: 1})), http.StatusBadRequest, "nope")
		e.fails(e.post("/v1/table/m/merge_insert/?on=id&when_matched_update_all=true&use_lsm=true", e.itemStream(item{id: 1})), http.StatusBadRequest, "use_lsm")
		if e.version("m") != v {
			t.Fatal("a refused merge committed")
		}
	})
}

func TestVersionsAndTags(t *testing.T) {
	forEachStore(t, api.Config{}, func(t *testing.T, e *env) {
		e.createItems("t")
		e.ok(e.post("/v1/table/t/delete/", map[string]any{"predicate": "id = 1"}), nil)
		e.ok(e.post("/v1/table/t/delete/", map[string]any{"predicate": "id = 2"}), nil)
		var vs struct {
			Versions []struct {
				Version   uint64            `json:"version"`
				Timestamp string            `json:"timestamp"`
				Metadata  map[string]string `json:"metadata"`
			} `json:"versions"`
		}
		e.ok(e.post("/v1/table/t/version/list/", nil), &vs)
		if len(vs.Versions) != 3 || vs.Versions[2].Version != 3 || vs.Versions[0].Timestamp == "" || vs.Versions[0].Metadata == nil {
			t.Fatalf("versions: %+v", vs)
		}
		var v struct {
			Version uint64 `json:"version"`
		}
		e.ok(e.post("/v1/table/t/restore/", map[string]any{"version": 1}), &v)
		if v.Version != 4 || e.count("t") != 4 {
			t.Fatalf("restore: version %d, %d rows", v.Version, e.count("t"))
		}
		e.ok(e.post("/v1/table/t/restore/", map[string]any{"version": nil}), &v)
		if v.Version != 4 {
			t.Fatalf("restore latest changed the version: %d", v.Version)
		}
		e.fails(e.post("/v1/table/t/restore/", map[string]any{"version": 99}), http.StatusBadRequest, "version 99")

		// Tags.
		e.ok(e.post("/v1/table/t/tags/create/", map[string]any{"tag": "v1", "version": 1}), nil)
		e.ok(e.post("/v1/table/t/tags/create/", map[string]any{"tag": "v2", "version": 2}), nil)
		e.fails(e.post("/v1/table/t/tags/create/", map[string]any{"tag": "v2", "version": 1}), http.StatusBadRequest, "already exists")
		e.fails(e.post("/v1/table/t/tags/create/", map[string]any{"tag": "v9", "version": 99}), http.StatusBadRequest, "version 99")
		e.fails(e.post("/v1/table/t/tags/create/", map[string]any{"tag": "bad tag", "version": 1}), http.StatusBadRequest)
		e.fails(e.post("/v1/table/t/tags/create/", map[string]any{"tag": "v3"}), http.StatusBadRequest, "version")
		var tags map[string]map[string]any
		e.ok(e.post("/v1/table/t/tags/list/", nil), &tags)
		if len(tags) != 2 || tags["v1"]["version"] != float64(1) || tags["v1"]["manifestSize"].(float64) <= 0 {
			t.Fatalf("tags: %v", tags)
		}
		e.ok(e.post("/v1/table/t/tags/update/", map[string]any{"tag": "v2", "version": 3}), nil)
		e.ok(e.post("/v1/table/t/tags/version/", map[string]any{"tag": "v2"}), &v)
		if v.Version != 3 {
			t.Fatalf("tag v2 → %d", v.Version)
		}
		e.ok(e.post("/v1/table/t/tags/delete/", map[string]any{"tag": "v1"}), nil)
		e.fails(e.post("/v1/table/t/tags/delete/", map[string]any{"tag": "v1"}), http.StatusBadRequest, "tag 'v1' does not exist")
		e.fails(e.post("/v1/table/t/tags/version/", map[string]any{"tag": "nope"}), http.StatusBadRequest, "tag 'nope' does not exist")
		e.fails(e.post("/v1/table/t/tags/update/", map[string]any{"tag": "nope", "version": 1}), http.StatusBadRequest, "does not exist")
	})
}

func TestSchemaEvolution(t *testing.T) {
	forEachStore(t, api.Config{}, func(t *testing.T, e *env) {
		e.createItems("t")
		var v struct {
			Version uint64 `json:"version"`
		}
		e.ok(e.post("/v1/table/t/add_columns/", map[string]any{"new_columns": []map[string]string{{"name": "double_price", "expression": "price * 2"}}}), &v)
		if v.Version != 2 {
			t.Fatalf("add_columns version %d", v.Version)
		}
		e.ok(e.post("/v1/table/t/alter_columns/", map[string]any{"alterations": []map[string]any{
			{"path": "double_price", "rename": "dp"},
			{"path": "price", "data_type": map[string]string{"type": "float"}},
			{"path": "id", "nullable": true},
		}}), &v)
		var d struct {
			Schema struct {
				Fields []struct {
					Name     string          `json:"name"`
					Type     json.RawMessage `json:"type"`
					Nullable bool            `json:"nullable"`
				} `json:"fields"`
			} `json:"schema"`
		}
		e.ok(e.post("/v1/table/t/describe/", nil), &d)
		var got []string
		for _, f := range d.Schema.Fields {
			got = append(got, f.Name+":"+string(f.Type)+":"+map[bool]string{true: "null", false: "notnull"}[f.Nullable])
		}
		want := []string{`id:{"type":"int64"}:null`, `vector:{"type":"fixed_size_list","fields":[{"name":"item","type":{"type":"float"},"nullable":true}],"length":2}:null`,
			`label:{"type":"string"}:null`, `price:{"type":"float"}:null`, `dp:{"type":"double"}:null`}
		if !slices.Equal(got, want) {
			t.Fatalf("schema after alter:\n got %v\nwant %v", got, want)
		}
		e.ok(e.post("/v1/table/t/drop_columns/", map[string]any{"columns": []string{"dp"}}), &v)
		if v.Version != 4 {
			t.Fatalf("drop_columns version %d", v.Version)
		}
		e.fails(e.post("/v1/table/t/alter_columns/", map[string]any{"alterations": []map[string]any{{"path": "nope", "rename": "x"}}}), http.StatusBadRequest, "nope")
		e.fails(e.post("/v1/table/t/alter_columns/", map[string]any{"alterations": []map[string]any{{"path": "price", "data_type": map[string]string{"type": "floaty"}}}}), http.StatusBadRequest, "floaty")
		e.fails(e.post("/v1/table/t/add_columns/", map[string]any{"new_columns": []map[string]string{{"name": "x", "expression": "nope + 1"}}}), http.StatusBadRequest, "nope")
		e.fails(e.post("/v1/table/t/add_columns/", map[string]any{"new_columns": []map[string]string{{"name": "x"}}}), http.StatusBadRequest, "expression")
		e.fails(e.post("/v1/table/t/drop_columns/", map[string]any{"columns": []string{}}), http.StatusBadRequest, "columns is empty")
	})
}

func TestStatsExplainIndexes(t *testing.T) {
	forEachStore(t, api.Config{}, func(t *testing.T, e *env) {
		e.createItems("t")
		e.ok(e.post("/v1/table/t/insert/", e.itemStream(item{id: 9})), nil)
		var st struct {
			TotalBytes    int64 `json:"total_bytes"`
			NumRows       int64 `json:"num_rows"`
			NumIndices    int   `json:"num_indices"`
			FragmentStats struct {
				NumFragments      int              `json:"num_fragments"`
				NumSmallFragments int              `json:"num_small_fragments"`
				Lengths           map[string]int64 `json:"lengths"`
			} `json:"fragment_stats"`
		}
		e.ok(e.post("/v1/table/t/stats/", nil), &st)
		l := st.FragmentStats.Lengths
		if st.TotalBytes <= 0 || st.NumRows != 5 || st.FragmentStats.NumFragments != 2 || st.FragmentStats.NumSmallFragments != 2 ||
			l["min"] != 1 || l["max"] != 4 || l["mean"] != 2 || l["p50"] != 4 || len(l) != 7 {
			t.Fatalf("stats: %+v", st)
		}
		var plan string
		e.ok(e.post("/v1/table/t/explain_plan/", map[string]any{"verbose": true, "query": map[string]any{"vector": []float64{1, 0}, "k": 3, "filter": "id > 1"}}), &plan)
		if plan == "" {
			t.Fatal("empty plan")
		}
		e.ok(e.post("/v1/table/t/analyze_plan/", map[string]any{"vector": []float64{1, 0}, "k": 3}), &plan)
		if !strings.Contains(plan, "output_rows=3") {
			t.Fatalf("analyze: %s", plan)
		}

		e.fails(e.post("/v1/table/t/create_index/", map[string]any{"column": "vector", "index_type": "IVF_RQ", "metric_type": "l2"}), http.StatusBadRequest, "index type IVF_RQ is not supported yet")
		e.fails(e.post("/v1/table/t/create_index/", map[string]any{"column": "label", "index_type": "BTREE"}), http.StatusBadRequest, "index type BTREE is not supported yet")
		e.fails(e.post("/v1/table/t/create_index/", map[string]any{"column": "nope", "index_type": "BTREE"}), http.StatusBadRequest, "nope")
		e.fails(e.post("/v1/table/missing/create_index/", map[string]any{"column": "x", "index_type": "BTREE"}), http.StatusNotFound)
		var idx struct {
			Indexes []any `json:"indexes"`
		}
		e.ok(e.post("/v1/table/t/index/list/", map[string]any{"version": nil}), &idx)
		if idx.Indexes == nil || len(idx.Indexes) != 0 {
			t.Fatalf("index list: %s", e.post("/v1/table/t/index/list/", nil))
		}
		e.fails(e.post("/v1/table/t/index/vector_idx/stats/", map[string]any{"version": nil}), http.StatusNotFound, "vector_idx")
		e.fails(e.post("/v1/table/t/index/my%2Fidx/drop/", nil), http.StatusNotFound, "my/idx")
		e.fails(e.post("/v1/table/t/update_field_metadata/", map[string]any{}), http.StatusNotImplemented, "update_field_metadata")
	})
}
