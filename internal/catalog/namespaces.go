package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/sarissa-db/sarissa/internal/objstore"
)

// maxMarkerBytes bounds a namespace marker we read back (they hold a small
// property map).
const maxMarkerBytes = 1 << 20

// namespaceDoc is the content of a namespace marker.
type namespaceDoc struct {
	Properties map[string]string `json:"properties"`
}

// NamespaceCreateMode says what creating an existing namespace does.
type NamespaceCreateMode string

// The namespace create modes (the client sends "Create", "ExistOk" or
// "Overwrite").
const (
	NamespaceCreate    NamespaceCreateMode = "create"
	NamespaceExistOK   NamespaceCreateMode = "exist_ok"
	NamespaceOverwrite NamespaceCreateMode = "overwrite"
)

// ParseNamespaceCreateMode accepts the client's spellings ("" means create).
func ParseNamespaceCreateMode(s string) (NamespaceCreateMode, error) {
	switch strings.ToLower(strings.ReplaceAll(s, "_", "")) {
	case "", "create":
		return NamespaceCreate, nil
	case "existok":
		return NamespaceExistOK, nil
	case "overwrite":
		return NamespaceOverwrite, nil
	}
	return "", fmt.Errorf("%w: namespace create mode %q: want Create, ExistOk or Overwrite", ErrInvalidArgument, s)
}

// NamespaceDropOptions say what a drop does when the namespace is missing
// (SkipMissing) or not empty (Cascade).
type NamespaceDropOptions struct {
	// SkipMissing makes dropping a missing namespace succeed (mode "Skip";
	// the default "Fail" reports ErrNamespaceNotFound).
	SkipMissing bool
	// Cascade drops every table and namespace inside (behavior "Cascade");
	// the default "Restrict" refuses a namespace that is not empty.
	Cascade bool
}

// ParseNamespaceDropOptions reads the mode ("Fail"/"Skip") and behavior
// ("Restrict"/"Cascade") fields of a drop request; empty strings are the
// defaults.
func ParseNamespaceDropOptions(mode, behavior string) (NamespaceDropOptions, error) {
	var o NamespaceDropOptions
	switch strings.ToLower(mode) {
	case "", "fail":
	case "skip":
		o.SkipMissing = true
	default:
		return o, fmt.Errorf("%w: namespace drop mode %q: want Fail or Skip", ErrInvalidArgument, mode)
	}
	switch strings.ToLower(behavior) {
	case "", "restrict":
	case "cascade":
		o.Cascade = true
	default:
		return o, fmt.Errorf("%w: namespace drop behavior %q: want Restrict or Cascade", ErrInvalidArgument, behavior)
	}
	return o, nil
}

func nsString(ns []string) string { return strings.Join(ns, DefaultDelimiter) }

func markerKey(ns []string) string { return namespaceDir(ns) + namespaceMarker }

// readNamespace returns the properties of a child namespace, or an error
// wrapping ErrNamespaceNotFound.
func (d *Database) readNamespace(ctx context.Context, ns []string) (map[string]string, error) {
	rc, err := d.bucket.Get(ctx, markerKey(ns))
	if errors.Is(err, objstore.ErrNotExist) {
		return nil, fmt.Errorf("%w: namespace %q does not exist in database %q", ErrNamespaceNotFound, nsString(ns), d.name)
	}
	if err != nil {
		return nil, fmt.Errorf("namespace %q: %w", nsString(ns), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxMarkerBytes+1))
	if err == nil && len(data) > maxMarkerBytes {
		err = fmt.Errorf("larger than %d bytes", maxMarkerBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("namespace %q: read %s: %w", nsString(ns), markerKey(ns), err)
	}
	var doc namespaceDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("namespace %q: decode %s: %w", nsString(ns), markerKey(ns), err)
	}
	if doc.Properties == nil {
		doc.Properties = map[string]string{}
	}
	return doc.Properties, nil
}

// requireNamespace checks that a namespace exists (the root always does).
func (d *Database) requireNamespace(ctx context.Context, ns []string) error {
	if len(ns) == 0 {
		return nil
	}
	_, err := d.bucket.Stat(ctx, markerKey(ns))
	if errors.Is(err, objstore.ErrNotExist) {
		return fmt.Errorf("%w: namespace %q does not exist in database %q", ErrNamespaceNotFound, nsString(ns), d.name)
	}
	if err != nil {
		return fmt.Errorf("namespace %q: %w", nsString(ns), err)
	}
	return nil
}

// ListNamespaces lists the direct children of namespace parent (nil: the
// root), sorted, with the same pagination as ListTables.
func (d *Database) ListNamespaces(ctx context.Context, parent []string, pageToken string, limit int) (Page, error) {
	if limit < 0 {
		return Page{}, fmt.Errorf("%w: limit %d is negative", ErrInvalidArgument, limit)
	}
	if err := d.requireNamespace(ctx, parent); err != nil {
		return Page{}, err
	}
	prefix := namespaceDir(parent)
	var names []string
	for a, err := range d.bucket.List(ctx, prefix) {
		if err != nil {
			return Page{}, fmt.Errorf("list namespaces of database %q: %w", d.name, err)
		}
		child, rest, ok := strings.Cut(a.Key[len(prefix):], "/")
		if ok && rest == namespaceMarker && ValidateNamespaceName(child) == nil {
			names = append(names, child)
		}
	}
	sort.Strings(names)
	return paginate(names, pageToken, limit), nil
}

