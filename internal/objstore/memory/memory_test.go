package memory_test

import (
	"testing"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
	"github.com/sarissa-db/sarissa/internal/objstore/objstoretest"
)

func TestConformance(t *testing.T) {
	objstoretest.RunSuite(t, func(t *testing.T) objstore.Bucket { return memory.New() })
}
