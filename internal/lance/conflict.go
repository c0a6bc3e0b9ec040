package lance

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
)

// rebase decides whether a transaction prepared against one version can be
// committed after the transactions other writers committed since, following
// Lance's compatibility matrix (rust/lance/src/io/commit/conflict_resolver.rs).
// Lance distinguishes "retryable" conflicts (re-run the operation) from
// "incompatible" ones; both mean this transaction cannot be committed as
// is, and both are reported as ErrIncompatibleConflict with the reason.
//
// The only rebase that changes the transaction is Delete/Update touching a
// fragment whose deletion file someone else changed: if the two touched
// different rows, the deletion vectors are merged into a new deletion file.
type rebase struct {
	orig *tablepb.Transaction
	base *Manifest // the read version

	// modified: fragments a Delete/Update/Rewrite/Merge of ours changes.
	modified map[uint64]bool
	// baseFrags: those fragments as they were at the read version.
	baseFrags map[uint64]*tablepb.DataFragment
	// needsMerge: fragments whose deletion file changed concurrently.
	needsMerge map[uint64]bool
	// affected: rows our Delete/Update deleted, per fragment (lazy).
	affected map[uint64]*DeletionVector
}

func newRebase(txn *tablepb.Transaction, base *Manifest) *rebase {
	r := &rebase{orig: txn, base: base, modified: map[uint64]bool{}, baseFrags: map[uint64]*tablepb.DataFragment{}, needsMerge: map[uint64]bool{}}
	updated, removed := deleteUpdateFragments(txn)
	for _, f := range updated {
		r.modified[f.GetId()] = true
	}
	for _, id := range removed {
		r.modified[id] = true
	}
	switch op := txn.GetOperation().(type) {
	case *tablepb.Transaction_Rewrite_:
		for _, g := range rewriteGroups(op.Rewrite) {
			for _, f := range g.GetOldFragments() {
				r.modified[f.GetId()] = true
			}
		}
	case *tablepb.Transaction_Merge_:
		for _, f := range op.Merge.GetFragments() {
			r.modified[f.GetId()] = true
		}
	}
	for _, f := range base.pb.GetFragments() {
		if r.modified[f.GetId()] {
			r.baseFrags[f.GetId()] = f
		}
	}
	return r
}

// deleteUpdateFragments returns the updated fragments and removed ids of a
// Delete or Update (nil otherwise).
func deleteUpdateFragments(txn *tablepb.Transaction) ([]*tablepb.DataFragment, []uint64) {
	switch op := txn.GetOperation().(type) {
	case *tablepb.Transaction_Delete_:
		return op.Delete.GetUpdatedFragments(), op.Delete.GetDeletedFragmentIds()
	case *tablepb.Transaction_Update_:
		return op.Update.GetUpdatedFragments(), op.Update.GetRemovedFragmentIds()
	}
	return nil, nil
}

func (r *rebase) conflict(other *tablepb.Transaction, v uint64, why string) error {
	return fmt.Errorf("%s transaction read at version %d conflicts with %s committed at version %d (%s): %w",
		operationName(r.orig), r.base.Version(), operationName(other), v, why, ErrIncompatibleConflict)
}

func (r *rebase) touchesModified(ids ...uint64) bool {
	return slices.ContainsFunc(ids, func(id uint64) bool { return r.modified[id] })
}

func groupOldIDs(rw *tablepb.Transaction_Rewrite) []uint64 {
	var ids []uint64
	for _, g := range rewriteGroups(rw) {
		for _, f := range g.GetOldFragments() {
			ids = append(ids, f.GetId())
		}
	}
	return ids
}

