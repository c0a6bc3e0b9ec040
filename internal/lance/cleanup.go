package lance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sarissa-db/sarissa/internal/objstore"
)

// Version cleanup, after Lance's cleanup_old_versions
// (rust/lance/src/dataset/cleanup.rs). docs/format/maintenance.md describes
// exactly what is deleted and in which order.

const (
	// DefaultCleanupRetention is how long a superseded version is kept:
	// LanceDB's optimize() prunes versions older than 7 days.
	DefaultCleanupRetention = 7 * 24 * time.Hour
	// DefaultUnverifiedGrace is how old a file no manifest references must be
	// before it is deleted (Lance's UNVERIFIED_THRESHOLD_DAYS): it may belong
	// to a commit still in flight.
	DefaultUnverifiedGrace = 7 * 24 * time.Hour

	branchesDir = "_refs/branches"
	// cleanupParallelism bounds manifest reads and deletes in flight.
	cleanupParallelism = 16
)

// ErrTaggedVersionsOld reports, with CleanupOptions.ErrorIfTaggedOldVersions,
// that tags keep versions the cutoff would otherwise remove.
var ErrTaggedVersionsOld = errors.New("lance tagged versions are older than the cleanup cutoff")

// CleanupOptions configures CleanupOldVersions. Zero values select the
// defaults.
type CleanupOptions struct {
	// OlderThan is the cutoff: a version is removed when the version after
	// it was committed before OlderThan, i.e. it stopped being the latest
	// version before then. Zero means Now() minus Retention.
	//
	// Lance compares a version's own commit time instead. Ours is stricter
	// (it keeps more): a reader that opened the latest version less than
	// Retention ago keeps its files, however old that version was.
	OlderThan time.Time
	// Retention is used when OlderThan is zero (DefaultCleanupRetention).
	Retention time.Duration
	// Now is the clock for both cutoffs (Options.Now).
	Now func() time.Time
	// UnverifiedGrace protects files that no manifest references, by their
	// last-modified time (DefaultUnverifiedGrace).
	UnverifiedGrace time.Duration
	// DeleteUnverified deletes unreferenced files regardless of age, as
	// Lance's delete_unverified. Only safe when no commit can be in flight:
	// a writer's data files are unreferenced until its manifest lands.
	DeleteUnverified bool
	// ErrorIfTaggedOldVersions fails (deleting nothing) when a tag keeps a
	// version the cutoff would remove, as Lance does by default. Otherwise
	// tagged versions are simply kept.
	ErrorIfTaggedOldVersions bool
	// DryRun reports what would be removed without deleting anything.
	DryRun bool

	// afterManifests lets in-package tests commit between the deletion of
	// manifests and that of files; nil in production.
	afterManifests func()
}

func (o CleanupOptions) withDefaults(now func() time.Time) CleanupOptions {
	if o.Now == nil {
		o.Now = now
	}
	if o.Retention <= 0 {
		o.Retention = DefaultCleanupRetention
	}
	if o.UnverifiedGrace <= 0 {
		o.UnverifiedGrace = DefaultUnverifiedGrace
	}
	return o
}

// CleanupResult says what a cleanup removed (or, for a dry run, would
// remove).
type CleanupResult struct {
	// VersionsRemoved are the versions whose manifests were deleted, oldest
	// first.
	VersionsRemoved []uint64
	// Files removed under data/, _deletions/ and _transactions/.
	DataFilesRemoved, DeletionFilesRemoved, TransactionFilesRemoved int
	// BytesRemoved counts those files and the manifests.
	BytesRemoved int64
	// UnverifiedKept counts files no manifest references that were kept
	// because they are younger than the grace period.
	UnverifiedKept int
	// TaggedKept are versions older than the cutoff kept because a tag
	// points at them.
	TaggedKept []uint64
}

// FilesRemoved is the number of data, deletion and transaction files
// removed (manifests not included).
func (r CleanupResult) FilesRemoved() int {
	return r.DataFilesRemoved + r.DeletionFilesRemoved + r.TransactionFilesRemoved
}

