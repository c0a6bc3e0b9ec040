package query

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"golang.org/x/sync/errgroup"

	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// chunkRows is the unit of work of the parallel scan: small enough to
// balance two to a few dozen workers, large enough that the per-chunk
// overhead (a kernel call, a context check) vanishes.
const chunkRows = 1 << 14

// executor runs one plan.
type executor struct {
	p    *plan
	opts Options
}

// runVector executes a vector search: the k+offset nearest rows per query
// vector, then (post-)filtering, offset, limit and projection of the
// winners. The search goes through the column's vector index when there is
// one (searchIndexed), else it is exact over every live row (flatSearch).
func (x *executor) runVector(ctx context.Context) (*Result, error) {
	p := x.p
	res := &Result{Schema: p.outSchema}
	frags, err := x.liveFragments(ctx)
	if err != nil {
		return nil, err
	}
	pf := x.newPrefilter(frags)
	req := p.req
	kk := int(min(satAdd(req.K, req.Offset), math.MaxInt32)) // candidates before offset and post-filter
	hits, indexed, err := x.searchIndexed(ctx, frags, pf, kk)
	if err != nil {
		return nil, err
	}
	if !indexed {
		if req.FastSearch {
			// fast_search reads only indexed rows, and no index covers any.
			return res, nil
		}
		all := make([]int, len(frags))
		for i := range all {
			all[i] = i
		}
		if hits, err = x.flatSearch(ctx, frags, all, pf, kk); err != nil {
			return nil, err
		}
	}
	for qi := range req.Vectors {
		rec, err := x.materialize(ctx, frags, hits[qi], qi)
		if err != nil {
			res.Release()
			return nil, err
		}
		if rec == nil {
			continue
		}
		if rec.NumRows() == 0 {
			rec.Release()
			continue
		}
		res.Batches = append(res.Batches, rec)
	}
	return res, nil
}