// DescribeNamespace returns a namespace's properties (the root has none).
func (d *Database) DescribeNamespace(ctx context.Context, ns []string) (map[string]string, error) {
	if len(ns) == 0 {
		return map[string]string{}, nil
	}
	return d.readNamespace(ctx, ns)
}

// CreateNamespace creates a child namespace under an existing parent and
// returns its properties. Overwrite replaces the properties of an existing
// namespace and keeps its content.
func (d *Database) CreateNamespace(ctx context.Context, ns []string, mode NamespaceCreateMode, props map[string]string) (map[string]string, error) {
	if len(ns) == 0 {
		if mode == NamespaceCreate {
			return nil, fmt.Errorf("%w: the root namespace always exists", ErrNamespaceExists)
		}
		return map[string]string{}, nil
	}
	if err := d.requireNamespace(ctx, ns[:len(ns)-1]); err != nil {
		return nil, fmt.Errorf("create namespace %q: parent: %w", nsString(ns), err)
	}
	if props == nil {
		props = map[string]string{}
	}
	doc, err := json.Marshal(namespaceDoc{Properties: props})
	if err != nil {
		return nil, fmt.Errorf("create namespace %q: %w", nsString(ns), err)
	}
	err = d.bucket.PutIfAbsent(ctx, markerKey(ns), bytes.NewReader(doc))
	switch {
	case err == nil:
		return props, nil
	case !errors.Is(err, objstore.ErrExists):
		return nil, fmt.Errorf("create namespace %q: %w", nsString(ns), err)
	}
	switch mode {
	case NamespaceExistOK:
		return d.readNamespace(ctx, ns)
	case NamespaceOverwrite:
		if err := d.bucket.Put(ctx, markerKey(ns), bytes.NewReader(doc)); err != nil {
			return nil, fmt.Errorf("create namespace %q: %w", nsString(ns), err)
		}
		return props, nil
	default:
		return nil, fmt.Errorf("%w: namespace %q already exists in database %q", ErrNamespaceExists, nsString(ns), d.name)
	}
}

// DropNamespace removes a namespace. Without Cascade a namespace holding
// tables or namespaces is refused; with Cascade every table inside is dropped
// (as DropTable does) and then the rest.
func (d *Database) DropNamespace(ctx context.Context, ns []string, opts NamespaceDropOptions) error {
	if len(ns) == 0 {
		return fmt.Errorf("%w: the root namespace cannot be dropped", ErrInvalidArgument)
	}
	if err := d.requireNamespace(ctx, ns); err != nil {
		if opts.SkipMissing && errors.Is(err, ErrNamespaceNotFound) {
			return nil
		}
		return err
	}
	dir := namespaceDir(ns)
	var content []string // keys other than the marker itself
	for a, err := range d.bucket.List(ctx, dir) {
		if err != nil {
			return fmt.Errorf("drop namespace %q: %w", nsString(ns), err)
		}
		if a.Key != markerKey(ns) {
			content = append(content, a.Key)
		}
	}
	if len(content) > 0 && !opts.Cascade {
		return fmt.Errorf("%w: namespace %q still holds %s; drop them first or drop with behavior Cascade", ErrNamespaceNotEmpty, nsString(ns), describeContent(dir, content))
	}
	// Tables first, each in drop order, then whatever is left (nested
	// markers, leftovers), then the marker: a failure midway leaves a
	// namespace that can be dropped again.
	var roots []string
	for _, k := range content {
		rel := k[len(dir):]
		for i := 0; i < len(rel); {
			j := strings.IndexByte(rel[i:], '/')
			if j < 0 {
				break
			}
			seg := rel[i : i+j]
			if strings.HasSuffix(seg, tableSuffix) {
				root := dir + rel[:i+j]
				if len(roots) == 0 || roots[len(roots)-1] != root {
					roots = append(roots, root)
				}
				break
			}
			i += j + 1
		}
	}
	for _, root := range roots {
		keys, _, err := d.tableObjects(ctx, root)
		if err != nil {
			return fmt.Errorf("drop namespace %q: %w", nsString(ns), err)
		}
		if err := d.deleteKeys(ctx, keys); err != nil {
			return fmt.Errorf("drop namespace %q: %w", nsString(ns), err)
		}
		d.c.forget(childLocation(d.loc, root).String())
	}
	if err := d.deleteKeys(ctx, content); err != nil {
		return fmt.Errorf("drop namespace %q: %w", nsString(ns), err)
	}
	if err := d.deleteKeys(ctx, []string{markerKey(ns)}); err != nil {
		return fmt.Errorf("drop namespace %q: %w", nsString(ns), err)
	}
	return nil
}

// describeContent names what a namespace directory holds, for the
// not-empty error.
func describeContent(dir string, keys []string) string {
	var tables, namespaces []string
	seen := map[string]bool{}
	for _, k := range keys {
		seg, rest, ok := strings.Cut(k[len(dir):], "/")
		if !ok || seen[seg] {
			continue
		}
		switch {
		case strings.HasSuffix(seg, tableSuffix):
			seen[seg] = true
			tables = append(tables, strings.TrimSuffix(seg, tableSuffix))
		case rest == namespaceMarker:
			seen[seg] = true
			namespaces = append(namespaces, seg)
		}
	}
	var parts []string
	if len(tables) > 0 {
		parts = append(parts, fmt.Sprintf("table(s) %s", strings.Join(tables, ", ")))
	}
	if len(namespaces) > 0 {
		parts = append(parts, fmt.Sprintf("namespace(s) %s", strings.Join(namespaces, ", ")))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d other object(s)", len(keys))
	}
	return strings.Join(parts, " and ")
}
