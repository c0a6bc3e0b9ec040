// Package blockcache is the plan executors' read cache in front of blob
// storage: a decorator of objstore.Bucket that serves reads of immutable
// objects from aligned blocks kept in memory and on local disk.
//
// One MemoryTier and at most one DiskTier exist per process, each with its
// own byte budget, and every decorated bucket (one per database, account or
// container) caches in them:
//
//	mem, _ := blockcache.NewMemoryTier(4<<30, reg)
//	disk, _ := blockcache.OpenDiskTier(ctx, blockcache.DiskConfig{Dir: dir, Budget: 200 << 30}, reg, log)
//	b, _ := blockcache.New(azureBucket, blockcache.Config{Namespace: "az://acct/ctr/prefix"},
//		blockcache.Deps{Memory: mem, Disk: disk, Logger: log})
//
// Only keys that Config.Cacheable accepts are cached (LanceImmutable by
// default: Lance data, deletion and transaction files, committed manifests,
// Sarissa's index catalog versions and segment files); everything else, and
// every List, goes to the underlying bucket.
//
// A block is identified by (namespace, object key, ETag, block size, block
// index). The ETag and size come from one Stat per object and are
// remembered in both tiers, so a restarted executor with a warm disk serves
// cached objects without a request to storage. Writes through a decorator
// forget the object's attributes; a change behind the cache's back to a
// cacheable key goes unnoticed, which is why only immutable keys may be
// cacheable. Missing objects are never cached.
//
// Keys, the on-disk entry layout, eviction and restart behaviour are
// specified in docs/format/block-cache.md.
package blockcache
