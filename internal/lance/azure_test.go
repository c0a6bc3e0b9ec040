package lance

import (
	"testing"

	"github.com/sarissa-db/sarissa/internal/objstore/azure"
	"github.com/sarissa-db/sarissa/internal/objstore/azuritetest"
)

// TestConcurrentAppendsAzurite runs the 8 writers × 25 appends against the
// Azure bucket, whose conditional put is an If-None-Match: * upload.
func TestConcurrentAppendsAzurite(t *testing.T) {
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
	runConcurrentAppends(t, b, "db/c.lance", 8, 25)
}
