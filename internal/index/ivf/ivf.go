// Package ivf implements inverted-file vector indexes: a coarse quantizer
// (k-means centroids) splits rows into partitions, and a search probes only
// the partitions whose centroids lie nearest the query.
//
// This file holds the quantizer and IVF_FLAT, which keeps the original
// vectors in each partition and computes exact distances inside the probed
// partitions.
package ivf

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/sarissa-db/sarissa/internal/index/kmeans"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// Target partition sizes from lance#4616, used to derive num_partitions.
const (
	TargetPartitionFlat = 4096
	TargetPartitionPQ   = 8192
	MaxPartitions       = 4096
	// DefaultNProbes is LanceDB's default (and minimum) nprobes.
	DefaultNProbes = 20
)

// ErrInvalid reports unusable build or search parameters.
var ErrInvalid = errors.New("ivf: invalid argument")

// DefaultPartitions returns clamp(rows / target, 1, 4096), LanceDB's
// default num_partitions.
func DefaultPartitions(rows, target int) int {
	return min(max(rows/target, 1), MaxPartitions)
}

// Params configures the coarse quantizer.
type Params struct {
	Metric        vector.Metric
	NumPartitions int // 0: DefaultPartitions with the index type's target
	SampleRate    int // 0: kmeans.DefaultSampleRate
	MaxIterations int // 0: kmeans.DefaultMaxIterations
	Workers       int
	Rand          *rand.Rand
}

// Quantizer maps vectors to partitions.
type Quantizer struct {
	Metric    vector.Metric
	Dim       int
	Centroids []float32 // NumPartitions() rows of Dim values
}

// NumPartitions is the number of centroids.
func (q *Quantizer) NumPartitions() int { return len(q.Centroids) / q.Dim }

// TrainQuantizer runs k-means over data (rows of dim values).
func TrainQuantizer(ctx context.Context, data []float32, dim int, p Params, target int) (*Quantizer, error) {
	if dim <= 0 || len(data)%dim != 0 || len(data) == 0 {
		return nil, fmt.Errorf("%w: %d values are not non-empty rows of dimension %d", ErrInvalid, len(data), dim)
	}
	n := len(data) / dim
	k := p.NumPartitions
	if k <= 0 {
		k = DefaultPartitions(n, target)
	}
	if k > n {
		return nil, fmt.Errorf("%w: %d partitions for %d rows", ErrInvalid, k, n)
	}
	m, err := kmeans.Train(ctx, data, dim, kmeans.Params{
		K: k, Metric: p.Metric, SampleRate: p.SampleRate, MaxIterations: p.MaxIterations,
		Workers: p.Workers, Rand: p.Rand,
	})
	if err != nil {
		return nil, fmt.Errorf("train ivf centroids: %w", err)
	}
	return &Quantizer{Metric: p.Metric, Dim: dim, Centroids: m.Centroids}, nil
}

// Assign returns the partition of every row of data.
func (q *Quantizer) Assign(data []float32, workers int) []int32 {
	n := len(data) / q.Dim
	assign := make([]int32, n)
	kmeans.AssignAll(q.Metric, q.Centroids, q.Dim, data, assign, make([]float32, n), workers)
	return assign
}

// Probe returns the nprobes partitions nearest to v, nearest first.
func (q *Quantizer) Probe(v []float32, nprobes int) []int {
	k := q.NumPartitions()
	d := make([]float32, k)
	vector.Distances(q.Metric, v, q.Centroids, d, nil)
	top := vector.NewTopK(min(nprobes, k))
	for i, x := range d {
		top.Push(x, uint64(i))
	}
	hits := top.Sorted()
	out := make([]int, len(hits))
	for i, h := range hits {
		out[i] = int(h.Addr)
	}
	return out
}

// Filter decides per row address whether a row takes part in a search.
// Allow is the prefilter allow-list (nil: every row); Deleted masks removed
// rows (nil: none). A roaring bitmap's Contains method fits either.
type Filter struct {
	Allow   func(addr uint64) bool
	Deleted func(addr uint64) bool
}

func (f Filter) keep(addr uint64) bool {
	return (f.Allow == nil || f.Allow(addr)) && (f.Deleted == nil || !f.Deleted(addr))
}

func (f Filter) active() bool { return f.Allow != nil || f.Deleted != nil }

// SearchParams configures one query.
type SearchParams struct {
	K       int
	NProbes int // 0: DefaultNProbes
	Filter  Filter
}

// Flat is an IVF_FLAT index: per partition the row addresses and original
// vectors, back to back.
type Flat struct {
	Quantizer
	Parts []FlatPartition
}

// FlatPartition holds the rows of one partition.
type FlatPartition struct {
	Addrs   []uint64
	Vectors []float32
}

// BuildFlat trains the quantizer on a sample of data and distributes
// (addrs[i], row i) over the partitions.
func BuildFlat(ctx context.Context, addrs []uint64, data []float32, dim int, p Params) (*Flat, error) {
	if dim <= 0 || len(data) != len(addrs)*dim {
		return nil, fmt.Errorf("%w: %d values for %d rows of dimension %d", ErrInvalid, len(data), len(addrs), dim)
	}
	q, err := TrainQuantizer(ctx, data, dim, p, TargetPartitionFlat)
	if err != nil {
		return nil, err
	}
	assign := q.Assign(data, p.Workers)
	counts := make([]int, q.NumPartitions())
	for _, c := range assign {
		counts[c]++
	}
	ix := &Flat{Quantizer: *q, Parts: make([]FlatPartition, len(counts))}
	for c, n := range counts {
		ix.Parts[c] = FlatPartition{Addrs: make([]uint64, 0, n), Vectors: make([]float32, 0, n*dim)}
	}
	for i, c := range assign {
		pt := &ix.Parts[c]
		pt.Addrs = append(pt.Addrs, addrs[i])
		pt.Vectors = append(pt.Vectors, data[i*dim:(i+1)*dim]...)
	}
	return ix, nil
}

// Search returns the K nearest rows among the NProbes nearest partitions,
// ordered by distance then row address.
func (ix *Flat) Search(ctx context.Context, q []float32, sp SearchParams) ([]vector.Hit, error) {
	if len(q) != ix.Dim {
		return nil, fmt.Errorf("%w: query has %d values, index dimension is %d", ErrInvalid, len(q), ix.Dim)
	}
	if sp.K <= 0 {
		return nil, fmt.Errorf("%w: k = %d", ErrInvalid, sp.K)
	}
	nprobes := sp.NProbes
	if nprobes <= 0 {
		nprobes = DefaultNProbes
	}
	top := vector.NewTopK(sp.K)
	var dist, scratch []float32
	for _, p := range ix.Probe(q, nprobes) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		part := &ix.Parts[p]
		n := len(part.Addrs)
		if cap(dist) < n {
			dist = make([]float32, n)
			scratch = make([]float32, n)
		}
		d := dist[:n]
		vector.Distances(ix.Metric, q, part.Vectors, d, scratch)
		pushAll(top, part.Addrs, d, sp.Filter)
	}
	return top.Sorted(), nil
}

func pushAll(top *vector.TopK, addrs []uint64, d []float32, f Filter) {
	if !f.active() {
		for i, x := range d {
			top.Push(x, addrs[i])
		}
		return
	}
	for i, x := range d {
		if f.keep(addrs[i]) {
			top.Push(x, addrs[i])
		}
	}
}

// PartitionSizes returns the row count of every partition.
func (ix *Flat) PartitionSizes() []int {
	out := make([]int, len(ix.Parts))
	for i, p := range ix.Parts {
		out[i] = len(p.Addrs)
	}
	return slices.Clip(out)
}
