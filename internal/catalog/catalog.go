// Package catalog maps database names to storage locations and tables to
// their roots, and implements the table and namespace management operations
// of the REST API (list, create, drop, rename) on top of internal/table.
//
// Layout: a database without an explicit entry lives at
// <default location>/<database>/; an explicitly configured database lives
// directly at its location. Inside a database, table t of the root namespace
// is the Lance table <database>/t.lance, as in LanceDB OSS, so
// lancedb.connect("<data-dir>/<database>") opens Sarissa's tables and the
// other way round. A child namespace a$b is the directory <database>/a/b/,
// marked by a small JSON object (namespaceMarker); its tables are
// <database>/a/b/<t>.lance. LanceDB OSS ignores namespace directories.
//
// The catalog keeps no state of its own beyond caches: buckets per location
// (so connections are reused) and table handles (so manifests are cached).
// Handles are dropped from the cache when this process drops or renames a
// table. Another replica dropping and re-creating a table under the same name
// is not noticed by the cached handle until this process drops or renames it;
// the latest version is still found through a fresh listing on every read.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/location"
	"github.com/sarissa-db/sarissa/internal/table"
)

// Sentinel errors. Errors returned by the catalog wrap one of these (and,
// where the condition comes from the table format, the lance sentinel too).
var (
	// ErrTableNotFound reports a table that does not exist.
	ErrTableNotFound = errors.New("table not found")
	// ErrTableExists reports a create or rename onto an existing table. Its
	// text contains "already exists", which the LanceDB client looks for.
	ErrTableExists = errors.New("table already exists")
	// ErrNamespaceNotFound reports a namespace that does not exist.
	ErrNamespaceNotFound = errors.New("namespace not found")
	// ErrNamespaceExists reports a create of an existing namespace.
	ErrNamespaceExists = errors.New("namespace already exists")
	// ErrNamespaceNotEmpty reports a restricted drop of a namespace that still
	// holds tables or namespaces.
	ErrNamespaceNotEmpty = errors.New("namespace not empty")
	// ErrDatabaseNotFound reports a database name with no location: no
	// explicit entry and no default location.
	ErrDatabaseNotFound = errors.New("database not found")
	// ErrInvalidArgument reports a request that cannot be executed as given
	// (bad mode, bad page token).
	ErrInvalidArgument = errors.New("invalid argument")
)

// Config says where databases live.
type Config struct {
	// DefaultLocation holds every database without an explicit entry:
	// database d lives at <DefaultLocation>/d (e.g. file:///srv/data →
	// /srv/data/d). Empty serves only the databases listed in Databases.
	DefaultLocation string `yaml:"default_location"`
	// Databases maps database names to their own locations; their tables
	// live directly under the location (<location>/<table>.lance).
	Databases map[string]DatabaseConfig `yaml:"databases"`
}

// DatabaseConfig is the storage of one explicitly configured database.
type DatabaseConfig struct {
	Location string `yaml:"location"`
}

// Validate checks that every location parses and every database name is valid.
func (c Config) Validate() error {
	if c.DefaultLocation == "" && len(c.Databases) == 0 {
		return errors.New("catalog: neither a default location nor any database is configured")
	}
	if c.DefaultLocation != "" {
		if _, err := location.Parse(c.DefaultLocation); err != nil {
			return fmt.Errorf("catalog: default location: %w", err)
		}
	}
	names := make([]string, 0, len(c.Databases))
	for name := range c.Databases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := ValidateDatabaseName(name); err != nil {
			return fmt.Errorf("catalog: databases: %w", err)
		}
		if _, err := location.Parse(c.Databases[name].Location); err != nil {
			return fmt.Errorf("catalog: database %q: %w", name, err)
		}
	}
	return nil
}

// Deps are the catalog's collaborators.
type Deps struct {
	// Resolver opens locations (accounts, named memory buckets). Nil gets a
	// resolver without Azure accounts.
	Resolver *location.Resolver
	// Table configures every table handle the catalog opens.
	Table table.Options
	// Logger receives drop/rename progress and cleanup failures.
	Logger *slog.Logger
	// WrapBucket, if set, decorates every bucket the catalog opens; loc is
	// the location URL the bucket is rooted at (plan executors put their
	// block cache there).
	WrapBucket func(loc string, b objstore.Bucket) (objstore.Bucket, error)
}

// Catalog resolves databases and tables. It is safe for concurrent use.
type Catalog struct {
	cfg    Config
	res    *location.Resolver
	topts  table.Options
	logger *slog.Logger
	wrap   func(loc string, b objstore.Bucket) (objstore.Bucket, error)

	defaultLoc location.Location // valid when cfg.DefaultLocation != ""

	mu      sync.Mutex
	buckets map[string]objstore.Bucket // by location URL
	tables  map[string]*table.Table    // by table URI
}

