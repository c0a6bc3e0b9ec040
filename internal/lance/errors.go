// Package lance implements the Lance table format: manifests, version naming,
// transactions, deletion files, tags, and the optimistic commit protocol that
// lets several writers (ours and stock Lance/LanceDB) share one table on an
// object store.
//
// A table is addressed by a bucket and a root prefix such as "db/t.lance".
// Everything the package writes uses Lance's own layout and protobuf messages
// so that stock Lance readers and writers can open and commit to the same
// table. docs/format/lance-table.md describes what we write.
package lance

import (
	"errors"
	"fmt"
)

var (
	// ErrTableNotFound reports a table root without any manifest.
	ErrTableNotFound = errors.New("lance table not found")
	// ErrTableExists reports a create on a root that already holds a table.
	ErrTableExists = errors.New("lance table already exists")
	// ErrVersionNotFound reports a version whose manifest does not exist.
	ErrVersionNotFound = errors.New("lance table version not found")
	// ErrTagNotFound reports a tag that does not exist.
	ErrTagNotFound = errors.New("lance tag not found")
	// ErrTagExists reports a tag create that lost to an existing tag.
	ErrTagExists = errors.New("lance tag already exists")
	// ErrInvalidTag reports a tag name Lance would refuse.
	ErrInvalidTag = errors.New("invalid lance tag name")
	// ErrCommitConflict reports that every commit attempt lost the race for
	// the next version. Nothing was committed; retrying the same commit later
	// is safe.
	ErrCommitConflict = errors.New("lance commit conflict: retries exhausted")
	// ErrIncompatibleConflict reports that a concurrently committed version
	// cannot be reconciled with this transaction (for example it overwrote the
	// table, or it deleted the same rows). The caller has to re-run the
	// operation against the new version, or give up.
	ErrIncompatibleConflict = errors.New("lance commit conflict: incompatible concurrent transaction")
	// ErrUnsupportedFeature reports a table or transaction that uses a Lance
	// feature this implementation cannot read or write safely.
	ErrUnsupportedFeature = errors.New("unsupported lance feature")
	// ErrCorrupt reports a metadata file that cannot be decoded. The wrapping
	// error names the file and the problem.
	ErrCorrupt = errors.New("corrupt lance metadata")
	// ErrInvalidTransaction reports a transaction that is malformed or does
	// not fit the version it is committed on.
	ErrInvalidTransaction = errors.New("invalid lance transaction")
)

// corruptf builds an ErrCorrupt error naming the file.
func corruptf(key, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", key, fmt.Sprintf(format, args...), ErrCorrupt)
}
