package catalog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/table"
)

// versionsDir is where Lance keeps a table's manifests; a table exists when
// it has one.
const versionsDir = "_versions/"

// Page is one page of a listing.
type Page struct {
	// Names are sorted.
	Names []string
	// NextToken is the token for the next page ("" on the last page): the
	// last name of this page, as LanceDB uses it.
	NextToken string
}

// paginate applies LanceDB's pagination to sorted names: names after token
// (exclusive), at most limit of them (limit <= 0: all).
func paginate(names []string, token string, limit int) Page {
	if token != "" {
		i := sort.SearchStrings(names, token)
		if i < len(names) && names[i] == token {
			i++
		}
		names = names[i:]
	}
	if limit > 0 && len(names) > limit {
		return Page{Names: names[:limit], NextToken: names[limit-1]}
	}
	return Page{Names: names}
}

// ListTables lists the tables of a namespace (nil: the root), sorted by
// name, starting after pageToken, at most limit names (0: all).
func (d *Database) ListTables(ctx context.Context, ns []string, pageToken string, limit int) (Page, error) {
	if limit < 0 {
		return Page{}, fmt.Errorf("%w: limit %d is negative", ErrInvalidArgument, limit)
	}
	if err := d.requireNamespace(ctx, ns); err != nil {
		return Page{}, err
	}
	prefix := namespaceDir(ns)
	var names []string
	// The bucket interface lists flat keys only, so every object of every
	// table in the namespace goes by; a table counts once one of its
	// manifests is seen.
	last := ""
	for a, err := range d.bucket.List(ctx, prefix) {
		if err != nil {
			return Page{}, fmt.Errorf("list tables of database %q: %w", d.name, err)
		}
		rel := a.Key[len(prefix):]
		seg, rest, ok := strings.Cut(rel, "/")
		if !ok || !strings.HasSuffix(seg, tableSuffix) || !strings.HasPrefix(rest, versionsDir) {
			continue
		}
		name := strings.TrimSuffix(seg, tableSuffix)
		if name == last || ValidateTableName(name) != nil {
			continue
		}
		last = name
		names = append(names, name)
	}
	sort.Strings(names)
	names = slices.Compact(names)
	return paginate(names, pageToken, limit), nil
}

// CreateMode says what a create does when the table exists.
type CreateMode string

// The create modes of the LanceDB protocol (?mode=).
const (
	CreateModeCreate    CreateMode = "create"
	CreateModeOverwrite CreateMode = "overwrite"
	CreateModeExistOK   CreateMode = "exist_ok"
)

// ParseCreateMode accepts the protocol's spellings ("" means create).
func ParseCreateMode(s string) (CreateMode, error) {
	switch strings.ToLower(s) {
	case "", "create":
		return CreateModeCreate, nil
	case "overwrite":
		return CreateModeOverwrite, nil
	case "exist_ok", "existok", "exist-ok":
		return CreateModeExistOK, nil
	}
	return "", fmt.Errorf("%w: create mode %q: want create, overwrite or exist_ok", ErrInvalidArgument, s)
}

// Created is the outcome of CreateTable.
type Created struct {
	Table    *table.Table
	Snapshot *table.Snapshot
	// Existed is set when mode exist_ok found the table and left it alone
	// (the data was not read).
	Existed bool
	// Rows is the number of rows written.
	Rows int64
}

