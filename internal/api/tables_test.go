package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sarissa-db/sarissa/internal/api"
)

func TestTableLifecycle(t *testing.T) {
	forEachStore(t, api.Config{}, func(t *testing.T, e *env) {
		var page struct {
			Tables    []string `json:"tables"`
			PageToken *string  `json:"page_token"`
		}
		e.ok(e.do("GET", "/v1/table/", nil), &page)
		if page.Tables == nil || len(page.Tables) != 0 {
			t.Fatalf("empty database lists %s", e.do("GET", "/v1/table/", nil))
		}
		for _, n := range []string{"c", "a", "b"} {
			e.createItems(n)
		}
		e.fails(e.post("/v1/table/a/create/?mode=create", e.itemStream(baseItems[0])), http.StatusBadRequest, "already exists")
		// The default mode is create.
		e.fails(e.post("/v1/table/a/create/", e.itemStream(baseItems[0])), http.StatusBadRequest, "already exists")
		e.ok(e.post("/v1/table/a/create/?mode=exist_ok", e.itemStream(baseItems[0])), nil)
		if n := e.count("a"); n != 4 {
			t.Fatalf("exist_ok changed the table: %d rows", n)
		}
		e.ok(e.post("/v1/table/a/create/?mode=overwrite", e.itemStream(baseItems[0])), nil)
		if n, v := e.count("a"), e.version("a"); n != 1 || v != 2 {
			t.Fatalf("overwrite: %d rows at version %d", n, v)
		}
		e.fails(e.post("/v1/table/a/create/?mode=sideways", e.itemStream(baseItems[0])), http.StatusBadRequest, "create mode")

		// Listing, with and without the trailing slash, and pages.
		for _, p := range []string{"/v1/table/", "/v1/table"} {
			e.ok(e.do("GET", p, nil), &page)
			if !slices.Equal(page.Tables, []string{"a", "b", "c"}) || page.PageToken != nil {
				t.Fatalf("GET %s: %+v", p, page)
			}
		}
		e.ok(e.do("GET", "/v1/table/?limit=2", nil), &page)
		if !slices.Equal(page.Tables, []string{"a", "b"}) || page.PageToken == nil || *page.PageToken != "b" {
			t.Fatalf("page 1: %+v", page)
		}
		page.PageToken = nil
		e.ok(e.do("GET", "/v1/table/?limit=2&page_token=b", nil), &page)
		if !slices.Equal(page.Tables, []string{"c"}) || page.PageToken != nil {
			t.Fatalf("page 2: %+v", page)
		}
		e.ok(e.do("GET", "/v1/namespace/$/table/list", nil), &page)
		if !slices.Equal(page.Tables, []string{"a", "b", "c"}) {
			t.Fatalf("namespace list: %+v", page)
		}
		e.fails(e.do("GET", "/v1/table/?limit=x", nil), http.StatusBadRequest, "limit")

		// Describe: the open form has no body.
		var d struct {
			Table    string          `json:"table"`
			Version  uint64          `json:"version"`
			Schema   json.RawMessage `json:"schema"`
			Location string          `json:"location"`
			Stats    map[string]int  `json:"stats"`
		}
		e.ok(e.post("/v1/table/b/describe/", nil), &d)
		wantSchema := `{"fields":[{"name":"id","type":{"type":"int64"},"nullable":false},` +
			`{"name":"vector","type":{"type":"fixed_size_list","fields":[{"name":"item","type":{"type":"float"},"nullable":true}],"length":2},"nullable":true},` +
			`{"name":"label","type":{"type":"string"},"nullable":true},{"name":"price","type":{"type":"double"},"nullable":true}],` +
			`"metadata":{"embedding_functions":"[]"}}`
		if d.Table != "b" || d.Version != 1 || string(d.Schema) != wantSchema || !strings.HasSuffix(d.Location, "/db/b.lance") || d.Stats["num_fragments"] != 1 {
			t.Fatalf("describe: %+v\nschema %s", d, d.Schema)
		}
		e.ok(e.post("/v1/table/a/describe/", map[string]any{"version": 1}), &d)
		if d.Version != 1 {
			t.Fatalf("describe version 1: %+v", d)
		}
		e.fails(e.post("/v1/table/a/describe/", map[string]any{"version": 9}), http.StatusNotFound, "version 9")
		e.fails(e.post("/v1/table/missing/describe/", nil), http.StatusNotFound, "Table 'missing' was not found")
		e.fails(e.post("/v1/table/a/describe/", map[string]any{"version": nil, "branch": "exp"}), http.StatusBadRequest, "branches")

		// Drop and rename.
		e.ok(e.post("/v1/table/c/drop/", nil), nil)
		e.fails(e.post("/v1/table/c/drop/", nil), http.StatusNotFound, "Table 'c' was not found")
		e.fails(e.post("/v1/table/c/count_rows/", nil), http.StatusNotFound)
		e.ok(e.post("/v1/table/b/rename/", map[string]any{"new_table_name": "b2"}), nil)
		e.fails(e.post("/v1/table/a/rename/", map[string]any{"new_table_name": "b2"}), http.StatusBadRequest, "already exists")
		e.fails(e.post("/v1/table/b/rename/", map[string]any{"new_table_name": "b3"}), http.StatusNotFound, "Table 'b' was not found")
		e.fails(e.post("/v1/table/a/rename/", map[string]any{"new_table_name": "x/y"}), http.StatusBadRequest, "new_table_name")
		if n := e.count("b2"); n != 4 {
			t.Fatalf("renamed table: %d rows", n)
		}
		e.ok(e.do("GET", "/v1/table/", nil), &page)
		if !slices.Equal(page.Tables, []string{"a", "b2"}) {
			t.Fatalf("after drop and rename: %v", page.Tables)
		}

		// Another database sees none of it.
		e.db = "other"
		e.ok(e.do("GET", "/v1/table/", nil), &page)
		if len(page.Tables) != 0 {
			t.Fatalf("other database lists %v", page.Tables)
		}
	})
}

