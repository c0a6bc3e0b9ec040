package e2e

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sarissa-db/sarissa/internal/testkit/nodejs"
)

// TestOperations drives every operation of the query node through the
// official client (operations.mjs) on a six-row table whose answers are
// worked out by hand below, and asserts on each result.
//
// Query vector q = [1, 0]; rows (id: vector):
//
//	1: [1, 0]   l2 0     cosine 0                dot 1-1 = 0
//	2: [0, 1]   l2 2     cosine 1                dot 1
//	3: [2, 2]   l2 5     cosine 1-2/sqrt(8)      dot -1
//	4: [-1, 0]  l2 4     cosine 2                dot 2
//	5: [3, -2]  l2 8     cosine 1-3/sqrt(13)     dot -2
//	6: [.5, -3] l2 9.25  cosine 1-.5/sqrt(9.25)  dot 0.5
//
// (l2 is squared, dot is 1 - a·b, as LanceDB defines them.)
func TestOperations(t *testing.T) {
	nodejs.RequireModules(t)
	srv := startServer(t, serverOptions{})
	started := time.Now()
	out := runNode(t, "operations.mjs", "--remote", srv.URL, "--db", "ops")
	assertOperations(t, parseSteps(t, "operations.mjs", out), started)
}

func assertOperations(t *testing.T, steps []step, started time.Time) {
	s := newStepSet(t, steps)

	exact := []struct{ name, want string }{
		{"tableNames.empty", `[]`},
		{"create", `{"name":"ops","version":1,"count":6}`},
		{"create.existOk", `{"count":6,"ids":[1,2,3,4,5,6]}`},
		{"create.overwrite", `{"count":1,"ids":[20],"version":2}`},
		{"create.empty", `{"count":0,"version":1,"schema":` + opsSchema + `}`},
		{"create.more", `["ops","t_a","t_b","t_c","t_empty"]`},
		{"tableNames.pages", `{"first":["ops","t_a"],"second":["t_b","t_c"],"last":[]}`},
		{"otherDatabase", `[]`},
		{"open", `{"name":"ops","version":1,"count":6,"schema":` + opsSchema + `}`},

		{"vector.l2", `{"columns":["id","_distance"],"count":6,"ids":[1,2,4,3,5,6],"distances":[0,2,4,5,8,9.25],"distanceType":"Float32"}`},
		{"vector.l2.k3", `{"columns":["id","vector","label","price","_distance"],"count":3,"ids":[1,2,4],"distances":[0,2,4],"distanceType":"Float32"}`},
		{"vector.default", `{"columns":["id","_distance"],"count":6,"ids":[1,2,4,3,5,6],"distances":[0,2,4,5,8,9.25],"distanceType":"Float32"}`},
		{"vector.dot", `{"columns":["id","_distance"],"count":6,"ids":[5,3,1,6,2,4],"distances":[-2,-1,0,0.5,1,2],"distanceType":"Float32"}`},
		{"vector.offset", `{"columns":["id","_distance"],"count":2,"ids":[4,3],"distances":[4,5],"distanceType":"Float32"}`},
		{"vector.prefilter", `{"columns":["id","_distance"],"count":2,"ids":[2,5],"distances":[2,8],"distanceType":"Float32"}`},
		// Post-filtering keeps only the matches among the 2 nearest (1, 2).
		{"vector.postfilter", `{"columns":["id","_distance"],"count":1,"ids":[2],"distances":[2],"distanceType":"Float32"}`},
		{"vector.select.list", `{"columns":["label","id","_distance"],"count":2,"ids":[1,2],"distances":[0,2],"distanceType":"Float32"}`},
		{"vector.rowId", `{"columns":["id","_distance","_rowid"],"count":3,"ids":[1,2,4],"distances":[0,2,4],"distanceType":"Float32","rowIds":["0","1","3"],"rowIdType":"Uint64"}`},
		// lower_bound is inclusive, upper_bound exclusive.
		{"vector.distanceRange", `{"columns":["id","_distance"],"count":2,"ids":[2,4],"distances":[2,4],"distanceType":"Float32"}`},
		{"vector.bypassIndex", `{"columns":["id","_distance"],"count":3,"ids":[1,2,4],"distances":[0,2,4],"distanceType":"Float32"}`},

		{"query.where.limit", `[2,3]`},
		{"query.where.offset", `[3,4]`},
		{"query.all", `[1,2,3,4,5,6]`},
		{"query.rowId", `{"columns":["id","_rowid"],"count":2,"ids":[5,6],"rowIds":["4","5"],"rowIdType":"Uint64"}`},
		{"count", `{"all":6,"a":2,"nulls":1}`},

		{"add", `{"version":2,"count":8}`},
		{"add.overwrite", `{"version":2,"ids":[60,61,62]}`},
		{"delete", `{"deleted":1,"version":3,"ids":[1,2,3,4,5,6,7]}`},
		{"update.values", `{"updated":1,"version":4,"labels":["z"]}`},
		{"update.valuesSql", `{"updated":2,"version":5,"prices":[[2,25],[5,55]]}`},
		// Lance moves updated rows to a new fragment at the end.
		{"scan.afterUpdate", `[3,4,6,7,1,2,5]`},
		// 2 is matched but 25 < 1 is false, 3 is updated, 9 is new.
		{"merge.upsert", `{"version":6,"inserted":1,"updated":1,"deleted":0,"rows":[[1,"z",1.5],[2,"b",25],[3,"a2",100],[4,"c",4.5],[5,"b",55],[6,null,null],[7,"d",7.5],[9,"new",9.5]]}`},
		// 1 is matched and rewritten; 7 and 9 are not in the source and match id >= 7.
		{"merge.deleteBySource", `{"version":7,"inserted":0,"updated":1,"deleted":2,"ids":[1,2,3,4,5,6]}`},

		{"drop", `["ops","t_a","t_b","t_empty"]`},
		{"rename", `{"names":["ops","t_a","t_empty","t_renamed"],"ids":[60,61,62]}`},
		// Restoring version 2 (after the first add) commits version 8.
		{"restore", `{"before":7,"after":8,"latest":8,"ids":[1,2,3,4,5,6,7,8]}`},
		{"addColumns", `{"version":9,"rows":[[1,3],[2,5]],"schema":[` + opsFields + `,{"name":"double_price","type":"Float64","nullable":true}]}`},
		{"alterColumns", `{"version":10,"schema":[{"name":"id","type":"Int64","nullable":true},{"name":"vector","type":"FixedSizeList[2]<Float32>","nullable":true},{"name":"label","type":"Utf8","nullable":true},{"name":"price","type":"Float32","nullable":true},{"name":"dp","type":"Float64","nullable":true}]}`},
		{"dropColumns", `{"version":11,"schema":[{"name":"id","type":"Int64","nullable":true},{"name":"vector","type":"FixedSizeList[2]<Float32>","nullable":true},{"name":"label","type":"Utf8","nullable":true},{"name":"price","type":"Float32","nullable":true}]}`},
		{"tags", `{"created":{"v1":{"version":1,"manifestSizePositive":true},"v2":{"version":2,"manifestSizePositive":true}},"v2":3,"atV1":{"version":1,"ids":[1,2,3,4,5,6]},"afterDelete":{"v2":{"version":3,"manifestSizePositive":true}}}`},
		// After the restore: the create fragment (6 rows) and the add fragment (2).
		{"stats", `{"numRows":8,"numIndices":0,"totalBytesPositive":true,"numFragments":2,"lengths":{"max":6,"mean":4,"min":2,"p25":2,"p50":6,"p75":6,"p99":6}}`},
		{"namespaces", `{"listed":["ns1"],"described":"object","inside":["nt"],"listedInside":["nt"],"count":2,"after":3,"rootHasNt":false,"afterDrop":[],"finally":[]}`},
	}
	for _, e := range exact {
		if got, ok := s.raw(e.name); ok && normJSON(got) != normJSON(json.RawMessage(e.want)) {
			t.Errorf("%s:\n  got  %s\n  want %s", e.name, clip(normJSON(got), 3000), normJSON(json.RawMessage(e.want)))
		}
	}

	// Cosine distances are irrational; the order is exact, values within 1e-6.
	var cos hitsDoc
	if s.value("vector.cosine", &cos) {
		wantIDs := []int64{1, 5, 3, 6, 2, 4}
		wantD := []float64{0, 1 - 3/math.Sqrt(13), 1 - 2/math.Sqrt(8), 1 - 0.5/math.Sqrt(9.25), 1, 2}
		if !slices.Equal(cos.IDs, wantIDs) || len(cos.Distances) != len(wantD) || cos.DistanceType != "Float32" {
			t.Errorf("vector.cosine: ids %v distances %v (%s), want ids %v distances %v (Float32)", cos.IDs, cos.Distances, cos.DistanceType, wantIDs, wantD)
		} else {
			for i := range wantD {
				if math.Abs(cos.Distances[i]-wantD[i]) > 1e-6 {
					t.Errorf("vector.cosine: distance %d = %v, want %v", i, cos.Distances[i], wantD[i])
				}
			}
		}
	}

	// Computed projections: names, types and values; nullability of an
	// expression is left to the differential test.
	s.rowsLike("vector.select.map", []string{"name:utf8", "twice:int64", "_distance:float32"}, `[["a","2"],["b","4"]]`)
	s.rowsLike("query.select.map", []string{"id:int64", "p2:float64"}, `[["1","0x4008000000000000"],["2","0x4014000000000000"]]`)

	// fast_search skips rows no index covers; without an index that is all.
	var fast hitsDoc
	if s.value("vector.fastSearch", &fast) && fast.Count != 0 {
		t.Errorf("vector.fastSearch: %d rows (%v), want none: no index covers any row", fast.Count, fast.IDs)
	}

	// Pagination with listTables: the pages, in order, are the whole list.
	var pages struct {
		All   []string   `json:"all"`
		Pages [][]string `json:"pages"`
	}
	if s.value("listTables.pages", &pages) {
		var joined []string
		for _, p := range pages.Pages {
			if len(p) > 2 {
				t.Errorf("listTables({limit: 2}) returned a page of %d: %v", len(p), p)
			}
			joined = append(joined, p...)
		}
		want := []string{"ops", "t_a", "t_b", "t_c", "t_empty"}
		if !slices.Equal(pages.All, want) || !slices.Equal(joined, want) {
			t.Errorf("listTables: all %v, pages %v; want %v both ways", pages.All, pages.Pages, want)
		}
	}

	// Errors as the user sees them.
	s.failedWith("create.exists", "already exists")
	s.failedWith("open.missing", "Table 'missing' was not found")
	s.failedWith("vector.wrongDim", "400")
	s.failedWith("query.badFilter", "400", "expected an expression but found '>'")
	s.failedWith("count.badFilter", "400", "expected an expression but found '>'")
	s.failedWith("query.unknownColumn", "400", `unknown column "nope"`)
	s.failedWith("add.wrongSchema.client", "nope")
	s.failedWith("drop.missing", "404")
	s.failedWith("rename.old", "was not found")
	s.failedWith("checkout.missing", "not found")
	s.failedWith("alterColumns.missing", "400")
	s.failedWith("tags.duplicate")
	s.failedWith("tags.checkoutMissing")

	// Arrow bodies whose schema does not fit the table are refused with 400
	// and a message naming the problem, and nothing is committed.
	type reply struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	var bad struct {
		Extra, WrongType reply
		Count, Version   int
	}
	if s.value("add.wrongSchema.server", &bad) {
		if bad.Extra.Status != 400 || !strings.Contains(bad.Extra.Body, "nope") {
			t.Errorf("insert with a column the table lacks: %d %q, want 400 naming column nope", bad.Extra.Status, bad.Extra.Body)
		}
		if bad.WrongType.Status != 400 || !strings.Contains(bad.WrongType.Body, "price") {
			t.Errorf("insert with price as utf8: %d %q, want 400 naming column price", bad.WrongType.Status, bad.WrongType.Body)
		}
		if bad.Count != 6 || bad.Version != 1 {
			t.Errorf("after the refused inserts: %d rows at version %d, want 6 at version 1", bad.Count, bad.Version)
		}
	}

	var versions []struct {
		Version   int    `json:"version"`
		Timestamp string `json:"timestamp"`
		Metadata  string `json:"metadata"`
	}
	if s.value("versions", &versions) {
		var prev time.Time
		if len(versions) != 7 {
			t.Errorf("versions: %d, want 7: %+v", len(versions), versions)
		}
		for i, v := range versions {
			ts, err := time.Parse(time.RFC3339Nano, v.Timestamp)
			switch {
			case v.Version != i+1:
				t.Errorf("versions[%d] = version %d, want %d", i, v.Version, i+1)
			case err != nil:
				t.Errorf("versions[%d] timestamp %q: %v", i, v.Timestamp, err)
			case ts.Before(started.Add(-time.Minute)) || ts.After(time.Now().Add(time.Minute)) || ts.Before(prev):
				t.Errorf("versions[%d] timestamp %s: not between the test's start and now, in order", i, ts)
			case v.Metadata != "object":
				t.Errorf("versions[%d] metadata is %s, want an object", i, v.Metadata)
			}
			prev = ts
		}
	}

	var co struct {
		AtOne      json.RawMessage `json:"atOne"`
		WriteError *string         `json:"writeError"`
		Latest     json.RawMessage `json:"latest"`
	}
	if s.value("checkout", &co) {
		if got, want := normJSON(co.AtOne), normJSON(json.RawMessage(`{"version":1,"count":6,"ids":[1,2,3,4,5,6],"nearest":[1,2]}`)); got != want {
			t.Errorf("checkout(1): %s, want %s", got, want)
		}
		if co.WriteError == nil {
			t.Errorf("checkout(1): a write on the pinned handle succeeded")
		}
		if got, want := normJSON(co.Latest), `{"count":6,"version":7}`; got != want {
			t.Errorf("checkoutLatest: %s, want %s", got, want)
		}
	}

	var plan struct {
		Vector, Plain         bool
		VectorText, PlainText string
	}
	if s.value("explainPlan", &plan) && (!plan.Vector || !plan.Plain) {
		t.Errorf("explainPlan: want two non-empty plan strings, got %q and %q", plan.VectorText, plan.PlainText)
	}
	s.checkAllUsed()
}

