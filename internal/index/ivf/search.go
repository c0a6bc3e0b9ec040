package ivf

import (
	"context"
	"fmt"

	"github.com/sarissa-db/sarissa/internal/index/pq"
	"github.com/sarissa-db/sarissa/internal/index/sq"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// Filter decides per row address whether a row takes part in a search.
// Allow is the prefilter allow-list and live-row mask (nil: every row);
// Deleted masks removed rows (nil: none).
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
	K int
	// MinProbes partitions are always searched (0: DefaultNProbes); more, in
	// order of centroid distance up to MaxProbes (0: MinProbes), only while
	// fewer than K rows have passed the filter — LanceDB's
	// minimum_nprobes/maximum_nprobes.
	MinProbes, MaxProbes int
	// Ef is the HNSW candidate list (0: 1.5 × K, at least K).
	Ef     int
	Filter Filter
}

// Search returns the K nearest rows by the index's distance (approximate
// for PQ/SQ, exact for FLAT), nearest first. load fetches a partition —
// normally through the caller's cache; nil reads it from the file.
func (f *File) Search(ctx context.Context, q []float32, sp SearchParams,
	load func(ctx context.Context, p int) (*Partition, error)) ([]vector.Hit, error) {
	if err := f.checkQuery(q, sp); err != nil {
		return nil, err
	}
	minP := sp.MinProbes
	if minP <= 0 {
		minP = DefaultNProbes
	}
	maxP := max(sp.MaxProbes, minP)
	np := f.model.NumPartitions()
	minP, maxP = min(minP, np), min(maxP, np)
	s := f.model.newSearcher(q, sp)
	order := f.model.Probe(s.q, maxP)
	for i, p := range order {
		if i >= minP && s.top.Len() >= sp.K {
			break
		}
		if err := f.searchOne(ctx, s, p, load); err != nil {
			return nil, err
		}
	}
	return s.top.Sorted(), nil
}

// ProbeOrder returns the non-empty partitions a search of q probes, nearest
// centroid first, at most maxProbes of them (0: every partition). A caller
// that spreads one search over several processes cuts this list into parts
// and searches each with SearchPartitions; merging the parts' hits gives
// what one search over the same partitions would.
func (f *File) ProbeOrder(q []float32, maxProbes int) ([]int, error) {
	m := f.model
	if len(q) != m.Dim {
		return nil, fmt.Errorf("%w: query has %d values, index dimension is %d", ErrInvalid, len(q), m.Dim)
	}
	np := m.NumPartitions()
	if maxProbes <= 0 || maxProbes > np {
		maxProbes = np
	}
	pq := q
	if m.Metric == vector.Cosine && m.Kind != KindFlat {
		pq = normalizedRows(q, m.Dim)
	}
	order := m.Probe(pq, maxProbes)
	out := order[:0]
	for _, p := range order {
		if f.parts[p].Rows > 0 {
			out = append(out, p)
		}
	}
	return out, nil
}

// SearchPartitions returns the K nearest rows of q among exactly the given
// partitions (sp's probe counts are ignored), nearest first.
func (f *File) SearchPartitions(ctx context.Context, q []float32, sp SearchParams, parts []int,
	load func(ctx context.Context, p int) (*Partition, error)) ([]vector.Hit, error) {
	if err := f.checkQuery(q, sp); err != nil {
		return nil, err
	}
	s := f.model.newSearcher(q, sp)
	for _, p := range parts {
		if p < 0 || p >= len(f.parts) {
			return nil, fmt.Errorf("%w: partition %d of %d", ErrInvalid, p, len(f.parts))
		}
		if err := f.searchOne(ctx, s, p, load); err != nil {
			return nil, err
		}
	}
	return s.top.Sorted(), nil
}

func (f *File) checkQuery(q []float32, sp SearchParams) error {
	if len(q) != f.model.Dim {
		return fmt.Errorf("%w: query has %d values, index dimension is %d", ErrInvalid, len(q), f.model.Dim)
	}
	if sp.K <= 0 {
		return fmt.Errorf("%w: k = %d", ErrInvalid, sp.K)
	}
	return nil
}

