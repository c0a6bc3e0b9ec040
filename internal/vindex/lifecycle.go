package vindex

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/sarissa-db/sarissa/internal/index/ivf"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// snapshotFragments maps the fragments of snap to their first data file.
func snapshotFragments(snap *table.Snapshot) map[uint64]string {
	frags := snap.Lance().Fragments()
	out := make(map[uint64]string, len(frags))
	for _, f := range frags {
		if files := f.GetFiles(); len(files) > 0 {
			out[f.GetId()] = files[0].GetPath()
		}
	}
	return out
}

// fragmentList lists the fragments of snap as a segment records them.
func fragmentList(snap *table.Snapshot, only map[uint64]bool) []fragment {
	var out []fragment
	for _, f := range snap.Lance().Fragments() {
		if files := f.GetFiles(); len(files) > 0 && (only == nil || only[f.GetId()]) {
			out = append(out, fragment{ID: f.GetId(), File: files[0].GetPath()})
		}
	}
	return out
}

// coverage returns the fragments of the snapshot (id → first data file)
// that some segment of e covers with a matching data file.
func coverage(e *entry, frags map[uint64]string) map[uint64]bool {
	out := map[uint64]bool{}
	for _, s := range e.Segments {
		for _, f := range s.Fragments {
			if file, ok := frags[f.ID]; ok && file == f.File {
				out[f.ID] = true
			}
		}
	}
	return out
}

// info describes e as seen from snap.
func info(e *entry, snap *table.Snapshot) Info {
	kind, _ := ivf.ParseKind(e.Kind)
	metric, _ := vector.ParseMetric(e.Metric)
	in := Info{
		Name: e.Name, Column: e.Column, Kind: kind, Metric: metric, UUID: e.UUID,
		CreatedAt: e.CreatedAt, NumIndices: len(e.Segments), Params: e.Params.build(kind, metric),
	}
	for _, s := range e.Segments {
		in.SizeBytes += s.SizeBytes
	}
	var cov map[uint64]bool
	if lf := snap.LanceSchema().FieldByName(e.Column); lf != nil && lf.ID == e.FieldID {
		cov = coverage(e, snapshotFragments(snap))
	}
	for _, f := range snap.Lance().Fragments() {
		live := int64(f.GetPhysicalRows() - min(f.GetPhysicalRows(), f.GetDeletionFile().GetNumDeletedRows()))
		if cov[f.GetId()] {
			in.NumIndexedRows += live
		} else {
			in.NumUnindexedRows += live
		}
	}
	return in
}

func (p params) build(kind ivf.Kind, metric vector.Metric) ivf.BuildParams {
	return ivf.BuildParams{
		Kind: kind, Metric: metric,
		NumPartitions: p.NumPartitions, TargetPartitionSize: p.TargetPartitionSize,
		SampleRate: p.SampleRate, MaxIterations: p.MaxIterations,
		NumSubVectors: p.NumSubVectors, NumBits: p.NumBits,
		M: p.M, EfConstruction: p.EfConstruction, Seed: p.Seed,
	}
}

func paramsOf(b ivf.BuildParams) params {
	return params{
		NumPartitions: b.NumPartitions, TargetPartitionSize: b.TargetPartitionSize,
		SampleRate: b.SampleRate, MaxIterations: b.MaxIterations,
		NumSubVectors: b.NumSubVectors, NumBits: b.NumBits,
		M: b.M, EfConstruction: b.EfConstruction, Seed: b.Seed,
	}
}

