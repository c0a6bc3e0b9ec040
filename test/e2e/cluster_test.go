package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kfake"
)

// A split cluster: a Kafka broker (kfake, a real broker on loopback, run
// by the test), plan executors, a Lance Agent and a query node, each its
// own `sarissa serve --target ...` process, all over one data directory —
// what scripts/cluster.sh starts.
type cluster struct {
	t         *testing.T
	dir       string
	dataDir   string
	kafkaAddr string
	kafkaDir  string
	kafka     *kfake.Cluster
	executors []*server
	agent     *server
	query     *server
}

type clusterOptions struct {
	executors int
	// agentArgs tune the agent's policy (thresholds, intervals).
	agentArgs []string
	// queryArgs are more flags of the query node.
	queryArgs []string
}

const eventsTopic = "sarissa-events"

func startCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir()}
	c.dataDir = filepath.Join(c.dir, "data")
	c.kafkaDir = filepath.Join(c.dir, "kafka")
	c.startKafka()
	events := "kafka://" + c.kafkaAddr + "/" + eventsTopic
	var addrs []string
	for i := range o.executors {
		e := startServer(t, serverOptions{Dir: c.dir, DataDir: c.dataDir, Name: fmt.Sprintf("executor-%d", i),
			Args: []string{"--target", "executor", "--flight-listen", "127.0.0.1:0"}})
		c.executors = append(c.executors, e)
		addrs = append(addrs, e.FlightAddr)
	}
	c.agent = startServer(t, serverOptions{Dir: c.dir, DataDir: c.dataDir, Name: "agent",
		Args: append([]string{"--target", "agent", "--events", events}, o.agentArgs...)})
	c.query = startServer(t, serverOptions{Dir: c.dir, DataDir: c.dataDir, Name: "query",
		Args: append([]string{"--target", "query", "--executors", strings.Join(addrs, ","), "--events", events}, o.queryArgs...)})
	return c
}

// startKafka starts the broker, on the cluster's address once it has one
// (a restart), keeping its log and offsets in kafkaDir as Kafka would.
func (c *cluster) startKafka() {
	c.t.Helper()
	addr := c.kafkaAddr
	if addr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			c.t.Fatal(err)
		}
		addr = ln.Addr().String()
		ln.Close()
	}
	var k *kfake.Cluster
	var err error
	for range 50 { // the port of a broker just closed may take a moment to free
		k, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, eventsTopic), kfake.DataDir(c.kafkaDir),
			kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }))
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("start kfake on %s: %v", addr, err)
	}
	c.kafka, c.kafkaAddr = k, addr
	c.t.Cleanup(func() {
		if c.kafka != nil {
			c.kafka.Close()
		}
	})
}

func (c *cluster) stopKafka() {
	c.kafka.Close()
	c.kafka = nil
}

// kill stops s at once (SIGKILL), as a crashed pod; its cleanup then
// expects it gone.
func (s *server) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", s.name, err)
	}
	<-s.exited
	s.killed = true
}

// rest is a small client of the REST protocol for the Go side of the
// cluster tests (the official client drives the scenarios).
type rest struct {
	t   *testing.T
	url string
	db  string
}

func (r rest) post(path string, body []byte, contentType string) (int, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.url+path, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("x-lancedb-database", r.db)
	req.Header.Set("x-api-key", "e2e")
	req.Header.Set("content-type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// json posts a JSON body, expects 200 and decodes the answer into out.
func (r rest) json(path string, body any, out any) {
	r.t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		r.t.Fatal(err)
	}
	code, resp := r.post(path, data, "application/json")
	if code != http.StatusOK {
		r.t.Fatalf("POST %s: %d %s", path, code, resp)
	}
	if out != nil {
		if err := json.Unmarshal(resp, out); err != nil {
			r.t.Fatalf("POST %s: %v: %s", path, err, resp)
		}
	}
}

// write posts rows as an Arrow stream (create or insert).
func (r rest) write(path string, rec arrow.RecordBatch) {
	r.t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err := w.Write(rec); err != nil {
		r.t.Fatal(err)
	}
	w.Close()
	code, resp := r.post(path, buf.Bytes(), "application/vnd.apache.arrow.stream")
	if code != http.StatusOK {
		r.t.Fatalf("POST %s: %d %s", path, code, resp)
	}
}

// ids runs a query and returns the id column of the result, or the HTTP
// failure.
func (r rest) ids(table string, body map[string]any) ([]int64, error) {
	data, _ := json.Marshal(body)
	code, resp := r.post("/v1/table/"+table+"/query/", data, "application/json")
	if code != http.StatusOK {
		return nil, fmt.Errorf("query: %d %s", code, resp)
	}
	rd, err := ipc.NewFileReader(bytes.NewReader(resp))
	if err != nil {
		return nil, fmt.Errorf("query result: %w", err)
	}
	defer rd.Close()
	var out []int64
	for i := range rd.NumRecords() {
		rec, err := rd.RecordBatchAt(i)
		if err != nil {
			return nil, err
		}
		col := rec.Column(rec.Schema().FieldIndices("id")[0]).(*array.Int64)
		out = append(out, col.Int64Values()...)
		rec.Release()
	}
	return out, nil
}

type indexStats struct {
	NumIndexedRows   int64 `json:"num_indexed_rows"`
	NumUnindexedRows int64 `json:"num_unindexed_rows"`
	NumIndices       int   `json:"num_indices"`
}

// indexStats returns the index's stats; zero stats while the index is
// not committed yet (404: its build is still running).
func (r rest) indexStats(table, index string) indexStats {
	r.t.Helper()
	code, resp := r.post("/v1/table/"+table+"/index/"+index+"/stats/", []byte("{}"), "application/json")
	var st indexStats
	switch code {
	case http.StatusNotFound:
		return st
	case http.StatusOK:
		if err := json.Unmarshal(resp, &st); err != nil {
			r.t.Fatalf("index stats: %v: %s", err, resp)
		}
		return st
	}
	r.t.Fatalf("index stats: %d %s", code, resp)
	return st
}

func (r rest) fragments(table string) int {
	r.t.Helper()
	var d struct {
		Stats struct {
			NumFragments int `json:"num_fragments"`
		} `json:"stats"`
	}
	r.json("/v1/table/"+table+"/describe/", map[string]any{}, &d)
	return d.Stats.NumFragments
}

const clusterDim = 8

var clusterSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "vector", Type: arrow.FixedSizeListOf(clusterDim, arrow.PrimitiveTypes.Float32)},
	{Name: "tag", Type: arrow.BinaryTypes.String},
}, nil)

// rows returns n rows with ids from first and seeded random vectors.
func clusterRows(first, n int) arrow.RecordBatch {
	r := rand.New(rand.NewPCG(uint64(first), 17))
	b := array.NewRecordBuilder(memory.DefaultAllocator, clusterSchema)
	defer b.Release()
	vb := b.Field(1).(*array.FixedSizeListBuilder)
	fb := vb.ValueBuilder().(*array.Float32Builder)
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(first + i))
		vb.Append(true)
		for range clusterDim {
			fb.Append(float32(r.NormFloat64()))
		}
		b.Field(2).(*array.StringBuilder).Append([]string{"a", "b", "c"}[(first+i)%3])
	}
	return b.NewRecordBatch()
}

func vectorOf(seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 5))
	v := make([]float32, clusterDim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// eventually polls cond every 200 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s (last: %s)", what, timeout, last)
}
