package table

import (
	"context"
	"fmt"

	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
)

// Defaults for CompactOptions (Lance's CompactionOptions).
const (
	DefaultTargetRowsPerFragment         = 1 << 20
	DefaultMaterializeDeletionsThreshold = 0.1
	defaultCompactAttempts               = 3
)

// CompactOptions configures Compact and PlanCompaction. Zero values select
// the defaults.
type CompactOptions struct {
	// TargetRowsPerFragment is the size compaction aims for: fragments with
	// fewer physical rows are merged with their neighbours, and new
	// fragments hold at most this many rows (DefaultTargetRowsPerFragment).
	TargetRowsPerFragment int64
	// DisableMaterializeDeletions turns off rewriting a fragment only
	// because many of its rows are deleted (Lance's materialize_deletions,
	// which is on by default). Small fragments still drop their deleted rows
	// when they are merged.
	DisableMaterializeDeletions bool
	// MaterializeDeletionsThreshold is the fraction of a fragment's physical
	// rows that must be deleted (strictly more) for it to be rewritten on
	// its own (DefaultMaterializeDeletionsThreshold; 0 selects it, so use a
	// tiny positive value to rewrite every fragment with any deletion).
	MaterializeDeletionsThreshold float64
	// MaxRowsPerFile and MaxBytesPerFile bound the data files written, as
	// for appends (the table's Options). The effective target is at most
	// MaxRowsPerFile, and a fragment within 10% of MaxBytesPerFile counts as
	// full: the writer could not make it larger.
	MaxRowsPerFile  int64
	MaxBytesPerFile int64
	// MaxAttempts bounds how often Compact re-plans after a concurrent
	// change to fragments it was rewriting (3).
	MaxAttempts int

	// beforeCommit lets tests commit something between writing the new
	// fragments and committing them; nil in production.
	beforeCommit func(attempt int)
}

func (o CompactOptions) withDefaults() (CompactOptions, error) {
	if o.TargetRowsPerFragment < 0 || o.MaxRowsPerFile < 0 || o.MaxBytesPerFile < 0 || o.MaxAttempts < 0 {
		return o, fmt.Errorf("%w: compaction sizes and attempts must not be negative", ErrInvalidArgument)
	}
	if o.MaterializeDeletionsThreshold < 0 || o.MaterializeDeletionsThreshold > 1 {
		return o, fmt.Errorf("%w: materialize deletions threshold %g is not a fraction in [0, 1]", ErrInvalidArgument, o.MaterializeDeletionsThreshold)
	}
	if o.TargetRowsPerFragment == 0 {
		o.TargetRowsPerFragment = DefaultTargetRowsPerFragment
	}
	if o.MaterializeDeletionsThreshold == 0 {
		o.MaterializeDeletionsThreshold = DefaultMaterializeDeletionsThreshold
	}
	if o.MaxRowsPerFile == 0 {
		o.MaxRowsPerFile = DefaultMaxRowsPerFile
	}
	if o.MaxBytesPerFile == 0 {
		o.MaxBytesPerFile = DefaultMaxBytesPerFile
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = defaultCompactAttempts
	}
	return o, nil
}

// CompactionGroup is a run of fragments, adjacent in manifest order, whose
// live rows are rewritten together into new fragments.
type CompactionGroup struct {
	// Fragments as they are in the planned version, in manifest order.
	Fragments []*tablepb.DataFragment
	// LiveRows are the rows rewritten; DeletedRows those dropped.
	LiveRows, DeletedRows int64
}

// IDs returns the ids of the group's fragments.
func (g CompactionGroup) IDs() []uint64 {
	ids := make([]uint64, len(g.Fragments))
	for i, f := range g.Fragments {
		ids[i] = f.GetId()
	}
	return ids
}

// CompactionPlan is what compacting one version would rewrite.
type CompactionPlan struct {
	Groups []CompactionGroup
	// Pinned are fragments that would have been rewritten but are left
	// alone: an index in the manifest covers them (remapping stock Lance
	// indexes is not implemented), or they carry row-id or row-version
	// sequences, or data outside the table directory.
	Pinned []uint64
}