const opsFields = `{"name":"id","type":"Int64","nullable":false},{"name":"vector","type":"FixedSizeList[2]<Float32>","nullable":true},{"name":"label","type":"Utf8","nullable":true},{"name":"price","type":"Float64","nullable":true}`

const opsSchema = `[` + opsFields + `]`

type hitsDoc struct {
	Columns      []string  `json:"columns"`
	Count        int       `json:"count"`
	IDs          []int64   `json:"ids"`
	Distances    []float64 `json:"distances"`
	DistanceType string    `json:"distanceType"`
}

// stepSet looks steps up by name and reports missing, failed and unchecked
// steps.
type stepSet struct {
	t     testing.TB
	steps map[string]step
	order []string
	used  map[string]bool
}

func newStepSet(t testing.TB, steps []step) *stepSet {
	s := &stepSet{t: t, steps: map[string]step{}, used: map[string]bool{}}
	for _, st := range steps {
		s.steps[st.Name] = st
		s.order = append(s.order, st.Name)
	}
	return s
}

func (s *stepSet) get(name, kind string) (step, bool) {
	s.t.Helper()
	s.used[name] = true
	st, ok := s.steps[name]
	switch {
	case !ok:
		s.t.Errorf("%s: step missing from the script's output (it stopped early?)", name)
		return st, false
	case st.Kind != kind:
		s.t.Errorf("%s: step kind %s, want %s", name, st.Kind, kind)
		return st, false
	case st.Error != "":
		s.t.Errorf("%s: failed: %s", name, clip(st.Error, 2000))
		return st, false
	}
	return st, true
}

