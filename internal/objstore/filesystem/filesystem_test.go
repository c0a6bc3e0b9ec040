package filesystem_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/filesystem"
	"github.com/sarissa-db/sarissa/internal/objstore/objstoretest"
)

func newBucket(t *testing.T) *filesystem.Bucket {
	t.Helper()
	b, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	objstoretest.RunSuite(t, func(t *testing.T) objstore.Bucket { return newBucket(t) })
}

func TestNewRejectsBadRoots(t *testing.T) {
	if _, err := filesystem.New("relative/dir"); err == nil {
		t.Fatal("New(relative path) succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := filesystem.New(file); err == nil {
		t.Fatal("New(regular file) succeeded")
	}
}

func TestLayoutMatchesKeys(t *testing.T) {
	b := newBucket(t)
	if err := b.Put(t.Context(), "db/t.lance/_versions/1.manifest", strings.NewReader("m")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(b.Root(), "db", "t.lance", "_versions", "1.manifest"))
	if err != nil || string(got) != "m" {
		t.Fatalf("file on disk: %q, %v", got, err)
	}
}

// Files that are not objects — an interrupted write's temporary file, a
// symlink — are neither listed nor addressable.
func TestNonObjectsAreInvisible(t *testing.T) {
	ctx := t.Context()
	b := newBucket(t)
	if err := b.Put(ctx, "d/real", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(b.Root(), "d", ".tmp-12345"), []byte("half"), 0o644))
	must(t, os.Symlink(filepath.Join(b.Root(), "d", "real"), filepath.Join(b.Root(), "d", "link")))
	must(t, os.Mkdir(filepath.Join(b.Root(), "emptydir"), 0o755))

	var keys []string
	for a, err := range b.List(ctx, "") {
		must(t, err)
		keys = append(keys, a.Key)
	}
	if fmt.Sprint(keys) != "[d/real]" {
		t.Fatalf("List: got %q, want [d/real]", keys)
	}
	if _, err := b.Stat(ctx, "d/.tmp-12345"); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Fatalf("Stat(temp name): got %v, want ErrInvalidKey", err)
	}
	if err := b.Put(ctx, ".tmp-x/y", strings.NewReader("x")); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Fatalf("Put(.tmp-x/y): got %v, want ErrInvalidKey", err)
	}
	if _, err := b.Stat(ctx, "emptydir"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Stat(directory): got %v, want ErrNotExist", err)
	}
}

// Two Bucket values on one root stand in for two processes: the link-based
// PutIfAbsent must still crown exactly one winner, and no temporary file may
// survive.
func TestPutIfAbsentAcrossInstances(t *testing.T) {
	root := t.TempDir()
	var buckets [2]*filesystem.Bucket
	for i := range buckets {
		b, err := filesystem.New(root)
		must(t, err)
		buckets[i] = b
	}
	for round := range 30 {
		key := fmt.Sprintf("v/%d", round)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				err := buckets[w%2].PutIfAbsent(t.Context(), key, strings.NewReader(fmt.Sprint(w)))
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, objstore.ErrExists):
					t.Errorf("round %d writer %d: %v", round, w, err)
				}
			})
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d winners, want 1", round, n)
		}
	}
	must(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", path)
		}
		return err
	}))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