func TestEmptyTableFromSchema(t *testing.T) {
	forEachStore(t, api.Config{}, func(t *testing.T, e *env) {
		// Python sends schema and end-of-stream only; Node adds a zero-row
		// batch.
		e.ok(e.post("/v1/table/py/create/", stream(t, itemsSchema)), nil)
		e.ok(e.post("/v1/table/node/create/", e.itemStream()), nil)
		for _, n := range []string{"py", "node"} {
			if c, v := e.count(n), e.version(n); c != 0 || v != 1 {
				t.Errorf("%s: %d rows at version %d", n, c, v)
			}
		}
	})
}

func TestNamespaces(t *testing.T) {
	forEachStore(t, api.Config{}, func(t *testing.T, e *env) {
		var props struct {
			Properties map[string]string `json:"properties"`
		}
		e.ok(e.post("/v1/namespace/ns1/create", map[string]any{"properties": map[string]string{"owner": "me"}}), &props)
		if props.Properties["owner"] != "me" {
			t.Fatalf("create: %+v", props)
		}
		e.fails(e.post("/v1/namespace/ns1/create", map[string]any{}), http.StatusConflict, "already exists")
		e.ok(e.post("/v1/namespace/ns1/create", map[string]any{"mode": "ExistOk"}), nil)
		e.fails(e.post("/v1/namespace/ns1/create", map[string]any{"mode": "Maybe"}), http.StatusBadRequest, "mode")
		e.ok(e.post("/v1/namespace/ns1$sub/create", map[string]any{}), nil)
		e.fails(e.post("/v1/namespace/nope$sub/create", map[string]any{}), http.StatusNotFound, "nope")
		e.ok(e.post("/v1/namespace/ns1/describe", map[string]any{}), &props)
		if props.Properties["owner"] != "me" {
			t.Fatalf("describe: %+v", props)
		}
		e.fails(e.post("/v1/namespace/nope/describe", map[string]any{}), http.StatusNotFound)
		var nss struct {
			Namespaces []string `json:"namespaces"`
		}
		e.ok(e.do("GET", "/v1/namespace/$/list", nil), &nss)
		if !slices.Equal(nss.Namespaces, []string{"ns1"}) {
			t.Fatalf("root namespaces %v", nss.Namespaces)
		}
		e.ok(e.do("GET", "/v1/namespace/ns1/list", nil), &nss)
		if !slices.Equal(nss.Namespaces, []string{"sub"}) {
			t.Fatalf("ns1 namespaces %v", nss.Namespaces)
		}

		e.createItems("ns1$t1")
		e.createItems("top")
		e.fails(e.post("/v1/table/nope$t/create/", e.itemStream(baseItems...)), http.StatusNotFound, "nope")
		var page struct {
			Tables []string `json:"tables"`
		}
		e.ok(e.do("GET", "/v1/namespace/ns1/table/list", nil), &page)
		if !slices.Equal(page.Tables, []string{"t1"}) {
			t.Fatalf("ns1 tables %v", page.Tables)
		}
		e.ok(e.do("GET", "/v1/table/", nil), &page)
		if !slices.Equal(page.Tables, []string{"top"}) {
			t.Fatalf("root tables %v", page.Tables)
		}
		// A custom delimiter.
		var n int64
		e.ok(e.post("/v1/table/ns1.t1/count_rows/?delimiter=.", nil), &n)
		if n != 4 {
			t.Fatalf("ns1.t1 with delimiter '.': %d rows", n)
		}
		e.fails(e.post("/v1/namespace/ns1/drop", map[string]any{}), http.StatusBadRequest, "not empty", "t1", "sub")
		e.ok(e.post("/v1/namespace/ns1/drop", map[string]any{"behavior": "Cascade"}), nil)
		e.fails(e.post("/v1/table/ns1$t1/count_rows/", nil), http.StatusNotFound)
		e.fails(e.post("/v1/namespace/ns1/drop", map[string]any{}), http.StatusNotFound)
		e.ok(e.post("/v1/namespace/ns1/drop", map[string]any{"mode": "Skip"}), nil)
		e.ok(e.do("GET", "/v1/namespace/$/list", nil), &nss)
		if len(nss.Namespaces) != 0 {
			t.Fatalf("after drop: %v", nss.Namespaces)
		}
	})
}
