// Command flatbench measures Sarissa's exact vector search in-process on the
// side-by-side benchmark's data (the dump of ../shared/bench/lancedb-peer):
// ingest rows/s into a local table, then cold and warm query latency of
// exact top-k search through query.Execute, with recall against the dump's
// ground truth.
//
//	go run ./bench/flatbench -data /tmp/benchdata/synth-... -dir /tmp/flatbench
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sarissa-db/sarissa/bench/internal/dump"
	"github.com/sarissa-db/sarissa/internal/objstore/filesystem"
	"github.com/sarissa-db/sarissa/internal/query"
)

func main() {
	data := flag.String("data", "", "dump prefix (<prefix>.json, .base.f32, .queries.f32, .gt.i32)")
	dir := flag.String("dir", "", "directory for the table (default: a temp dir)")
	nq := flag.Int("queries", 200, "timed queries")
	warm := flag.Int("warmup", 3, "untimed warm-up queries")
	k := flag.Int("k", 10, "top-k")
	batch := flag.Int("batch", 100_000, "rows per append")
	flag.Parse()
	if err := run(*data, *dir, *nq, *warm, *k, *batch); err != nil {
		fmt.Fprintln(os.Stderr, "flatbench:", err)
		os.Exit(1)
	}
}

func run(prefix, dir string, nq, warm, k, batch int) error {
	if prefix == "" {
		return fmt.Errorf("-data is required")
	}
	h, err := dump.Load(prefix)
	if err != nil {
		return err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "flatbench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	ctx := context.Background()
	bucket, err := filesystem.New(dir)
	if err != nil {
		return err
	}
	start := time.Now()
	tb, err := h.WriteTable(ctx, bucket, "bench.lance", batch)
	if err != nil {
		return err
	}
	ingest := time.Since(start)
	fmt.Printf("ingest: %d rows in %.2fs = %.0f rows/s (batches of %d, one commit each)\n", h.N, ingest.Seconds(), float64(h.N)/ingest.Seconds(), batch)

	snap, err := tb.Latest(ctx)
	if err != nil {
		return err
	}
	cache := query.NewCache(4 << 30)
	opts := query.Options{Cache: cache, TableURI: "file://" + filepath.Join(dir, "bench.lance")}
	var lat []time.Duration
	hits := 0
	for i := range warm + nq {
		qi := i % h.Queries
		body := requestBody(h.Query(qi), k)
		t0 := time.Now()
		req, err := query.ParseRequest(body)
		if err != nil {
			return err
		}
		res, err := query.Execute(ctx, snap, req, opts)
		if err != nil {
			return err
		}
		d := time.Since(t0)
		if i == 0 {
			fmt.Printf("first (cold cache) query: %.1f ms\n", float64(d.Microseconds())/1000)
		}
		if i >= warm {
			lat = append(lat, d)
			want := h.Truth(qi, k)
			for _, b := range res.Batches {
				ids := b.Column(0).(*array.Int32).Int32Values()
				for _, id := range ids {
					if slices.Contains(want, id) {
						hits++
					}
				}
			}
		}
		res.Release()
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Printf("exact search %d x %d, k=%d, %d queries: p50 %.2f ms, p99 %.2f ms, min %.2f, max %.2f; recall@%d %.4f\n",
		h.N, h.Dim, k, nq, ms(lat[len(lat)/2]), ms(lat[min(len(lat)-1, len(lat)*99/100)]), ms(lat[0]), ms(lat[len(lat)-1]), k, float64(hits)/float64(nq*k))
	return nil
}

func requestBody(q []float32, k int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"vector":`)
	sb.WriteString(dump.VectorJSON(q))
	fmt.Fprintf(&sb, `,"k":%d,"distance_type":"l2","bypass_vector_index":true,"columns":["id"],"prefilter":true,"version":null}`, k)
	return []byte(sb.String())
}
