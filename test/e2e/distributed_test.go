package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sarissa-db/sarissa/internal/testkit/nodejs"
)

// quietAgent keeps the agent of a scenario cluster from compacting or
// re-indexing tables the scenarios compare step by step with stock
// LanceDB (a compaction changes scan order): it consumes every event and
// evaluates every table, but its thresholds are out of reach.
var quietAgent = []string{"--agent-compact-fragments", "1000000", "--agent-index-rows", "1000000000", "--agent-index-wait", "24h"}

// The client scenarios of the query-node work pass unchanged against a
// split cluster — two executors, a query node, an agent and a Kafka broker
// — and the query tasks really ran on both executors.
func TestSplitClusterScenarios(t *testing.T) {
	nodejs.RequireModules(t)
	c := startCluster(t, clusterOptions{executors: 2, agentArgs: quietAgent})
	started := time.Now()
	out := runNode(t, "operations.mjs", "--remote", c.query.URL, "--db", "ops")
	assertOperations(t, parseSteps(t, "operations.mjs", out), started)
	runDifferential(t, c.query)
	runIndexes(t, c.query)
	for _, e := range c.executors {
		code, body := getText(t, e.URL+"/metrics")
		if code != 200 || !strings.Contains(body, `sarissa_executor_tasks_total{kind="search",outcome="ok"}`) ||
			!strings.Contains(body, `sarissa_executor_tasks_total{kind="scan",outcome="ok"}`) {
			t.Errorf("executor %s ran no search or scan task:\n%s", e.name, grepLines(body, "sarissa_executor_tasks_total"))
		}
	}
	code, body := getText(t, c.agent.URL+"/metrics")
	if code != 200 || !strings.Contains(body, "sarissa_agent_events_total") {
		t.Errorf("the agent counted no write events:\n%s", grepLines(body, "sarissa_agent"))
	}
}

