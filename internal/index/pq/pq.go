// Package pq implements product quantization: a vector is cut into M
// sub-vectors, each replaced by the index of its nearest codeword in a
// per-sub-vector codebook of 2^bits entries trained with k-means. Search uses
// asymmetric distance computation (ADC): the query stays exact, a table of
// query-to-codeword distances is built once, and each encoded row costs M
// table look-ups.
//
// Sub-vector codebooks are always trained and matched with L2. The metric
// only shapes the distance table: L2 sums squared sub-distances; Dot sums
// negated sub-dot-products and adds 1 (1 − x·y); Cosine expects callers to
// normalise vectors and queries (on the unit sphere ‖x−y‖² = 2·cos_dist) and
// halves the L2 sum.
package pq

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/sarissa-db/sarissa/internal/index/kmeans"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// ErrInvalid reports unusable parameters or shapes.
var ErrInvalid = errors.New("pq: invalid argument")

// DefaultBits is LanceDB's default num_bits.
const DefaultBits = 8

// DefaultSubVectors returns LanceDB's default num_sub_vectors: dim/16 when
// divisible, else dim/8 when divisible, else 1.
func DefaultSubVectors(dim int) int {
	switch {
	case dim >= 16 && dim%16 == 0:
		return dim / 16
	case dim >= 8 && dim%8 == 0:
		return dim / 8
	default:
		return 1
	}
}

// Params configures codebook training.
type Params struct {
	SubVectors    int // 0: DefaultSubVectors(dim)
	Bits          int // 8 or 4; 0: 8
	SampleRate    int // rows sampled per codeword; 0: kmeans default (256)
	MaxIterations int
	Workers       int
	Rand          *rand.Rand
}

// Codebook holds M codebooks of K = 2^Bits codewords of SubDim values each,
// laid out [m][k][SubDim].
type Codebook struct {
	Dim, M, SubDim, Bits int
	Centroids            []float32

	assignOnce sync.Once
	assigners  []*kmeans.Assigner // per sub-vector, built on first Encode

	tableOnce sync.Once
	cols      []float32 // per sub-vector, codewords transposed: [m][SubDim][K]
	norms     []float32 // per sub-vector, squared codeword norms: [m][K]
	zeros     []float32 // K zeros
}

// prepareTables lays the codewords out for vector.AffineTransposed, which
// computes a sub-vector's 2^bits table entries without horizontal sums.
func (c *Codebook) prepareTables() {
	c.tableOnce.Do(func() {
		k, sd := c.K(), c.SubDim
		c.cols = make([]float32, c.M*sd*k)
		c.norms = make([]float32, c.M*k)
		c.zeros = make([]float32, k)
		for j := 0; j < c.M; j++ {
			for x := 0; x < k; x++ {
				cw := c.Centroids[(j*k+x)*sd : (j*k+x+1)*sd]
				var n float32
				for d, v := range cw {
					c.cols[(j*sd+d)*k+x] = v
					n += v * v
				}
				c.norms[j*k+x] = n
			}
		}
	})
}

// K is the number of codewords per sub-vector.
func (c *Codebook) K() int { return 1 << c.Bits }

// Train learns codebooks from data (rows of dim values).
func Train(ctx context.Context, data []float32, dim int, p Params) (*Codebook, error) {
	if dim <= 0 || len(data)%dim != 0 {
		return nil, fmt.Errorf("%w: %d values are not rows of dimension %d", ErrInvalid, len(data), dim)
	}
	m := p.SubVectors
	if m <= 0 {
		m = DefaultSubVectors(dim)
	}
	if dim%m != 0 {
		return nil, fmt.Errorf("%w: dimension %d is not divisible into %d sub-vectors", ErrInvalid, dim, m)
	}
	bits := p.Bits
	if bits == 0 {
		bits = DefaultBits
	}
	if bits != 8 && bits != 4 {
		return nil, fmt.Errorf("%w: num_bits %d (want 4 or 8)", ErrInvalid, bits)
	}
	if bits == 4 && m%2 != 0 {
		return nil, fmt.Errorf("%w: num_bits 4 needs an even num_sub_vectors, got %d", ErrInvalid, m)
	}
	if p.Rand == nil {
		return nil, fmt.Errorf("%w: no random source", ErrInvalid)
	}
	k := 1 << bits
	n := len(data) / dim
	if n < k {
		return nil, fmt.Errorf("%w: %d rows cannot train %d codewords", ErrInvalid, n, k)
	}
	rate := p.SampleRate
	if rate <= 0 {
		rate = kmeans.DefaultSampleRate
	}
	sample := kmeans.Sample(data, dim, k*rate, p.Rand)
	ns := len(sample) / dim
	sub := dim / m
	cb := &Codebook{Dim: dim, M: m, SubDim: sub, Bits: bits, Centroids: make([]float32, m*k*sub)}
	part := make([]float32, ns*sub)
	for j := 0; j < m; j++ {
		for i := 0; i < ns; i++ {
			copy(part[i*sub:(i+1)*sub], sample[i*dim+j*sub:i*dim+(j+1)*sub])
		}
		model, err := kmeans.Train(ctx, part, sub, kmeans.Params{
			// Random initial codewords, as Lance does: k-means++ costs 2^bits
			// passes over the sample per sub-vector (more than the Lloyd
			// rounds) and buys little at 256 well-populated codewords.
			K: k, Metric: vector.L2, SampleRate: rate, MaxIterations: p.MaxIterations, Init: kmeans.Random,
			Workers: p.Workers, Rand: p.Rand,
		})
		if err != nil {
			return nil, fmt.Errorf("train pq sub-vector %d: %w", j, err)
		}
		copy(cb.Centroids[j*k*sub:(j+1)*k*sub], model.Centroids)
	}
	return cb, nil
}

