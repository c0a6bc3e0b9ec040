package vindex

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sarissa-db/sarissa/internal/index/ivf"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// benchRows is the table size of BenchmarkBuild; SARISSA_VINDEX_BENCH_ROWS
// overrides it (e.g. 1000000 for the 1M-row figure).
func benchRows(b *testing.B) int {
	if s := os.Getenv("SARISSA_VINDEX_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("SARISSA_VINDEX_BENCH_ROWS=%q: want a positive integer", s)
		}
		return n
	}
	return 100_000
}

// heapSampler records the peak of live heap objects while it runs.
type heapSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	h.wg.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			h.peak = max(h.peak, sample[0].Value.Uint64())
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	})
	return h
}

func (h *heapSampler) finish() uint64 {
	close(h.stop)
	h.wg.Wait()
	return h.peak
}

// vmHWM returns the process's peak resident set size in bytes (Linux).
func vmHWM() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return -1
}

// resetHWM resets the kernel's peak RSS record of this process, so vmHWM
// reports the peak of what runs next.
func resetHWM(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("reset peak RSS: %v", err)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// BenchmarkBuild builds an IVF_PQ index over a table of benchRows × 128 on
// the local filesystem (so table data is not on the heap) and reports the
// peak heap growth during the build, the partition buffers' peak, and the
// process's peak RSS, with the default memory budget and with a small one
// that forces spilling.
func BenchmarkBuild(b *testing.B) {
	const dim = 128
	n := benchRows(b)
	// Written in chunks so that generating the data does not set the
	// process's peak RSS.
	const chunk = 50_000
	f := newFixture(b, dim, mixture(21, min(n, chunk), dim), fixtureOpts{bucket: fsBucket(b), rowsPerFile: 250_000})
	for done, seed := min(n, chunk), uint64(22); done < n; done, seed = done+chunk, seed+1 {
		f.append(mixture(seed, min(chunk, n-done), dim), nil)
	}
	runtime.GC()
	for _, bc := range []struct {
		name   string
		budget int64
	}{{"budget=1GiB", 1 << 30}, {"budget=1MiB", 1 << 20}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				m := New(Config{BuildMemoryBytes: bc.budget, Seed: 3, SpillDir: b.TempDir()})
				base := liveHeap()
				resetHWM(b)
				h := startHeapSampler()
				start := time.Now()
				id, err := m.Create(context.Background(), f.ref, Spec{Name: "bench", Column: "vec",
					Params: ivf.BuildParams{Kind: ivf.KindPQ, Metric: vector.L2, NumSubVectors: 16}})
				if err != nil {
					b.Fatal(err)
				}
				if err := m.Wait(context.Background(), id); err != nil {
					b.Fatal(err)
				}
				elapsed := time.Since(start)
				peak := h.finish()
				st, _ := m.Job(id)
				m.Close()
				b.ReportMetric(elapsed.Seconds(), "build-s")
				b.ReportMetric(float64(peak-min(peak, base))/(1<<20), "peak-heap-MiB")
				b.ReportMetric(float64(st.Stats.BufferPeak)/(1<<20), "buffers-MiB")
				b.ReportMetric(float64(vmHWM())/(1<<20), "peak-rss-MiB")
				spilled := 0.0
				if st.Stats.Spilled {
					spilled = 1
				}
				b.ReportMetric(spilled, "spilled")
			}
		})
	}
}
