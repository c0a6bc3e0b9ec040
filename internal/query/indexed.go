package query

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vector"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

// indexUsable reports whether the query may go through a vector index:
// an index manager is configured, the request does not bypass it, and the
// column holds float vectors (indexes are not built over binary vectors).
func (x *executor) indexUsable() bool {
	return x.opts.Indexes != nil && !x.p.req.BypassVectorIndex && x.p.vec != nil && x.p.vec.floats != nil
}

// searchTask runs the search part of a query on a plan executor: the
// task's index partitions through the index (rows allowed: live and, with a
// prefilter, matching; refined by exact distances when the query asks) and
// the task's fragments exactly, as LanceDB's knn_combined does for the
// whole table. It returns one working batch per query vector holding its
// k + offset best rows, nearest first.
func (x *executor) searchTask(ctx context.Context, t Task) (*Result, error) {
	p, req := x.p, x.p.req
	if t.Metric != 0 {
		// The index's metric: the exact part and the refine step must give
		// distances comparable with the index's (LanceDB does the same).
		p.vec.metric = t.Metric
	}
	frags, err := x.liveFragments(ctx)
	if err != nil {
		return nil, err
	}
	pf := x.newPrefilter(frags)
	kk := int(min(satAdd(req.K, req.Offset), math.MaxInt32)) // candidates before offset and post-filter
	slots := newFragSlots(frags)
	hits := make([][]vector.Hit, len(req.Vectors))
	if t.Index != nil {
		if hits, err = x.searchIndexParts(ctx, frags, slots, pf, kk, t.Index); err != nil {
			return nil, err
		}
	}
	if len(t.Fragments) > 0 {
		pick := make([]int, len(t.Fragments))
		for i, id := range t.Fragments {
			pick[i] = slots.of(id)
		}
		tail, err := x.flatSearch(ctx, frags, pick, pf, kk)
		if err != nil {
			return nil, err
		}
		for qi := range hits {
			hits[qi] = mergeUnique(kk, hits[qi], tail[qi])
		}
	}
	x.attachCachedBlocks(frags, slots, hits)
	res := &Result{Schema: x.partialSchema(x.workCols(), true)}
	for qi := range hits {
		rec, err := x.workingRows(ctx, frags, hits[qi])
		if err != nil {
			res.Release()
			return nil, err
		}
		res.Batches = append(res.Batches, rec)
	}
	return res, nil
}

// searchIndexParts searches the index partitions of a task for every query
// vector: the kk best allowed rows per query vector, refined when the query
// asks, within the query's distance range.
func (x *executor) searchIndexParts(ctx context.Context, frags []fragVectors, slots fragSlots, pf *prefilter, kk int, it *IndexTask) ([][]vector.Hit, error) {
	if !x.indexUsable() {
		return nil, invalid("the task searches index %q, which this query cannot use", it.Name)
	}
	req, vp := x.p.req, x.p.vec
	allow, allowErr := x.allowFunc(ctx, frags, slots, pf)
	k := kk
	if rf := req.RefineFactor; rf != nil && *rf > 0 {
		k = int(min(int64(kk)*min(*rf, math.MaxInt32), math.MaxInt32))
	}
	ann := make([][]vector.Hit, len(vp.floats))
	for qi, vec := range vp.floats {
		q := vindex.Query{Column: vp.column, Vector: vec, Allow: allow}
		if req.Ef != nil {
			q.Ef = clampInt(*req.Ef)
		}
		for want := k; ; {
			q.K = want
			lists := make([][]vector.Hit, 0, len(it.Segments))
			for _, seg := range it.Segments {
				if qi >= len(seg.Partitions) || len(seg.Partitions[qi]) == 0 {
					continue
				}
				h, err := x.opts.Indexes.SearchPartitions(ctx, x.opts.Table, seg.File, q, seg.Partitions[qi], seg.Stale)
				if errors.Is(err, vindex.ErrInvalid) {
					return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
				}
				if err != nil {
					return nil, fmt.Errorf("search index %q of column %q: %w", it.Name, vp.column, err)
				}
				lists = append(lists, h)
			}
			if err := allowErr(); err != nil {
				return nil, err
			}
			merged := vector.Merge(want, lists...)
			found := len(merged)
			h := dropNaN(merged)
			slices.SortFunc(h, vector.Compare) // Merge's precondition, whatever the index's tie order
			if req.RefineFactor != nil {
				var err error
				if h, err = x.refine(ctx, frags, slots, h, qi, kk); err != nil {
					return nil, err
				}
			}
			ann[qi] = inRange(h, req.LowerBound, req.UpperBound)
			// A distance range can reject the nearest candidates; ask for
			// more until kk survive or the partitions have no more to give.
			if len(ann[qi]) >= kk || found < want || want >= maxRangeCandidates {
				break
			}
			want = min(want*4, maxRangeCandidates)
		}
	}
	return ann, nil
}