// check records the effect of other (committed at version v) on our
// transaction, or reports why we cannot commit after it.
func (r *rebase) check(other *tablepb.Transaction, v uint64) error {
	switch other.GetOperation().(type) {
	case *tablepb.Transaction_Append_, *tablepb.Transaction_Delete_, *tablepb.Transaction_Overwrite_,
		*tablepb.Transaction_CreateIndex_, *tablepb.Transaction_Rewrite_, *tablepb.Transaction_Merge_,
		*tablepb.Transaction_Restore_, *tablepb.Transaction_ReserveFragments_, *tablepb.Transaction_Update_,
		*tablepb.Transaction_Project_, *tablepb.Transaction_UpdateConfig_, *tablepb.Transaction_DataReplacement_,
		*tablepb.Transaction_UpdateMemWalState_, *tablepb.Transaction_Clone_, *tablepb.Transaction_UpdateBases_:
	default:
		// A newer writer's operation we cannot decode: assume the worst.
		return r.conflict(other, v, "operation unknown to this reader")
	}
	switch op := r.orig.GetOperation().(type) {
	case *tablepb.Transaction_Append_:
		return r.checkAppend(other, v)
	case *tablepb.Transaction_Delete_, *tablepb.Transaction_Update_:
		return r.checkDeleteUpdate(other, v)
	case *tablepb.Transaction_Overwrite_:
		switch other.GetOperation().(type) {
		case *tablepb.Transaction_Overwrite_, *tablepb.Transaction_UpdateConfig_:
			if upsertKeyConflict(r.orig, other) {
				return r.conflict(other, v, "both set the same config key")
			}
		case *tablepb.Transaction_UpdateMemWalState_:
			return r.conflict(other, v, "MemWAL state changed")
		}
		return nil
	case *tablepb.Transaction_CreateIndex_:
		return r.checkCreateIndex(op.CreateIndex, other, v)
	case *tablepb.Transaction_Rewrite_:
		return r.checkRewrite(other, v)
	case *tablepb.Transaction_Merge_:
		switch other.GetOperation().(type) {
		case *tablepb.Transaction_CreateIndex_, *tablepb.Transaction_ReserveFragments_, *tablepb.Transaction_Clone_,
			*tablepb.Transaction_UpdateConfig_, *tablepb.Transaction_UpdateBases_:
			return nil
		}
		return r.conflict(other, v, "a merge replaces the whole fragment list")
	case *tablepb.Transaction_Restore_:
		if _, ok := other.GetOperation().(*tablepb.Transaction_UpdateMemWalState_); ok {
			return r.conflict(other, v, "MemWAL state changed")
		}
		return nil
	case *tablepb.Transaction_ReserveFragments_:
		return r.checkReplaced(other, v)
	case *tablepb.Transaction_Project_:
		switch other.GetOperation().(type) {
		case *tablepb.Transaction_Merge_, *tablepb.Transaction_Project_:
			return r.conflict(other, v, "both change the schema")
		}
		return r.checkReplaced(other, v)
	case *tablepb.Transaction_UpdateConfig_:
		return r.checkUpdateConfig(op.UpdateConfig, other, v)
	}
	return fmt.Errorf("rebase %s: %w", operationName(r.orig), ErrUnsupportedFeature)
}

// checkReplaced rejects commits after the whole table was replaced.
func (r *rebase) checkReplaced(other *tablepb.Transaction, v uint64) error {
	switch other.GetOperation().(type) {
	case *tablepb.Transaction_Overwrite_:
		return r.conflict(other, v, "the table was overwritten")
	case *tablepb.Transaction_Restore_:
		return r.conflict(other, v, "the table was restored to an older version")
	case *tablepb.Transaction_UpdateMemWalState_:
		return r.conflict(other, v, "MemWAL state changed")
	}
	return nil
}

func (r *rebase) checkAppend(other *tablepb.Transaction, v uint64) error {
	return r.checkReplaced(other, v)
}

func (r *rebase) checkDeleteUpdate(other *tablepb.Transaction, v uint64) error {
	switch op := other.GetOperation().(type) {
	case *tablepb.Transaction_CreateIndex_, *tablepb.Transaction_ReserveFragments_, *tablepb.Transaction_Clone_,
		*tablepb.Transaction_Project_, *tablepb.Transaction_Append_, *tablepb.Transaction_UpdateConfig_,
		*tablepb.Transaction_UpdateBases_:
		return nil
	case *tablepb.Transaction_Rewrite_:
		if r.touchesModified(groupOldIDs(op.Rewrite)...) {
			return r.conflict(other, v, "it rewrote fragments this transaction modifies")
		}
		return nil
	case *tablepb.Transaction_DataReplacement_:
		for _, g := range op.DataReplacement.GetReplacements() {
			if r.modified[g.GetFragmentId()] {
				return r.conflict(other, v, "it replaced data of fragments this transaction modifies")
			}
		}
		return nil
	case *tablepb.Transaction_Delete_, *tablepb.Transaction_Update_:
		updated, removed := deleteUpdateFragments(other)
		for _, id := range removed {
			if r.modified[id] {
				return r.conflict(other, v, fmt.Sprintf("it removed fragment %d, which this transaction modifies", id))
			}
		}
		for _, u := range updated {
			bf, ok := r.baseFrags[u.GetId()]
			if !ok {
				continue
			}
			if !sameFiles(bf.GetFiles(), u.GetFiles()) {
				return r.conflict(other, v, fmt.Sprintf("it rewrote data files of fragment %d", u.GetId()))
			}
			if !proto.Equal(bf.GetDeletionFile(), u.GetDeletionFile()) {
				r.needsMerge[u.GetId()] = true
			}
		}
		return nil
	case *tablepb.Transaction_Merge_:
		return r.conflict(other, v, "a merge replaced the fragment list")
	case *tablepb.Transaction_UpdateMemWalState_:
		if _, ok := r.orig.GetOperation().(*tablepb.Transaction_Update_); ok {
			// Only updates merging a MemWAL are affected, which we never commit.
			return nil
		}
	}
	return r.checkReplaced(other, v)
}