// Create validates spec against the table's latest snapshot and starts an
// asynchronous build over that snapshot. An index with the same name is
// replaced when the new build commits.
func (m *Manager) Create(ctx context.Context, ref TableRef, spec Spec) (string, error) {
	snap, err := ref.Table.Latest(ctx)
	if err != nil {
		return "", fmt.Errorf("create index on %s: %w", ref.Name, err)
	}
	vc, err := resolveColumn(snap, spec.Column)
	if err != nil {
		return "", err
	}
	name := spec.Name
	if name == "" {
		name = spec.Column + "_idx"
	}
	if err := validName(name); err != nil {
		return "", invalid(err)
	}
	p := spec.Params
	if p.Metric == 0 {
		p.Metric = vector.L2
	}
	if p.Workers <= 0 {
		p.Workers = m.cfg.Workers
	}
	if p.Seed == 0 {
		p.Seed = m.cfg.Seed
	}
	if err := p.Validate(vc.dim); err != nil {
		return "", invalid(err)
	}
	rows := int64(snap.NumRows())
	if err := enoughRows(rows, p); err != nil {
		return "", invalid(fmt.Errorf("create index %q on %s: %w", name, ref.Name, err))
	}
	return m.startJob(ref.Name, name, func(ctx context.Context) (BuildStats, error) {
		return m.build(ctx, ref, snap, vc, name, p)
	})
}

// enoughRows checks that k-means can train what p asks for on rows rows.
func enoughRows(rows int64, p ivf.BuildParams) error {
	if rows == 0 {
		return fmt.Errorf("the table has no rows to train the index on")
	}
	if np := p.Partitions(int(rows)); int64(np) > rows {
		return fmt.Errorf("num_partitions=%d needs at least %d rows to train, the table has %d", np, np, rows)
	}
	if p.Kind == ivf.KindPQ {
		bits := p.NumBits
		if bits == 0 {
			bits = 8
		}
		if need := int64(1) << bits; rows < need {
			return fmt.Errorf("IVF_PQ with num_bits=%d trains %d codewords per sub-vector and needs at least %d rows, the table has %d", bits, need, need, rows)
		}
	}
	return nil
}

// build trains a model on a sample of snap, encodes every row of snap and
// commits the result as the only segment of index name.
func (m *Manager) build(ctx context.Context, ref TableRef, snap *table.Snapshot, vc vectorColumn,
	name string, p ivf.BuildParams) (BuildStats, error) {
	var st BuildStats
	rows := int64(snap.NumRows())
	rng := rand.New(rand.NewPCG(p.Seed, uint64(rows)))
	want := p.SampleRows(int(rows))
	sample, usable, err := sampleVectors(ctx, snap, vc, nil, want, rng)
	if err != nil {
		return st, err
	}
	if usable == 0 {
		return st, invalid(fmt.Errorf("column %q has no non-null vectors to index", vc.name))
	}
	if err := enoughRows(usable, p); err != nil {
		return st, invalid(fmt.Errorf("after skipping null vectors: %w", err))
	}
	st.SampleRows = len(sample) / vc.dim
	model, err := ivf.Train(ctx, sample, vc.dim, int(usable), p)
	if err != nil {
		return st, fmt.Errorf("train index %q: %w", name, err)
	}
	frags := fragmentList(snap, nil)
	seg, est, err := m.writeSegment(ctx, ref, snap, vc, nil, frags, model, name)
	est.SampleRows = st.SampleRows
	if err != nil {
		return est, err
	}
	idxUUID := newID()
	e := entry{
		Name: name, UUID: idxUUID, Column: vc.name, FieldID: vc.fieldID, Dim: vc.dim,
		Kind: p.Kind.String(), Metric: p.Metric.String(), Params: paramsOf(p),
		CreatedAt: m.now().UTC(), Segments: []segment{seg},
	}
	var replaced []string
	_, err = m.commit(ctx, ref, func(c *catalog) (bool, error) {
		replaced = replaced[:0]
		if i := c.find(name); i >= 0 {
			for _, s := range c.Indices[i].Segments {
				replaced = append(replaced, s.File)
			}
			c.Indices[i] = e
		} else {
			c.Indices = append(c.Indices, e)
		}
		return true, nil
	})
	if err != nil {
		m.deleteFiles(context.WithoutCancel(ctx), ref, []string{seg.File})
		return est, fmt.Errorf("commit index %q: %w", name, err)
	}
	m.deleteFiles(context.WithoutCancel(ctx), ref, replaced)
	return est, nil
}

