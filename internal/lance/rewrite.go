package lance

import (
	"context"
	"fmt"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
)

// Support for compaction (a Rewrite transaction) in the table-operations
// layer, which decides what to rewrite and writes the new data files.

// NewRewrite returns a Rewrite transaction replacing each group's old
// fragments (as they are at the read version) by its new ones. New
// fragments should have id 0: like Append, they get ids above the
// high-water mark when the manifest is built, and since manifests keep
// fragments sorted by id (as Lance does), they end up behind every fragment
// the rewrite leaves alone. A group may have no new fragments when all its
// rows were deleted.
//
// Index metadata is passed through unchanged, so the groups must not contain
// fragments covered by an index in the manifest (see IndexedFragments):
// their row addresses change, and Lance would have to remap the index.
func NewRewrite(groups ...*tablepb.Transaction_Rewrite_RewriteGroup) *tablepb.Transaction {
	return &tablepb.Transaction{Operation: &tablepb.Transaction_Rewrite_{Rewrite: &tablepb.Transaction_Rewrite{Groups: groups}}}
}

// IndexedFragments returns the ids of the fragments covered by an index in
// the manifest's index section (indexes written by stock Lance; Sarissa's
// own indexes live outside the manifest). The MemWAL system index covers no
// rows and is ignored; an index without a fragment bitmap counts as covering
// every fragment of the snapshot, because Lance cannot tell what it covers
// either.
//
// A table with a fragment reuse index (compactions whose index remap Lance
// deferred) is refused with ErrUnsupportedFeature: its indexes reach rows
// through the reuse index's old-to-new address mapping, which a rewrite
// would have to extend.
func (s *Snapshot) IndexedFragments(ctx context.Context) (map[uint64]bool, error) {
	ixs, err := s.Indices(ctx)
	if err != nil {
		return nil, fmt.Errorf("index coverage of version %d: %w", s.Version(), err)
	}
	covered := map[uint64]bool{}
	for _, ix := range ixs {
		switch ix.GetName() {
		case fragReuseIndexName:
			return nil, fmt.Errorf("version %d has a fragment reuse index (a deferred index remap is pending): %w", s.Version(), ErrUnsupportedFeature)
		case memWalIndexName:
			continue
		}
		bm, err := fragmentBitmap(ix)
		if err != nil {
			return nil, fmt.Errorf("index coverage of version %d: %w", s.Version(), err)
		}
		if bm == nil {
			for _, f := range s.Fragments() {
				covered[f.GetId()] = true
			}
			continue
		}
		for _, id := range bm.ToArray() {
			covered[uint64(id)] = true
		}
	}
	return covered, nil
}
