package ivf

import (
	"context"
	"fmt"

	"github.com/sarissa-db/sarissa/internal/index/pq"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// PQIndex is an IVF_PQ index. For L2 each row is encoded as its residual
// (row − centroid of its partition), as LanceDB does: residuals are smaller
// and more alike across partitions, so one codebook fits them better, at the
// price of one distance table per probed partition. For Cosine and Dot the
// raw vectors are encoded (Cosine after normalising to unit length), because
// neither distance decomposes over a residual, and one table per query
// serves every partition.
type PQIndex struct {
	Quantizer
	Codebook *pq.Codebook
	Residual bool
	Parts    []PQPartition
}

// PQPartition holds the rows of one partition: addresses and M codes per row.
type PQPartition struct {
	Addrs []uint64
	Codes []byte
}

// PQParams configures BuildPQ.
type PQParams struct {
	IVF Params
	PQ  pq.Params // Rand and Workers default to IVF's
}

// BuildPQ trains the coarse quantizer and the PQ codebooks and encodes
// (addrs[i], row i) into partitions.
func BuildPQ(ctx context.Context, addrs []uint64, data []float32, dim int, p PQParams) (*PQIndex, error) {
	if dim <= 0 || len(data) != len(addrs)*dim {
		return nil, fmt.Errorf("%w: %d values for %d rows of dimension %d", ErrInvalid, len(data), len(addrs), dim)
	}
	if p.IVF.Metric == vector.Cosine {
		data = normalizedRows(data, dim)
	}
	q, err := TrainQuantizer(ctx, data, dim, p.IVF, TargetPartitionPQ)
	if err != nil {
		return nil, err
	}
	assign := q.Assign(data, p.IVF.Workers)
	ix := &PQIndex{Quantizer: *q, Residual: p.IVF.Metric == vector.L2}
	train := data
	if ix.Residual {
		train = make([]float32, len(data))
		for i, c := range assign {
			cent := q.Centroids[int(c)*dim : (int(c)+1)*dim]
			for j := 0; j < dim; j++ {
				train[i*dim+j] = data[i*dim+j] - cent[j]
			}
		}
	}
	pp := p.PQ
	if pp.Rand == nil {
		pp.Rand = p.IVF.Rand
	}
	if pp.Workers == 0 {
		pp.Workers = p.IVF.Workers
	}
	cb, err := pq.Train(ctx, train, dim, pp)
	if err != nil {
		return nil, fmt.Errorf("train ivf_pq codebooks: %w", err)
	}
	ix.Codebook = cb
	counts := make([]int, q.NumPartitions())
	for _, c := range assign {
		counts[c]++
	}
	ix.Parts = make([]PQPartition, len(counts))
	for c, n := range counts {
		ix.Parts[c] = PQPartition{Addrs: make([]uint64, 0, n), Codes: make([]byte, 0, n*cb.M)}
	}
	for i, c := range assign {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		pt := &ix.Parts[c]
		pt.Addrs = append(pt.Addrs, addrs[i])
		pt.Codes = cb.Encode(pt.Codes, train[i*dim:(i+1)*dim])
	}
	return ix, nil
}

func normalizedRows(data []float32, dim int) []float32 {
	out := make([]float32, len(data))
	for i := 0; i+dim <= len(data); i += dim {
		row := data[i : i+dim]
		n := vector.Norm(row)
		if n == 0 {
			continue
		}
		for j, v := range row {
			out[i+j] = v / n
		}
	}
	return out
}

// Refine re-ranks candidates with exact distances. Factor × K candidates
// are taken from the approximate scan; Vectors returns their original
// vectors, back to back in the order of addrs.
type Refine struct {
	Factor  int
	Vectors func(ctx context.Context, addrs []uint64) ([]float32, error)
}

// Search returns the K nearest rows by approximate (ADC) distance among the
// NProbes nearest partitions, or, with a refine factor, by exact distance
// among the Factor × K best approximate candidates.
func (ix *PQIndex) Search(ctx context.Context, q []float32, sp SearchParams, rf Refine) ([]vector.Hit, error) {
	if len(q) != ix.Dim {
		return nil, fmt.Errorf("%w: query has %d values, index dimension is %d", ErrInvalid, len(q), ix.Dim)
	}
	if sp.K <= 0 {
		return nil, fmt.Errorf("%w: k = %d", ErrInvalid, sp.K)
	}
	if rf.Factor > 0 && rf.Vectors == nil {
		return nil, fmt.Errorf("%w: refine factor %d without a vector source", ErrInvalid, rf.Factor)
	}
	nprobes := sp.NProbes
	if nprobes <= 0 {
		nprobes = DefaultNProbes
	}
	qq := q
	if ix.Metric == vector.Cosine {
		qq = normalizedRows(q, ix.Dim)
	}
	want := sp.K
	if rf.Factor > 1 {
		want = sp.K * rf.Factor
	}
	top := vector.NewTopK(want)
	var tab pq.Table
	if !ix.Residual {
		ix.Codebook.DistanceTable(ix.Metric, qq, &tab)
	}
	resid := make([]float32, ix.Dim)
	var dist []float32
	for _, p := range ix.Probe(qq, nprobes) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		part := &ix.Parts[p]
		n := len(part.Addrs)
		if n == 0 {
			continue
		}
		if ix.Residual {
			cent := ix.Centroids[p*ix.Dim : (p+1)*ix.Dim]
			for j := range resid {
				resid[j] = qq[j] - cent[j]
			}
			ix.Codebook.DistanceTable(ix.Metric, resid, &tab)
		}
		if cap(dist) < n {
			dist = make([]float32, n)
		}
		d := dist[:n]
		tab.Scan(part.Codes, d)
		pushAll(top, part.Addrs, d, sp.Filter)
	}
	cands := top.Sorted()
	if rf.Factor <= 0 {
		return cands, nil
	}
	addrs := make([]uint64, len(cands))
	for i, h := range cands {
		addrs[i] = h.Addr
	}
	vecs, err := rf.Vectors(ctx, addrs)
	if err != nil {
		return nil, fmt.Errorf("refine: fetch %d vectors: %w", len(addrs), err)
	}
	if len(vecs) != len(addrs)*ix.Dim {
		return nil, fmt.Errorf("%w: refine source returned %d values for %d rows of dimension %d", ErrInvalid, len(vecs), len(addrs), ix.Dim)
	}
	exact := make([]float32, len(addrs))
	vector.Distances(ix.Metric, q, vecs, exact, nil)
	final := vector.NewTopK(sp.K)
	for i, d := range exact {
		final.Push(d, addrs[i])
	}
	return final.Sorted(), nil
}