// raw returns a value step's JSON.
func (s *stepSet) raw(name string) (json.RawMessage, bool) {
	s.t.Helper()
	st, ok := s.get(name, "value")
	return st.Value, ok
}

// value decodes a value step into dst.
func (s *stepSet) value(name string, dst any) bool {
	s.t.Helper()
	raw, ok := s.raw(name)
	if !ok {
		return false
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		s.t.Errorf("%s: decode %s: %v", name, clip(string(raw), 500), err)
		return false
	}
	return true
}

// rowsLike checks a value step holding a rowsResult: column names and types
// ("name:type") and the canonical rows.
func (s *stepSet) rowsLike(name string, cols []string, rows string) {
	s.t.Helper()
	var r struct {
		Schema []struct{ Name, Type string } `json:"schema"`
		Rows   json.RawMessage               `json:"rows"`
	}
	if !s.value(name, &r) {
		return
	}
	var got []string
	for _, f := range r.Schema {
		got = append(got, f.Name+":"+f.Type)
	}
	if !slices.Equal(got, cols) || normJSON(r.Rows) != normJSON(json.RawMessage(rows)) {
		s.t.Errorf("%s: columns %v rows %s, want %v %s", name, got, normJSON(r.Rows), cols, rows)
	}
}

// failedWith checks that an error step failed with a message containing
// every fragment.
func (s *stepSet) failedWith(name string, fragments ...string) {
	s.t.Helper()
	st, ok := s.get(name, "error")
	if !ok {
		return
	}
	if !st.Threw {
		s.t.Errorf("%s: succeeded (returned %s), want an error", name, clip(string(st.Unexpected), 300))
		return
	}
	for _, f := range fragments {
		if !strings.Contains(st.Message, f) {
			s.t.Errorf("%s: error %q does not contain %q", name, clip(st.Message, 1000), f)
		}
	}
}

// checkAllUsed fails if the script recorded a step no assertion looked at,
// so a new step cannot go unchecked.
func (s *stepSet) checkAllUsed() {
	s.t.Helper()
	for _, name := range s.order {
		if !s.used[name] {
			s.t.Errorf("step %s is recorded by the script but not checked by the test", name)
		}
	}
}
