package lance

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/filepb"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/objstore"
)

// Constructors for the transactions the table-operations layer commits.
// Fragments passed to Append, Overwrite and Update.new_fragments should have
// id 0: ids are assigned when the manifest is built (as in Lance).

// NewAppend returns an Append transaction.
func NewAppend(fragments ...*tablepb.DataFragment) *tablepb.Transaction {
	return &tablepb.Transaction{Operation: &tablepb.Transaction_Append_{Append: &tablepb.Transaction_Append{Fragments: fragments}}}
}

// NewDelete returns a Delete transaction: updated fragments carry their new
// deletion files, deleted fragments lost all their rows.
func NewDelete(updated []*tablepb.DataFragment, deletedIDs []uint64, predicate string) *tablepb.Transaction {
	return &tablepb.Transaction{Operation: &tablepb.Transaction_Delete_{Delete: &tablepb.Transaction_Delete{
		UpdatedFragments: updated, DeletedFragmentIds: deletedIDs, Predicate: predicate,
	}}}
}

// NewOverwrite returns an Overwrite transaction replacing schema and data.
func NewOverwrite(fields []*filepb.Field, schemaMetadata map[string][]byte, fragments []*tablepb.DataFragment, configUpserts map[string]string) *tablepb.Transaction {
	return &tablepb.Transaction{Operation: &tablepb.Transaction_Overwrite_{Overwrite: &tablepb.Transaction_Overwrite{
		Fragments: fragments, Schema: fields, SchemaMetadata: schemaMetadata, ConfigUpsertValues: configUpserts,
	}}}
}

// NewUpdate returns an Update transaction in REWRITE_ROWS mode: the old rows
// are deleted from updated (or removed) fragments and their new values are
// written to new fragments.
func NewUpdate(removedIDs []uint64, updated, newFragments []*tablepb.DataFragment, fieldsModified []uint32) *tablepb.Transaction {
	return &tablepb.Transaction{Operation: &tablepb.Transaction_Update_{Update: &tablepb.Transaction_Update{
		RemovedFragmentIds: removedIDs, UpdatedFragments: updated, NewFragments: newFragments,
		FieldsModified: fieldsModified, UpdateMode: tablepb.Transaction_REWRITE_ROWS,
	}}}
}

// NewMerge returns a Merge transaction (add columns): the fragment list and
// schema are replaced.
func NewMerge(fields []*filepb.Field, schemaMetadata map[string][]byte, fragments []*tablepb.DataFragment) *tablepb.Transaction {
	return &tablepb.Transaction{Operation: &tablepb.Transaction_Merge_{Merge: &tablepb.Transaction_Merge{
		Fragments: fragments, Schema: fields, SchemaMetadata: schemaMetadata,
	}}}
}

// NewProject returns a Project transaction (drop columns).
func NewProject(fields []*filepb.Field) *tablepb.Transaction {
	return &tablepb.Transaction{Operation: &tablepb.Transaction_Project_{Project: &tablepb.Transaction_Project{Schema: fields}}}
}

// NewRestore returns a Restore transaction re-committing version v.
func NewRestore(v uint64) *tablepb.Transaction {
	return &tablepb.Transaction{Operation: &tablepb.Transaction_Restore_{Restore: &tablepb.Transaction_Restore{Version: v}}}
}

// NewUpdateConfig returns an UpdateConfig transaction. Entries with a nil
// value delete the key. A nil map leaves that map alone.
func NewUpdateConfig(config, tableMetadata map[string]*string) *tablepb.Transaction {
	toMap := func(m map[string]*string) *tablepb.Transaction_UpdateMap {
		if m == nil {
			return nil
		}
		um := &tablepb.Transaction_UpdateMap{}
		for _, k := range sortedKeys(m) {
			um.UpdateEntries = append(um.UpdateEntries, &tablepb.Transaction_UpdateMapEntry{Key: k, Value: m[k]})
		}
		return um
	}
	return &tablepb.Transaction{Operation: &tablepb.Transaction_UpdateConfig_{UpdateConfig: &tablepb.Transaction_UpdateConfig{
		ConfigUpdates: toMap(config), TableMetadataUpdates: toMap(tableMetadata),
	}}}
}

