// Package ivf implements inverted-file vector indexes: a coarse quantizer
// (k-means centroids) splits rows into partitions, and a search probes only
// the partitions whose centroids lie nearest the query.
//
// Four kinds share one file format and search: IVF_FLAT keeps the original
// vectors of each partition (exact distances), IVF_PQ product-quantized
// codes, IVF_SQ 8-bit scalar codes, and IVF_HNSW_SQ scalar codes plus an
// HNSW graph per partition. A build trains a Model on a sample (Train),
// encodes rows batch by batch (Model.Encode) and streams the partitions into
// a file (Model.Write); a search opens the file (Open) and reads only the
// partitions it probes (File.Search).
package ivf

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

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
