package table_test

import (
	"testing"

	"github.com/sarissa-db/sarissa/internal/objstore/azure"
	"github.com/sarissa-db/sarissa/internal/objstore/azuritetest"
)

// TestCompactThenCleanupAzurite runs compaction and the two-step cleanup
// against Azure Blob (Azurite): listing order, last-modified times and
// deletes as the real service reports them.
func TestCompactThenCleanupAzurite(t *testing.T) {
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
	compactThenCleanup(t, b)
}

// TestCompactRacesWithWritersAzurite races a compaction with a delete and
// an append on Azure Blob, whose conditional put decides the order.
func TestCompactRacesWithWritersAzurite(t *testing.T) {
	s := azuritetest.Start(t)
	b, err := azure.New(azure.Config{
		ServiceURL:  s.Endpoint,
		AccountName: s.AccountName,
		Container:   s.NewContainer(t),
		Auth:        azure.AuthSharedKey,
		AccountKey:  s.AccountKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	compactRacesWithWriters(t, b)
}
