// Command indexbench measures Sarissa's vector indexes in-process on the
// side-by-side benchmark's data (the dump of ../shared/bench/lancedb-peer):
// it writes the rows into a local table, builds one index through
// vindex.Manager (the path create_index takes), reports build time and the
// process's peak RSS, then sweeps the query knobs and reports recall@k
// against the dump's ground truth, p50/p99 latency and QPS with 1 and 4
// concurrent clients through query.Execute (the path the REST handler
// takes, minus HTTP). Output: one JSON document on stdout, progress on
// stderr.
//
//	go run ./bench/indexbench -data /tmp/benchdata/synth-… -kind IVF_PQ -partitions 1000 -subvectors 16
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sarissa-db/sarissa/bench/internal/dump"
	"github.com/sarissa-db/sarissa/internal/index/ivf"
	"github.com/sarissa-db/sarissa/internal/objstore/filesystem"
	"github.com/sarissa-db/sarissa/internal/query"
	"github.com/sarissa-db/sarissa/internal/vector"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

type options struct {
	data, dir, kind                  string
	partitions, subvectors, bits     int
	m, efc                           int
	nprobes, refine, ef              string
	k, queries, repeats, batch, seed int
	clients, cpuprofile              string
}

// Point is one operating point of the sweep.
type Point struct {
	Label   string          `json:"label"`
	NProbes int             `json:"nprobes,omitempty"`
	Refine  int             `json:"refine,omitempty"`
	Ef      int             `json:"ef,omitempty"`
	Recall  float64         `json:"recall"`
	P50ms   float64         `json:"p50_ms"`
	P99ms   float64         `json:"p99_ms"`
	QPS     map[int]float64 `json:"qps"`
}

// Result is what the program prints.
type Result struct {
	Engine      string  `json:"engine"`
	Kind        string  `json:"kind"`
	N           int     `json:"n"`
	Dim         int     `json:"dim"`
	Params      string  `json:"params"`
	BuildSec    float64 `json:"build_seconds"`
	PeakRSSMiB  float64 `json:"peak_rss_mib"`
	IngestSec   float64 `json:"ingest_seconds"`
	Kernel      string  `json:"kernel"`
	Points      []Point `json:"points"`
	LoadAverage string  `json:"load_average"`
}

func main() {
	var o options
	flag.StringVar(&o.data, "data", "", "dump prefix (<prefix>.json, .base.f32, .queries.f32, .gt.i32)")
	flag.StringVar(&o.dir, "dir", "", "directory for the table (default: a temp dir)")
	flag.StringVar(&o.kind, "kind", "IVF_PQ", "IVF_FLAT, IVF_PQ, IVF_SQ or IVF_HNSW_SQ")
	flag.IntVar(&o.partitions, "partitions", 0, "num_partitions (0: LanceDB default)")
	flag.IntVar(&o.subvectors, "subvectors", 0, "num_sub_vectors (IVF_PQ)")
	flag.IntVar(&o.bits, "bits", 0, "num_bits (IVF_PQ)")
	flag.IntVar(&o.m, "m", 0, "m (IVF_HNSW_SQ)")
	flag.IntVar(&o.efc, "efc", 0, "ef_construction (IVF_HNSW_SQ)")
	flag.StringVar(&o.nprobes, "nprobes", "5,10,20,40,80", "nprobes sweep")
	flag.StringVar(&o.refine, "refine", "0,10", "refine_factor sweep")
	flag.StringVar(&o.ef, "ef", "10,20,40,80,160", "ef sweep (IVF_HNSW_SQ)")
	flag.IntVar(&o.k, "k", 10, "top-k")
	flag.IntVar(&o.queries, "queries", 200, "queries per pass")
	flag.IntVar(&o.repeats, "repeats", 3, "timed passes per point (the median pass is reported)")
	flag.IntVar(&o.batch, "batch", 100_000, "rows per append")
	flag.IntVar(&o.seed, "seed", 1, "build seed")
	flag.StringVar(&o.clients, "clients", "1,4", "concurrent clients for QPS")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the build and the query sweep to this file")
	flag.Parse()
	o.cpuprofile = *cpuprofile
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "indexbench:", err)
		os.Exit(1)
	}
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			out = append(out, v)
		}
	}
	return out
}

