package lance

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/filepb"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/objstore"
)

// WriterVersion identifies the library that wrote a manifest.
//
// Lance only interprets writer versions whose library is "lance" (to work
// around bugs of old Lance releases); since late 2025 it ignores other
// libraries. Older Lance parses Version as semver for any library and treats
// versions below 0.8.15 as having written corrupt index fragment bitmaps, so
// Version must be plain semver at or above that.
type WriterVersion struct {
	Library string
	Version string
}

// DefaultWriterVersion is what manifests we write carry unless overridden.
var DefaultWriterVersion = WriterVersion{Library: "sarissa", Version: "1.0.0"}

// Options configures a Table handle. Zero values select the defaults.
type Options struct {
	// Now stamps commits and measures commit attempts (time.Now).
	Now func() time.Time
	// Sleep waits between commit attempts; it must return early with
	// ctx.Err() when ctx is done (a timer).
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand chooses backoff slots (a PCG seeded from Entropy). Calls are
	// serialized by the Table.
	Rand rand.Source
	// Entropy supplies transaction uuids, data file names and deletion
	// file ids (crypto/rand). It must be safe for concurrent use.
	Entropy io.Reader
	// Allocator allocates Arrow buffers for deletion files
	// (memory.DefaultAllocator).
	Allocator memory.Allocator
	// MaxAttempts bounds the attempts of one commit (20, as Lance).
	MaxAttempts int
	// WriterVersion is recorded in every manifest we write.
	WriterVersion WriterVersion
	// Logger receives commit retries and rebases (discarded).
	Logger *slog.Logger

	// hooks lets in-package tests force interleavings; nil in production.
	hooks *testHooks
}

const defaultMaxAttempts = 20

