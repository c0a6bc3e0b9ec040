package lance

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
	"google.golang.org/protobuf/proto"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
)

// Index metadata maintenance. Sarissa keeps its own indexes outside the
// manifest, but tables written by stock Lance may carry index metadata; a
// commit must keep it consistent the way Lance would, or Lance would later
// open indexes on dropped columns.

// System index names (rust/lance-index): always kept.
const (
	fragReuseIndexName = "__lance_frag_reuse"
	memWalIndexName    = "__lance_mem_wal"
)

// indexEdit rewrites the index list of a new manifest.
type indexEdit func([]*tablepb.IndexMetadata) ([]*tablepb.IndexMetadata, error)

func chainEdits(edits ...indexEdit) indexEdit {
	return func(ixs []*tablepb.IndexMetadata) ([]*tablepb.IndexMetadata, error) {
		var err error
		for _, e := range edits {
			if ixs, err = e(ixs); err != nil {
				return nil, err
			}
		}
		return ixs, nil
	}
}

// editIndexSection returns the index section for the next manifest: base's
// bytes unchanged when edit is nil, otherwise the edited list re-encoded
// (nil when the list ends up empty, as Lance writes no empty section). A
// base without a section is edited as an empty list, so the first
// CreateIndex is kept.
func editIndexSection(ctx context.Context, base *Manifest, edit indexEdit) ([]byte, error) {
	raw, err := base.IndexSectionBytes(ctx)
	if err != nil || edit == nil {
		return raw, err
	}
	ixs, err := base.Indices(ctx)
	if err != nil {
		return nil, err
	}
	// Edits modify entries in place; the base's decoded list stays intact.
	cloned := make([]*tablepb.IndexMetadata, len(ixs))
	for i, ix := range ixs {
		cloned[i] = proto.Clone(ix).(*tablepb.IndexMetadata)
	}
	out, err := edit(cloned)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	enc, err := marshalOpts.Marshal(&tablepb.IndexSection{Indices: out})
	if err != nil {
		return nil, fmt.Errorf("encode index section: %w", err)
	}
	return enc, nil
}

func isSystemIndex(ix *tablepb.IndexMetadata) bool {
	return ix.GetName() == fragReuseIndexName || ix.GetName() == memWalIndexName
}

func isVectorIndex(ix *tablepb.IndexMetadata) bool {
	return strings.HasSuffix(ix.GetIndexDetails().GetTypeUrl(), "VectorIndexDetails")
}

// fragmentBitmap decodes an index's covered fragments; nil when unset.
func fragmentBitmap(ix *tablepb.IndexMetadata) (*roaring.Bitmap, error) {
	if len(ix.GetFragmentBitmap()) == 0 {
		return nil, nil
	}
	bm, err := decodeRoaring(ix.GetFragmentBitmap())
	if err != nil {
		return nil, fmt.Errorf("index %q fragment bitmap: %v: %w", ix.GetName(), err, ErrCorrupt)
	}
	return bm, nil
}

func setFragmentBitmap(ix *tablepb.IndexMetadata, bm *roaring.Bitmap) error {
	enc, err := encodeRoaring(bm)
	if err != nil {
		return fmt.Errorf("encode fragment bitmap of index %q: %w", ix.GetName(), err)
	}
	ix.FragmentBitmap = enc
	return nil
}

// retainRelevantIndices drops indexes on fields no longer in next's schema
// and, per index name, deltas that cover no remaining fragment (keeping the
// oldest empty scalar delta so the index itself survives), as Lance does.
func retainRelevantIndices(next *tablepb.Manifest) indexEdit {
	return func(ixs []*tablepb.IndexMetadata) ([]*tablepb.IndexMetadata, error) {
		ids := fieldIDs(next.GetFields())
		ixs = slices.DeleteFunc(ixs, func(ix *tablepb.IndexMetadata) bool {
			return !isSystemIndex(ix) && slices.ContainsFunc(ix.GetFields(), func(id int32) bool { return !ids[id] })
		})
		existing := roaring.New()
		for _, f := range next.GetFragments() {
			existing.Add(uint32(f.GetId()))
		}
		empty := make(map[*tablepb.IndexMetadata]bool, len(ixs))
		byName := map[string][]*tablepb.IndexMetadata{}
		for _, ix := range ixs {
			if ix.GetName() == fragReuseIndexName {
				continue
			}
			bm, err := fragmentBitmap(ix)
			if err != nil {
				return nil, err
			}
			empty[ix] = bm == nil || !bm.Intersects(existing)
			byName[ix.GetName()] = append(byName[ix.GetName()], ix)
		}
		keep := map[*tablepb.IndexMetadata]bool{}
		for _, group := range byName {
			var nonEmpty []*tablepb.IndexMetadata
			for _, ix := range group {
				if !empty[ix] {
					nonEmpty = append(nonEmpty, ix)
				}
			}
			switch {
			case len(nonEmpty) > 0:
				for _, ix := range nonEmpty {
					keep[ix] = true
				}
			default:
				oldest := slices.MinFunc(group, func(a, b *tablepb.IndexMetadata) int {
					return cmp.Compare(a.GetDatasetVersion(), b.GetDatasetVersion())
				})
				if !isVectorIndex(oldest) {
					keep[oldest] = true
				}
			}
		}
		return slices.DeleteFunc(ixs, func(ix *tablepb.IndexMetadata) bool {
			return ix.GetName() != fragReuseIndexName && !keep[ix]
		}), nil
	}
}