// Encode appends the M codes of every row of data to dst (one byte per code,
// also for 4-bit codebooks) and returns it. Safe for concurrent use.
func (c *Codebook) Encode(dst []byte, data []float32) []byte {
	c.assignOnce.Do(func() {
		k := c.K()
		c.assigners = make([]*kmeans.Assigner, c.M)
		for j := range c.assigners {
			c.assigners[j] = kmeans.NewAssigner(vector.L2, c.Centroids[j*k*c.SubDim:(j+1)*k*c.SubDim], c.SubDim)
		}
	})
	buf := c.assigners[0].NewBuffers()
	for i := 0; i+c.Dim <= len(data); i += c.Dim {
		row := data[i : i+c.Dim]
		for j, a := range c.assigners {
			best, _ := a.Nearest(row[j*c.SubDim:(j+1)*c.SubDim], buf)
			dst = append(dst, byte(best))
		}
	}
	return dst
}

// Decode writes the reconstruction of one row's codes into out (Dim values).
func (c *Codebook) Decode(codes []byte, out []float32) {
	k := c.K()
	for j := 0; j < c.M; j++ {
		cw := c.Centroids[(j*k+int(codes[j]))*c.SubDim:]
		copy(out[j*c.SubDim:(j+1)*c.SubDim], cw[:c.SubDim])
	}
}

// Table is a query's distance table: M rows of K entries, plus a constant
// added to every sum and a final scale.
type Table struct {
	M, K   int
	Dist   []float32
	Offset float32
	Scale  float32
}

// DistanceTable builds the ADC table of q (Dim values) under metric m.
// For Cosine, q must already be unit length (see the package comment).
func (c *Codebook) DistanceTable(m vector.Metric, q []float32, t *Table) {
	k := c.K()
	t.M, t.K = c.M, k
	if cap(t.Dist) < c.M*k {
		t.Dist = make([]float32, c.M*k)
	}
	t.Dist = t.Dist[:c.M*k]
	t.Offset, t.Scale = 0, 1
	c.prepareTables()
	sd := c.SubDim
	var xbuf [64]float32
	var x []float32
	if sd <= len(xbuf) {
		x = xbuf[:sd]
	} else {
		x = make([]float32, sd)
	}
	for j := 0; j < c.M; j++ {
		sq := q[j*sd : (j+1)*sd]
		cols := c.cols[j*sd*k : (j+1)*sd*k]
		out := t.Dist[j*k : (j+1)*k]
		if m == vector.Dot {
			// −q·y per codeword y.
			for d, v := range sq {
				x[d] = -v
			}
			vector.AffineTransposed(x, cols, c.zeros, out)
			continue
		}
		// ‖q−y‖² = ‖y‖² − 2q·y + ‖q‖².
		var qn float32
		for d, v := range sq {
			x[d] = -2 * v
			qn += v * v
		}
		vector.AffineTransposed(x, cols, c.norms[j*k:(j+1)*k], out)
		for i, v := range out {
			// Expanding the square can leave a tiny negative residue.
			if v += qn; v < 0 {
				v = 0
			}
			out[i] = v
		}
	}
	switch m {
	case vector.Dot:
		t.Offset = 1
	case vector.Cosine:
		t.Scale = 0.5
	}
}

// Scan writes the approximate distance of each encoded row (M codes per row,
// back to back) into out. It is the hot loop of IVF_PQ search; the
// unrolled-by-4 form lets the compiler drop most bounds checks. A SIMD
// gather/shuffle version belongs in internal/vector later.
func (t *Table) Scan(codes []byte, out []float32) {
	m, k := t.M, t.K
	tab := t.Dist[:m*k]
	for i := range out {
		row := codes[i*m : (i+1)*m]
		var s0, s1, s2, s3 float32
		j := 0
		for ; j+4 <= m; j += 4 {
			s0 += tab[j*k+int(row[j])]
			s1 += tab[(j+1)*k+int(row[j+1])]
			s2 += tab[(j+2)*k+int(row[j+2])]
			s3 += tab[(j+3)*k+int(row[j+3])]
		}
		for ; j < m; j++ {
			s0 += tab[j*k+int(row[j])]
		}
		out[i] = (t.Offset + (s0 + s1) + (s2 + s3)) * t.Scale
	}
}