func sameFiles(a, b []*tablepb.DataFile) bool {
	return slices.EqualFunc(a, b, func(x, y *tablepb.DataFile) bool { return proto.Equal(x, y) })
}

func (r *rebase) checkCreateIndex(ci *tablepb.Transaction_CreateIndex, other *tablepb.Transaction, v uint64) error {
	switch op := other.GetOperation().(type) {
	case *tablepb.Transaction_CreateIndex_:
		if hasIndexNamed(ci.GetNewIndices(), fragReuseIndexName) && hasIndexNamed(op.CreateIndex.GetNewIndices(), fragReuseIndexName) {
			return r.conflict(other, v, "both update the fragment reuse index")
		}
		return nil
	case *tablepb.Transaction_Rewrite_:
		covered, err := indexedFragments(ci.GetNewIndices())
		if err != nil {
			return r.conflict(other, v, err.Error())
		}
		if slices.ContainsFunc(groupOldIDs(op.Rewrite), func(id uint64) bool { return covered[id] }) {
			return r.conflict(other, v, "it rewrote fragments the new index covers")
		}
		return nil
	case *tablepb.Transaction_DataReplacement_:
		for _, g := range op.DataReplacement.GetReplacements() {
			for _, ix := range ci.GetNewIndices() {
				if slices.ContainsFunc(g.GetNewFile().GetFields(), func(id int32) bool { return slices.Contains(ix.GetFields(), id) }) {
					return r.conflict(other, v, "it replaced data of an indexed column")
				}
			}
		}
		return nil
	}
	return r.checkReplaced(other, v)
}

func hasIndexNamed(ixs []*tablepb.IndexMetadata, name string) bool {
	return slices.ContainsFunc(ixs, func(ix *tablepb.IndexMetadata) bool { return ix.GetName() == name })
}

// indexedFragments returns the fragments the indexes cover.
func indexedFragments(ixs []*tablepb.IndexMetadata) (map[uint64]bool, error) {
	out := map[uint64]bool{}
	for _, ix := range ixs {
		bm, err := fragmentBitmap(ix)
		if err != nil {
			return nil, err
		}
		if bm == nil {
			return nil, fmt.Errorf("index %q has no fragment bitmap", ix.GetName())
		}
		for _, id := range bm.ToArray() {
			out[uint64(id)] = true
		}
	}
	return out, nil
}

