package blockcache

import (
	"testing"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/filesystem"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
	"github.com/sarissa-db/sarissa/internal/objstore/objstoretest"
)

// TestConformance runs the objstore suite on the decorator. With every key
// cacheable the suite's overwrites, deletes and concurrent put-while-read
// all go through the cache, which proves the ETag and invalidation logic
// keeps the Bucket contract even for objects that do change (through the
// decorator); with the default predicate it checks the pass-through. Small
// blocks make every object span many blocks.
func TestConformance(t *testing.T) {
	backends := []struct {
		name string
		new  func(t *testing.T) (objstore.Bucket, string)
	}{
		{"memory", func(t *testing.T) (objstore.Bucket, string) {
			// Memory buckets all number their ETags from 1, so only the
			// namespace keeps their blocks apart in the shared tiers.
			return memory.New(), "mem://" + t.Name()
		}},
		{"filesystem", func(t *testing.T) (objstore.Bucket, string) {
			dir := t.TempDir()
			b, err := filesystem.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			return b, "file://" + dir
		}},
	}
	all := func(string) bool { return true }
	// The suite's keys are not Lance-shaped, so under LanceImmutable it is
	// all pass-through and one block size says everything.
	variants := []struct {
		name      string
		cacheable func(string) bool
		blockSize int64
		opts      []objstoretest.Option
	}{
		{"AllKeys/1MiB", all, 0, nil},
		// Still hundreds of blocks, and across the 1 MiB mark.
		{"AllKeys/4KiB", all, 4 << 10, []objstoretest.Option{objstoretest.LargeObjectSize(1<<20 + 64<<10)}},
		{"LanceImmutable", nil, 0, nil},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			// One pair of tiers for every bucket of this backend, as on an
			// executor; the disk budget is small enough that eviction runs.
			mem := newMemTier(t, 8<<20)
			disk := openDisk(t, DiskConfig{Dir: t.TempDir(), Budget: 16 << 20})
			for _, v := range variants {
				t.Run(v.name, func(t *testing.T) {
					objstoretest.RunSuite(t, func(t *testing.T) objstore.Bucket {
						inner, ns := be.new(t)
						return newCache(t, inner, Config{Namespace: ns, BlockSize: v.blockSize, Cacheable: v.cacheable},
							Deps{Memory: mem, Disk: disk})
					}, append(v.opts, objstoretest.TornRounds(100), objstoretest.RaceRounds(20))...)
				})
			}
			t.Run("MemoryOnly", func(t *testing.T) {
				mem := newMemTier(t, 1<<20)
				objstoretest.RunSuite(t, func(t *testing.T) objstore.Bucket {
					inner, ns := be.new(t)
					return newCache(t, inner, Config{Namespace: ns, BlockSize: 1 << 10, Cacheable: all},
						Deps{Memory: mem})
				}, objstoretest.TornRounds(100), objstoretest.RaceRounds(20), objstoretest.LargeObjectSize(1<<20+4<<10))
			})
		})
	}
}
