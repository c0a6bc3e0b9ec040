package query

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/sarissa-db/sarissa/internal/index/ivf"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// splitFleet does what the plan executors' client does, without the
// network: it cuts every task into parts by its units (round-robin, as if
// placed on `parts` executors), sends each part through its wire form, and
// runs it with RunTask against its own executor cache.
type splitFleet struct {
	t      testing.TB
	parts  int
	opts   Options  // the executors' options (index manager, allocator)
	caches []*Cache // one per simulated executor
	mu     sync.Mutex
	tasks  []Task // every part run, for inspection
}

func newSplitFleet(t testing.TB, parts int, opts Options) *splitFleet {
	f := &splitFleet{t: t, parts: parts, opts: opts}
	for range parts {
		f.caches = append(f.caches, NewCache(8<<20))
	}
	return f
}

func (f *splitFleet) Run(ctx context.Context, tgt Target, snap *table.Snapshot, t Task) ([]*Result, error) {
	groups := make([][]Unit, f.parts)
	for i, u := range t.Units() {
		groups[i%f.parts] = append(groups[i%f.parts], u)
	}
	var out []*Result
	for i, g := range groups {
		if len(g) == 0 {
			continue
		}
		data, err := json.Marshal(t.Subset(g))
		if err != nil {
			f.t.Fatal(err)
		}
		var part Task
		if err := json.Unmarshal(data, &part); err != nil {
			f.t.Fatalf("task %s does not decode: %v", data, err)
		}
		f.mu.Lock()
		f.tasks = append(f.tasks, part)
		f.mu.Unlock()
		opts := f.opts
		opts.Cache, opts.TableURI, opts.Fleet = f.caches[i], tgt.URI, nil
		r, err := RunTask(ctx, snap, part, opts)
		if err != nil {
			releaseResults(out)
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Queries split over three simulated executors return exactly what the
// same queries return in one process: vector searches with and without the
// index (probing rounds, prefilters, post-filters, offsets, several query
// vectors, refine, row ids and offsets, an unindexed tail, deleted rows),
// plain scans in scan order, and counts.
func TestSplitFleetMatchesLocal(t *testing.T) {
	rows := clusteredRows(7, 0, 1600)
	ix := newIndexed(t, rows, ivf.BuildParams{Kind: ivf.KindPQ, Metric: vector.L2, NumPartitions: 8, NumSubVectors: 4})
	tail := clusteredRows(8, 5000, 500)
	ix.appendRows(tail)
	ix.delete("id % 97 = 3 OR id = 5011")
	local := ix.opts()
	fleet := newSplitFleet(t, 3, Options{Indexes: ix.mgr, Table: ix.ref, Allocator: ix.mem})
	split := ix.opts()
	split.Fleet = fleet
	split.Cache = nil // the query node reads nothing itself
	q1, q2 := jsonFloats(rows[17].vec), jsonFloats(tail[40].vec)
	for _, body := range []string{
		`{"vector":` + q1 + `,"k":10}`,
		`{"vector":` + q1 + `,"k":10,"nprobes":3}`,
		`{"vector":` + q2 + `,"k":10,"minimum_nprobes":1,"maximum_nprobes":0,"filter":"id < 40"}`,
		`{"vector":` + q1 + `,"k":8,"minimum_nprobes":2,"maximum_nprobes":6,"filter":"text = 'odd' AND id > 1500"}`,
		`{"vector":` + q1 + `,"k":5,"offset":4,"columns":["id","text"],"with_row_id":true}`,
		`{"vector":` + q2 + `,"k":6,"filter":"text = 'even'","prefilter":false,"columns":["id","_distance"]}`,
		`{"vector":[` + q1 + `,` + q2 + `],"k":4,"columns":["id"]}`,
		`{"vector":` + q1 + `,"k":5,"refine_factor":3,"columns":["id","vec"]}`,
		`{"vector":` + q2 + `,"k":5,"columns":["id","_rowoffset"]}`,
		`{"vector":` + q2 + `,"k":7,"fast_search":true,"columns":["id"]}`,
		`{"vector":` + q1 + `,"k":9,"bypass_vector_index":true,"filter":"id >= 100","columns":{"i":"id * 2","d":"_distance"}}`,
		`{"vector":` + q1 + `,"k":9,"distance_type":"cosine","columns":["id"]}`,
		`{"filter":"id > 1590 AND id < 5020","k":12,"offset":3,"columns":["id","text"]}`,
		`{"columns":["id","_rowoffset"],"filter":"id % 100 = 1"}`,
		`{"columns":{"x":"id + 1"},"k":20,"offset":1590}`,
		`{"columns":["id"],"k":0}`,
	} {
		_, want := ix.mustRun(body, local)
		_, got := ix.mustRun(body, split)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\nsplit %v\nlocal %v", body, got, want)
		}
	}
	if len(fleet.tasks) == 0 {
		t.Fatal("the split fleet ran no task")
	}
	var sawIndex, sawFragments bool
	for _, task := range fleet.tasks {
		sawIndex = sawIndex || task.Index != nil
		sawFragments = sawFragments || len(task.Fragments) > 0
	}
	if !sawIndex || !sawFragments {
		t.Fatalf("parts searched index partitions: %v, fragments: %v; want both", sawIndex, sawFragments)
	}
	for _, filter := range []string{"", "id < 1000", "text = 'odd'", "id > 100000"} {
		want, err := ix.snap.Count(context.Background(), filter)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Count(context.Background(), ix.snap, filter, split)
		if err != nil || got != want {
			t.Errorf("count %q: %d, %v; want %d", filter, got, err, want)
		}
	}
	if _, err := Count(context.Background(), ix.snap, "nope >", split); err == nil {
		t.Error("count with a bad filter succeeded")
	}
}

// Probing rounds: a selective prefilter with a probe range makes the query
// node hand out more partitions only while fewer than k rows were found.
func TestProbeRounds(t *testing.T) {
	rows := clusteredRows(9, 0, 1200)
	ix := newIndexed(t, rows, ivf.BuildParams{Kind: ivf.KindFlat, Metric: vector.L2, NumPartitions: 12})
	fleet := newSplitFleet(t, 2, Options{Indexes: ix.mgr, Table: ix.ref, Allocator: ix.mem})
	opts := ix.opts()
	opts.Fleet = fleet
	probed := func(body string) (int, []int64) {
		fleet.tasks = nil
		_, got := ix.mustRun(body, opts)
		n := 0
		for _, task := range fleet.tasks {
			if task.Index == nil {
				continue
			}
			for _, s := range task.Index.Segments {
				n += len(s.Partitions[0])
			}
		}
		return n, ints(got, "id")
	}
	q := jsonFloats(rows[0].vec)
	if n, got := probed(`{"vector":` + q + `,"k":5,"minimum_nprobes":2,"maximum_nprobes":12,"columns":["id"]}`); n != 2 || len(got) != 5 {
		t.Errorf("unfiltered: probed %d partitions for %d rows; want 2 partitions, 5 rows", n, len(got))
	}
	n, got := probed(`{"vector":` + q + `,"k":5,"minimum_nprobes":2,"maximum_nprobes":12,"filter":"id >= 1195","columns":["id"]}`)
	slices.Sort(got)
	if n <= 2 || !slices.Equal(got, []int64{1195, 1196, 1197, 1198, 1199}) {
		t.Errorf("selective filter: probed %d partitions, rows %v; want more than 2 partitions and the 5 matching rows", n, got)
	}
}

func TestTaskWireForm(t *testing.T) {
	req, err := ParseRequest([]byte(`{"vector":[[1,2],[3,4]],"k":3,"filter":"id > 1","refine_factor":2}`))
	if err != nil {
		t.Fatal(err)
	}
	task := Task{Kind: TaskSearch, Request: req, Fragments: []uint64{4, 9}, Metric: vector.Cosine,
		Index: &IndexTask{Name: "vec_idx", Segments: []IndexSegment{
			{File: "_sarissa_indices/vec_idx/u1/index.ivf", Stale: []uint64{2}, Partitions: [][]int{{0, 3}, {3, 5}}},
		}}}
	data, err := json.Marshal(task)
	if err != nil {
		t.Fatal(err)
	}
	var back Task
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, task) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, task)
	}
	units := task.Units()
	keys := make([]string, len(units))
	for i, u := range units {
		keys[i] = u.Key
	}
	want := []string{"f4", "f9", "p_sarissa_indices/vec_idx/u1/index.ivf#0", "p_sarissa_indices/vec_idx/u1/index.ivf#3", "p_sarissa_indices/vec_idx/u1/index.ivf#5"}
	if !slices.Equal(keys, want) {
		t.Fatalf("units %v, want %v", keys, want)
	}
	sub := task.Subset([]Unit{units[1], units[3]})
	if !slices.Equal(sub.Fragments, []uint64{9}) || len(sub.Index.Segments) != 1 ||
		!reflect.DeepEqual(sub.Index.Segments[0].Partitions, [][]int{{3}, {3}}) {
		t.Fatalf("subset: %+v %+v", sub, sub.Index)
	}
	if sub := task.Subset(units[:1]); sub.Index != nil || !slices.Equal(sub.Fragments, []uint64{4}) {
		t.Fatalf("fragment-only subset: %+v", sub)
	}
	for _, bad := range []string{
		`{"kind":"nope","request":{"k":1}}`,
		`{"kind":"scan","request":{"k":-1}}`,
		`{"kind":"scan","request":{"k":1},"extra":1}`,
		`{"kind":"scan","request":{"k":1},"index":{"name":"x","segments":[]}}`,
		`{"kind":"search","request":{"vector":[1],"k":1},"index":{"name":"x","segments":[{"file":"f","partitions":[[1],[2]]}]}}`,
		`{"kind":"search","request":{"vector":[1],"k":1},"metric":"manhattan"}`,
	} {
		var t2 Task
		if err := json.Unmarshal([]byte(bad), &t2); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}