func (r *rebase) checkRewrite(other *tablepb.Transaction, v uint64) error {
	switch op := other.GetOperation().(type) {
	case *tablepb.Transaction_Append_, *tablepb.Transaction_ReserveFragments_, *tablepb.Transaction_Project_,
		*tablepb.Transaction_Clone_, *tablepb.Transaction_UpdateConfig_, *tablepb.Transaction_UpdateMemWalState_,
		*tablepb.Transaction_UpdateBases_:
		return nil
	case *tablepb.Transaction_Delete_, *tablepb.Transaction_Update_:
		updated, removed := deleteUpdateFragments(other)
		for _, f := range updated {
			removed = append(removed, f.GetId())
		}
		if r.touchesModified(removed...) {
			return r.conflict(other, v, "it modified fragments this rewrite replaces")
		}
		return nil
	case *tablepb.Transaction_Rewrite_:
		if r.touchesModified(groupOldIDs(op.Rewrite)...) {
			return r.conflict(other, v, "both rewrite the same fragments")
		}
		return nil
	case *tablepb.Transaction_DataReplacement_:
		for _, g := range op.DataReplacement.GetReplacements() {
			if r.modified[g.GetFragmentId()] {
				return r.conflict(other, v, "it replaced data of fragments this rewrite replaces")
			}
		}
		return nil
	case *tablepb.Transaction_Merge_:
		return r.conflict(other, v, "a merge replaced the fragment list")
	case *tablepb.Transaction_CreateIndex_:
		covered, err := indexedFragments(op.CreateIndex.GetNewIndices())
		if err != nil {
			return r.conflict(other, v, err.Error())
		}
		for id := range r.modified {
			if covered[id] {
				return r.conflict(other, v, "it indexed fragments this rewrite replaces")
			}
		}
		return nil
	}
	return r.checkReplaced(other, v)
}

func (r *rebase) checkUpdateConfig(uc *tablepb.Transaction_UpdateConfig, other *tablepb.Transaction, v uint64) error {
	switch op := other.GetOperation().(type) {
	case *tablepb.Transaction_Overwrite_:
		if uc.GetSchemaMetadataUpdates() != nil || len(uc.GetSchemaMetadata()) > 0 ||
			len(uc.GetFieldMetadataUpdates()) > 0 || len(uc.GetFieldMetadata()) > 0 || upsertKeyConflict(r.orig, other) {
			return r.conflict(other, v, "the table was overwritten")
		}
		return nil
	case *tablepb.Transaction_UpdateConfig_:
		if upsertKeyConflict(r.orig, other) || sameMetadataModified(uc, op.UpdateConfig) {
			return r.conflict(other, v, "both update the same keys")
		}
		return nil
	}
	return nil
}

// configKeys returns the config keys an operation sets and deletes.
func configKeys(txn *tablepb.Transaction) (upserts, deletes []string) {
	switch op := txn.GetOperation().(type) {
	case *tablepb.Transaction_Overwrite_:
		return sortedKeys(op.Overwrite.GetConfigUpsertValues()), nil
	case *tablepb.Transaction_UpdateConfig_:
		uc := op.UpdateConfig
		if um := uc.GetConfigUpdates(); um != nil {
			for _, e := range um.GetUpdateEntries() {
				if e.Value != nil {
					upserts = append(upserts, e.GetKey())
				} else {
					deletes = append(deletes, e.GetKey())
				}
			}
			return upserts, deletes
		}
		return sortedKeys(uc.GetUpsertValues()), uc.GetDeleteKeys()
	}
	return nil, nil
}

func upsertKeyConflict(a, b *tablepb.Transaction) bool {
	au, ad := configKeys(a)
	bu, bd := configKeys(b)
	hit := func(keys []string, in ...[]string) bool {
		return slices.ContainsFunc(keys, func(k string) bool {
			return slices.ContainsFunc(in, func(s []string) bool { return slices.Contains(s, k) })
		})
	}
	return hit(au, bu, bd) || hit(bu, au, ad)
}

func sameMetadataModified(a, b *tablepb.Transaction_UpdateConfig) bool {
	schemaA := a.GetSchemaMetadataUpdates() != nil || len(a.GetSchemaMetadata()) > 0
	schemaB := b.GetSchemaMetadataUpdates() != nil || len(b.GetSchemaMetadata()) > 0
	if schemaA && schemaB {
		return true
	}
	fields := func(uc *tablepb.Transaction_UpdateConfig) map[int64]bool {
		m := map[int64]bool{}
		for id := range uc.GetFieldMetadataUpdates() {
			m[int64(id)] = true
		}
		for id := range uc.GetFieldMetadata() {
			m[int64(id)] = true
		}
		return m
	}
	fb := fields(b)
	for id := range fields(a) {
		if fb[id] {
			return true
		}
	}
	return false
}