func run(o options) error {
	if o.data == "" {
		return fmt.Errorf("-data is required")
	}
	kind, err := ivf.ParseKind(o.kind)
	if err != nil {
		return err
	}
	h, err := dump.Load(o.data)
	if err != nil {
		return err
	}
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "indexbench-"); err != nil {
			return err
		}
		defer os.RemoveAll(o.dir)
	}
	ctx := context.Background()
	bucket, err := filesystem.New(o.dir)
	if err != nil {
		return err
	}
	res := Result{Engine: "sarissa-inproc", Kind: kind.String(), N: h.N, Dim: h.Dim, Kernel: vector.Kernel()}
	start := time.Now()
	tb, err := h.WriteTable(ctx, bucket, "bench.lance", o.batch)
	if err != nil {
		return err
	}
	res.IngestSec = time.Since(start).Seconds()
	h.Base = nil // the table holds the rows now; keep the build's RSS honest

	mgr := vindex.New(vindex.Config{SpillDir: o.dir, Seed: uint64(o.seed)})
	defer mgr.Close()
	ref := vindex.TableRef{Table: tb, URI: "file://" + filepath.Join(o.dir, "bench.lance"), Name: "bench"}
	p := ivf.BuildParams{Kind: kind, Metric: vector.L2, NumPartitions: o.partitions, NumSubVectors: o.subvectors,
		NumBits: o.bits, M: o.m, EfConstruction: o.efc}
	res.Params = fmt.Sprintf("partitions=%d subvectors=%d bits=%d m=%d ef_construction=%d", o.partitions, o.subvectors, o.bits, o.m, o.efc)
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start = time.Now()
	job, err := mgr.Create(ctx, ref, vindex.Spec{Column: "vector", Params: p})
	if err != nil {
		return err
	}
	if err := mgr.Wait(ctx, job); err != nil {
		return err
	}
	res.BuildSec = time.Since(start).Seconds()
	res.PeakRSSMiB = peakRSSMiB()
	fmt.Fprintf(os.Stderr, "%s build: %.1fs, peak RSS %.0f MiB (%s)\n", kind, res.BuildSec, res.PeakRSSMiB, res.Params)

	snap, err := tb.Latest(ctx)
	if err != nil {
		return err
	}
	opts := query.Options{Cache: query.NewCache(4 << 30), TableURI: ref.URI, Indexes: mgr, Table: ref}
	nq := min(o.queries, h.Queries)
	type knob struct{ nprobes, refine, ef int }
	var knobs []knob
	if kind == ivf.KindHNSWSQ {
		for _, rf := range ints(o.refine) {
			for _, ef := range ints(o.ef) {
				knobs = append(knobs, knob{nprobes: max(o.partitions, 1), refine: rf, ef: max(ef, o.k*max(rf, 1))})
			}
		}
	} else {
		for _, rf := range ints(o.refine) {
			for _, np := range ints(o.nprobes) {
				knobs = append(knobs, knob{nprobes: np, refine: rf})
			}
		}
	}
	for _, kb := range knobs {
		body := func(qi int) []byte {
			return requestBody(h.Query(qi), o.k, kb.nprobes, kb.refine, kb.ef)
		}
		one := func(qi int) ([]int32, error) {
			req, err := query.ParseRequest(body(qi))
			if err != nil {
				return nil, err
			}
			r, err := query.Execute(ctx, snap, req, opts)
			if err != nil {
				return nil, err
			}
			defer r.Release()
			var ids []int32
			for _, b := range r.Batches {
				ids = append(ids, b.Column(0).(*array.Int32).Int32Values()...)
			}
			return ids, nil
		}
		pt := Point{Label: fmt.Sprintf("nprobes=%d refine=%d ef=%d", kb.nprobes, kb.refine, kb.ef), NProbes: kb.nprobes, Refine: kb.refine, Ef: kb.ef, QPS: map[int]float64{}}
		hits := 0
		for qi := range nq { // warm-up pass, scored
			ids, err := one(qi)
			if err != nil {
				return err
			}
			want := h.Truth(qi, o.k)
			for _, id := range ids {
				if slices.Contains(want, id) {
					hits++
				}
			}
		}
		pt.Recall = float64(hits) / float64(nq*o.k)
		var p50s, p99s []float64
		for range o.repeats {
			lat := make([]float64, 0, nq)
			for qi := range nq {
				t0 := time.Now()
				if _, err := one(qi); err != nil {
					return err
				}
				lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
			}
			slices.Sort(lat)
			p50s = append(p50s, lat[len(lat)/2])
			p99s = append(p99s, lat[min(len(lat)-1, len(lat)*99/100)])
		}
		slices.Sort(p50s)
		slices.Sort(p99s)
		pt.P50ms, pt.P99ms = p50s[len(p50s)/2], p99s[len(p99s)/2]
		for _, c := range ints(o.clients) {
			total := max(nq, 100*c)
			var qpss []float64
			for range o.repeats {
				var mu sync.Mutex
				next := 0
				var wg sync.WaitGroup
				var ferr error
				t0 := time.Now()
				for range c {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							mu.Lock()
							i := next
							next++
							mu.Unlock()
							if i >= total {
								return
							}
							if _, err := one(i % nq); err != nil {
								mu.Lock()
								ferr = err
								mu.Unlock()
								return
							}
						}
					}()
				}
				wg.Wait()
				if ferr != nil {
					return ferr
				}
				qpss = append(qpss, float64(total)/time.Since(t0).Seconds())
			}
			slices.Sort(qpss)
			pt.QPS[c] = qpss[len(qpss)/2]
		}
		fmt.Fprintf(os.Stderr, "  %-32s recall@%d %.3f  p50 %.3f ms  p99 %.3f ms  qps %v\n", pt.Label, o.k, pt.Recall, pt.P50ms, pt.P99ms, pt.QPS)
		res.Points = append(res.Points, pt)
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.LoadAverage = strings.TrimSpace(string(la))
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	return enc.Encode(res)
}

// peakRSSMiB is the process's resident-set high-water mark (VmHWM).
func peakRSSMiB() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return math.NaN()
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return math.NaN()
}

func requestBody(q []float32, k, nprobes, refine, ef int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"vector":`)
	sb.WriteString(dump.VectorJSON(q))
	fmt.Fprintf(&sb, `,"k":%d,"distance_type":"l2","columns":["id"],"prefilter":true,"version":null,"nprobes":%d`, k, nprobes)
	if refine > 0 {
		fmt.Fprintf(&sb, `,"refine_factor":%d`, refine)
	}
	if ef > 0 {
		fmt.Fprintf(&sb, `,"ef":%d`, ef)
	}
	sb.WriteString("}")
	return []byte(sb.String())
}
