// Package sq implements 8-bit scalar quantization as Lance's IVF_SQ uses it:
// one value range [Lo, Hi] for all dimensions, learned from a training
// sample, maps every value to a byte. A row costs Dim bytes instead of 4·Dim,
// and distances from an exact float query to the codes come from the
// vector.L2U8 / vector.DotU8 kernels after a one-off transform of the query.
//
// Metrics: L2 and Dot are computed against the reconstruction lo + scale·c.
// Cosine expects callers to normalise rows before encoding and the query
// before Prepare; it is then the dot distance of unit vectors.
package sq

import (
	"errors"
	"fmt"
	"math"

	"github.com/sarissa-db/sarissa/internal/vector"
)

// ErrInvalid reports unusable input.
var ErrInvalid = errors.New("sq: invalid argument")

// Quantizer holds the trained range.
type Quantizer struct {
	Lo, Hi float32
}

// Train returns the range of every finite value of sample.
func Train(sample []float32) (*Quantizer, error) {
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range sample {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			continue
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo > hi {
		return nil, fmt.Errorf("%w: no finite values to train on", ErrInvalid)
	}
	return &Quantizer{Lo: lo, Hi: hi}, nil
}

// Scale is the width of one code step.
func (q *Quantizer) Scale() float32 {
	if q.Hi > q.Lo {
		return (q.Hi - q.Lo) / 255
	}
	return 1
}

// Encode appends the codes of values (clamped to the range) to dst.
func (q *Quantizer) Encode(dst []byte, values []float32) []byte {
	inv := 1 / q.Scale()
	for _, v := range values {
		x := (v - q.Lo) * inv
		switch {
		case !(x > 0): // also NaN
			dst = append(dst, 0)
		case x >= 255:
			dst = append(dst, 255)
		default:
			dst = append(dst, byte(x+0.5))
		}
	}
	return dst
}

// Query is a query prepared for one metric.
type Query struct {
	metric vector.Metric
	t      []float32 // (q−lo)/scale for L2, q for Dot/Cosine
	scale  float32
	offset float32 // Dot/Cosine: 1 − lo·Σq
}

// Prepare transforms q for Distances under metric m.
func (q *Quantizer) Prepare(m vector.Metric, query []float32) *Query {
	s := q.Scale()
	p := &Query{metric: m, scale: s, t: make([]float32, len(query))}
	if m == vector.L2 {
		for j, v := range query {
			p.t[j] = (v - q.Lo) / s
		}
		return p
	}
	var sum float32
	for j, v := range query {
		p.t[j] = v
		sum += v
	}
	p.offset = 1 - q.Lo*sum
	return p
}

// Distances writes the distance of the prepared query to each row of codes
// (len(query) bytes per row) into out.
func (p *Query) Distances(codes []byte, out []float32) {
	if p.metric == vector.L2 {
		vector.L2U8(p.t, codes, out)
		s2 := p.scale * p.scale
		for i := range out {
			out[i] *= s2
		}
		return
	}
	vector.DotU8(p.t, codes, out)
	for i, d := range out {
		out[i] = p.offset - p.scale*d
	}
}

// Distance is Distances for one row.
func (p *Query) Distance(row []byte) float32 {
	var out [1]float32
	p.Distances(row, out[:])
	return out[0]
}
