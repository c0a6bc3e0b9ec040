package table

import (
	"context"

	"github.com/sarissa-db/sarissa/internal/lance"
)

// CleanupOldVersions removes versions older than the cutoff and the files
// only they reference; see lance.Table.CleanupOldVersions. Vector indexes
// under _sarissa_indices/ are never touched.
func (t *Table) CleanupOldVersions(ctx context.Context, opts lance.CleanupOptions) (lance.CleanupResult, error) {
	return t.lt.CleanupOldVersions(ctx, opts)
}