// CreateTable creates a table with schema sch and the rows of data (nil:
// none). With mode create an existing table is an error wrapping
// ErrTableExists; exist_ok returns the existing table untouched; overwrite
// replaces its schema and content in a new version.
func (d *Database) CreateTable(ctx context.Context, id Ident, mode CreateMode, sch *arrow.Schema, data array.RecordReader) (Created, error) {
	if err := d.requireNamespace(ctx, id.Namespace); err != nil {
		return Created{}, err
	}
	uri := d.TableURI(id)
	existing, err := d.OpenTable(ctx, id)
	switch {
	case errors.Is(err, ErrTableNotFound):
		existing = nil
	case err != nil:
		return Created{}, err
	}
	if existing != nil {
		switch mode {
		case CreateModeExistOK:
			s, err := existing.Latest(ctx)
			return Created{Table: existing, Snapshot: s, Existed: true}, err
		case CreateModeOverwrite:
			s, n, err := existing.Overwrite(ctx, sch, data)
			if err != nil {
				return Created{}, fmt.Errorf("overwrite table %q: %w", id.String(), err)
			}
			return Created{Table: existing, Snapshot: s, Rows: n}, nil
		default:
			return Created{}, fmt.Errorf("%w: table %q already exists", ErrTableExists, id.String())
		}
	}
	// A handle cached for a table that has since disappeared (dropped by
	// another process) must not outlive the new table.
	d.c.forget(uri)
	t, s, err := table.Create(ctx, d.bucket, tableRoot(id), sch, data, d.c.topts)
	if errors.Is(err, lance.ErrTableExists) {
		// Lost a race with another creator.
		if mode == CreateModeCreate {
			return Created{}, fmt.Errorf("%w: table %q already exists", ErrTableExists, id.String())
		}
		return d.CreateTable(ctx, id, mode, sch, data)
	}
	if err != nil {
		return Created{}, fmt.Errorf("create table %q: %w", id.String(), err)
	}
	d.c.mu.Lock()
	d.c.tables[uri] = t
	d.c.mu.Unlock()
	return Created{Table: t, Snapshot: s, Rows: s.NumRows()}, nil
}

// DropTable deletes every object of a table. Manifests go first, oldest to
// newest, so that readers keep seeing the latest version until the table
// disappears as a whole and never meet a manifest whose data files are gone.
// A table root holding objects but no manifest (an interrupted drop) is
// cleaned up and reported as not found.
func (d *Database) DropTable(ctx context.Context, id Ident) error {
	uri := d.TableURI(id)
	d.c.forget(uri)
	defer d.c.forget(uri)
	keys, hasManifest, err := d.tableObjects(ctx, tableRoot(id))
	if err != nil {
		return fmt.Errorf("drop table %q: %w", id.String(), err)
	}
	if err := d.deleteKeys(ctx, keys); err != nil {
		return fmt.Errorf("drop table %q: %w", id.String(), err)
	}
	if !hasManifest {
		return notFound(id, lance.ErrTableNotFound)
	}
	d.c.logger.InfoContext(ctx, "dropped table", "database", d.name, "table", id.String(), "objects", len(keys))
	return nil
}

// tableObjects lists the keys under a table root in deletion order (see
// DropTable) and reports whether any manifest exists.
func (d *Database) tableObjects(ctx context.Context, root string) ([]string, bool, error) {
	var manifests, others []string
	for a, err := range d.bucket.List(ctx, root+"/") {
		if err != nil {
			return nil, false, err
		}
		if strings.HasPrefix(a.Key[len(root)+1:], versionsDir) {
			manifests = append(manifests, a.Key)
		} else {
			others = append(others, a.Key)
		}
	}
	sort.SliceStable(manifests, func(i, j int) bool {
		return manifestOrder(manifests[i]) < manifestOrder(manifests[j])
	})
	return append(manifests, others...), len(manifests) > 0, nil
}

// manifestOrder ranks a manifest key by the version it holds, in both Lance
// naming schemes ({v}.manifest and {u64::MAX - v:020}.manifest). Keys that
// are neither sort last.
func manifestOrder(key string) uint64 {
	name := key[strings.LastIndexByte(key, '/')+1:]
	stem, ok := strings.CutSuffix(name, ".manifest")
	if !ok {
		return math.MaxUint64
	}
	n, err := strconv.ParseUint(stem, 10, 64)
	if err != nil {
		return math.MaxUint64
	}
	if len(stem) == 20 {
		return math.MaxUint64 - n
	}
	return n
}

func (d *Database) deleteKeys(ctx context.Context, keys []string) error {
	for _, k := range keys {
		if err := d.bucket.Delete(ctx, k); err != nil && !errors.Is(err, objstore.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", k, err)
		}
	}
	return nil
}

// maxRenamePasses bounds how often a rename re-lists the source to pick up
// objects written while it was copying.
const maxRenamePasses = 5