// planFrag is one fragment's size as the planner sees it.
type planFrag struct {
	f              *tablepb.DataFragment
	live, deleted  int64
	liveBytes      int64 // estimated bytes of the live rows when rewritten
	materializeNow bool  // over the deletion threshold: rewrite even alone
}

// PlanCompaction decides which fragments to rewrite, from the fragments of
// a snapshot in manifest order and the ids of fragments that must not move
// (indexed may be nil). It is a pure function of its inputs; opts' zero
// values select the package defaults, not a table's options.
//
// It follows Lance's plan_compaction: a fragment is a candidate when more
// than MaterializeDeletionsThreshold of its rows are deleted, or when it is
// smaller than the target. Only adjacent candidates are merged: a run of
// them ends at the first fragment that is not one. A run becomes a group if
// it has more than one fragment or its single fragment is over the deletion
// threshold. Long runs are split like Lance's split_for_size: each group
// but the last reaches the target and the last takes the remainder, so no
// group ends with an undersized tail while rows are left over.
//
// Two additions. Sizes count bytes as well as rows, because Sarissa's
// writer closes files at MaxBytesPerFile (256 MiB, where Lance uses 90 GiB)
// long before 1 Mi rows of wide vectors: a fragment within 10% of that size
// is full, and "reaches the target" means reaching the row or the byte
// bound. And a group that would produce as many fragments as it has,
// without deleted rows to drop, is left out, so fragments the byte bound
// keeps small are not rewritten again on every run.
func PlanCompaction(frags []*tablepb.DataFragment, indexed map[uint64]bool, opts CompactOptions) (CompactionPlan, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return CompactionPlan{}, err
	}
	target := min(opts.TargetRowsPerFragment, opts.MaxRowsPerFile)
	maxBytes := opts.MaxBytesPerFile
	var (
		plan CompactionPlan
		run  []planFrag
	)
	flush := func() {
		if len(run) > 1 || (len(run) == 1 && run[0].materializeNow) {
			plan.Groups = append(plan.Groups, splitRun(run, target, maxBytes)...)
		}
		run = nil
	}
	for _, f := range frags {
		pf := measure(f)
		phys := int64(f.GetPhysicalRows())
		pf.materializeNow = !opts.DisableMaterializeDeletions && phys > 0 &&
			float64(pf.deleted)/float64(phys) > opts.MaterializeDeletionsThreshold
		small := phys < target && fileBytes(f) < maxBytes-maxBytes/10
		if !pf.materializeNow && !small {
			flush()
			continue
		}
		if indexed[f.GetId()] || !rewritable(f) {
			plan.Pinned = append(plan.Pinned, f.GetId())
			flush()
			continue
		}
		run = append(run, pf)
	}
	flush()
	return plan, nil
}

func measure(f *tablepb.DataFragment) planFrag {
	phys := int64(f.GetPhysicalRows())
	deleted := min(int64(f.GetDeletionFile().GetNumDeletedRows()), phys)
	pf := planFrag{f: f, live: phys - deleted, deleted: deleted}
	if phys > 0 {
		// Floating point: file bytes times rows can overflow 64 bits.
		pf.liveBytes = int64(float64(fileBytes(f)) * float64(pf.live) / float64(phys))
	}
	return pf
}

// fileBytes is the size of a fragment's data files (0 where the manifest
// does not record it).
func fileBytes(f *tablepb.DataFragment) int64 {
	var n int64
	for _, df := range f.GetFiles() {
		n += int64(df.GetFileSizeBytes())
	}
	return n
}

// rewritable reports whether compaction can rewrite f without losing
// something: row-id and row-version sequences belong to stable row ids,
// which new fragments would have to carry over, and data in other base
// paths cannot be read here.
func rewritable(f *tablepb.DataFragment) bool {
	if f.GetRowIdSequence() != nil || f.GetCreatedAtVersionSequence() != nil || f.GetLastUpdatedAtVersionSequence() != nil {
		return false
	}
	if d := f.GetDeletionFile(); d != nil && d.BaseId != nil {
		return false
	}
	for _, df := range f.GetFiles() {
		if df.BaseId != nil {
			return false
		}
	}
	return true
}

