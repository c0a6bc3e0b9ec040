// Package kmeans trains the coarse quantizer of IVF indexes (and PQ
// codebooks): Lloyd's algorithm over a random sample of the input, seeded by
// an injected random source so that a build is reproducible.
//
// Defaults follow LanceDB: the sample holds SampleRate × K vectors
// (SampleRate 256) and training stops after MaxIterations (50) rounds or when
// the relative change of the loss falls under Tolerance.
//
// Metrics: L2 uses plain means. Cosine runs spherical k-means (inputs and
// centroids are normalised to unit length, which makes cosine order equal L2
// order). Dot assigns by dot distance and updates with means, as Lance does.
package kmeans

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/sarissa-db/sarissa/internal/vector"
)

// Init selects how the first centroids are chosen.
type Init uint8

const (
	// PlusPlus is k-means++: each next centroid is drawn with probability
	// proportional to its squared distance from the nearest chosen one. It
	// costs K passes over the sample but converges in fewer rounds.
	PlusPlus Init = iota
	// Random picks K distinct sample vectors uniformly.
	Random
)

// Defaults taken from LanceDB's index builder.
const (
	DefaultSampleRate    = 256
	DefaultMaxIterations = 50
	DefaultTolerance     = 1e-4
)

// ErrInvalid reports unusable parameters or input shapes.
var ErrInvalid = errors.New("kmeans: invalid argument")

// Params configures Train. Zero fields take the defaults above; Rand is
// required so that no hidden global source is used.
type Params struct {
	K             int
	Metric        vector.Metric
	SampleRate    int
	MaxIterations int
	Tolerance     float64
	Init          Init
	Workers       int
	Rand          *rand.Rand
}

// Model is a trained set of centroids, K rows of Dim values back to back.
type Model struct {
	K, Dim     int
	Metric     vector.Metric
	Centroids  []float32
	Loss       float64 // sum of distances of the training sample to their centroid
	Iterations int
}

// Train clusters data (n rows of dim values) into p.K clusters.
func Train(ctx context.Context, data []float32, dim int, p Params) (*Model, error) {
	if dim <= 0 || len(data)%dim != 0 {
		return nil, fmt.Errorf("%w: %d values are not rows of dimension %d", ErrInvalid, len(data), dim)
	}
	n := len(data) / dim
	if p.K <= 0 {
		return nil, fmt.Errorf("%w: k = %d", ErrInvalid, p.K)
	}
	if n < p.K {
		return nil, fmt.Errorf("%w: %d rows cannot form %d clusters", ErrInvalid, n, p.K)
	}
	if p.Rand == nil {
		return nil, fmt.Errorf("%w: no random source", ErrInvalid)
	}
	switch p.Metric {
	case vector.L2, vector.Cosine, vector.Dot:
	default:
		return nil, fmt.Errorf("%w: metric %v is not supported by k-means", ErrInvalid, p.Metric)
	}
	if p.SampleRate <= 0 {
		p.SampleRate = DefaultSampleRate
	}
	if p.MaxIterations <= 0 {
		p.MaxIterations = DefaultMaxIterations
	}
	if p.Tolerance <= 0 {
		p.Tolerance = DefaultTolerance
	}
	if p.Workers <= 0 {
		p.Workers = 2
	}

	sample := Sample(data, dim, p.K*p.SampleRate, p.Rand)
	if p.Metric == vector.Cosine {
		// Sample may alias data when no sampling happened; normalise a copy.
		sample = normalizedCopy(sample, dim)
	}
	m := len(sample) / dim

	m0 := &Model{K: p.K, Dim: dim, Metric: p.Metric}
	switch p.Init {
	case Random:
		m0.Centroids = initRandom(sample, dim, p.K, p.Rand)
	default:
		m0.Centroids = initPlusPlus(sample, dim, p.K, p.Rand)
	}

	assign := make([]int32, m)
	dists := make([]float32, m)
	prev := math.Inf(1)
	for it := 0; it < p.MaxIterations; it++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		loss := AssignAll(p.Metric, m0.Centroids, dim, sample, assign, dists, p.Workers)
		m0.Loss = loss
		m0.Iterations = it + 1
		update(m0, sample, assign, dists)
		if prev-loss <= p.Tolerance*math.Abs(prev) && !math.IsInf(prev, 1) {
			break
		}
		prev = loss
	}
	// Report the loss of the final centroids.
	m0.Loss = AssignAll(p.Metric, m0.Centroids, dim, sample, assign, dists, p.Workers)
	return m0, nil
}

// Sample returns up to want rows of data chosen uniformly without
// replacement (all of data, unshuffled, when it holds no more than want).
func Sample(data []float32, dim, want int, r *rand.Rand) []float32 {
	n := len(data) / dim
	if n <= want {
		return data
	}
	// Partial Fisher–Yates over indices keeps the draw O(want) in swaps.
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	out := make([]float32, 0, want*dim)
	for i := 0; i < want; i++ {
		j := i + r.IntN(n-i)
		idx[i], idx[j] = idx[j], idx[i]
		row := int(idx[i])
		out = append(out, data[row*dim:(row+1)*dim]...)
	}
	return out
}