// flatSearch computes the kk nearest eligible rows of the picked fragments
// to every query vector, exactly.
//
// When their vectors fit in the cache budget, the picked fragments are
// loaded (or found cached) and searched together, and keep their blocks for
// materialize. Larger columns are streamed: one fragment at a time is
// loaded, searched by all query vectors and dropped, so memory stays
// bounded by one fragment.
func (x *executor) flatSearch(ctx context.Context, frags []fragVectors, pick []int, pf *prefilter, kk int) ([][]vector.Hit, error) {
	// prepare loads a fragment's vectors and decides which rows may match.
	prepare := func(ctx context.Context, i int) error {
		f := &frags[i]
		if err := x.loadVectors(ctx, f); err != nil {
			return err
		}
		if f.block == nil {
			return nil // nothing to search, so no filter to evaluate
		}
		m, err := pf.mask(ctx, i)
		if err != nil {
			return err
		}
		f.allow = eligible(f.block, f.live, m)
		return nil
	}
	nq := len(x.p.req.Vectors)
	hits := make([][]vector.Hit, nq)
	picked := make([]fragVectors, 0, len(pick))
	for _, i := range pick {
		picked = append(picked, frags[i])
	}
	if x.opts.Cache != nil && x.vectorBytes(picked) <= x.opts.Cache.budget() {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(x.opts.Parallelism)
		list := make([]*fragVectors, len(pick))
		for j, i := range pick {
			list[j] = &frags[i]
			g.Go(func() error { return prepare(gctx, i) })
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		for qi := range nq {
			h, err := x.search(ctx, list, qi, kk)
			if err != nil {
				return nil, err
			}
			hits[qi] = h
		}
		return hits, nil
	}
	for _, i := range pick {
		f := &frags[i]
		if err := prepare(ctx, i); err != nil {
			return nil, err
		}
		for qi := range nq {
			h, err := x.search(ctx, []*fragVectors{f}, qi, kk)
			if err != nil {
				return nil, err
			}
			hits[qi] = vector.Merge(kk, hits[qi], h)
		}
		f.block, f.allow = nil, nil // let the collector have it
	}
	return hits, nil
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// maxPhysical is the largest fragment's physical row count.
func (x *executor) maxPhysical(frags []fragVectors) uint64 {
	var m uint64
	for _, f := range frags {
		m = max(m, f.frag.GetPhysicalRows())
	}
	return m
}

// eligible computes which rows of a block a search may return: not null,
// live in this version, and (pre != nil) matching the prefilter. live and
// pre are over physical offsets. nil means every row.
func eligible(b *vectorBlock, live, pre bitset) bitset {
	if b == nil {
		return nil
	}
	base := and(live, pre)
	if b.offsets == nil {
		return and(base, b.valid)
	}
	if base == nil && b.valid == nil {
		return nil
	}
	out := newBitset(b.n)
	for i, o := range b.offsets {
		if (b.valid == nil || b.valid.has(i)) && (base == nil || base.has(int(o))) {
			out.set(i)
		}
	}
	return out
}

type chunk struct {
	frag       int
	start, end int
}

// search returns the kk nearest eligible rows to query vector qi, ordered by
// distance then row address.
func (x *executor) search(ctx context.Context, frags []*fragVectors, qi, kk int) ([]vector.Hit, error) {
	var chunks []chunk
	for fi, f := range frags {
		if f.block == nil {
			continue
		}
		for s := 0; s < f.block.n; s += chunkRows {
			chunks = append(chunks, chunk{fi, s, min(s+chunkRows, f.block.n)})
		}
	}
	if len(chunks) == 0 || kk == 0 {
		return nil, nil
	}
	workers := min(x.opts.Parallelism, len(chunks))
	lists := make([][]vector.Hit, workers)
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for w := range workers {
		g.Go(func() error {
			s := x.newScanState(qi, kk)
			for {
				c := int(next.Add(1) - 1)
				if c >= len(chunks) {
					break
				}
				if err := gctx.Err(); err != nil {
					return err
				}
				s.scan(frags[chunks[c].frag], chunks[c].start, chunks[c].end)
			}
			lists[w] = s.top.Sorted()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return vector.Merge(kk, lists...), nil
}

// scanState is one worker's buffers and running top-k.
type scanState struct {
	metric       vector.Metric
	qf           []float32
	qb           []byte
	dist         []float32
	scratch      []float32
	top          *vector.TopK
	lower, upper *float32
}

func (x *executor) newScanState(qi, kk int) *scanState {
	vp := x.p.vec
	s := &scanState{
		metric:  vp.metric,
		dist:    make([]float32, chunkRows),
		scratch: make([]float32, chunkRows),
		top:     vector.NewTopK(kk),
		lower:   x.p.req.LowerBound,
		upper:   x.p.req.UpperBound,
	}
	if vp.bytes != nil {
		s.qb = vp.bytes[qi]
	} else {
		s.qf = vp.floats[qi]
	}
	return s
}

// scan computes the distances of block rows [start, end) and offers the
// eligible ones to the top-k.
func (s *scanState) scan(f *fragVectors, start, end int) {
	if f.allow != nil && f.allow.countRange(start, end)*sparseRatio < end-start {
		s.scanSparse(f, start, end)
		return
	}
	b := f.block
	dim := b.dim
	out := s.dist[:end-start]
	if s.qb != nil {
		vector.HammingDistance(s.qb, b.u8[start*dim:end*dim], out)
	} else {
		vector.Distances(s.metric, s.qf, b.f32[start*dim:end*dim], out, s.scratch)
	}
	top := s.top
	full := top.Full()
	worst := top.Worst()
	for i, d := range out {
		if full && d > worst {
			continue
		}
		if d != d {
			continue
		}
		r := start + i
		if f.allow != nil && !f.allow.has(r) {
			continue
		}
		if s.lower != nil && !(d >= *s.lower) || s.upper != nil && !(d < *s.upper) {
			continue
		}
		top.Push(d, table.RowAddress(f.id, b.offset(r)))
		if top.Full() {
			full = true
			worst = top.Worst()
		}
	}
}

// sparseRatio: a chunk where fewer than 1 in sparseRatio rows are eligible
// (a selective prefilter) computes distances row by row for those rows only,
// instead of for the whole chunk.
const sparseRatio = 16

// scanSparse is scan for chunks with few eligible rows.
func (s *scanState) scanSparse(f *fragVectors, start, end int) {
	b := f.block
	dim := b.dim
	out := s.dist[:1]
	for w := start >> 6; w<<6 < end; w++ {
		word := f.allow[w]
		for word != 0 {
			r := w<<6 + bits.TrailingZeros64(word)
			word &= word - 1
			if r < start || r >= end {
				continue
			}
			if s.qb != nil {
				vector.HammingDistance(s.qb, b.u8[r*dim:(r+1)*dim], out)
			} else {
				vector.Distances(s.metric, s.qf, b.f32[r*dim:(r+1)*dim], out, s.scratch)
			}
			d := out[0]
			if d != d || s.lower != nil && !(d >= *s.lower) || s.upper != nil && !(d < *s.upper) {
				continue
			}
			s.top.Push(d, table.RowAddress(f.id, b.offset(r)))
		}
	}
}

// materialize turns the hits of one query vector into an output batch:
// reads the needed columns of the winning rows, post-filters, applies offset
// and limit, and projects. It returns nil when no row remains.
func (x *executor) materialize(ctx context.Context, frags []fragVectors, hits []vector.Hit, qi int) (arrow.RecordBatch, error) {
	p, req, mem := x.p, x.p.req, x.opts.Allocator
	if !p.postfilter {
		hits = cut(hits, req.Offset, req.K)
	}
	cols := p.readCols
	if p.postfilter {
		for _, c := range p.filterCols {
			cols = appendUnique(cols, c)
		}
	}
	addrs := make([]uint64, len(hits))
	dists := make([]float32, len(hits))
	for i, h := range hits {
		addrs[i], dists[i] = h.Addr, h.Dist
	}
	if len(hits) == 0 {
		return nil, nil
	}
	byID := make(map[uint64]*fragVectors, len(frags))
	for i := range frags {
		byID[frags[i].id] = &frags[i]
	}
	// The searched vectors come from the blocks in memory, cacheable
	// columns from the cache, the rest from storage.
	var fields []arrow.Field
	var extra []arrow.Array
	var cached, stored []string
	for _, c := range cols {
		switch {
		case c == p.vec.column:
			if a, ok := x.vectorsFromBlocks(addrs, byID); ok {
				fields = append(fields, p.schema.Field(p.schema.FieldIndices(c)[0]))
				extra = append(extra, a)
				continue
			}
			stored = append(stored, c)
		case x.cacheableColumn(c, x.maxPhysical(frags)):
			cached = append(cached, c)
		default:
			stored = append(stored, c)
		}
	}
	var base arrow.RecordBatch
	if len(stored) == 0 {
		base = emptyRows(len(hits))
	} else {
		var err error
		base, err = p.snap.Take(ctx, addrs, stored)
		if err == nil && base.NumRows() != int64(len(hits)) {
			base.Release()
			err = fmt.Errorf("got %d of %d rows", base.NumRows(), len(hits))
		}
		if err != nil {
			for _, e := range extra {
				e.Release()
			}
			return nil, fmt.Errorf("read result rows: %w", err)
		}
	}
	if len(cached) > 0 {
		for _, c := range cached {
			a, err := x.takeCached(ctx, c, addrs, byID)
			if err != nil {
				base.Release()
				for _, e := range extra {
					e.Release()
				}
				return nil, err
			}
			fields = append(fields, p.schema.Field(p.schema.FieldIndices(c)[0]))
			extra = append(extra, a)
		}
	}
	fields = append(fields, rowIDField(), distanceField())
	extra = append(extra, uint64Array(mem, addrs), float32Array(mem, dists))
	if p.needRowOf {
		fields = append(fields, rowOffsetField())
		extra = append(extra, uint64Array(mem, rowOffsets(frags, addrs)))
	}
	work := withColumns(base, fields, extra)
	base.Release()
	defer work.Release()

	var idx []int32
	if p.postfilter {
		mask, err := p.filter.EvalPredicate(ctx, work, mem)
		if err != nil {
			return nil, fmt.Errorf("%w: filter %q: %w", ErrInvalidRequest, req.Filter, err)
		}
		idx = selected(mask)
		mask.Release()
		idx = cut(idx, req.Offset, req.K)
	}
	sub, err := takeRows(ctx, mem, work, idx)
	if err != nil {
		return nil, err
	}
	defer sub.Release()
	return p.project(ctx, mem, sub, qi)
}

// cut applies offset and limit to a result list.
func cut[T any](s []T, offset, limit int64) []T {
	if offset >= int64(len(s)) {
		return s[:0]
	}
	s = s[offset:]
	if limit < int64(len(s)) {
		s = s[:limit]
	}
	return s
}

// rowOffsets computes each address's position among the live rows of the
// snapshot, in fragment order (Lance's _rowoffset).
func rowOffsets(frags []fragVectors, addrs []uint64) []uint64 {
	first := make(map[uint64]int, len(frags)) // fragment id → index
	before := make([]uint64, len(frags))      // live rows in earlier fragments
	var total uint64
	for i, f := range frags {
		first[f.id] = i
		before[i] = total
		total += uint64(f.nLive)
	}
	out := make([]uint64, len(addrs))
	for i, a := range addrs {
		fid, off := table.SplitRowAddress(a)
		fi := first[fid]
		r := uint64(off)
		if live := frags[fi].live; live != nil {
			r = uint64(live.rank(int(off)))
		}
		out[i] = before[fi] + r
	}
	return out
}
