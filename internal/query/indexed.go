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

// searchIndexed runs the search through the column's vector index, as
// LanceDB's knn_combined does: the index answers for the fragments it
// covers (rows allowed: live and, with a prefilter, matching), optionally
// refined by exact distances, and the fragments it does not cover (appended
// since the build) are searched exactly with the index's metric, unless
// fast_search. indexed is false when the column has no usable index; the
// caller then searches flat.
func (x *executor) searchIndexed(ctx context.Context, frags []fragVectors, pf *prefilter, kk int) (hits [][]vector.Hit, indexed bool, err error) {
	if !x.indexUsable() {
		return nil, false, nil
	}
	p, req, vp := x.p, x.p.req, x.p.vec
	slots := newFragSlots(frags)
	allow, allowErr := x.allowFunc(ctx, frags, slots, pf)
	k := kk
	if rf := req.RefineFactor; rf != nil && *rf > 0 {
		k = int(min(int64(kk)*min(*rf, math.MaxInt32), math.MaxInt32))
	}
	lo, hi := req.Probes()
	q := vindex.Query{
		Column: vp.column, K: k, Metric: req.Metric,
		MinProbes: clampInt(lo), MaxProbes: clampInt(hi),
		Allow: allow,
	}
	if req.Ef != nil {
		q.Ef = clampInt(*req.Ef)
	}
	ann := make([][]vector.Hit, len(vp.floats))
	var covered func(uint64) bool
	for qi, vec := range vp.floats {
		q.Vector = vec
		for want := k; ; {
			q.K = want
			r, err := x.opts.Indexes.Search(ctx, x.opts.Table, p.snap, q)
			if qi == 0 && errors.Is(err, vindex.ErrNoIndex) {
				// No index on the column, or one built for another
				// distance type: LanceDB then searches exactly with the
				// metric asked for.
				return nil, false, nil
			}
			if errors.Is(err, vindex.ErrInvalid) {
				return nil, true, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
			}
			if err != nil {
				return nil, true, fmt.Errorf("search the index of column %q: %w", vp.column, err)
			}
			if err := allowErr(); err != nil {
				return nil, true, err
			}
			if covered == nil {
				if err := x.checkIndexQuery(r.Index); err != nil {
					return nil, true, err
				}
				// Distances of the unindexed rows and of the refine step
				// must be comparable with the index's (LanceDB does the
				// same).
				vp.metric = r.Index.Metric
				covered = r.Covered
				if covered == nil {
					covered = func(uint64) bool { return true }
				}
			}
			found := len(r.Hits)
			h := dropNaN(r.Hits)
			slices.SortFunc(h, vector.Compare) // Merge's precondition, whatever the index's tie order
			if req.RefineFactor != nil {
				if h, err = x.refine(ctx, frags, slots, h, qi, kk); err != nil {
					return nil, true, err
				}
			}
			ann[qi] = inRange(h, req.LowerBound, req.UpperBound)
			// A distance range can reject the nearest candidates; ask for
			// more until kk survive or the index has no more to give.
			if len(ann[qi]) >= kk || found < want || want >= maxRangeCandidates {
				break
			}
			want = min(want*4, maxRangeCandidates)
		}
	}
	var tail [][]vector.Hit
	if !req.FastSearch {
		var pick []int
		for i := range frags {
			if frags[i].nLive > 0 && !covered(frags[i].id) {
				pick = append(pick, i)
			}
		}
		if len(pick) > 0 {
			if tail, err = x.flatSearch(ctx, frags, pick, pf, kk); err != nil {
				return nil, true, err
			}
		}
	}
	hits = make([][]vector.Hit, len(ann))
	for qi := range ann {
		var t []vector.Hit
		if tail != nil {
			t = tail[qi]
		}
		hits[qi] = mergeUnique(kk, ann[qi], t)
	}
	x.attachCachedBlocks(frags, slots, hits)
	return hits, true, nil
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
