package lance

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/filepb"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
)

// tombstoneFieldID marks a field of a data file whose column was replaced.
const tombstoneFieldID = -2

// buildManifest returns the manifest that applying txn to base produces
// (rust/lance/src/dataset/transaction.rs build_manifest), plus the encoded
// index section to store with it (nil: none). The caller sets nothing but
// the version, which is base's version + 1 already. base is never modified.
func (t *Table) buildManifest(ctx context.Context, base *Manifest, txn *tablepb.Transaction, txnFile string) (*tablepb.Manifest, []byte, error) {
	if r, ok := txn.GetOperation().(*tablepb.Transaction_Restore_); ok {
		return t.buildRestore(ctx, base, r.Restore.GetVersion(), txn, txnFile)
	}
	prev := base.pb
	next := &tablepb.Manifest{
		Fields:         prev.GetFields(),
		SchemaMetadata: maps.Clone(prev.GetSchemaMetadata()),
		Version:        prev.GetVersion() + 1,
		MaxFragmentId:  prev.MaxFragmentId,
		NextRowId:      prev.GetNextRowId(),
		DataFormat:     proto.Clone(prev.GetDataFormat()).(*tablepb.Manifest_DataStorageFormat),
		Config:         maps.Clone(prev.GetConfig()),
		TableMetadata:  maps.Clone(prev.GetTableMetadata()),
	}
	nextID := nextFragmentID(prev)
	assign := func(frags []*tablepb.DataFragment) []*tablepb.DataFragment {
		out := make([]*tablepb.DataFragment, len(frags))
		for i, f := range frags {
			c := proto.Clone(f).(*tablepb.DataFragment)
			if c.Id == 0 {
				c.Id = nextID
				nextID++
			}
			out[i] = c
		}
		return out
	}

	var (
		editIndices indexEdit // nil: pass the index section through unchanged
		dropIndices bool
		newFrags    []*tablepb.DataFragment // fragments whose data files this commit adds
		err         error
	)
	switch op := txn.GetOperation().(type) {
	case *tablepb.Transaction_Append_:
		newFrags = assign(op.Append.GetFragments())
		next.Fragments = append(slices.Clone(prev.GetFragments()), newFrags...)
	case *tablepb.Transaction_Delete_:
		d := op.Delete
		next.Fragments, err = replaceFragments(prev, d.GetUpdatedFragments(), d.GetDeletedFragmentIds())
		editIndices = retainRelevantIndices(next)
	case *tablepb.Transaction_Update_:
		u := op.Update
		if u.GetMemWalToMerge() != nil {
			return nil, nil, fmt.Errorf("update merging a MemWAL: %w", ErrUnsupportedFeature)
		}
		next.Fragments, err = replaceFragments(prev, u.GetUpdatedFragments(), u.GetRemovedFragmentIds())
		newFrags = assign(u.GetNewFragments())
		next.Fragments = append(next.Fragments, newFrags...)
		editIndices = chainEdits(pruneUpdatedFields(u.GetUpdatedFragments(), u.GetFieldsModified()), retainRelevantIndices(next))
	case *tablepb.Transaction_Overwrite_:
		o := op.Overwrite
		next.Fields = cloneFields(o.GetSchema())
		next.SchemaMetadata = maps.Clone(o.GetSchemaMetadata())
		newFrags = assign(o.GetFragments())
		next.Fragments = newFrags
		maps.Copy(ensureMap(&next.Config), o.GetConfigUpsertValues())
		dropIndices = true
	case *tablepb.Transaction_Merge_:
		m := op.Merge
		next.Fields = cloneFields(m.GetSchema())
		next.SchemaMetadata = maps.Clone(m.GetSchemaMetadata())
		next.Fragments = cloneFragments(m.GetFragments())
		newFrags = next.Fragments
		editIndices = retainRelevantIndices(next)
	case *tablepb.Transaction_Project_:
		next.Fields = cloneFields(op.Project.GetSchema())
		next.Fragments = projectFragments(prev.GetFragments(), fieldIDs(next.Fields))
		editIndices = retainRelevantIndices(next)
	case *tablepb.Transaction_UpdateConfig_:
		next.Fragments = prev.GetFragments()
		err = applyUpdateConfig(next, op.UpdateConfig)
	case *tablepb.Transaction_ReserveFragments_:
		next.Fragments = prev.GetFragments()
		reserved := uint64(next.GetMaxFragmentId()) + uint64(op.ReserveFragments.GetNumFragments())
		if reserved > math.MaxUint32 {
			return nil, nil, fmt.Errorf("reserve %d fragments: ids exceed 32 bits: %w", op.ReserveFragments.GetNumFragments(), ErrInvalidTransaction)
		}
		r := uint32(reserved)
		next.MaxFragmentId = &r
	case *tablepb.Transaction_CreateIndex_:
		next.Fragments = prev.GetFragments()
		editIndices = createIndexEdit(op.CreateIndex)
	case *tablepb.Transaction_Rewrite_:
		var groups []*tablepb.Transaction_Rewrite_RewriteGroup
		next.Fragments, groups, newFrags, err = rewriteFragments(prev, op.Rewrite, assign)
		if err == nil && len(op.Rewrite.GetRewrittenIndices()) > 0 {
			editIndices = rewriteIndexEdit(op.Rewrite.GetRewrittenIndices(), groups)
		}
	default:
		err = checkCommittable(txn)
		if err == nil {
			err = fmt.Errorf("building a manifest for %s: %w", operationName(txn), ErrUnsupportedFeature)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if err := checkFileVersions(newFrags, next.GetDataFormat().GetVersion()); err != nil {
		return nil, nil, err
	}
	if err := t.finishManifest(next, txn, txnFile); err != nil {
		return nil, nil, err
	}
	var index []byte
	if !dropIndices {
		index, err = editIndexSection(ctx, base, editIndices)
		if err != nil {
			return nil, nil, err
		}
	}
	return next, index, nil
}

// finishManifest applies what every commit does after the operation:
// sorted fragments, no fully tombstoned data files, unique ids, the
// max_fragment_id high-water mark, feature flags, and provenance.
func (t *Table) finishManifest(next *tablepb.Manifest, txn *tablepb.Transaction, txnFile string) error {
	// The list may still be the base manifest's, which others may be reading.
	next.Fragments = removeTombstonedFiles(slices.Clone(next.Fragments))
	slices.SortStableFunc(next.Fragments, func(a, b *tablepb.DataFragment) int { return cmp.Compare(a.GetId(), b.GetId()) })
	for i := 1; i < len(next.Fragments); i++ {
		if next.Fragments[i].GetId() == next.Fragments[i-1].GetId() {
			return fmt.Errorf("fragment id %d appears twice: %w", next.Fragments[i].GetId(), ErrInvalidTransaction)
		}
	}
	if n := len(next.Fragments); n > 0 {
		top := next.Fragments[n-1].GetId()
		if top > math.MaxUint32 {
			return fmt.Errorf("fragment id %d exceeds 32 bits: %w", top, ErrInvalidTransaction)
		}
		if next.MaxFragmentId == nil || uint32(top) > *next.MaxFragmentId {
			m := uint32(top)
			next.MaxFragmentId = &m
		}
	}
	applyFeatureFlags(next)
	next.WriterVersion = &tablepb.Manifest_WriterVersion{Library: t.opts.WriterVersion.Library, Version: t.opts.WriterVersion.Version}
	next.Tag = txn.GetTag()
	next.TransactionFile = txnFile
	next.Timestamp = timestamppb.New(t.opts.Now())
	return nil
}

// buildRestore re-commits the content of version v on top of base.
func (t *Table) buildRestore(ctx context.Context, base *Manifest, v uint64, txn *tablepb.Transaction, txnFile string) (*tablepb.Manifest, []byte, error) {
	old, err := t.manifestOf(ctx, v)
	if err != nil {
		return nil, nil, fmt.Errorf("restore version %d: %w", v, err)
	}
	if err := checkWritable(old.key, old.pb); err != nil {
		return nil, nil, fmt.Errorf("restore version %d: %w", v, err)
	}
	index, err := old.IndexSectionBytes(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("restore version %d: %w", v, err)
	}
	next := proto.Clone(old.pb).(*tablepb.Manifest)
	next.Version = base.Version() + 1
	next.Branch = nil
	// Lance takes the old high-water mark as is, which lets later appends
	// reuse ids of fragments created after v. Keeping the larger mark keeps
	// fragment ids (and deletion file names built from them) unique.
	if bm := base.pb.MaxFragmentId; bm != nil && (next.MaxFragmentId == nil || *bm > *next.MaxFragmentId) {
		m := *bm
		next.MaxFragmentId = &m
	}
	if err := t.finishManifest(next, txn, txnFile); err != nil {
		return nil, nil, err
	}
	return next, index, nil
}

// nextFragmentID is the first id new fragments get: one past the
// high-water mark, or 0 for a table that never had fragments.
func nextFragmentID(m *tablepb.Manifest) uint64 {
	if m.MaxFragmentId != nil {
		return uint64(*m.MaxFragmentId) + 1
	}
	if len(m.GetFragments()) == 0 {
		return 0
	}
	var top uint64
	for _, f := range m.GetFragments() {
		top = max(top, f.GetId())
	}
	return top + 1
}

// replaceFragments applies updated and removed fragments to prev's list.
func replaceFragments(prev *tablepb.Manifest, updated []*tablepb.DataFragment, removed []uint64) ([]*tablepb.DataFragment, error) {
	present := make(map[uint64]bool, len(prev.GetFragments()))
	for _, f := range prev.GetFragments() {
		present[f.GetId()] = true
	}
	byID := make(map[uint64]*tablepb.DataFragment, len(updated))
	for _, u := range updated {
		if !present[u.GetId()] {
			return nil, fmt.Errorf("updated fragment %d is not in version %d: %w", u.GetId(), prev.GetVersion(), ErrInvalidTransaction)
		}
		byID[u.GetId()] = u
	}
	gone := make(map[uint64]bool, len(removed))
	for _, id := range removed {
		if !present[id] {
			return nil, fmt.Errorf("removed fragment %d is not in version %d: %w", id, prev.GetVersion(), ErrInvalidTransaction)
		}
		gone[id] = true
	}
	out := make([]*tablepb.DataFragment, 0, len(prev.GetFragments()))
	for _, f := range prev.GetFragments() {
		switch u, ok := byID[f.GetId()]; {
		case gone[f.GetId()]:
		case ok:
			out = append(out, proto.Clone(u).(*tablepb.DataFragment))
		default:
			out = append(out, f)
		}
	}
	return out, nil
}

// projectFragments drops data files that hold none of the remaining fields.
func projectFragments(frags []*tablepb.DataFragment, keep map[int32]bool) []*tablepb.DataFragment {
	out := make([]*tablepb.DataFragment, len(frags))
	for i, f := range frags {
		files := slices.DeleteFunc(slices.Clone(f.GetFiles()), func(df *tablepb.DataFile) bool {
			return !slices.ContainsFunc(df.GetFields(), func(id int32) bool { return keep[id] })
		})
		if len(files) == len(f.GetFiles()) {
			out[i] = f
			continue
		}
		c := proto.Clone(f).(*tablepb.DataFragment)
		c.Files = cloneDataFiles(files)
		out[i] = c
	}
	return out
}

// removeTombstonedFiles drops data files whose every field was tombstoned.
func removeTombstonedFiles(frags []*tablepb.DataFragment) []*tablepb.DataFragment {
	dead := func(df *tablepb.DataFile) bool {
		return !slices.ContainsFunc(df.GetFields(), func(id int32) bool { return id != tombstoneFieldID })
	}
	for i, f := range frags {
		if !slices.ContainsFunc(f.GetFiles(), dead) {
			continue
		}
		c := proto.Clone(f).(*tablepb.DataFragment)
		c.Files = slices.DeleteFunc(c.Files, dead)
		frags[i] = c
	}
	return frags
}

// rewriteFragments replaces each group's old fragments by its new ones.
func rewriteFragments(prev *tablepb.Manifest, rw *tablepb.Transaction_Rewrite, assign func([]*tablepb.DataFragment) []*tablepb.DataFragment) (
	frags []*tablepb.DataFragment, groups []*tablepb.Transaction_Rewrite_RewriteGroup, added []*tablepb.DataFragment, err error,
) {
	groups = rewriteGroups(rw)
	gone := map[uint64]bool{}
	present := map[uint64]bool{}
	for _, f := range prev.GetFragments() {
		present[f.GetId()] = true
	}
	assigned := make([]*tablepb.Transaction_Rewrite_RewriteGroup, len(groups))
	for i, g := range groups {
		for _, old := range g.GetOldFragments() {
			if !present[old.GetId()] {
				return nil, nil, nil, fmt.Errorf("rewrite replaces fragment %d, which version %d does not contain: %w", old.GetId(), prev.GetVersion(), ErrIncompatibleConflict)
			}
			gone[old.GetId()] = true
		}
		nf := assign(g.GetNewFragments())
		added = append(added, nf...)
		assigned[i] = &tablepb.Transaction_Rewrite_RewriteGroup{OldFragments: g.GetOldFragments(), NewFragments: nf}
	}
	for _, f := range prev.GetFragments() {
		if !gone[f.GetId()] {
			frags = append(frags, f)
		}
	}
	return append(frags, added...), assigned, added, nil
}

// rewriteGroups returns the groups of a Rewrite, turning the deprecated
// flat old/new lists into one group as Lance does.
func rewriteGroups(rw *tablepb.Transaction_Rewrite) []*tablepb.Transaction_Rewrite_RewriteGroup {
	if len(rw.GetGroups()) > 0 || (len(rw.GetOldFragments()) == 0 && len(rw.GetNewFragments()) == 0) {
		return rw.GetGroups()
	}
	return []*tablepb.Transaction_Rewrite_RewriteGroup{{OldFragments: rw.GetOldFragments(), NewFragments: rw.GetNewFragments()}}
}

// applyUpdateConfig applies config, table, schema and field metadata
// updates. Old-style fields (upsert_values, delete_keys, ...) written by
// older Lance are translated as Lance translates them.
func applyUpdateConfig(next *tablepb.Manifest, uc *tablepb.Transaction_UpdateConfig) error {
	hasNew := uc.GetConfigUpdates() != nil || uc.GetTableMetadataUpdates() != nil ||
		uc.GetSchemaMetadataUpdates() != nil || len(uc.GetFieldMetadataUpdates()) > 0
	hasOld := len(uc.GetUpsertValues()) > 0 || len(uc.GetDeleteKeys()) > 0 ||
		len(uc.GetSchemaMetadata()) > 0 || len(uc.GetFieldMetadata()) > 0
	if hasNew && hasOld {
		return fmt.Errorf("update config mixes old and new style fields: %w", ErrInvalidTransaction)
	}
	fields := map[int32]*filepb.Field{}
	if len(uc.GetFieldMetadataUpdates()) > 0 || len(uc.GetFieldMetadata()) > 0 {
		next.Fields = cloneFields(next.Fields)
		for _, f := range next.Fields {
			fields[f.GetId()] = f
		}
	}
	field := func(id int32) (*filepb.Field, error) {
		f, ok := fields[id]
		if !ok {
			return nil, fmt.Errorf("update metadata of field %d, which does not exist: %w", id, ErrInvalidTransaction)
		}
		return f, nil
	}
	if hasOld {
		cfg := ensureMap(&next.Config)
		maps.Copy(cfg, uc.GetUpsertValues())
		for _, k := range uc.GetDeleteKeys() {
			delete(cfg, k)
		}
		if len(uc.GetSchemaMetadata()) > 0 {
			next.SchemaMetadata = stringsToBytes(uc.GetSchemaMetadata())
		}
		for id, upd := range uc.GetFieldMetadata() {
			if id > math.MaxInt32 {
				return fmt.Errorf("update metadata of field %d, which does not exist: %w", id, ErrInvalidTransaction)
			}
			f, err := field(int32(id))
			if err != nil {
				return err
			}
			f.Metadata = stringsToBytes(upd.GetMetadata())
		}
		return nil
	}
	applyUpdateMap(ensureMap(&next.Config), uc.GetConfigUpdates())
	applyUpdateMap(ensureMap(&next.TableMetadata), uc.GetTableMetadataUpdates())
	if um := uc.GetSchemaMetadataUpdates(); um != nil {
		next.SchemaMetadata = applyBytesUpdateMap(next.SchemaMetadata, um)
	}
	for _, id := range sortedKeys(uc.GetFieldMetadataUpdates()) {
		f, err := field(id)
		if err != nil {
			return err
		}
		f.Metadata = applyBytesUpdateMap(f.Metadata, uc.GetFieldMetadataUpdates()[id])
	}
	return nil
}

func applyUpdateMap(target map[string]string, um *tablepb.Transaction_UpdateMap) {
	if um == nil {
		return
	}
	if um.GetReplace() {
		clear(target)
	}
	for _, e := range um.GetUpdateEntries() {
		if e.Value != nil {
			target[e.GetKey()] = e.GetValue()
		} else if !um.GetReplace() {
			delete(target, e.GetKey())
		}
	}
}

func applyBytesUpdateMap(target map[string][]byte, um *tablepb.Transaction_UpdateMap) map[string][]byte {
	s := make(map[string]string, len(target))
	for k, v := range target {
		s[k] = string(v)
	}
	applyUpdateMap(s, um)
	return stringsToBytes(s)
}

// checkFileVersions refuses data files whose format version differs from
// the table's data storage format (Lance requires one version per table).
func checkFileVersions(frags []*tablepb.DataFragment, format string) error {
	maj, min, ok := parseFormatVersion(format)
	if !ok {
		return nil
	}
	for _, f := range frags {
		for _, df := range f.GetFiles() {
			if df.GetFileMajorVersion() != maj || df.GetFileMinorVersion() != min {
				return fmt.Errorf("data file %s has format %d.%d, table uses %s: %w",
					df.GetPath(), df.GetFileMajorVersion(), df.GetFileMinorVersion(), format, ErrInvalidTransaction)
			}
		}
	}
	return nil
}

// parseFormatVersion parses "2.0"-style versions; legacy formats are not
// checked.
func parseFormatVersion(s string) (major, minor uint32, ok bool) {
	a, b, found := strings.Cut(s, ".")
	if !found {
		return 0, 0, false
	}
	ma, err1 := strconv.ParseUint(a, 10, 32)
	mi, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil || ma < 2 {
		return 0, 0, false
	}
	return uint32(ma), uint32(mi), true
}

// fieldIDs returns the ids of all fields, nested ones included.
func fieldIDs(fields []*filepb.Field) map[int32]bool {
	ids := make(map[int32]bool, len(fields))
	for _, f := range fields {
		ids[f.GetId()] = true
	}
	return ids
}

func cloneFields(fields []*filepb.Field) []*filepb.Field {
	out := make([]*filepb.Field, len(fields))
	for i, f := range fields {
		out[i] = proto.Clone(f).(*filepb.Field)
	}
	return out
}

func cloneFragments(frags []*tablepb.DataFragment) []*tablepb.DataFragment {
	out := make([]*tablepb.DataFragment, len(frags))
	for i, f := range frags {
		out[i] = proto.Clone(f).(*tablepb.DataFragment)
	}
	return out
}

func cloneDataFiles(files []*tablepb.DataFile) []*tablepb.DataFile {
	out := make([]*tablepb.DataFile, len(files))
	for i, f := range files {
		out[i] = proto.Clone(f).(*tablepb.DataFile)
	}
	return out
}

func ensureMap[K comparable, V any](m *map[K]V) map[K]V {
	if *m == nil {
		*m = map[K]V{}
	}
	return *m
}

func stringsToBytes(m map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}