// operationName names a transaction's operation for errors and logs.
func operationName(txn *tablepb.Transaction) string {
	switch txn.GetOperation().(type) {
	case *tablepb.Transaction_Append_:
		return "Append"
	case *tablepb.Transaction_Delete_:
		return "Delete"
	case *tablepb.Transaction_Overwrite_:
		return "Overwrite"
	case *tablepb.Transaction_CreateIndex_:
		return "CreateIndex"
	case *tablepb.Transaction_Rewrite_:
		return "Rewrite"
	case *tablepb.Transaction_Merge_:
		return "Merge"
	case *tablepb.Transaction_Restore_:
		return "Restore"
	case *tablepb.Transaction_ReserveFragments_:
		return "ReserveFragments"
	case *tablepb.Transaction_Update_:
		return "Update"
	case *tablepb.Transaction_Project_:
		return "Project"
	case *tablepb.Transaction_UpdateConfig_:
		return "UpdateConfig"
	case *tablepb.Transaction_DataReplacement_:
		return "DataReplacement"
	case *tablepb.Transaction_UpdateMemWalState_:
		return "UpdateMemWalState"
	case *tablepb.Transaction_Clone_:
		return "Clone"
	case *tablepb.Transaction_UpdateBases_:
		return "UpdateBases"
	case nil:
		return "unknown operation"
	default:
		return fmt.Sprintf("%T", txn.GetOperation())
	}
}

// checkCommittable refuses operations we cannot build a manifest for.
func checkCommittable(txn *tablepb.Transaction) error {
	switch op := txn.GetOperation().(type) {
	case *tablepb.Transaction_Append_, *tablepb.Transaction_Delete_, *tablepb.Transaction_Update_,
		*tablepb.Transaction_Merge_, *tablepb.Transaction_Project_, *tablepb.Transaction_Restore_,
		*tablepb.Transaction_UpdateConfig_, *tablepb.Transaction_ReserveFragments_,
		*tablepb.Transaction_CreateIndex_, *tablepb.Transaction_Rewrite_:
		return nil
	case *tablepb.Transaction_Overwrite_:
		if len(op.Overwrite.GetInitialBases()) > 0 {
			return fmt.Errorf("overwrite with initial base paths: %w", ErrUnsupportedFeature)
		}
		return nil
	case nil:
		return fmt.Errorf("transaction has no operation: %w", ErrInvalidTransaction)
	default:
		return fmt.Errorf("committing %s transactions: %w", operationName(txn), ErrUnsupportedFeature)
	}
}

// Transaction returns the transaction that produced version v, read from
// the manifest's inline section when present (as Lance prefers) or else
// from its transaction file.
func (t *Table) Transaction(ctx context.Context, v uint64) (*tablepb.Transaction, error) {
	m, err := t.manifestOf(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("load transaction of %s version %d: %w", t.root, v, err)
	}
	txn, err := t.transactionOf(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("load transaction of %s version %d: %w", t.root, v, err)
	}
	return txn, nil
}

// errNoTransaction reports a version without a recorded transaction.
var errNoTransaction = errors.New("version has no transaction")

func (t *Table) transactionOf(ctx context.Context, m *Manifest) (*tablepb.Transaction, error) {
	txn, err := m.inlineTransaction(ctx)
	if err != nil || txn != nil {
		return txn, err
	}
	name := m.pb.GetTransactionFile()
	if name == "" {
		return nil, fmt.Errorf("%s: %w", m.key, errNoTransaction)
	}
	key := t.key(transactionsDir + "/" + name)
	data, err := objstore.ReadAll(ctx, t.bucket, key)
	if err != nil {
		return nil, fmt.Errorf("read transaction file: %w", err)
	}
	txn = &tablepb.Transaction{}
	if err := unmarshalOpts.Unmarshal(data, txn); err != nil {
		return nil, corruptf(key, "decode transaction: %v", err)
	}
	return txn, nil
}

// writeTransactionFile stores txn under _transactions/ and returns the name
// the manifest records. The same name is rewritten when a rebase changed
// the transaction, so the file always matches the committed manifest.
func (t *Table) writeTransactionFile(ctx context.Context, txn *tablepb.Transaction) (string, error) {
	raw, err := marshalOpts.Marshal(txn)
	if err != nil {
		return "", fmt.Errorf("encode transaction: %w", err)
	}
	name := transactionFileName(txn.GetReadVersion(), txn.GetUuid())
	if err := t.bucket.Put(ctx, t.key(transactionsDir+"/"+name), bytes.NewReader(raw)); err != nil {
		return "", fmt.Errorf("write transaction file: %w", err)
	}
	return name, nil
}

// cloneTxn deep-copies a transaction so callers' values are never mutated.
func cloneTxn(txn *tablepb.Transaction) *tablepb.Transaction {
	return proto.Clone(txn).(*tablepb.Transaction)
}