// CleanupOldVersions deletes the manifests of old versions and then the
// files only they referenced.
//
// Kept: the latest version, tagged versions, and versions that stopped
// being the latest at or after the cutoff (see CleanupOptions.OlderThan),
// with every data, deletion and transaction file any of them references.
// Deleted: the manifests of the other versions; files only those referenced;
// files no manifest references at all that are older than the grace period.
// Nothing outside data/, _deletions/, _transactions/ and _versions/ is ever
// touched: _indices/ (stock Lance indexes), _sarissa_indices/ (ours, managed
// by internal/vindex), _refs/ and anything unknown stay; inside _versions/
// only the removed versions' manifests go.
//
// Manifests are deleted before the files they reference, so an interrupted
// cleanup never leaves a version that lists but cannot be read: readers
// either find a complete version or ErrVersionNotFound, and the files left
// behind are unreferenced and go in a later cleanup. Before deleting files,
// versions committed since the listing are read and their files kept (a
// Restore may bring an old version's files back).
//
// Every manifest must be readable and understood: an unknown feature flag,
// files in other base paths, branches or external row-id files make the
// cleanup fail with ErrUnsupportedFeature before anything is deleted, since
// their references could not be followed. A handle's manifest cache forgets
// the removed versions; other handles may still hold them cached, and a
// reader in the middle of an old version may find its files gone (as in
// Lance; Retention is what protects readers).
func (t *Table) CleanupOldVersions(ctx context.Context, opts CleanupOptions) (CleanupResult, error) {
	res, err := t.cleanup(ctx, opts.withDefaults(t.opts.Now))
	if err != nil {
		return res, fmt.Errorf("clean up old versions of %s: %w", t.root, err)
	}
	return res, nil
}

// cleanupPlan is what a cleanup decided before deleting anything.
type cleanupPlan struct {
	latest  uint64
	removed []manifestLoc
	// keep holds keys referenced by a retained version; gone keys referenced
	// by a removed one (and perhaps also by a retained one: keep wins).
	keep, gone map[string]bool
	tagged     []uint64
}

func (t *Table) cleanup(ctx context.Context, opts CleanupOptions) (CleanupResult, error) {
	now := opts.Now()
	cutoff := opts.OlderThan
	if cutoff.IsZero() {
		cutoff = now.Add(-opts.Retention)
	}
	plan, err := t.planCleanup(ctx, cutoff, opts.ErrorIfTaggedOldVersions)
	if err != nil {
		return CleanupResult{}, err
	}
	res := CleanupResult{TaggedKept: plan.tagged}
	doomed, err := t.doomedFiles(ctx, plan, opts, now.Add(-opts.UnverifiedGrace), &res)
	if err != nil {
		return CleanupResult{TaggedKept: plan.tagged}, err
	}
	if opts.DryRun {
		for _, loc := range plan.removed {
			res.VersionsRemoved = append(res.VersionsRemoved, loc.version)
			res.BytesRemoved += loc.size
		}
		for _, a := range doomed {
			res.count(t, a)
		}
		return res, nil
	}

	var mu sync.Mutex
	err = forEachParallel(ctx, len(plan.removed), cleanupParallelism, func(ctx context.Context, i int) error {
		loc := plan.removed[i]
		if err := t.bucket.Delete(ctx, loc.key); err != nil {
			return fmt.Errorf("delete manifest of version %d: %w", loc.version, err)
		}
		t.forget(loc.key)
		mu.Lock()
		res.VersionsRemoved = append(res.VersionsRemoved, loc.version)
		res.BytesRemoved += loc.size
		mu.Unlock()
		return nil
	})
	slices.Sort(res.VersionsRemoved)
	if err != nil {
		return res, err
	}
	if opts.afterManifests != nil {
		opts.afterManifests()
	}

	// Versions committed since the listing may reference files we are about
	// to delete (a Restore of a removed version does): keep those.
	_, newer, err := t.scanVersions(ctx, plan.latest)
	if err != nil {
		return res, fmt.Errorf("recheck versions committed during cleanup: %w", err)
	}
	for _, loc := range newer {
		m, err := t.loadManifest(ctx, loc.key, loc.version, loc.size)
		if err == nil {
			err = t.manifestRefs(m, plan.keep)
		}
		if err != nil {
			return res, fmt.Errorf("version %d, committed during cleanup: %w", loc.version, err)
		}
	}
	doomed = slices.DeleteFunc(doomed, func(a objstore.Attrs) bool { return plan.keep[a.Key] })

	err = forEachParallel(ctx, len(doomed), cleanupParallelism, func(ctx context.Context, i int) error {
		if err := t.bucket.Delete(ctx, doomed[i].Key); err != nil {
			return fmt.Errorf("delete %s: %w", doomed[i].Key, err)
		}
		mu.Lock()
		res.count(t, doomed[i])
		mu.Unlock()
		return nil
	})
	if err != nil {
		return res, err
	}
	t.opts.Logger.DebugContext(ctx, "lance cleanup done", "table", t.root, "versions_removed", len(res.VersionsRemoved),
		"files_removed", res.FilesRemoved(), "bytes_removed", res.BytesRemoved, "unverified_kept", res.UnverifiedKept)
	return res, nil
}

