package query

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
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

// workCols are the table columns a search task returns for its rows: those
// the output reads and, under a post-filter, those the filter reads, in
// plan order.
func (x *executor) workCols() []string {
	cols := x.p.readCols
	if x.p.postfilter {
		for _, c := range x.p.filterCols {
			cols = appendUnique(cols, c)
		}
	}
	return cols
}

// workSchema is the schema of the working batches a search or scan task
// returns: the given table columns, then _rowid, then _distance (searches),
// then _rowoffset when the plan reads it. Every part of a task returns
// exactly this schema, so the query node can concatenate them.
func (x *executor) partialSchema(cols []string, withDistance bool) *arrow.Schema {
	p := x.p
	fields := make([]arrow.Field, 0, len(cols)+3)
	for _, c := range cols {
		fields = append(fields, p.schema.Field(p.schema.FieldIndices(c)[0]))
	}
	fields = append(fields, rowIDField())
	if withDistance {
		fields = append(fields, distanceField())
	}
	if p.needRowOf {
		fields = append(fields, rowOffsetField())
	}
	return arrow.NewSchema(fields, nil)
}

// workingRows reads the working columns of a search task's hits (nearest
// first): the searched vectors from the blocks in memory, cacheable columns
// from the cache, the rest from storage.
func (x *executor) workingRows(ctx context.Context, frags []fragVectors, hits []vector.Hit) (arrow.RecordBatch, error) {
	p, mem := x.p, x.opts.Allocator
	cols := x.workCols()
	schema := x.partialSchema(cols, true)
	if len(hits) == 0 {
		return emptyBatch(mem, schema), nil
	}
	addrs := make([]uint64, len(hits))
	dists := make([]float32, len(hits))
	for i, h := range hits {
		addrs[i], dists[i] = h.Addr, h.Dist
	}
	byID := make(map[uint64]*fragVectors, len(frags))
	for i := range frags {
		byID[frags[i].id] = &frags[i]
	}
	arrays := make([]arrow.Array, 0, schema.NumFields())
	defer func() {
		for _, a := range arrays {
			if a != nil {
				a.Release()
			}
		}
	}()
	var stored []string
	var storedAt []int
	for _, c := range cols {
		var a arrow.Array
		switch {
		case c == p.vec.column:
			if v, ok := x.vectorsFromBlocks(addrs, byID); ok {
				a = v
			}
		case x.cacheableColumn(c, x.maxPhysical(frags)):
			v, err := x.takeCached(ctx, c, addrs, byID)
			if err != nil {
				return nil, err
			}
			a = v
		}
		if a == nil {
			stored = append(stored, c)
			storedAt = append(storedAt, len(arrays))
		}
		arrays = append(arrays, a)
	}
	if len(stored) > 0 {
		base, err := p.snap.Take(ctx, addrs, stored)
		if err != nil {
			return nil, fmt.Errorf("read result rows: %w", err)
		}
		defer base.Release()
		if base.NumRows() != int64(len(hits)) {
			return nil, fmt.Errorf("read result rows: got %d of %d rows", base.NumRows(), len(hits))
		}
		for j, c := range stored {
			col := base.Column(base.Schema().FieldIndices(c)[0])
			col.Retain()
			arrays[storedAt[j]] = col
		}
	}
	arrays = append(arrays, uint64Array(mem, addrs), float32Array(mem, dists))
	if p.needRowOf {
		arrays = append(arrays, uint64Array(mem, rowOffsets(frags, addrs)))
	}
	return array.NewRecordBatch(schema, arrays, int64(len(hits))), nil
}

// emptyBatch is a batch of schema with no rows.
func emptyBatch(mem memory.Allocator, schema *arrow.Schema) arrow.RecordBatch {
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		cols[i] = array.MakeArrayOfNull(mem, f.Type, 0)
	}
	rec := array.NewRecordBatch(schema, cols, 0)
	for _, c := range cols {
		c.Release()
	}
	return rec
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
