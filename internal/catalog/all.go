package catalog

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// TableName is a table anywhere in the catalog.
type TableName struct {
	Database string
	ID       Ident
}

// AllTables lists every table of every database: those of the explicitly
// configured databases, and those found under the default location (each
// first-level directory there is a database). The Lance Agent reconciles
// them, so that work a lost write event announced is found anyway. Like
// ListTables it reads the flat listing of the storage; it is meant for a
// background loop, not the request path.
func (c *Catalog) AllTables(ctx context.Context) ([]TableName, error) {
	var out []TableName
	for _, name := range slices.Sorted(mapKeys(c.cfg.Databases)) {
		db, err := c.Database(ctx, name)
		if err != nil {
			return nil, err
		}
		tables, err := db.bucketTables(ctx, "")
		if err != nil {
			return nil, err
		}
		for _, id := range tables {
			out = append(out, TableName{Database: name, ID: id})
		}
	}
	if c.cfg.DefaultLocation == "" {
		return out, nil
	}
	b, err := c.bucket(ctx, c.cfg.DefaultLocation)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for a, err := range b.List(ctx, "") {
		if err != nil {
			return nil, fmt.Errorf("list databases: %w", err)
		}
		db, rest, ok := strings.Cut(a.Key, "/")
		if !ok || ValidateDatabaseName(db) != nil {
			continue
		}
		if _, configured := c.cfg.Databases[db]; configured {
			continue // served from its own location, listed above
		}
		id, ok := tableOfKey(rest)
		if !ok || seen[db+"\x00"+id.String()] {
			continue
		}
		seen[db+"\x00"+id.String()] = true
		out = append(out, TableName{Database: db, ID: id})
	}
	return out, nil
}

// bucketTables lists every table of the database, in any namespace.
func (d *Database) bucketTables(ctx context.Context, prefix string) ([]Ident, error) {
	var out []Ident
	seen := map[string]bool{}
	for a, err := range d.bucket.List(ctx, prefix) {
		if err != nil {
			return nil, fmt.Errorf("list tables of database %q: %w", d.name, err)
		}
		id, ok := tableOfKey(a.Key)
		if !ok || seen[id.String()] {
			continue
		}
		seen[id.String()] = true
		out = append(out, id)
	}
	return out, nil
}

// tableOfKey recognises a manifest key inside a database,
// [ns/...]<t>.lance/_versions/..., and returns the table it belongs to.
func tableOfKey(key string) (Ident, bool) {
	segs := strings.Split(key, "/")
	for i := 0; i+1 < len(segs); i++ {
		if !strings.HasSuffix(segs[i], tableSuffix) || segs[i+1]+"/" != versionsDir {
			continue
		}
		id := Ident{Namespace: segs[:i], Name: strings.TrimSuffix(segs[i], tableSuffix)}
		if ValidateTableName(id.Name) != nil {
			return Ident{}, false
		}
		for _, ns := range id.Namespace {
			if ValidateNamespaceName(ns) != nil {
				return Ident{}, false
			}
		}
		if len(id.Namespace) == 0 {
			id.Namespace = nil
		}
		return id, true
	}
	return Ident{}, false
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
