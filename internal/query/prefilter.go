package query

import (
	"context"
	"sync"
)

// prefilter evaluates a query's prefilter per fragment, at most once per
// fragment and only for the fragments a search asks about. It is safe for
// concurrent use: index searches consult it from their own goroutines. A nil
// *prefilter means there is no prefilter (every row passes).
type prefilter struct {
	x     *executor
	frags []fragVectors
	// cached: the filter reads only cacheable columns and is evaluated per
	// fragment over the cache; otherwise one scan evaluates it over the
	// whole snapshot the first time any fragment is asked about.
	cached bool

	scanOnce sync.Once
	scanned  map[uint64]bitset
	scanErr  error

	per []fragMask
}

type fragMask struct {
	once sync.Once
	bits bitset
	err  error
}

// newPrefilter returns the prefilter of the query over frags, nil when the
// query has none (no filter, or a post-filter).
func (x *executor) newPrefilter(frags []fragVectors) *prefilter {
	p := x.p
	if p.filter == nil || p.postfilter {
		return nil
	}
	cached := true
	for _, c := range p.filterCols {
		cached = cached && x.cacheableColumn(c, x.maxPhysical(frags))
	}
	return &prefilter{x: x, frags: frags, cached: cached, per: make([]fragMask, len(frags))}
}

// mask returns the physical offsets of fragment i (an index into frags)
// whose rows match; nil means every row (no prefilter).
func (pf *prefilter) mask(ctx context.Context, i int) (bitset, error) {
	if pf == nil {
		return nil, nil
	}
	m := &pf.per[i]
	m.once.Do(func() {
		f := &pf.frags[i]
		if pf.cached {
			m.bits, m.err = pf.x.cachedFilterMask(ctx, f, f.rowBase)
			return
		}
		pf.scanOnce.Do(func() { pf.scanned, pf.scanErr = pf.x.filterMasks(ctx) })
		m.bits, m.err = pf.scanned[f.id], pf.scanErr
		if m.bits == nil && m.err == nil {
			m.bits = newBitset(int(f.frag.GetPhysicalRows())) // nothing matched
		}
	})
	return m.bits, m.err
}
