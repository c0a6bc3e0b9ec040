package table_test

import (
	"testing"

	"github.com/sarissa-db/sarissa/internal/objstore/azure"
	"github.com/sarissa-db/sarissa/internal/objstore/azuritetest"
)

// TestConcurrentWritersAzurite runs the 8 × 25 appenders plus a concurrent
// deleter against Azure Blob (Azurite): conditional puts must keep every
// commit, with contiguous versions.
func TestConcurrentWritersAzurite(t *testing.T) {
	s := azuritetest.Start(t)
	b, err := azure.New(azure.Config{
		ServiceURL:  s.Endpoint,
		AccountName: s.AccountName,
		Container:   s.NewContainer(t),
		Prefix:      "tenant",
		Auth:        azure.AuthSharedKey,
		AccountKey:  s.AccountKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	concurrentWriters(t, b)
}