// maxRangeCandidates bounds how many index candidates a search with a
// distance range asks for while the range rejects the nearest ones.
const maxRangeCandidates = 1 << 14

// checkIndexQuery applies LanceDB's rule for a search through an index: a
// refine factor of 0 is an error ("Refine factor cannot be zero").
func (x *executor) checkIndexQuery(in vindex.Info) error {
	req := x.p.req
	if req.RefineFactor != nil && *req.RefineFactor == 0 {
		return invalid("refine_factor must be greater than 0 (column %q has the vector index %q)", x.p.vec.column, in.Name)
	}
	return nil
}

// fragSlots finds a fragment's position in the snapshot's list by id.
type fragSlots struct {
	dense  []int32 // by fragment id, -1 for none; when ids are small
	sparse map[uint64]int
}

func newFragSlots(frags []fragVectors) fragSlots {
	var maxID uint64
	for _, f := range frags {
		maxID = max(maxID, f.id)
	}
	if maxID < uint64(4*len(frags)+1024) {
		d := make([]int32, maxID+1)
		for i := range d {
			d[i] = -1
		}
		for i, f := range frags {
			d[f.id] = int32(i)
		}
		return fragSlots{dense: d}
	}
	m := make(map[uint64]int, len(frags))
	for i, f := range frags {
		m[f.id] = i
	}
	return fragSlots{sparse: m}
}

// of returns the position of fragment id, or -1 when the snapshot lacks it.
func (s fragSlots) of(id uint64) int {
	if s.dense != nil {
		if id < uint64(len(s.dense)) {
			return int(s.dense[id])
		}
		return -1
	}
	if i, ok := s.sparse[id]; ok {
		return i
	}
	return -1
}

// allowFunc returns the allow-list an index search consults per candidate
// row: the row exists and is live in this snapshot (an index may have been
// built on another version) and matches the prefilter. A prefilter that
// fails to evaluate rejects rows; errp reports the failure afterwards.
func (x *executor) allowFunc(ctx context.Context, frags []fragVectors, slots fragSlots, pf *prefilter) (allow func(uint64) bool, errp func() error) {
	var mu sync.Mutex
	var first error
	allow = func(addr uint64) bool {
		fid, off := table.SplitRowAddress(addr)
		i := slots.of(fid)
		if i < 0 {
			return false
		}
		f := &frags[i]
		if uint64(off) >= f.frag.GetPhysicalRows() || f.live != nil && !f.live.has(int(off)) {
			return false
		}
		if pf == nil {
			return true
		}
		m, err := pf.mask(ctx, i)
		if err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
			return false
		}
		return m.has(int(off))
	}
	errp = func() error {
		mu.Lock()
		defer mu.Unlock()
		return first
	}
	return allow, errp
}

// refine recomputes the distances of index candidates exactly from the
// stored vectors (the cached column when it is in memory, else read from
// storage) and keeps the kk nearest, as LanceDB's refine_factor does.
func (x *executor) refine(ctx context.Context, frags []fragVectors, slots fragSlots, hits []vector.Hit, qi, kk int) ([]vector.Hit, error) {
	if len(hits) == 0 {
		return hits, nil
	}
	vp := x.p.vec
	dim := vp.dim
	if x.opts.Cache != nil && x.opts.TableURI != "" {
		// Re-ranking reads vectors at random: bring the candidates'
		// fragments' vector columns into the cache once (as an exact search
		// does), so later refined queries re-rank from memory instead of
		// taking rows from storage one by one.
		for _, h := range hits {
			fid, _ := table.SplitRowAddress(h.Addr)
			i := slots.of(fid)
			if i < 0 || frags[i].block != nil {
				continue
			}
			if err := x.loadVectors(ctx, &frags[i]); err != nil {
				return nil, fmt.Errorf("refine: load vectors of fragment %d: %w", fid, err)
			}
		}
	}
	rows := make([]float32, len(hits)*dim)
	have := make([]bool, len(hits))
	var missing []int
	for i, h := range hits {
		fid, off := table.SplitRowAddress(h.Addr)
		if b := x.blockOf(frags, slots, fid); b != nil {
			if r, ok := b.rowOf(off); ok {
				if b.valid == nil || b.valid.has(r) {
					copy(rows[i*dim:(i+1)*dim], b.f32[r*dim:(r+1)*dim])
					have[i] = true
				}
				continue
			}
		}
		missing = append(missing, i)
	}
	if len(missing) > 0 {
		addrs := make([]uint64, len(missing))
		for j, i := range missing {
			addrs[j] = hits[i].Addr
		}
		rec, err := x.p.snap.Take(ctx, addrs, []string{vp.column})
		if err != nil {
			return nil, fmt.Errorf("refine: read vectors: %w", err)
		}
		defer rec.Release()
		if rec.NumRows() != int64(len(addrs)) {
			return nil, fmt.Errorf("refine: read %d of %d vectors", rec.NumRows(), len(addrs))
		}
		fsl, ok := rec.Column(0).(*array.FixedSizeList)
		if !ok {
			return nil, fmt.Errorf("refine: column %q read as %s, not a fixed-size list", vp.column, rec.Column(0).DataType())
		}
		for j, i := range missing {
			have[i] = fslRow(fsl, j, rows[i*dim:(i+1)*dim])
		}
	}
	// Compact the rows that have a vector and compute their distances in one
	// block call.
	out := make([]vector.Hit, 0, len(hits))
	n := 0
	for i, h := range hits {
		if !have[i] {
			continue
		}
		copy(rows[n*dim:(n+1)*dim], rows[i*dim:(i+1)*dim])
		out = append(out, vector.Hit{Addr: h.Addr})
		n++
	}
	dist := make([]float32, n)
	vector.Distances(vp.metric, vp.floats[qi], rows[:n*dim], dist, make([]float32, n))
	for i := range out {
		out[i].Dist = dist[i]
	}
	out = dropNaN(out)
	slices.SortFunc(out, vector.Compare)
	if len(out) > kk {
		out = out[:kk]
	}
	return out, nil
}

