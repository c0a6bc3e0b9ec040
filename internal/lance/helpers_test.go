package lance

import (
	"context"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/filepb"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/filesystem"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
)

// lockedReader makes a deterministic entropy source safe for concurrent use.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// testOptions returns deterministic options: entropy and backoff randomness
// from seed, a fake clock that advances one millisecond per reading, and a
// backoff sleep that returns at once.
func testOptions(seed uint64) Options {
	var seedBytes [32]byte
	for i := range seedBytes {
		seedBytes[i] = byte(seed >> (8 * (i % 8)))
	}
	seedBytes[31] ^= 0x5a
	var clockMu sync.Mutex
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return Options{
		Entropy: &lockedReader{r: rand.NewChaCha8(seedBytes)},
		Rand:    rand.NewPCG(seed, seed^0x9e3779b97f4a7c15),
		Now: func() time.Time {
			clockMu.Lock()
			defer clockMu.Unlock()
			clock = clock.Add(time.Millisecond)
			return clock
		},
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	}
}

// testBuckets returns a fresh bucket of every local kind.
func testBuckets(t *testing.T) map[string]objstore.Bucket {
	t.Helper()
	fs, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]objstore.Bucket{"memory": memory.New(), "filesystem": fs}
}

func testFields() []*filepb.Field {
	return []*filepb.Field{
		{Type: filepb.Field_LEAF, Name: "id", Id: 0, ParentId: -1, LogicalType: "int64"},
		{Type: filepb.Field_LEAF, Name: "text", Id: 1, ParentId: -1, LogicalType: "string", Nullable: true},
	}
}

// newFragment returns an unassigned fragment with one (fictional) data file
// holding fields 0 and 1.
func newFragment(t *testing.T, tbl *Table, rows uint64) *tablepb.DataFragment {
	t.Helper()
	name, err := tbl.NewDataFileName()
	if err != nil {
		t.Fatal(err)
	}
	return &tablepb.DataFragment{
		Files: []*tablepb.DataFile{{
			Path: name, Fields: []int32{0, 1}, ColumnIndices: []int32{0, 1},
			FileMajorVersion: 2, FileMinorVersion: 0, FileSizeBytes: 1000 + rows,
		}},
		PhysicalRows: rows,
	}
}

// createTable creates a table at root with no rows.
func createTable(t *testing.T, b objstore.Bucket, root string, seed uint64) (*Table, *Snapshot) {
	t.Helper()
	tbl, snap, err := Create(context.Background(), b, root, CreateParams{Fields: testFields()}, testOptions(seed))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return tbl, snap
}

func mustCommit(t *testing.T, tbl *Table, read uint64, txn *tablepb.Transaction) *Snapshot {
	t.Helper()
	s, err := tbl.Commit(context.Background(), read, txn)
	if err != nil {
		t.Fatalf("Commit %s on %d: %v", operationName(txn), read, err)
	}
	return s
}

func fragmentIDs(s *Snapshot) []uint64 {
	var ids []uint64
	for _, f := range s.Fragments() {
		ids = append(ids, f.GetId())
	}
	return ids
}
