package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"

	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/index/ivf"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/query"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vector"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

const testDim = 8

// cluster is a table on the filesystem, read by a query node and by plan
// executors serving Flight on loopback, each with its own catalog and
// caches over the same directory.
type cluster struct {
	t     *testing.T
	dir   string
	cat   *catalog.Catalog
	ref   vindex.TableRef
	mgr   *vindex.Manager
	snap  *table.Snapshot
	execs []*testExecutor
	fleet *Fleet
	reg   *prometheus.Registry
}

type testExecutor struct {
	addr string
	srv  *grpc.Server
	reg  *prometheus.Registry
}

func newCatalog(t *testing.T, dir string) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.New(catalog.Config{DefaultLocation: "file://" + dir}, catalog.Deps{Table: table.Options{MaxRowsPerFile: 300}})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func newCluster(t *testing.T, executors int, cfg FleetConfig, opts ...grpc.ServerOption) *cluster {
	t.Helper()
	ctx := context.Background()
	c := &cluster{t: t, dir: t.TempDir()}
	c.cat = newCatalog(t, c.dir)
	db, err := c.cat.Database(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	rec := testRows(0, 2000)
	defer rec.Release()
	rr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	id := catalog.Ident{Name: "t"}
	created, err := db.CreateTable(ctx, id, catalog.CreateModeCreate, rec.Schema(), rr)
	if err != nil {
		t.Fatal(err)
	}
	c.mgr = vindex.New(vindex.Config{CacheBytes: 16 << 20, SpillDir: t.TempDir(), Workers: 2, Seed: 3})
	t.Cleanup(c.mgr.Close)
	c.ref = vindex.TableRef{Table: created.Table, URI: db.TableURI(id), Name: "t"}
	job, err := c.mgr.Create(ctx, c.ref, vindex.Spec{Column: "vec", Params: ivf.BuildParams{Kind: ivf.KindPQ, Metric: vector.L2, NumPartitions: 6, NumSubVectors: 4}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.mgr.Wait(ctx, job); err != nil {
		t.Fatal(err)
	}
	// Rows the index does not cover, searched exactly.
	more := testRows(5000, 400)
	defer more.Release()
	rr2, _ := array.NewRecordReader(more.Schema(), []arrow.RecordBatch{more})
	defer rr2.Release()
	if c.snap, _, err = created.Table.Append(ctx, rr2); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for range executors {
		e := c.startExecutor(opts...)
		c.execs = append(c.execs, e)
		addrs = append(addrs, e.addr)
	}
	c.reg = prometheus.NewRegistry()
	c.fleet, err = NewFleet(cfg, FleetDeps{Members: StaticMembers(addrs), Registerer: c.reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.fleet.Close() })
	return c
}

// startExecutor serves a plan executor on a loopback port.
func (c *cluster) startExecutor(opts ...grpc.ServerOption) *testExecutor {
	c.t.Helper()
	mgr := vindex.New(vindex.Config{CacheBytes: 16 << 20, SpillDir: c.t.TempDir()})
	c.t.Cleanup(mgr.Close)
	reg := prometheus.NewRegistry()
	svc, err := NewService(ServiceConfig{}, ServiceDeps{Catalog: newCatalog(c.t, c.dir), Cache: query.NewCache(16 << 20), Indexes: mgr, Registerer: reg})
	if err != nil {
		c.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	srv := grpc.NewServer(append(svc.ServerOptions(), opts...)...)
	svc.Register(srv)
	go srv.Serve(ln)
	c.t.Cleanup(srv.Stop)
	return &testExecutor{addr: ln.Addr().String(), srv: srv, reg: reg}
}

func testRows(first, n int) arrow.RecordBatch {
	r := rand.New(rand.NewPCG(uint64(first), 9))
	mem := memory.DefaultAllocator
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "tag", Type: arrow.BinaryTypes.String},
		{Name: "vec", Type: arrow.FixedSizeListOf(testDim, arrow.PrimitiveTypes.Float32)},
	}, nil)
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	vb := b.Field(2).(*array.FixedSizeListBuilder)
	fb := vb.ValueBuilder().(*array.Float32Builder)
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(first + i))
		b.Field(1).(*array.StringBuilder).Append([]string{"red", "green", "blue"}[i%3])
		vb.Append(true)
		for range testDim {
			fb.Append(float32(r.NormFloat64()))
		}
	}
	return b.NewRecordBatch()
}

func (c *cluster) options(fleet query.Fleet) query.Options {
	return query.Options{
		Cache: query.NewCache(16 << 20), TableURI: c.ref.URI, Indexes: c.mgr, Table: c.ref,
		Fleet: fleet, Database: "db", TableID: "t",
	}
}