// writeSegment encodes the given fragments (nil: all of snap) with model into
// a new index file of index name and describes it as a segment covering frags.
func (m *Manager) writeSegment(ctx context.Context, ref TableRef, snap *table.Snapshot, vc vectorColumn,
	scan []uint64, frags []fragment, model *ivf.Model, name string) (segment, BuildStats, error) {
	segUUID := newID()
	rel := ivf.FileKey(name, segUUID)
	lt := ref.Table.Lance()
	st, err := encodeSegment(ctx, lt.Bucket(), snap, vc, scan, model, lt.Key(rel), m.cfg.BuildMemoryBytes, m.cfg.SpillDir)
	if err != nil {
		// The file may be partly written; nothing refers to it.
		m.deleteFiles(context.WithoutCancel(ctx), ref, []string{rel})
		return segment{}, st, fmt.Errorf("build index %q: %w", name, err)
	}
	return segment{
		UUID: segUUID, File: rel, SizeBytes: st.SegmentBytes, Rows: st.Rows,
		TableVersion: snap.Version(), CreatedAt: m.now().UTC(), Fragments: frags,
	}, st, nil
}

// Optimize brings index name up to date with the table's latest version:
// the fragments it does not cover are encoded with its existing model (no
// retraining) into a new segment. When that would leave more than
// Config.MaxSegments segments, every fragment is encoded into one segment
// that replaces all others instead. It runs synchronously.
func (m *Manager) Optimize(ctx context.Context, ref TableRef, name string) error {
	_, err := m.optimize(ctx, ref, name)
	return err
}

