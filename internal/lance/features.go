package lance

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
)

// Feature flags (rust/lance-table/src/feature_flags.rs). A reader or writer
// must refuse a manifest with a bit it does not know, in the corresponding
// flag set.
const (
	// FlagDeletionFiles: fragments may have deletion files.
	FlagDeletionFiles uint64 = 1
	// FlagStableRowIDs: rows carry stable ids in per-fragment sequences.
	FlagStableRowIDs uint64 = 2
	// FlagUseV2FormatDeprecated: no longer used; ignored by readers.
	FlagUseV2FormatDeprecated uint64 = 4
	// FlagTableConfig: Manifest.config is non-empty.
	FlagTableConfig uint64 = 8
	// FlagBasePaths: files may live outside the table root (base_paths).
	FlagBasePaths uint64 = 16
	// FlagDisableTransactionFile: transactions are only inline in manifests.
	FlagDisableTransactionFile uint64 = 32
)

// readableFlags are the reader bits whose data we interpret correctly.
// Stable row ids only add per-fragment row-id sequences; the rows themselves
// read the same, so reading is safe. Base paths would make us resolve other
// storage locations, which this layer cannot do.
const readableFlags = FlagDeletionFiles | FlagStableRowIDs | FlagUseV2FormatDeprecated |
	FlagTableConfig | FlagDisableTransactionFile

// writableFlags are the writer bits whose invariants our commits maintain.
// Writing to a table with stable row ids would require assigning row ids to
// every new fragment, which we do not implement.
const writableFlags = FlagDeletionFiles | FlagUseV2FormatDeprecated | FlagTableConfig |
	FlagDisableTransactionFile

var flagNames = map[uint64]string{
	FlagDeletionFiles:          "deletion files",
	FlagStableRowIDs:           "stable row ids",
	FlagUseV2FormatDeprecated:  "v2 format (deprecated)",
	FlagTableConfig:            "table config",
	FlagBasePaths:              "base paths",
	FlagDisableTransactionFile: "transaction in manifest only",
}

// describeFlags names each set bit, e.g. "16 (base paths), 64 (unknown)".
func describeFlags(flags uint64) string {
	var parts []string
	for flags != 0 {
		bit := uint64(1) << bits.TrailingZeros64(flags)
		flags &^= bit
		name, ok := flagNames[bit]
		if !ok {
			name = "unknown"
		}
		parts = append(parts, fmt.Sprintf("%d (%s)", bit, name))
	}
	return strings.Join(parts, ", ")
}

// checkReadable refuses manifests whose reader flags we cannot honour.
func checkReadable(key string, m *tablepb.Manifest) error {
	if bad := m.GetReaderFeatureFlags() &^ readableFlags; bad != 0 {
		return fmt.Errorf("%s: reader feature flags %s: %w", key, describeFlags(bad), ErrUnsupportedFeature)
	}
	return nil
}

// checkWritable refuses commits on manifests whose writer flags we cannot
// maintain, and on tables that are not the main branch.
func checkWritable(key string, m *tablepb.Manifest) error {
	if err := checkReadable(key, m); err != nil {
		return err
	}
	if bad := m.GetWriterFeatureFlags() &^ writableFlags; bad != 0 {
		return fmt.Errorf("%s: table is read-only here: writer feature flags %s: %w", key, describeFlags(bad), ErrUnsupportedFeature)
	}
	if m.Branch != nil {
		return fmt.Errorf("%s: table is read-only here: manifest belongs to branch %q: %w", key, m.GetBranch(), ErrUnsupportedFeature)
	}
	return nil
}

// applyFeatureFlags recomputes the flags of a manifest we are about to write
// from its content, as Lance does on every commit.
func applyFeatureFlags(m *tablepb.Manifest) {
	var r, w uint64
	for _, f := range m.GetFragments() {
		if f.GetDeletionFile() != nil {
			r |= FlagDeletionFiles
			w |= FlagDeletionFiles
			break
		}
	}
	if len(m.GetConfig()) > 0 {
		w |= FlagTableConfig
	}
	m.ReaderFeatureFlags, m.WriterFeatureFlags = r, w
}