// count adds a removed file to the result.
func (r *CleanupResult) count(t *Table, a objstore.Attrs) {
	switch {
	case strings.HasPrefix(a.Key, t.key(dataDir)+"/"):
		r.DataFilesRemoved++
	case strings.HasPrefix(a.Key, t.key(deletionsDir)+"/"):
		r.DeletionFilesRemoved++
	default:
		r.TransactionFilesRemoved++
	}
	r.BytesRemoved += a.Size
}

// planCleanup reads every manifest and decides which versions go.
func (t *Table) planCleanup(ctx context.Context, cutoff time.Time, errorIfTagged bool) (cleanupPlan, error) {
	if err := t.refuseBranches(ctx); err != nil {
		return cleanupPlan{}, err
	}
	tags, err := t.ListTags(ctx)
	if err != nil {
		return cleanupPlan{}, err
	}
	tagged := map[uint64][]string{}
	for _, tag := range tags {
		tagged[tag.Version] = append(tagged[tag.Version], tag.Name)
	}
	var locs []manifestLoc
	var mixErr error
	err = t.listManifests(ctx, func(l manifestLoc) bool {
		if l.scheme != t.naming {
			mixErr = corruptf(l.key, "%s manifest name in a table using %s names", l.scheme, t.naming)
			return false
		}
		locs = append(locs, l)
		return true
	})
	if err == nil {
		err = mixErr
	}
	if err != nil {
		return cleanupPlan{}, err
	}
	if len(locs) == 0 {
		return cleanupPlan{}, fmt.Errorf("no manifest under %s/: %w", t.key(versionsDir), ErrTableNotFound)
	}
	slices.SortFunc(locs, func(a, b manifestLoc) int { return compareU64(a.version, b.version) })

	p := cleanupPlan{latest: locs[len(locs)-1].version, keep: map[string]bool{}, gone: map[string]bool{}}
	var oldTags []string
	// Newest first, so each version's successor (whose commit time is when
	// it stopped being the latest) is known; loaded in windows to bound
	// memory and keep reads parallel.
	var successor time.Time
	ms := make([]*Manifest, cleanupParallelism)
	for end := len(locs); end > 0; end -= cleanupParallelism {
		start := max(0, end-cleanupParallelism)
		err := forEachParallel(ctx, end-start, cleanupParallelism, func(ctx context.Context, i int) error {
			loc := locs[start+i]
			m, err := t.loadManifest(ctx, loc.key, loc.version, loc.size)
			if err == nil {
				err = checkCleanable(m)
			}
			if err != nil {
				return fmt.Errorf("version %d: %w", loc.version, err)
			}
			ms[i] = m
			return nil
		})
		if err != nil {
			return cleanupPlan{}, err
		}
		for i := end - 1; i >= start; i-- {
			m := ms[i-start]
			old := i < len(locs)-1 && successor.Before(cutoff)
			if old && len(tagged[m.Version()]) > 0 {
				p.tagged = append(p.tagged, m.Version())
				oldTags = append(oldTags, tagged[m.Version()]...)
				old = false
			}
			set := p.keep
			if old {
				set = p.gone
				p.removed = append(p.removed, locs[i])
			}
			if err := t.manifestRefs(m, set); err != nil {
				return cleanupPlan{}, fmt.Errorf("version %d: %w", m.Version(), err)
			}
			successor = m.Timestamp()
		}
	}
	slices.Reverse(p.removed)
	slices.Sort(p.tagged)
	if errorIfTagged && len(oldTags) > 0 {
		slices.Sort(oldTags)
		return cleanupPlan{}, fmt.Errorf("tags %s keep versions %v; delete the tags or clean up without ErrorIfTaggedOldVersions: %w",
			strings.Join(oldTags, ", "), p.tagged, ErrTaggedVersionsOld)
	}
	return p, nil
}