func (m *Manager) optimize(ctx context.Context, ref TableRef, name string) (BuildStats, error) {
	var st BuildStats
	cat, err := m.catalogFor(ctx, ref, readFresh)
	if err != nil {
		return st, err
	}
	i := cat.find(name)
	if i < 0 {
		return st, fmt.Errorf("index %q on %s: %w", name, ref.Name, ErrNotFound)
	}
	e := cat.Indices[i]
	snap, err := ref.Table.Latest(ctx)
	if err != nil {
		return st, fmt.Errorf("optimize index %q on %s: %w", name, ref.Name, err)
	}
	vc, err := resolveColumn(snap, e.Column)
	if err != nil {
		return st, err
	}
	if vc.fieldID != e.FieldID || vc.dim != e.Dim {
		return st, invalid(fmt.Errorf("column %q changed since index %q was built; create the index again", e.Column, name))
	}
	frags := snapshotFragments(snap)
	cov := coverage(&e, frags)
	var missing []uint64
	for id := range frags {
		if !cov[id] {
			missing = append(missing, id)
		}
	}
	slices.Sort(missing)
	// Segments none of whose fragments are in the snapshot any more
	// (overwritten, compacted, fully deleted) are pruned: they can never
	// answer for a fragment of this or a later version.
	stale := map[string]bool{}
	for _, s := range e.Segments {
		live := false
		for _, fr := range s.Fragments {
			if file, ok := frags[fr.ID]; ok && file == fr.File {
				live = true
				break
			}
		}
		if !live {
			stale[s.UUID] = true
		}
	}
	kept := len(e.Segments) - len(stale)
	merge := kept > m.cfg.MaxSegments || (len(missing) > 0 && kept+1 > m.cfg.MaxSegments)
	if len(missing) == 0 && !merge && len(stale) == 0 {
		return st, nil
	}
	var seg *segment
	if len(missing) > 0 || merge {
		f, err := m.openFile(ctx, ref, e.Segments[0].File)
		if err != nil {
			return st, err
		}
		var scan []uint64
		var covers []fragment
		if merge {
			covers = fragmentList(snap, nil)
		} else {
			only := map[uint64]bool{}
			for _, id := range missing {
				only[id] = true
			}
			scan = missing
			covers = fragmentList(snap, only)
		}
		s, bst, err := m.writeSegment(ctx, ref, snap, vc, scan, covers, f.Model(), name)
		st = bst
		if err != nil {
			return st, err
		}
		seg = &s
	}
	base := make([]string, len(e.Segments))
	for j, s := range e.Segments {
		base[j] = s.UUID
	}
	var replaced []string
	_, err = m.commit(ctx, ref, func(c *catalog) (bool, error) {
		replaced = replaced[:0]
		j := c.find(name)
		if j < 0 || c.Indices[j].UUID != e.UUID {
			return false, fmt.Errorf("index %q was dropped or replaced while it was optimized: %w", name, ErrConflict)
		}
		cur := &c.Indices[j]
		if merge {
			now := make([]string, len(cur.Segments))
			for k, s := range cur.Segments {
				now[k] = s.UUID
			}
			if !slices.Equal(now, base) {
				return false, fmt.Errorf("index %q changed while its segments were merged: %w", name, ErrConflict)
			}
			for _, s := range cur.Segments {
				replaced = append(replaced, s.File)
			}
			cur.Segments = []segment{*seg}
			return true, nil
		}
		if seg != nil {
			for _, s := range cur.Segments {
				for _, fr := range s.Fragments {
					for _, n := range seg.Fragments {
						if fr == n {
							return false, fmt.Errorf("fragment %d was indexed concurrently into index %q: %w", fr.ID, name, ErrConflict)
						}
					}
				}
			}
		}
		segs := cur.Segments[:0]
		for _, s := range cur.Segments {
			if stale[s.UUID] {
				replaced = append(replaced, s.File)
				continue
			}
			segs = append(segs, s)
		}
		if seg != nil {
			segs = append(segs, *seg)
		}
		if len(segs) == 0 {
			return false, fmt.Errorf("index %q would be left without segments: %w", name, ErrConflict)
		}
		cur.Segments = segs
		return true, nil
	})
	if err != nil {
		if seg != nil {
			m.deleteFiles(context.WithoutCancel(ctx), ref, []string{seg.File})
		}
		return st, fmt.Errorf("commit optimized index %q: %w", name, err)
	}
	m.deleteFiles(context.WithoutCancel(ctx), ref, replaced)
	return st, nil
}

// List describes every index of the table as seen from snap, by name.
func (m *Manager) List(ctx context.Context, ref TableRef, snap *table.Snapshot) ([]Info, error) {
	cat, err := m.catalogFor(ctx, ref, readCached)
	if err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(cat.Indices))
	for i := range cat.Indices {
		out = append(out, info(&cat.Indices[i], snap))
	}
	slices.SortFunc(out, func(a, b Info) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out, nil
}

// Describe describes one index as seen from snap.
func (m *Manager) Describe(ctx context.Context, ref TableRef, snap *table.Snapshot, name string) (Info, error) {
	cat, err := m.catalogFor(ctx, ref, readCached)
	if err != nil {
		return Info{}, err
	}
	i := cat.find(name)
	if i < 0 {
		return Info{}, fmt.Errorf("index %q on %s: %w", name, ref.Name, ErrNotFound)
	}
	return info(&cat.Indices[i], snap), nil
}

// Drop removes index name from the catalog, then deletes its files.
func (m *Manager) Drop(ctx context.Context, ref TableRef, name string) error {
	var files []string
	_, err := m.commit(ctx, ref, func(c *catalog) (bool, error) {
		files = files[:0]
		i := c.find(name)
		if i < 0 {
			return false, fmt.Errorf("index %q on %s: %w", name, ref.Name, ErrNotFound)
		}
		for _, s := range c.Indices[i].Segments {
			files = append(files, s.File)
		}
		c.Indices = slices.Delete(c.Indices, i, i+1)
		return true, nil
	})
	if err != nil {
		return err
	}
	m.deleteFiles(ctx, ref, files)
	return nil
}