func (o Options) withDefaults() (Options, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.Entropy == nil {
		o.Entropy = crand.Reader
	}
	if o.Rand == nil {
		var seed [16]byte
		if _, err := io.ReadFull(o.Entropy, seed[:]); err != nil {
			return o, fmt.Errorf("seed backoff: %w", err)
		}
		o.Rand = rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:]))
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = defaultMaxAttempts
	}
	if o.WriterVersion == (WriterVersion{}) {
		o.WriterVersion = DefaultWriterVersion
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// Table is a handle on one Lance table. It holds no table state beyond the
// naming scheme and a cache of immutable manifests, so handles on the same
// table in several processes are coordinated purely through the object
// store. Safe for concurrent use. After a table is dropped and created again
// under the same root, open a new handle.
type Table struct {
	bucket objstore.Bucket
	root   string // no trailing '/'; "" is the bucket root
	naming NamingScheme
	opts   Options

	randMu sync.Mutex
	rand   *rand.Rand

	// cache holds recently read manifests. Manifests are immutable, so the
	// only way an entry goes stale is the table being dropped and created
	// again under the same root; entries found through a listing are also
	// checked against the listed size.
	cacheMu sync.Mutex
	cache   map[string]*Manifest
}

// manifestCacheSize bounds the cache; commits mostly need the read version
// and the few versions committed since.
const manifestCacheSize = 16

func (t *Table) cached(key string, size int64) *Manifest {
	t.cacheMu.Lock()
	defer t.cacheMu.Unlock()
	m := t.cache[key]
	if m == nil || (size >= 0 && m.size != size) {
		return nil
	}
	return m
}

func (t *Table) remember(m *Manifest) {
	t.cacheMu.Lock()
	defer t.cacheMu.Unlock()
	if t.cache == nil {
		t.cache = make(map[string]*Manifest, manifestCacheSize)
	}
	if len(t.cache) >= manifestCacheSize {
		// Evict the oldest version: commits move forward.
		var oldest *Manifest
		for _, c := range t.cache {
			if oldest == nil || c.Version() < oldest.Version() {
				oldest = c
			}
		}
		delete(t.cache, oldest.key)
	}
	t.cache[m.key] = m
}

func newTable(bucket objstore.Bucket, root string, opts Options) (*Table, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Table{bucket: bucket, root: strings.TrimSuffix(root, "/"), opts: opts, rand: rand.New(opts.Rand)}, nil
}

// Open opens an existing table and detects its manifest naming scheme.
func Open(ctx context.Context, bucket objstore.Bucket, root string, opts Options) (*Table, error) {
	t, err := newTable(bucket, root, opts)
	if err != nil {
		return nil, err
	}
	loc, err := t.latestLocation(ctx)
	if err != nil {
		return nil, fmt.Errorf("open table %s: %w", t.root, err)
	}
	t.naming = loc.scheme
	return t, nil
}

// Root returns the table's root prefix.
func (t *Table) Root() string { return t.root }

// Bucket returns the bucket the table lives in.
func (t *Table) Bucket() objstore.Bucket { return t.bucket }

// Naming returns the table's manifest naming scheme.
func (t *Table) Naming() NamingScheme { return t.naming }

// Key returns the object key of a path relative to the table root.
func (t *Table) Key(rel string) string { return t.key(rel) }

func (t *Table) key(rel string) string {
	if t.root == "" {
		return rel
	}
	return t.root + "/" + rel
}

// NewDataFileName returns a fresh data file name (DataFile.path) using the
// table's entropy source.
func (t *Table) NewDataFileName() (string, error) { return NewDataFileName(t.opts.Entropy) }

// manifestLoc is a manifest found by listing.
type manifestLoc struct {
	version uint64
	key     string
	size    int64
	scheme  NamingScheme
}

// listManifests yields the manifests of the main lineage in listing order.
func (t *Table) listManifests(ctx context.Context, yield func(manifestLoc) bool) error {
	prefix := t.key(versionsDir) + "/"
	for a, err := range t.bucket.List(ctx, prefix) {
		if err != nil {
			return fmt.Errorf("list manifests: %w", err)
		}
		name := strings.TrimPrefix(a.Key, prefix)
		v, scheme, ok := parseManifestName(name)
		if !ok {
			continue
		}
		if !yield(manifestLoc{version: v, key: a.Key, size: a.Size, scheme: scheme}) {
			return nil
		}
	}
	return nil
}

// latestLocation finds the newest manifest.
func (t *Table) latestLocation(ctx context.Context) (manifestLoc, error) {
	latest, _, err := t.scanVersions(ctx, math.MaxUint64)
	return latest, err
}

// scanVersions lists the manifests and returns the newest one and those
// newer than after, oldest first. With V2 names the listing stops at the
// first version not newer than after (the newest comes first); with V1
// names the whole directory is listed. A directory mixing both schemes is
// refused, as Lance does.
func (t *Table) scanVersions(ctx context.Context, after uint64) (latest manifestLoc, newer []manifestLoc, err error) {
	var mixErr error
	err = t.listManifests(ctx, func(loc manifestLoc) bool {
		if latest.scheme == 0 {
			latest = loc
		} else if loc.scheme != latest.scheme {
			mixErr = corruptf(loc.key, "%s manifest name in a table using %s names", loc.scheme, latest.scheme)
			return false
		}
		if loc.version > latest.version {
			latest = loc
		}
		if loc.version > after {
			newer = append(newer, loc)
		}
		return loc.scheme == NamingV1 || loc.version > after
	})
	if err == nil {
		err = mixErr
	}
	if err != nil {
		return manifestLoc{}, nil, err
	}
	if latest.scheme == 0 {
		return manifestLoc{}, nil, fmt.Errorf("no manifest under %s/: %w", t.key(versionsDir), ErrTableNotFound)
	}
	if t.naming != 0 && latest.scheme != t.naming {
		return manifestLoc{}, nil, corruptf(latest.key, "table switched from %s to %s manifest names", t.naming, latest.scheme)
	}
	slices.SortFunc(newer, func(a, b manifestLoc) int { return compareU64(a.version, b.version) })
	return latest, newer, nil
}

// Snapshot is an immutable view of one table version. The protobuf values
// it returns are shared and must not be modified.
type Snapshot struct {
	*Manifest
}

// Fields returns the flattened Lance schema.
func (s *Snapshot) Fields() []*filepb.Field { return s.pb.GetFields() }

// SchemaMetadata returns the schema-level metadata.
func (s *Snapshot) SchemaMetadata() map[string][]byte { return s.pb.GetSchemaMetadata() }

// Fragments returns the fragments, sorted by id.
func (s *Snapshot) Fragments() []*tablepb.DataFragment { return s.pb.GetFragments() }

// Config returns the table config map.
func (s *Snapshot) Config() map[string]string { return s.pb.GetConfig() }

// TableMetadata returns the user metadata map.
func (s *Snapshot) TableMetadata() map[string]string { return s.pb.GetTableMetadata() }

// DataFormatVersion returns the data file format version fixed at table
// creation ("2.0", "2.1", ...).
func (s *Snapshot) DataFormatVersion() string { return s.pb.GetDataFormat().GetVersion() }

// NumRows returns the number of live rows (physical rows minus deletions).
func (s *Snapshot) NumRows() uint64 {
	var n uint64
	for _, f := range s.pb.GetFragments() {
		n += f.GetPhysicalRows() - min(f.GetPhysicalRows(), f.GetDeletionFile().GetNumDeletedRows())
	}
	return n
}

// Writable reports why we cannot commit on top of this version, or nil.
func (s *Snapshot) Writable() error { return checkWritable(s.key, s.pb) }

// Latest returns the newest version.
func (t *Table) Latest(ctx context.Context) (*Snapshot, error) {
	m, err := t.latestManifest(ctx)
	if err != nil {
		return nil, fmt.Errorf("load latest version of %s: %w", t.root, err)
	}
	return &Snapshot{m}, nil
}

// LatestVersion returns the newest version number without reading its
// manifest.
func (t *Table) LatestVersion(ctx context.Context) (uint64, error) {
	loc, err := t.latestLocation(ctx)
	if err != nil {
		return 0, fmt.Errorf("find latest version of %s: %w", t.root, err)
	}
	return loc.version, nil
}

func (t *Table) latestManifest(ctx context.Context) (*Manifest, error) {
	loc, err := t.latestLocation(ctx)
	if err != nil {
		return nil, err
	}
	return t.loadManifest(ctx, loc.key, loc.version, loc.size)
}

// Checkout returns version v.
func (t *Table) Checkout(ctx context.Context, v uint64) (*Snapshot, error) {
	m, err := t.manifestOf(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("checkout %s version %d: %w", t.root, v, err)
	}
	return &Snapshot{m}, nil
}

func (t *Table) manifestOf(ctx context.Context, v uint64) (*Manifest, error) {
	if v == 0 || v&detachedVersionBit != 0 {
		return nil, fmt.Errorf("version %d: %w", v, ErrVersionNotFound)
	}
	key := t.key(manifestName(t.naming, v))
	if m := t.cached(key, -1); m != nil {
		return m, nil
	}
	m, err := t.loadManifest(ctx, key, v, -1)
	if errors.Is(err, objstore.ErrNotExist) {
		return nil, fmt.Errorf("version %d: %w", v, ErrVersionNotFound)
	}
	return m, err
}

// loadManifest reads a manifest and checks that it is the version its name
// says and that we can read it.
func (t *Table) loadManifest(ctx context.Context, key string, v uint64, size int64) (*Manifest, error) {
	if m := t.cached(key, size); m != nil {
		return m, nil
	}
	m, err := readManifest(ctx, t.bucket, key, size)
	if err != nil {
		return nil, err
	}
	if m.Version() != v {
		return nil, corruptf(key, "holds version %d, its name says %d", m.Version(), v)
	}
	if err := checkReadable(key, m.pb); err != nil {
		return nil, err
	}
	t.remember(m)
	return m, nil
}

// VersionInfo describes one version for listings.
type VersionInfo struct {
	Version   uint64
	Timestamp time.Time
	// Metadata is the manifest summary Lance reports for a version
	// (total_rows, total_fragments, ...).
	Metadata map[string]string
}

// ListVersions returns every version still present, oldest first.
func (t *Table) ListVersions(ctx context.Context) ([]VersionInfo, error) {
	var locs []manifestLoc
	if err := t.listManifests(ctx, func(l manifestLoc) bool { locs = append(locs, l); return true }); err != nil {
		return nil, err
	}
	slices.SortFunc(locs, func(a, b manifestLoc) int { return compareU64(a.version, b.version) })
	out := make([]VersionInfo, len(locs))
	err := forEachParallel(ctx, len(locs), 16, func(ctx context.Context, i int) error {
		if locs[i].scheme != t.naming {
			return corruptf(locs[i].key, "%s manifest name in a table using %s names", locs[i].scheme, t.naming)
		}
		m, err := t.loadManifest(ctx, locs[i].key, locs[i].version, locs[i].size)
		if err != nil {
			return err
		}
		out[i] = VersionInfo{Version: m.Version(), Timestamp: m.Timestamp(), Metadata: summary(m.pb)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list versions of %s: %w", t.root, err)
	}
	return out, nil
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// summary mirrors Lance's ManifestSummary.
func summary(m *tablepb.Manifest) map[string]string {
	var files, size, delFiles, delRows, rows uint64
	for _, f := range m.GetFragments() {
		files += uint64(len(f.GetFiles()))
		for _, df := range f.GetFiles() {
			size += df.GetFileSizeBytes()
		}
		if d := f.GetDeletionFile(); d != nil {
			delFiles++
			delRows += d.GetNumDeletedRows()
		}
		rows += f.GetPhysicalRows() - min(f.GetPhysicalRows(), f.GetDeletionFile().GetNumDeletedRows())
	}
	s := func(v uint64) string { return strconv.FormatUint(v, 10) }
	return map[string]string{
		"total_fragments":          s(uint64(len(m.GetFragments()))),
		"total_data_files":         s(files),
		"total_files_size":         s(size),
		"total_deletion_files":     s(delFiles),
		"total_data_file_rows":     s(rows + delRows),
		"total_deletion_file_rows": s(delRows),
		"total_rows":               s(rows),
	}
}

// forEachParallel runs fn for 0..n-1 with at most limit in flight and
// returns the first error.
func forEachParallel(ctx context.Context, n, limit int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, limit)
	)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}
