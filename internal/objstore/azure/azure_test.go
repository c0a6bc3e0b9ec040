package azure_test

import (
	"testing"
	"time"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/azure"
	"github.com/sarissa-db/sarissa/internal/objstore/azuritetest"
	"github.com/sarissa-db/sarissa/internal/objstore/objstoretest"
)

// Remote round trips make the races slower; fewer rounds still catch a
// non-atomic conditional write quickly.
var azureOpts = []objstoretest.Option{
	objstoretest.RaceRounds(25),
	objstoretest.TornRounds(40),
	// With 1 MiB blocks a 3 MiB object is staged as blocks and committed as
	// a block list, the path large data files take.
	objstoretest.LargeObjectSize(3<<20 + 123),
}

func sharedKeyConfig(s *azuritetest.Server, container string) azure.Config {
	return azure.Config{
		ServiceURL:      s.Endpoint,
		AccountName:     s.AccountName,
		Container:       container,
		Auth:            azure.AuthSharedKey,
		AccountKey:      s.AccountKey,
		UploadBlockSize: 1 << 20,
	}
}

func TestConformanceSharedKey(t *testing.T) {
	s := azuritetest.Start(t)
	objstoretest.RunSuite(t, func(t *testing.T) objstore.Bucket {
		b, err := azure.New(sharedKeyConfig(s, s.NewContainer(t)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, azureOpts...)
}

func TestConformanceSASWithPrefix(t *testing.T) {
	s := azuritetest.Start(t)
	objstoretest.RunSuite(t, func(t *testing.T) objstore.Bucket {
		name := s.NewContainer(t)
		cfg := azure.Config{
			ServiceURL:      s.Endpoint,
			Container:       name,
			Prefix:          "tenant/db/",
			Auth:            azure.AuthSAS,
			SASToken:        containerSAS(t, s, name, time.Hour),
			UploadBlockSize: 1 << 20,
		}
		b, err := azure.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, azureOpts...)
}