// The agent maintains tables on its own: after an index exists, appended
// rows get indexed (num_unindexed_rows back to 0) and many small appends
// get compacted (fewer fragments), with no client action, and queries
// answer the same before and after.
func TestSplitClusterAgentMaintains(t *testing.T) {
	c := startCluster(t, clusterOptions{executors: 2, agentArgs: []string{
		"--agent-index-rows", "50", "--agent-index-wait", "2s", "--agent-compact-fragments", "6",
		"--agent-reconcile-interval", "1h", // events, not the reconcile, must drive the work
	}})
	r := rest{t: t, url: c.query.URL, db: "maint"}
	base := clusterRows(0, 600)
	defer base.Release()
	r.write("/v1/table/t/create/", base)
	r.json("/v1/table/t/create_index/", map[string]any{"column": "vector", "index_type": "IVF_FLAT", "num_partitions": 4}, nil)
	eventually(t, time.Minute, "index built", func() (bool, string) {
		st := r.indexStats("t", "vector_idx")
		return st.NumIndexedRows == 600, fmt.Sprintf("%+v", st)
	})
	for i := range 10 {
		batch := clusterRows(1000+i*20, 20)
		r.write("/v1/table/t/insert/", batch)
		batch.Release()
	}
	q := vectorOf(3)
	exact := map[string]any{"vector": q, "k": 25, "columns": []string{"id"}, "bypass_vector_index": true}
	filtered := map[string]any{"filter": "tag = 'b' AND id >= 990", "columns": []string{"id"}}
	before, err := r.ids("t", exact)
	if err != nil {
		t.Fatal(err)
	}
	beforeScan, err := r.ids("t", filtered)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "agent indexed and compacted", func() (bool, string) {
		st := r.indexStats("t", "vector_idx")
		frags := r.fragments("t")
		return st.NumUnindexedRows == 0 && frags < 11, fmt.Sprintf("index %+v, %d fragments", st, frags)
	})
	after, err := r.ids("t", exact)
	if err != nil || !slices.Equal(after, before) {
		t.Errorf("exact search after maintenance: %v, %v; before %v", after, err, before)
	}
	indexed, err := r.ids("t", map[string]any{"vector": q, "k": 25, "columns": []string{"id"}, "nprobes": 4})
	if err != nil || !slices.Equal(indexed, before) {
		t.Errorf("search through the maintained index (every partition): %v, %v; exact %v", indexed, err, before)
	}
	afterScan, err := r.ids("t", filtered)
	slices.Sort(beforeScan)
	slices.Sort(afterScan)
	if err != nil || !slices.Equal(afterScan, beforeScan) || len(beforeScan) == 0 {
		t.Errorf("filtered scan after maintenance: %v, %v; before %v", afterScan, err, beforeScan)
	}
	code, body := getText(t, c.agent.URL+"/v1/agent/jobs")
	var jobs struct {
		Jobs []struct {
			Spec  struct{ Kind string } `json:"spec"`
			State string                `json:"state"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(body), &jobs); code != 200 || err != nil {
		t.Fatalf("GET /v1/agent/jobs: %d %v %s", code, err, body)
	}
	done := map[string]bool{}
	for _, j := range jobs.Jobs {
		if j.State == "succeeded" {
			done[j.Spec.Kind] = true
		}
	}
	if !done["index"] || !done["compact"] {
		t.Errorf("agent jobs %s: want a succeeded index and compact job", body)
	}
}

// Killing an executor while queries run: every query still succeeds with
// the right rows, answered by the surviving replica.
func TestSplitClusterExecutorLoss(t *testing.T) {
	c := startCluster(t, clusterOptions{executors: 2, agentArgs: quietAgent})
	r := rest{t: t, url: c.query.URL, db: "loss"}
	for i := range 4 { // several fragments, so units spread over both executors
		batch := clusterRows(i*500, 500)
		if i == 0 {
			r.write("/v1/table/t/create/", batch)
		} else {
			r.write("/v1/table/t/insert/", batch)
		}
		batch.Release()
	}
	queries := []map[string]any{
		{"vector": vectorOf(1), "k": 10, "columns": []string{"id"}},
		{"vector": vectorOf(2), "k": 5, "filter": "tag = 'a'", "columns": []string{"id"}},
		{"filter": "id % 97 = 1", "columns": []string{"id"}},
	}
	want := make([][]int64, len(queries))
	for i, q := range queries {
		ids, err := r.ids("t", q)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = ids
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		answered int
	)
	stop := make(chan struct{})
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				qi := i % len(queries)
				got, err := r.ids("t", queries[qi])
				mu.Lock()
				answered++
				if err != nil || !reflect.DeepEqual(got, want[qi]) {
					failures = append(failures, fmt.Sprintf("query %d: %v, %v", qi, got, err))
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	c.executors[1].kill(t)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d of %d queries failed around the executor's death, e.g. %s", len(failures), answered, failures[0])
	}
	code, body := getText(t, c.query.URL+"/metrics")
	if code != 200 || !strings.Contains(body, "sarissa_fleet_failovers_total") {
		t.Errorf("the query node counted no failover:\n%s", grepLines(body, "sarissa_fleet"))
	}
	t.Logf("%d queries answered, the dead executor failed over", answered)
}

// With the broker down, writes still succeed; when it returns, the events
// the query node kept reach the agent and indexing catches up (the agent's
// reconcile is an hour away, so the events are what does it).
func TestSplitClusterBrokerOutage(t *testing.T) {
	c := startCluster(t, clusterOptions{executors: 1, agentArgs: []string{
		"--agent-index-rows", "10", "--agent-index-wait", "1s", "--agent-reconcile-interval", "1h",
	}})
	r := rest{t: t, url: c.query.URL, db: "outage"}
	base := clusterRows(0, 300)
	defer base.Release()
	r.write("/v1/table/t/create/", base)
	r.json("/v1/table/t/create_index/", map[string]any{"column": "vector", "index_type": "IVF_FLAT", "num_partitions": 2}, nil)
	eventually(t, time.Minute, "index built", func() (bool, string) {
		st := r.indexStats("t", "vector_idx")
		return st.NumIndexedRows == 300 && st.NumUnindexedRows == 0, fmt.Sprintf("%+v", st)
	})
	// Let the agent finish with the events it has (create, create_index),
	// so that what follows can only reach it through the broker.
	eventually(t, time.Minute, "agent settled", func() (bool, string) {
		_, body := getText(t, c.agent.URL+"/v1/agent/tables")
		var tables struct {
			Tables []struct {
				Table     string    `json:"table"`
				Dirty     bool      `json:"dirty"`
				Evaluated time.Time `json:"evaluated"`
			} `json:"tables"`
		}
		_ = json.Unmarshal([]byte(body), &tables)
		for _, tb := range tables.Tables {
			if tb.Table == "t" && !tb.Dirty && !tb.Evaluated.IsZero() {
				return true, body
			}
		}
		return false, body
	})
	c.stopKafka()
	for i := range 3 {
		batch := clusterRows(1000+i*30, 30)
		r.write("/v1/table/t/insert/", batch) // fails the test unless 200
		batch.Release()
	}
	time.Sleep(3 * time.Second)
	if st := r.indexStats("t", "vector_idx"); st.NumUnindexedRows != 90 {
		t.Fatalf("while the broker is down: %+v, want 90 unindexed rows (nothing can tell the agent)", st)
	}
	c.startKafka()
	eventually(t, 2*time.Minute, "indexing caught up after the broker returned", func() (bool, string) {
		st := r.indexStats("t", "vector_idx")
		return st.NumUnindexedRows == 0 && st.NumIndexedRows == 390, fmt.Sprintf("%+v", st)
	})
}

func getText(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