// finish returns the transaction to commit on top of latest. Only a
// Delete/Update whose fragments got new deletion files concurrently
// changes: its deletion vectors are merged with theirs, which requires that
// the two deleted disjoint rows.
func (r *rebase) finish(ctx context.Context, t *Table, latest *Manifest) (*tablepb.Transaction, error) {
	txn := cloneTxn(r.orig)
	updated, removed := deleteUpdateFragments(txn)
	if updated == nil && removed == nil {
		return txn, nil
	}
	// Lance moves the read version of rebased deletes forward; the
	// transaction file name follows it.
	txn.ReadVersion = latest.Version()
	if len(r.needsMerge) == 0 {
		return txn, nil
	}
	current := map[uint64]*tablepb.DataFragment{}
	for _, f := range latest.pb.GetFragments() {
		current[f.GetId()] = f
	}
	var newlyRemoved []uint64
	merged := map[uint64]*tablepb.DeletionFile{}
	for _, id := range sortedKeys(r.needsMerge) {
		cur, ok := current[id]
		if !ok {
			return nil, fmt.Errorf("fragment %d vanished at version %d: %w", id, latest.Version(), ErrIncompatibleConflict)
		}
		mine, err := r.affectedRows(ctx, t, id)
		if err != nil {
			return nil, err
		}
		theirs, err := t.ReadDeletionVector(ctx, id, cur.GetDeletionFile())
		if err != nil {
			return nil, fmt.Errorf("rebase deletions of fragment %d: %w", id, err)
		}
		if mine.Intersects(theirs) {
			return nil, fmt.Errorf("%s transaction read at version %d and a transaction committed by version %d both deleted rows of fragment %d: %w",
				operationName(r.orig), r.base.Version(), latest.Version(), id, ErrIncompatibleConflict)
		}
		all := theirs.Clone()
		all.Union(mine)
		if pr := cur.GetPhysicalRows(); pr > 0 && all.Len() >= pr {
			if !slices.Contains(removed, id) {
				newlyRemoved = append(newlyRemoved, id)
			}
			continue
		}
		if slices.Contains(removed, id) {
			// We removed the whole fragment and they deleted nothing we
			// still had: the fragment stays removed.
			continue
		}
		df, err := t.WriteDeletionFile(ctx, id, latest.Version(), all)
		if err != nil {
			return nil, fmt.Errorf("rebase deletions of fragment %d: %w", id, err)
		}
		merged[id] = df
	}
	updated = slices.DeleteFunc(updated, func(f *tablepb.DataFragment) bool { return slices.Contains(newlyRemoved, f.GetId()) })
	for _, f := range updated {
		if df, ok := merged[f.GetId()]; ok {
			f.DeletionFile = df
		}
	}
	removed = append(removed, newlyRemoved...)
	switch op := txn.GetOperation().(type) {
	case *tablepb.Transaction_Delete_:
		op.Delete.UpdatedFragments, op.Delete.DeletedFragmentIds = updated, removed
	case *tablepb.Transaction_Update_:
		op.Update.UpdatedFragments, op.Update.RemovedFragmentIds = updated, removed
	}
	return txn, nil
}

// affectedRows derives the rows our transaction deleted from fragment id:
// its new deletion vector minus the one at the read version, or every row
// still live at the read version when it removed the fragment. Lance's
// writers pass this set alongside the transaction; deriving it keeps the
// Commit API a plain transaction.
func (r *rebase) affectedRows(ctx context.Context, t *Table, id uint64) (*DeletionVector, error) {
	if dv, ok := r.affected[id]; ok {
		return dv, nil
	}
	bf, ok := r.baseFrags[id]
	if !ok {
		return nil, fmt.Errorf("fragment %d is not in the read version %d: %w", id, r.base.Version(), ErrInvalidTransaction)
	}
	before, err := t.ReadDeletionVector(ctx, id, bf.GetDeletionFile())
	if err != nil {
		return nil, fmt.Errorf("rebase deletions of fragment %d: %w", id, err)
	}
	var after *DeletionVector
	updated, _ := deleteUpdateFragments(r.orig)
	if i := slices.IndexFunc(updated, func(f *tablepb.DataFragment) bool { return f.GetId() == id }); i >= 0 {
		after, err = t.ReadDeletionVector(ctx, id, updated[i].GetDeletionFile())
		if err != nil {
			return nil, fmt.Errorf("rebase deletions of fragment %d: %w", id, err)
		}
	} else {
		after = NewDeletionVector()
		after.bm.AddRange(0, bf.GetPhysicalRows())
	}
	after.bm.AndNot(before.bm)
	if r.affected == nil {
		r.affected = map[uint64]*DeletionVector{}
	}
	r.affected[id] = after
	return after, nil
}
