package vindex

import (
	"context"
	"errors"
	"fmt"

	"github.com/sarissa-db/sarissa/internal/index/ivf"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// Search answers q through the index of q.Column (the newest one if there
// are several). It returns an error matching ErrNoIndex when the column has
// no usable index: none was built, the column changed since, or q.Metric
// differs from the index's metric. The last case also matches
// ErrMetricMismatch; as in Lance since lance#5609, such a query must not use
// the index (its distances would be of the wrong kind) and falls back to an
// exact search in the caller.
//
// Hits cover only the fragments Result.Covered reports: rows of fragments
// that are gone from snap, or were rewritten under a reused id, never
// appear. The caller searches the other fragments exactly and merges.
func (m *Manager) Search(ctx context.Context, ref TableRef, snap *table.Snapshot, q Query) (*Result, error) {
	res, err := m.search(ctx, ref, snap, q, readBackground)
	if errors.Is(err, objstore.ErrNotExist) {
		// The catalog read was stale: a segment was replaced or dropped
		// meanwhile. Read it again once.
		res, err = m.search(ctx, ref, snap, q, readFresh)
	}
	return res, err
}

func (m *Manager) search(ctx context.Context, ref TableRef, snap *table.Snapshot, q Query, mode int) (*Result, error) {
	cat, err := m.catalogFor(ctx, ref, mode)
	if err != nil {
		return nil, err
	}
	e, err := pickIndex(cat, ref, snap, q)
	if err != nil {
		return nil, err
	}
	if len(q.Vector) != e.Dim {
		return nil, invalid(fmt.Errorf("query vector has %d dimensions, index %s expects %d", len(q.Vector), e.Name, e.Dim))
	}
	covered, segs := liveSegments(e, snap)
	lists := make([][]vector.Hit, 0, len(segs))
	for _, s := range segs {
		f, err := m.openFile(ctx, ref, s.file)
		if err != nil {
			return nil, err
		}
		sp := ivf.SearchParams{K: q.K, MinProbes: q.MinProbes, MaxProbes: q.MaxProbes, Ef: q.Ef,
			Filter: ivf.Filter{Allow: withoutStale(q.Allow, s.stale)}}
		hits, err := f.Search(ctx, q.Vector, sp, m.partitionLoader(ref, s.file, f))
		if err != nil {
			return nil, fmt.Errorf("search index file %s: %w", s.file, err)
		}
		lists = append(lists, hits)
	}
	return &Result{
		Hits:    vector.Merge(q.K, lists...),
		Covered: func(id uint64) bool { return covered[id] },
		Index:   info(e, snap),
	}, nil
}

// liveSegment is a segment that still covers fragments of a snapshot.
type liveSegment struct {
	file string
	// stale lists the segment's fragments the snapshot no longer holds as
	// they were indexed: their rows must not be returned.
	stale []uint64
}

// liveSegments returns the fragments of snap that e covers and e's
// segments that cover any.
func liveSegments(e *entry, snap *table.Snapshot) (map[uint64]bool, []liveSegment) {
	frags := snapshotFragments(snap)
	covered := map[uint64]bool{}
	var out []liveSegment
	for _, s := range e.Segments {
		ls := liveSegment{file: s.File}
		live := 0
		for _, f := range s.Fragments {
			if file, ok := frags[f.ID]; ok && file == f.File {
				covered[f.ID] = true
				live++
				continue
			}
			ls.stale = append(ls.stale, f.ID)
		}
		if live > 0 {
			out = append(out, ls)
		}
	}
	return covered, out
}

// withoutStale narrows allow to rows outside the stale fragments.
func withoutStale(allow func(uint64) bool, stale []uint64) func(uint64) bool {
	if len(stale) == 0 {
		return allow
	}
	gone := make(map[uint64]bool, len(stale))
	for _, id := range stale {
		gone[id] = true
	}
	return func(addr uint64) bool {
		return !gone[addr>>32] && (allow == nil || allow(addr))
	}
}

// modelBytes estimates the memory an opened index file's model holds.
func modelBytes(m *ivf.Model) int64 {
	n := int64(4096)
	if m != nil {
		n += int64(len(m.Centroids)) * 4
		if m.Codebook != nil {
			n += int64(len(m.Codebook.Centroids)) * 4
		}
	}
	return n
}