// doomedFiles lists data, deletion and transaction files and returns those
// to delete: referenced only by removed versions, or by no version and
// older than the grace period. res counts the unreferenced files kept.
func (t *Table) doomedFiles(ctx context.Context, p cleanupPlan, opts CleanupOptions, unverifiedBefore time.Time, res *CleanupResult) ([]objstore.Attrs, error) {
	var doomed []objstore.Attrs
	for _, dir := range []string{dataDir, deletionsDir, transactionsDir} {
		for a, err := range t.bucket.List(ctx, t.key(dir)+"/") {
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", dir, err)
			}
			switch {
			case p.keep[a.Key]:
			case p.gone[a.Key], opts.DeleteUnverified:
				doomed = append(doomed, a)
			// A store that reports no modification time gets the benefit of
			// the doubt: the file might be in flight.
			case !a.LastModified.IsZero() && a.LastModified.Before(unverifiedBefore):
				doomed = append(doomed, a)
			default:
				res.UnverifiedKept++
			}
		}
	}
	return doomed, nil
}

// manifestRefs adds the keys of the files m references (data files,
// deletion files, its transaction file) to set.
func (t *Table) manifestRefs(m *Manifest, set map[string]bool) error {
	for _, f := range m.pb.GetFragments() {
		if f.GetExternalRowIds() != nil || f.GetExternalCreatedAtVersions() != nil || f.GetExternalLastUpdatedAtVersions() != nil {
			return fmt.Errorf("fragment %d keeps row ids or row versions in an external file: %w", f.GetId(), ErrUnsupportedFeature)
		}
		for _, df := range f.GetFiles() {
			if df.BaseId != nil {
				return fmt.Errorf("fragment %d has data file %s in base path %d: %w", f.GetId(), df.GetPath(), df.GetBaseId(), ErrUnsupportedFeature)
			}
			set[t.key(DataFilePath(df.GetPath()))] = true
		}
		if d := f.GetDeletionFile(); d != nil {
			if d.BaseId != nil {
				return fmt.Errorf("fragment %d has its deletion file in base path %d: %w", f.GetId(), d.GetBaseId(), ErrUnsupportedFeature)
			}
			set[t.key(deletionFileName(f.GetId(), d))] = true
		}
	}
	if name := m.pb.GetTransactionFile(); name != "" {
		set[t.key(transactionsDir+"/"+name)] = true
	}
	return nil
}

// checkCleanable refuses manifests that may reference files in ways we do
// not follow: writer features beyond those we maintain (stable row ids
// aside, whose inline sequences add no files), or a branch.
func checkCleanable(m *Manifest) error {
	if bad := m.pb.GetWriterFeatureFlags() &^ (writableFlags | FlagStableRowIDs); bad != 0 {
		return fmt.Errorf("%s: writer feature flags %s: %w", m.key, describeFlags(bad), ErrUnsupportedFeature)
	}
	if m.pb.Branch != nil {
		return fmt.Errorf("%s: manifest belongs to branch %q: %w", m.key, m.pb.GetBranch(), ErrUnsupportedFeature)
	}
	return nil
}

// refuseBranches fails if the table has branches: a branch is a shallow
// clone whose versions reference this table's files from another directory.
func (t *Table) refuseBranches(ctx context.Context) error {
	for a, err := range t.bucket.List(ctx, t.key(branchesDir)+"/") {
		if err != nil {
			return fmt.Errorf("list branches: %w", err)
		}
		return fmt.Errorf("table has branches (%s), whose versions reference its files: %w", a.Key, ErrUnsupportedFeature)
	}
	return nil
}

// forget drops a deleted manifest from the cache, so this handle reports
// its version as not found.
func (t *Table) forget(key string) {
	t.cacheMu.Lock()
	defer t.cacheMu.Unlock()
	delete(t.cache, key)
}