// rows runs body and returns the result as JSON-like rows.
func (c *cluster) rows(ctx context.Context, body string, opts query.Options) ([]map[string]any, error) {
	req, err := query.ParseRequest([]byte(body))
	if err != nil {
		return nil, err
	}
	res, err := query.Execute(ctx, c.snap, req, opts)
	if err != nil {
		return nil, err
	}
	defer res.Release()
	var out []map[string]any
	for _, b := range res.Batches {
		data, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		var rows []map[string]any
		if err := json.Unmarshal(data, &rows); err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

var testQueries = []string{
	`{"vector":[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8],"k":10,"columns":["id","tag"]}`,
	`{"vector":[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8],"k":5,"nprobes":2,"filter":"tag = 'red'","with_row_id":true}`,
	`{"vector":[[1,0,0,0,0,0,0,1],[0,1,0,0,0,0,1,0]],"k":4,"refine_factor":2,"columns":["id"]}`,
	`{"vector":[1,1,1,1,1,1,1,1],"k":6,"bypass_vector_index":true,"offset":2,"columns":["id","_distance"]}`,
	`{"filter":"id > 1990 AND id < 5010","k":15,"offset":2,"columns":["id","tag"]}`,
	`{"columns":["id"],"filter":"id % 250 = 0"}`,
}

// A split cluster answers exactly what one process answers, over real
// gRPC, with parts spread over every executor.
func TestFleetMatchesLocal(t *testing.T) {
	c := newCluster(t, 3, FleetConfig{})
	ctx := context.Background()
	for _, body := range testQueries {
		want, err := c.rows(ctx, body, c.options(nil))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.rows(ctx, body, c.options(c.fleet))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\nfleet %v\nlocal %v", body, got, want)
		}
	}
	n, err := query.Count(ctx, c.snap, "tag = 'green'", c.options(c.fleet))
	if want, _ := c.snap.Count(ctx, "tag = 'green'"); err != nil || n != want {
		t.Errorf("count over the fleet: %d, %v; want %d", n, err, want)
	}
	for _, e := range c.execs {
		ok := testutil.ToFloat64(metricWith(t, e.reg, "sarissa_executor_tasks_total", map[string]string{"kind": "search", "outcome": "ok"}))
		if ok == 0 {
			t.Errorf("executor %s ran no search task: units are not spread", e.addr)
		}
	}
}

// Killing an executor while queries run: every query still succeeds, on
// the replicas, and the fleet passes the dead executor over afterwards.
func TestFleetSurvivesExecutorLoss(t *testing.T) {
	c := newCluster(t, 3, FleetConfig{DownFor: time.Minute})
	ctx := context.Background()
	want := map[string][]map[string]any{}
	for _, body := range testQueries {
		rows, err := c.rows(ctx, body, c.options(nil))
		if err != nil {
			t.Fatal(err)
		}
		want[body] = rows
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := testQueries[(w+i)%len(testQueries)]
				got, err := c.rows(ctx, body, c.options(c.fleet))
				if err != nil {
					errs <- fmt.Errorf("%s: %w", body, err)
					return
				}
				if !reflect.DeepEqual(got, want[body]) {
					errs <- fmt.Errorf("%s: wrong rows after failover", body)
					return
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	c.execs[1].srv.Stop() // in-flight streams break, the port closes
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if f := testutil.ToFloat64(metricWith(t, c.reg, "sarissa_fleet_failovers_total", map[string]string{"executor": c.execs[1].addr})); f == 0 {
		t.Error("no failover counted for the stopped executor")
	}
	if !c.fleet.isDown(c.execs[1].addr) {
		t.Error("the stopped executor is not passed over")
	}
}

// A slow executor: with hedging, the part also goes to a replica and the
// first answer wins.
func TestFleetHedgesSlowExecutor(t *testing.T) {
	var once sync.Once
	slow := grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		delay := false
		once.Do(func() { delay = true })
		if delay {
			select {
			case <-time.After(5 * time.Second):
			case <-ss.Context().Done():
				return ss.Context().Err()
			}
		}
		return handler(srv, ss)
	})
	c := newCluster(t, 2, FleetConfig{HedgeAfter: 50 * time.Millisecond}, slow)
	ctx := context.Background()
	body := testQueries[0]
	want, err := c.rows(ctx, body, c.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.rows(ctx, body, c.options(c.fleet))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("hedged query: %v, %v; want %v", got, err, want)
	}
	var hedges float64
	for _, e := range c.execs {
		hedges += testutil.ToFloat64(metricWith(t, c.reg, "sarissa_fleet_hedges_total", map[string]string{"executor": e.addr}))
	}
	if hedges == 0 {
		t.Error("no hedge counted")
	}
}

// Errors that blame the request come back as such and are not failed
// over; objects that are gone come back as not-exist.
func TestFleetErrors(t *testing.T) {
	c := newCluster(t, 2, FleetConfig{})
	ctx := context.Background()
	req, err := query.ParseRequest([]byte(`{"columns":["id"],"filter":"tag = 'red'"}`))
	if err != nil {
		t.Fatal(err)
	}
	task := query.Task{Kind: query.TaskScan, Request: req, Fragments: []uint64{999}}
	tgt := query.Target{Database: "db", Table: "t", Version: c.snap.Version(), URI: c.ref.URI}
	_, err = c.fleet.Run(ctx, tgt, c.snap, task)
	if !errors.Is(err, query.ErrInvalidRequest) {
		t.Fatalf("unknown fragment: %v, want ErrInvalidRequest", err)
	}
	tgt.Table = "missing"
	task.Fragments = []uint64{0}
	if _, err = c.fleet.Run(ctx, tgt, c.snap, task); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("missing table: %v, want ErrNotExist", err)
	}
	for _, e := range c.execs {
		if f := testutil.ToFloat64(metricWith(t, c.reg, "sarissa_fleet_failovers_total", map[string]string{"executor": e.addr})); f != 0 {
			t.Errorf("executor %s failed over %v times on request errors", e.addr, f)
		}
	}
	// Every executor gone: a clear error, not a hang.
	for _, e := range c.execs {
		e.srv.Stop()
	}
	if _, err := c.rows(ctx, testQueries[0], c.options(c.fleet)); err == nil {
		t.Fatal("query succeeded with every executor stopped")
	}
}

// metricWith finds one series of a metric family in reg.
func metricWith(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) prometheus.Collector {
	t.Helper()
	return collectorFunc(func(ch chan<- prometheus.Metric) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		next:
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
						continue next
					}
				}
				ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, "", nil, nil), prometheus.CounterValue, m.GetCounter().GetValue())
				return
			}
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, "", nil, nil), prometheus.CounterValue, 0)
	})
}

type collectorFunc func(chan<- prometheus.Metric)

func (f collectorFunc) Describe(chan<- *prometheus.Desc)    {}
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }
