package vindex

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sarissa-db/sarissa/internal/index/ivf"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// A search through an index can be cut into pieces that different
// processes run: the query node plans it (PlanSearch: which index, which
// fragments it covers, and per segment the partitions to probe, nearest
// first) and hands groups of partitions to plan executors, which search
// them (SearchPartitions) next to their partition caches. Merging the
// groups' hits gives what one search over the same partitions gives.

// SearchPlan is an index search of one column, planned against one table
// snapshot.
type SearchPlan struct {
	// Index is the index the search goes through.
	Index Info
	// Covered holds the fragments the index answers for; the caller
	// searches the snapshot's other fragments exactly.
	Covered map[uint64]bool
	// Segments are the index files to search, in catalog order.
	Segments []SegmentPlan
}

// SegmentPlan is one segment (index file) of a planned search.
type SegmentPlan struct {
	// File is the index file, relative to the table root.
	File string
	// Stale lists fragments the segment indexed that the snapshot no
	// longer holds as they were (deleted, or rewritten under a reused id):
	// their rows must not come back.
	Stale []uint64
	// Probes are, per query vector, the segment's non-empty partitions in
	// the order a search probes them (nearest centroid first), at most
	// the query's maximum number of probes.
	Probes [][]int
}

// PlanSearch plans a search of q.Column for each of vectors through the
// column's index (the newest one if there are several), with the same
// checks and errors as Search: ErrNoIndex (also ErrMetricMismatch) when
// the column has no usable index, ErrInvalid for a bad query. q.Vector
// and q.Allow are ignored. fresh reads the index catalog from storage
// instead of reusing a recent read (after a search met a removed file).
func (m *Manager) PlanSearch(ctx context.Context, ref TableRef, snap *table.Snapshot, q Query, vectors [][]float32, fresh bool) (*SearchPlan, error) {
	mode := readBackground
	if fresh {
		mode = readFresh
	}
	cat, err := m.catalogFor(ctx, ref, mode)
	if err != nil {
		return nil, err
	}
	e, err := pickIndex(cat, ref, snap, q)
	if err != nil {
		return nil, err
	}
	for i, v := range vectors {
		if len(v) != e.Dim {
			return nil, invalid(fmt.Errorf("query vector %d has %d dimensions, index %s expects %d", i, len(v), e.Name, e.Dim))
		}
	}
	maxP := q.MaxProbes
	if maxP > 0 && maxP < q.MinProbes {
		maxP = q.MinProbes
	}
	covered, segs := liveSegments(e, snap)
	plan := &SearchPlan{Index: info(e, snap), Covered: covered}
	for _, s := range segs {
		f, err := m.openFile(ctx, ref, s.file)
		if err != nil {
			return nil, err
		}
		sp := SegmentPlan{File: s.file, Stale: s.stale, Probes: make([][]int, len(vectors))}
		for i, v := range vectors {
			if sp.Probes[i], err = f.ProbeOrder(v, maxP); err != nil {
				return nil, invalid(err)
			}
		}
		plan.Segments = append(plan.Segments, sp)
	}
	return plan, nil
}

// pickIndex returns the newest index of q.Column usable for snap and q.
func pickIndex(cat *catalog, ref TableRef, snap *table.Snapshot, q Query) (*entry, error) {
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
	if q.K <= 0 {
		return nil, invalid(fmt.Errorf("k must be positive, got %d", q.K))
	}
	return e, nil
}

// SearchPartitions returns the q.K nearest rows to q.Vector among exactly
// the given partitions of one index file (q's probe counts are ignored),
// nearest first, admitting only rows q.Allow admits and none of the stale
// fragments. Partitions are read through the partition cache. A file that
// is gone (replaced by a merge since the plan) yields an error matching
// objstore.ErrNotExist; the planner then plans again with a fresh catalog.
func (m *Manager) SearchPartitions(ctx context.Context, ref TableRef, file string, q Query, partitions []int, stale []uint64) ([]vector.Hit, error) {
	if !strings.HasPrefix(file, ivf.IndexDir+"/") || strings.HasPrefix(file, catalogPrefix()) {
		return nil, invalid(fmt.Errorf("%q is not an index file of %s", file, ref.Name))
	}
	if err := objstore.ValidateKey(file); err != nil {
		return nil, invalid(fmt.Errorf("index file: %w", err))
	}
	if q.K <= 0 {
		return nil, invalid(fmt.Errorf("k must be positive, got %d", q.K))
	}
	f, err := m.openFile(ctx, ref, file)
	if err != nil {
		return nil, err
	}
	sp := ivf.SearchParams{K: q.K, Ef: q.Ef, Filter: ivf.Filter{Allow: withoutStale(q.Allow, stale)}}
	hits, err := f.SearchPartitions(ctx, q.Vector, sp, partitions, m.partitionLoader(ref, file, f))
	if errors.Is(err, ivf.ErrInvalid) {
		return nil, invalid(fmt.Errorf("search index file %s: %w", file, err))
	}
	if err != nil {
		return nil, fmt.Errorf("search index file %s: %w", file, err)
	}
	return hits, nil
}

// partitionLoader reads partitions of an opened index file through the
// partition cache.
func (m *Manager) partitionLoader(ref TableRef, file string, f *ivf.File) func(ctx context.Context, p int) (*ivf.Partition, error) {
	prefix := cacheKey(ref.URI, file, "")
	return func(ctx context.Context, p int) (*ivf.Partition, error) {
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
}