// RenameTable moves a table to a new identifier (possibly in another
// namespace of the same database).
//
// Object stores cannot rename directories, so this copies every object to
// the new root and then deletes the old root; it is not atomic. It is made
// safe by ordering: the target must not exist (no object under its root),
// every copy is a create-if-absent (a concurrent creator of the target makes
// the rename fail and the partial copy is removed), manifests are copied
// after the data they reference, and the source is deleted only after the
// copy is complete, manifests first. Writes committed to the source while
// the copy runs are picked up by re-listing; a write landing between the
// last listing and the deletion of the source is lost, so clients should not
// write to a table while renaming it.
func (d *Database) RenameTable(ctx context.Context, from, to Ident) error {
	if from.String() == to.String() {
		return fmt.Errorf("%w: table %q renamed to itself", ErrInvalidArgument, from.String())
	}
	if _, err := d.OpenTable(ctx, from); err != nil {
		return err
	}
	if err := d.requireNamespace(ctx, to.Namespace); err != nil {
		return err
	}
	src, dst := tableRoot(from), tableRoot(to)
	for _, err := range d.bucket.List(ctx, dst+"/") {
		if err != nil {
			return fmt.Errorf("rename table %q: list target: %w", from.String(), err)
		}
		return fmt.Errorf("%w: cannot rename %q to %q: the target already exists", ErrTableExists, from.String(), to.String())
	}
	d.c.forget(d.TableURI(from))
	d.c.forget(d.TableURI(to))
	copied := map[string]bool{}
	fail := func(err error) error {
		// Remove what this rename wrote; nothing else can be under dst
		// except objects of a concurrent creator, which PutIfAbsent
		// never overwrote and which are not in copied.
		keys := make([]string, 0, len(copied))
		for k := range copied {
			keys = append(keys, k)
		}
		if cerr := d.deleteKeys(context.WithoutCancel(ctx), keys); cerr != nil {
			d.c.logger.WarnContext(ctx, "rename: cleaning up the partial copy failed", "database", d.name, "target", to.String(), "err", cerr)
		}
		return fmt.Errorf("rename table %q to %q: %w", from.String(), to.String(), err)
	}
	var keys []string
	for pass := 0; ; pass++ {
		var err error
		keys, _, err = d.tableObjects(ctx, src)
		if err != nil {
			return fail(err)
		}
		// Data before manifests: tableObjects puts manifests first.
		var manifests, data []string
		for _, k := range keys {
			if copied[dst+k[len(src):]] {
				continue
			}
			if strings.HasPrefix(k[len(src)+1:], versionsDir) {
				manifests = append(manifests, k)
			} else {
				data = append(data, k)
			}
		}
		if len(manifests)+len(data) == 0 {
			break
		}
		if pass == maxRenamePasses {
			return fail(errors.New("the source table kept changing; stop writing to it while renaming"))
		}
		for _, k := range append(data, manifests...) {
			target := dst + k[len(src):]
			if err := d.copyObject(ctx, k, target); err != nil {
				if errors.Is(err, objstore.ErrExists) {
					return fail(fmt.Errorf("%w: %s appeared while renaming", ErrTableExists, to.String()))
				}
				return fail(err)
			}
			copied[target] = true
		}
	}
	if err := d.deleteKeys(ctx, keys); err != nil {
		// The copy is complete; the source is partly deleted. Report it:
		// a retry of the drop finishes the job.
		return fmt.Errorf("rename table %q to %q: copied, but deleting the source failed (drop %q to finish): %w", from.String(), to.String(), from.String(), err)
	}
	d.c.logger.InfoContext(ctx, "renamed table", "database", d.name, "from", from.String(), "to", to.String(), "objects", len(copied))
	return nil
}

func (d *Database) copyObject(ctx context.Context, from, to string) error {
	rc, err := d.bucket.Get(ctx, from)
	if err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	defer rc.Close()
	if err := d.bucket.PutIfAbsent(ctx, to, rc); err != nil {
		return fmt.Errorf("copy %s to %s: %w", from, to, err)
	}
	return nil
}