func normalizedCopy(data []float32, dim int) []float32 {
	out := make([]float32, len(data))
	copy(out, data)
	for i := 0; i+dim <= len(out); i += dim {
		normalize(out[i : i+dim])
	}
	return out
}

func normalize(v []float32) {
	n := vector.Norm(v)
	if n == 0 {
		return
	}
	for i := range v {
		v[i] /= n
	}
}

func initRandom(sample []float32, dim, k int, r *rand.Rand) []float32 {
	return append([]float32(nil), Sample(sample, dim, k, r)...)
}

func initPlusPlus(sample []float32, dim, k int, r *rand.Rand) []float32 {
	n := len(sample) / dim
	cent := make([]float32, 0, k*dim)
	first := r.IntN(n)
	cent = append(cent, sample[first*dim:(first+1)*dim]...)
	best := make([]float32, n)
	tmp := make([]float32, n)
	vector.L2Squared(cent[:dim], sample, best)
	for c := 1; c < k; c++ {
		var total float64
		for _, d := range best {
			total += float64(d)
		}
		pick := -1
		if total > 0 {
			x := r.Float64() * total
			for i, d := range best {
				x -= float64(d)
				if x < 0 {
					pick = i
					break
				}
			}
			if pick < 0 { // rounding left x ≥ 0: take the last positive weight
				for i := n - 1; i >= 0; i-- {
					if best[i] > 0 {
						pick = i
						break
					}
				}
			}
		} else {
			pick = r.IntN(n) // every point coincides with a centroid
		}
		row := sample[pick*dim : (pick+1)*dim]
		cent = append(cent, row...)
		vector.L2Squared(row, sample, tmp)
		for i, d := range tmp {
			if d < best[i] {
				best[i] = d
			}
		}
	}
	return cent
}

// AssignAll writes for each row of data the index of its nearest centroid
// into assign and the distance into dists, splitting rows over workers
// goroutines, and returns the summed distance.
func AssignAll(m vector.Metric, centroids []float32, dim int, data []float32, assign []int32, dists []float32, workers int) float64 {
	n := len(data) / dim
	if workers < 1 {
		workers = 1
	}
	if workers > n {
		workers = max(n, 1)
	}
	chunk := (n + workers - 1) / workers
	losses := make([]float64, workers)
	as := NewAssigner(m, centroids, dim)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := as.NewBuffers()
			var loss float64
			for i := lo; i < hi; i++ {
				c, d := as.Nearest(data[i*dim:(i+1)*dim], buf)
				assign[i], dists[i] = int32(c), d
				loss += float64(d)
			}
			losses[w] = loss
		}()
	}
	wg.Wait()
	var total float64
	for _, l := range losses {
		total += l
	}
	return total
}

// Nearest returns the index of the centroid nearest to q and its distance.
// NaN distances (zero vectors under cosine) lose against any number; when
// all are NaN the first centroid is chosen so every row lands somewhere.
func Nearest(m vector.Metric, q, centroids []float32) (int, float32) {
	k := len(centroids) / len(q)
	return nearest(m, q, centroids, make([]float32, k), make([]float32, k))
}

func nearest(m vector.Metric, q, centroids, out, scratch []float32) (int, float32) {
	vector.Distances(m, q, centroids, out, scratch)
	best, bd := 0, float32(math.Inf(1))
	for j, d := range out {
		if d < bd {
			best, bd = j, d
		}
	}
	if math.IsInf(float64(bd), 1) {
		return 0, out[0]
	}
	return best, bd
}

// update recomputes centroids as means of their members and repairs empty
// clusters by moving them onto the rows farthest from their current centroid
// (each such row is used once), which splits the worst-fitting clusters.
func update(m *Model, sample []float32, assign []int32, dists []float32) {
	dim, k := m.Dim, m.K
	sums := make([]float64, k*dim)
	counts := make([]int, k)
	for i, c := range assign {
		counts[c]++
		row := sample[i*dim : (i+1)*dim]
		s := sums[int(c)*dim : (int(c)+1)*dim]
		for j, v := range row {
			s[j] += float64(v)
		}
	}
	var empty []int
	for c := 0; c < k; c++ {
		if counts[c] == 0 {
			empty = append(empty, c)
			continue
		}
		cent := m.Centroids[c*dim : (c+1)*dim]
		inv := 1 / float64(counts[c])
		for j := range cent {
			cent[j] = float32(sums[c*dim+j] * inv)
		}
		if m.Metric == vector.Cosine {
			normalize(cent)
		}
	}
	if len(empty) == 0 {
		return
	}
	used := make(map[int]bool, len(empty))
	for _, c := range empty {
		far, fd := -1, float32(math.Inf(-1))
		for i, d := range dists {
			// Only take rows whose cluster keeps at least one member.
			if d > fd && !used[i] && counts[assign[i]] > 1 {
				far, fd = i, d
			}
		}
		if far < 0 {
			return // fewer distinct rows than clusters; leave the rest
		}
		used[far] = true
		counts[assign[far]]--
		counts[c] = 1
		assign[far] = int32(c)
		dists[far] = 0
		copy(m.Centroids[c*dim:(c+1)*dim], sample[far*dim:(far+1)*dim])
	}
}