// splitRun cuts a run of candidates into groups (Lance's split_for_size):
// take fragments until the group reaches the target; if the rest still
// reaches it too, close the group, otherwise the rest joins it.
func splitRun(run []planFrag, target, maxBytes int64) []CompactionGroup {
	reaches := func(rows, bytes int64) bool { return rows >= target || bytes >= maxBytes }
	var groups []CompactionGroup
	for len(run) > 0 {
		var n int
		var rows, bytes int64
		for n < len(run) && !reaches(rows, bytes) {
			rows += run[n].live
			bytes += run[n].liveBytes
			n++
		}
		var restRows, restBytes int64
		for _, pf := range run[n:] {
			restRows += pf.live
			restBytes += pf.liveBytes
		}
		if !reaches(restRows, restBytes) {
			n = len(run)
		}
		if g, ok := newGroup(run[:n], target, maxBytes); ok {
			groups = append(groups, g)
		}
		run = run[n:]
	}
	return groups
}

// newGroup builds a group, or reports that rewriting it would gain nothing:
// no deleted rows to drop and no fewer fragments than before.
func newGroup(frags []planFrag, target, maxBytes int64) (CompactionGroup, bool) {
	var g CompactionGroup
	var bytes int64
	for _, pf := range frags {
		g.Fragments = append(g.Fragments, pf.f)
		g.LiveRows += pf.live
		g.DeletedRows += pf.deleted
		bytes += pf.liveBytes
	}
	outputs := max(ceilDiv(g.LiveRows, target), ceilDiv(bytes, maxBytes))
	if g.DeletedRows == 0 && outputs >= int64(len(frags)) {
		return CompactionGroup{}, false
	}
	return g, true
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// PlanCompaction plans the compaction of this version with the table's
// file bounds as defaults, leaving out fragments covered by indexes in the
// manifest. The Lance Agent can use it to decide whether a compaction job
// would do anything.
func (s *Snapshot) PlanCompaction(ctx context.Context, opts CompactOptions) (CompactionPlan, error) {
	if err := s.compactable(); err != nil {
		return CompactionPlan{}, err
	}
	indexed, err := s.ls.IndexedFragments(ctx)
	if err != nil {
		return CompactionPlan{}, fmt.Errorf("plan compaction of %s version %d: %w", s.t.lt.Root(), s.Version(), err)
	}
	return PlanCompaction(s.ls.Fragments(), indexed, s.t.compactDefaults(opts))
}

// compactDefaults fills the file bounds from the table's options.
func (t *Table) compactDefaults(opts CompactOptions) CompactOptions {
	if opts.MaxRowsPerFile == 0 {
		opts.MaxRowsPerFile = t.opts.MaxRowsPerFile
	}
	if opts.MaxBytesPerFile == 0 {
		opts.MaxBytesPerFile = t.opts.MaxBytesPerFile
	}
	return opts
}

// compactable refuses versions compaction cannot rewrite faithfully.
func (s *Snapshot) compactable() error {
	pb := s.ls.Proto()
	if (pb.GetReaderFeatureFlags()|pb.GetWriterFeatureFlags())&lance.FlagStableRowIDs != 0 {
		return fmt.Errorf("compact %s: the table uses stable row ids, whose row-id sequences compaction does not carry over: %w",
			s.t.lt.Root(), lance.ErrUnsupportedFeature)
	}
	if err := s.ls.Writable(); err != nil {
		return fmt.Errorf("compact %s: %w", s.t.lt.Root(), err)
	}
	if f := s.ls.DataFormatVersion(); f != lance.DefaultDataFormatVersion {
		return fmt.Errorf("compact %s: the table stores Lance %s data files and this writer only writes %s: %w",
			s.t.lt.Root(), f, lance.DefaultDataFormatVersion, lance.ErrUnsupportedFeature)
	}
	return nil
}