// New checks cfg and returns a catalog. Buckets are opened on first use.
func New(cfg Config, deps Deps) (*Catalog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	res := deps.Resolver
	if res == nil {
		var err error
		if res, err = location.NewResolver(nil); err != nil {
			return nil, err
		}
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Catalog{
		cfg:     cfg,
		res:     res,
		topts:   deps.Table,
		logger:  logger,
		wrap:    deps.WrapBucket,
		buckets: map[string]objstore.Bucket{},
		tables:  map[string]*table.Table{},
	}
	if cfg.DefaultLocation != "" {
		loc, err := location.Parse(cfg.DefaultLocation)
		if err != nil {
			return nil, err
		}
		c.defaultLoc = loc
	}
	return c, nil
}

// Database is one database: a location holding tables and namespaces.
type Database struct {
	c      *Catalog
	name   string
	loc    location.Location
	bucket objstore.Bucket // rooted at loc
}

// Database returns the database called name. Nothing is created in storage;
// a database with no tables simply lists none.
func (c *Catalog) Database(ctx context.Context, name string) (*Database, error) {
	if err := ValidateDatabaseName(name); err != nil {
		return nil, err
	}
	if dc, ok := c.cfg.Databases[name]; ok {
		b, err := c.bucket(ctx, dc.Location)
		if err != nil {
			return nil, fmt.Errorf("database %q: %w", name, err)
		}
		loc, err := location.Parse(dc.Location)
		if err != nil {
			return nil, fmt.Errorf("database %q: %w", name, err)
		}
		return &Database{c: c, name: name, loc: loc, bucket: b}, nil
	}
	if c.cfg.DefaultLocation == "" {
		return nil, fmt.Errorf("%w: database %q is not configured", ErrDatabaseNotFound, name)
	}
	// Databases share the default location's bucket through a prefix view,
	// so that naming a database creates nothing (filesystem buckets create
	// their root directory when opened).
	b, err := c.bucket(ctx, c.cfg.DefaultLocation)
	if err != nil {
		return nil, fmt.Errorf("database %q: %w", name, err)
	}
	return &Database{c: c, name: name, loc: childLocation(c.defaultLoc, name), bucket: objstore.WithPrefix(b, name)}, nil
}

func (c *Catalog) bucket(ctx context.Context, loc string) (objstore.Bucket, error) {
	c.mu.Lock()
	b, ok := c.buckets[loc]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := c.res.Open(ctx, loc)
	if err != nil {
		return nil, err
	}
	if c.wrap != nil {
		if b, err = c.wrap(loc, b); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.buckets[loc]; ok {
		return prev, nil
	}
	c.buckets[loc] = b
	return b, nil
}

// childLocation returns the location of rel (a '/'-separated relative path)
// inside loc.
func childLocation(loc location.Location, rel string) location.Location {
	switch loc.Scheme {
	case location.File:
		loc.Path = filepath.Join(loc.Path, filepath.FromSlash(rel))
	default:
		if loc.Prefix == "" {
			loc.Prefix = rel
		} else {
			loc.Prefix += "/" + rel
		}
	}
	return loc
}

// Name returns the database's name.
func (d *Database) Name() string { return d.name }

// Location returns the database's location URL.
func (d *Database) Location() string { return d.loc.String() }

// Bucket returns the bucket rooted at the database's location.
func (d *Database) Bucket() objstore.Bucket { return d.bucket }

// tableRoot returns the key prefix of a table inside the database bucket.
func tableRoot(id Ident) string {
	return namespaceDir(id.Namespace) + id.Name + tableSuffix
}

// namespaceDir returns the key prefix of a namespace ("" for the root, else
// "a/b/").
func namespaceDir(ns []string) string {
	if len(ns) == 0 {
		return ""
	}
	return strings.Join(ns, "/") + "/"
}

// TableURI returns the location URL of a table's root. It identifies the
// table's storage unambiguously (used for cache keys and shown to clients).
func (d *Database) TableURI(id Ident) string {
	return childLocation(d.loc, tableRoot(id)).String()
}

// notFound wraps a table lookup failure with the catalog sentinel.
func notFound(id Ident, err error) error {
	return fmt.Errorf("%w: table %q: %w", ErrTableNotFound, id.String(), err)
}

// OpenTable returns a handle on an existing table.
func (d *Database) OpenTable(ctx context.Context, id Ident) (*table.Table, error) {
	uri := d.TableURI(id)
	d.c.mu.Lock()
	t, ok := d.c.tables[uri]
	d.c.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := table.Open(ctx, d.bucket, tableRoot(id), d.c.topts)
	if errors.Is(err, lance.ErrTableNotFound) {
		return nil, notFound(id, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open table %q: %w", id.String(), err)
	}
	return d.c.remember(uri, t), nil
}

// remember caches a handle unless another request cached one first.
func (c *Catalog) remember(uri string, t *table.Table) *table.Table {
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.tables[uri]; ok {
		return prev
	}
	c.tables[uri] = t
	return t
}

func (c *Catalog) forget(uri string) {
	c.mu.Lock()
	delete(c.tables, uri)
	c.mu.Unlock()
}
