package vindex

import (
	"context"
	"errors"
	"fmt"
	"strconv"

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
	var e *entry
	for i := range cat.Indices {
		c := &cat.Indices[i]
		if c.Column == q.Column && (e == nil || c.CreatedAt.After(e.CreatedAt)) {
			e = c
		}
	}
	if e == nil {
		return nil, fmt.Errorf("column %q of %s has no vector index: %w", q.Column, ref.Name, ErrNoIndex)
	}
	lf := snap.LanceSchema().FieldByName(q.Column)
	if lf == nil || lf.ID != e.FieldID {
		return nil, fmt.Errorf("column %q of %s changed since index %s was built: %w", q.Column, ref.Name, e.Name, ErrNoIndex)
	}
	metric, _ := vector.ParseMetric(e.Metric)
	if q.Metric != 0 && q.Metric != metric {
		return nil, mismatchError{fmt.Sprintf("distance type %s does not match index %s (%s)", q.Metric, e.Name, metric)}
	}
	if len(q.Vector) != e.Dim {
		return nil, invalid(fmt.Errorf("query vector has %d dimensions, index %s expects %d", len(q.Vector), e.Name, e.Dim))
	}
	if q.K <= 0 {
		return nil, invalid(fmt.Errorf("k must be positive, got %d", q.K))
	}
	frags := snapshotFragments(snap)
	covered := map[uint64]bool{}
	lists := make([][]vector.Hit, 0, len(e.Segments))
	for _, s := range e.Segments {
		// Fragments of this segment no longer in snap as they were: their
		// rows must not be returned.
		var stale map[uint64]bool
		live := 0
		for _, f := range s.Fragments {
			if file, ok := frags[f.ID]; ok && file == f.File {
				covered[f.ID] = true
				live++
				continue
			}
			if stale == nil {
				stale = map[uint64]bool{}
			}
			stale[f.ID] = true
		}
		if live == 0 {
			continue
		}
		hits, err := m.searchSegment(ctx, ref, s.File, q, stale)
		if err != nil {
			return nil, err
		}
		lists = append(lists, hits)
	}
	hits := vector.Merge(q.K, lists...)
	return &Result{
		Hits:    hits,
		Covered: func(id uint64) bool { return covered[id] },
		Index:   info(e, snap),
	}, nil
}

// searchSegment searches one index file through the partition cache.
func (m *Manager) searchSegment(ctx context.Context, ref TableRef, file string, q Query, stale map[uint64]bool) ([]vector.Hit, error) {
	f, err := m.openFile(ctx, ref, file)
	if err != nil {
		return nil, err
	}
	allow := q.Allow
	if len(stale) > 0 {
		inner := allow
		allow = func(addr uint64) bool {
			if stale[addr>>32] {
				return false
			}
			return inner == nil || inner(addr)
		}
	}
	prefix := cacheKey(ref.URI, file, "")
	load := func(ctx context.Context, p int) (*ivf.Partition, error) {
		v, err := m.cache.get(ctx, prefix+strconv.Itoa(p), func(ctx context.Context) (any, int64, error) {
			part, err := f.ReadPartition(ctx, p)
			if err != nil {
				return nil, 0, err
			}
			return part, part.SizeBytes(), nil
		})
		if err != nil {
			return nil, err
		}
		return v.(*ivf.Partition), nil
	}
	sp := ivf.SearchParams{K: q.K, MinProbes: q.MinProbes, MaxProbes: q.MaxProbes, Ef: q.Ef,
		Filter: ivf.Filter{Allow: allow}}
	hits, err := f.Search(ctx, q.Vector, sp, load)
	if err != nil {
		return nil, fmt.Errorf("search index file %s: %w", file, err)
	}
	return hits, nil
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