// fslRow copies row i of a fixed-size list of floats into dst as float32;
// false when the row is null.
func fslRow(fsl *array.FixedSizeList, i int, dst []float32) bool {
	if fsl.IsNull(i) {
		return false
	}
	dim := len(dst)
	start := (fsl.Data().Offset() + i) * dim
	switch c := fsl.ListValues().(type) {
	case *array.Float32:
		copy(dst, c.Float32Values()[start:start+dim])
	case *array.Float16:
		for j, h := range c.Values()[start : start+dim] {
			dst[j] = vector.HalfToFloat32(h.Uint16())
		}
	case *array.Float64:
		for j, v := range c.Float64Values()[start : start+dim] {
			dst[j] = float32(v)
		}
	default:
		return false
	}
	return true
}

// blockOf returns the vectors of fragment fid held in memory: the block the
// query loaded, or one already in the cache. It never loads a block: an
// index search must not pull whole fragments into memory.
func (x *executor) blockOf(frags []fragVectors, slots fragSlots, fid uint64) *vectorBlock {
	i := slots.of(fid)
	if i < 0 {
		return nil
	}
	f := &frags[i]
	if f.block != nil {
		return f.block
	}
	path := dataFileOf(f.frag, x.p.vec.fieldID)
	if path == "" {
		return nil
	}
	v, ok := x.opts.Cache.peek(cacheKey{table: x.opts.TableURI, file: path, field: x.p.vec.fieldID, kind: kindVectors})
	if !ok {
		return nil
	}
	return v.(*vectorBlock)
}

// attachCachedBlocks gives the fragments of the hits their cached vector
// blocks, so that materialize returns the vectors from memory.
func (x *executor) attachCachedBlocks(frags []fragVectors, slots fragSlots, hits [][]vector.Hit) {
	for _, list := range hits {
		for _, h := range list {
			fid, _ := table.SplitRowAddress(h.Addr)
			if i := slots.of(fid); i >= 0 && frags[i].block == nil {
				frags[i].block = x.blockOf(frags, slots, fid)
			}
		}
	}
}

// rowOf returns the block row holding physical offset off.
func (b *vectorBlock) rowOf(off uint32) (int, bool) {
	if b.offsets == nil {
		return int(off), int(off) < b.n
	}
	r := sort.Search(len(b.offsets), func(i int) bool { return b.offsets[i] >= off })
	return r, r < len(b.offsets) && b.offsets[r] == off
}

// dropNaN removes hits with NaN distances (zero vectors under cosine), which
// LanceDB never returns.
func dropNaN(hits []vector.Hit) []vector.Hit {
	return slices.DeleteFunc(hits, func(h vector.Hit) bool { return h.Dist != h.Dist })
}

// inRange keeps the hits with distances in [lower, upper).
func inRange(hits []vector.Hit, lower, upper *float32) []vector.Hit {
	if lower == nil && upper == nil {
		return hits
	}
	return slices.DeleteFunc(hits, func(h vector.Hit) bool {
		return lower != nil && !(h.Dist >= *lower) || upper != nil && !(h.Dist < *upper)
	})
}

// mergeUnique merges two nearest-first lists into the k nearest, keeping
// one hit per row: an index and the flat tail never share a fragment, but a
// row must not come back twice even if they did.
func mergeUnique(k int, a, b []vector.Hit) []vector.Hit {
	all := vector.Merge(len(a)+len(b), a, b)
	seen := make(map[uint64]struct{}, len(all))
	out := all[:0]
	for _, h := range all {
		if _, dup := seen[h.Addr]; dup {
			continue
		}
		seen[h.Addr] = struct{}{}
		out = append(out, h)
		if len(out) == k {
			break
		}
	}
	return out
}

// clampInt converts a request count to int, saturating.
func clampInt(v int64) int {
	return int(min(max(v, 0), math.MaxInt32))
}