// searchOne loads partition p (through load, or from the file when nil)
// and searches it.
func (f *File) searchOne(ctx context.Context, s *searcher, p int,
	load func(ctx context.Context, p int) (*Partition, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.parts[p].Rows == 0 {
		return nil
	}
	if load == nil {
		load = f.ReadPartition
	}
	part, err := load(ctx, p)
	if err != nil {
		return err
	}
	s.searchPartition(p, part)
	return nil
}

// searcher is one query's state across the partitions it probes.
type searcher struct {
	m     *Model
	q     []float32 // normalised under cosine for the quantized kinds
	sp    SearchParams
	top   *vector.TopK
	tab   pq.Table
	sqq   *sq.Query
	dist  []float32
	resid []float32
}

func (m *Model) newSearcher(q []float32, sp SearchParams) *searcher {
	s := &searcher{m: m, q: q, sp: sp, top: vector.NewTopK(sp.K)}
	if m.Metric == vector.Cosine && m.Kind != KindFlat {
		s.q = normalizedRows(q, m.Dim)
	}
	switch m.Kind {
	case KindPQ:
		if m.Residual {
			s.resid = make([]float32, m.Dim)
		} else {
			m.Codebook.DistanceTable(m.Metric, s.q, &s.tab)
		}
	case KindSQ, KindHNSWSQ:
		metric := m.Metric
		if metric == vector.Cosine {
			metric = vector.Dot // unit vectors: cosine distance = dot distance
		}
		s.sqq = m.SQ.Prepare(metric, s.q)
	}
	return s
}

func (s *searcher) distances(n int) []float32 {
	if cap(s.dist) < n {
		s.dist = make([]float32, n)
	}
	return s.dist[:n]
}

func (s *searcher) searchPartition(p int, part *Partition) {
	m := s.m
	n := len(part.Addrs)
	switch m.Kind {
	case KindFlat:
		d := s.distances(n)
		vector.Distances(m.Metric, s.q, part.Vectors, d, nil)
		s.pushAll(part.Addrs, d)
	case KindPQ:
		if m.Residual {
			cent := m.Centroids[p*m.Dim : (p+1)*m.Dim]
			for j := range s.resid {
				s.resid[j] = s.q[j] - cent[j]
			}
			m.Codebook.DistanceTable(m.Metric, s.resid, &s.tab)
		}
		d := s.distances(n)
		if m.Codebook.Bits == 4 {
			s.tab.ScanTransposed4(part.Blocks, d)
		} else {
			s.tab.Scan(part.Codes, d)
		}
		s.pushAll(part.Addrs, d)
	case KindSQ:
		d := s.distances(n)
		s.sqq.Distances(part.Codes, d)
		s.pushAll(part.Addrs, d)
	case KindHNSWSQ:
		ef := s.sp.Ef
		if ef <= 0 {
			ef = s.sp.K + s.sp.K/2
		}
		ef = max(ef, s.sp.K)
		dim := m.Dim
		qdist := func(i int) float32 { return s.sqq.Distance(part.Codes[i*dim : (i+1)*dim]) }
		var allow func(i int) bool
		if s.sp.Filter.active() {
			allow = func(i int) bool { return s.sp.Filter.keep(part.Addrs[i]) }
		}
		for _, nb := range part.Graph.Search(ef, s.sp.K, qdist, allow) {
			s.top.Push(nb.Dist, part.Addrs[nb.ID])
		}
	}
}

func (s *searcher) pushAll(addrs []uint64, d []float32) {
	f := s.sp.Filter
	top := s.top
	if !f.active() {
		for i, x := range d {
			top.Push(x, addrs[i])
		}
		return
	}
	// Most rows of a probed partition lose on distance alone: compare with
	// the current k-th distance before paying for the filter callback.
	full, worst := top.Full(), top.Worst()
	for i, x := range d {
		if full && x > worst {
			continue
		}
		if f.keep(addrs[i]) {
			top.Push(x, addrs[i])
			if full = top.Full(); full {
				worst = top.Worst()
			}
		}
	}
}