// pruneUpdatedFields removes updated fragments from indexes covering a
// modified field: those rows changed, so the index no longer describes them.
func pruneUpdatedFields(updated []*tablepb.DataFragment, modified []uint32) indexEdit {
	return func(ixs []*tablepb.IndexMetadata) ([]*tablepb.IndexMetadata, error) {
		if len(modified) == 0 {
			return ixs, nil
		}
		for _, ix := range ixs {
			touches := slices.ContainsFunc(ix.GetFields(), func(id int32) bool {
				return id >= 0 && slices.Contains(modified, uint32(id))
			})
			if !touches {
				continue
			}
			bm, err := fragmentBitmap(ix)
			if err != nil || bm == nil {
				if err != nil {
					return nil, err
				}
				continue
			}
			for _, f := range updated {
				bm.Remove(uint32(f.GetId()))
			}
			if err := setFragmentBitmap(ix, bm); err != nil {
				return nil, err
			}
		}
		return ixs, nil
	}
}

// createIndexEdit replaces indexes with the same name as a new one and
// removes the listed ones.
func createIndexEdit(ci *tablepb.Transaction_CreateIndex) indexEdit {
	return func(ixs []*tablepb.IndexMetadata) ([]*tablepb.IndexMetadata, error) {
		ixs = slices.DeleteFunc(ixs, func(ix *tablepb.IndexMetadata) bool {
			for _, n := range ci.GetNewIndices() {
				if n.GetName() == ix.GetName() {
					return true
				}
			}
			for _, r := range ci.GetRemovedIndices() {
				if bytes.Equal(r.GetUuid().GetUuid(), ix.GetUuid().GetUuid()) {
					return true
				}
			}
			return false
		})
		for _, n := range ci.GetNewIndices() {
			ixs = append(ixs, proto.Clone(n).(*tablepb.IndexMetadata))
		}
		return ixs, nil
	}
}

// rewriteIndexEdit moves rewritten indexes to their new uuid and remaps
// their fragment bitmaps from old to new fragments.
func rewriteIndexEdit(rewritten []*tablepb.Transaction_Rewrite_RewrittenIndex, groups []*tablepb.Transaction_Rewrite_RewriteGroup) indexEdit {
	return func(ixs []*tablepb.IndexMetadata) ([]*tablepb.IndexMetadata, error) {
		seen := map[string]bool{}
		for _, rw := range rewritten {
			old := string(rw.GetOldId().GetUuid())
			if seen[old] {
				return nil, fmt.Errorf("rewrite modifies index %x twice: %w", old, ErrInvalidTransaction)
			}
			seen[old] = true
			i := slices.IndexFunc(ixs, func(ix *tablepb.IndexMetadata) bool { return string(ix.GetUuid().GetUuid()) == old })
			if i < 0 {
				return nil, fmt.Errorf("rewrite refers to index %x, which does not exist: %w", old, ErrIncompatibleConflict)
			}
			bm, err := fragmentBitmap(ixs[i])
			if err != nil {
				return nil, err
			}
			if bm == nil {
				return nil, fmt.Errorf("rewrite of index %q, which has no fragment bitmap: %w", ixs[i].GetName(), ErrInvalidTransaction)
			}
			for _, g := range groups {
				var in, out int
				for _, f := range g.GetOldFragments() {
					if bm.Contains(uint32(f.GetId())) {
						in++
					} else {
						out++
					}
				}
				if in == 0 {
					continue
				}
				if out > 0 {
					return nil, fmt.Errorf("rewrite group mixes fragments indexed by %q with unindexed ones: %w", ixs[i].GetName(), ErrInvalidTransaction)
				}
				for _, f := range g.GetOldFragments() {
					bm.Remove(uint32(f.GetId()))
				}
				for _, f := range g.GetNewFragments() {
					bm.Add(uint32(f.GetId()))
				}
			}
			if err := setFragmentBitmap(ixs[i], bm); err != nil {
				return nil, err
			}
			ixs[i].Uuid = proto.Clone(rw.GetNewId()).(*tablepb.UUID)
		}
		return ixs, nil
	}
}
