package catalog

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// DefaultDelimiter separates namespace levels and the table name in the
// identifiers the LanceDB client sends ("ns1$t1"); the bare delimiter names
// the root namespace.
const DefaultDelimiter = "$"

// maxNameBytes bounds database, namespace and table names. Object stores and
// file systems limit path segments to about 255 bytes, and a table's segment
// gets ".lance" appended.
const maxNameBytes = 200

// namespaceMarker is the object that makes a directory a namespace. Namespaces
// have no other trace in storage until they hold tables, and object stores
// have no empty directories, so the marker is what records that one exists.
// Names starting with '.' are refused, so no namespace or table can collide
// with it.
const namespaceMarker = ".sarissa-namespace.json"

// tableSuffix is appended to a table's name to form its root directory, as
// LanceDB OSS does.
const tableSuffix = ".lance"

// Ident identifies a table: the namespace path (empty for the root namespace)
// and the table's name.
type Ident struct {
	Namespace []string
	Name      string
}

// String renders the identifier with the default delimiter, as clients send it.
func (id Ident) String() string {
	if len(id.Namespace) == 0 {
		return id.Name
	}
	return strings.Join(id.Namespace, DefaultDelimiter) + DefaultDelimiter + id.Name
}

// ParseTableID splits a table identifier such as "t1" or "ns1$t1" at
// delimiter ("" means DefaultDelimiter) and validates every part.
func ParseTableID(id, delimiter string) (Ident, error) {
	if delimiter == "" {
		delimiter = DefaultDelimiter
	}
	parts := strings.Split(id, delimiter)
	name := parts[len(parts)-1]
	if err := ValidateTableName(name); err != nil {
		return Ident{}, fmt.Errorf("table identifier %q: %w", id, err)
	}
	ns := parts[:len(parts)-1]
	for _, p := range ns {
		if err := ValidateNamespaceName(p); err != nil {
			return Ident{}, fmt.Errorf("table identifier %q: %w", id, err)
		}
	}
	return Ident{Namespace: ns, Name: name}, nil
}

// ParseNamespaceID splits a namespace identifier such as "ns1" or "a$b";
// the bare delimiter (or an empty string) is the root namespace, returned as
// an empty path.
func ParseNamespaceID(id, delimiter string) ([]string, error) {
	if delimiter == "" {
		delimiter = DefaultDelimiter
	}
	if id == "" || id == delimiter {
		return nil, nil
	}
	parts := strings.Split(id, delimiter)
	for _, p := range parts {
		if err := ValidateNamespaceName(p); err != nil {
			return nil, fmt.Errorf("namespace identifier %q: %w", id, err)
		}
	}
	return parts, nil
}

// ValidateDatabaseName checks a database name (the x-lancedb-database header).
func ValidateDatabaseName(name string) error {
	if err := validateName("database", name); err != nil {
		return err
	}
	if strings.HasPrefix(name, ".") {
		return fmt.Errorf("%w: database name %q starts with '.'", ErrInvalidName, name)
	}
	return nil
}

// ValidateTableName checks a table name. It accepts exactly what the LanceDB
// clients accept ([A-Za-z0-9_.-]+) minus names that could be confused with
// relative paths.
func ValidateTableName(name string) error {
	return validateName("table", name)
}

// ValidateNamespaceName checks one level of a namespace path. Namespace
// directories sit beside table directories, so a namespace name may not end
// in ".lance", and it may not start with '.', which is reserved for the
// namespace marker.
func ValidateNamespaceName(name string) error {
	if err := validateName("namespace", name); err != nil {
		return err
	}
	if strings.HasPrefix(name, ".") {
		return fmt.Errorf("%w: namespace name %q starts with '.'", ErrInvalidName, name)
	}
	if strings.HasSuffix(name, tableSuffix) {
		return fmt.Errorf("%w: namespace name %q ends in %q, which is reserved for tables", ErrInvalidName, name, tableSuffix)
	}
	return nil
}

// ErrInvalidName reports a database, namespace or table name that cannot be
// used.
var ErrInvalidName = errors.New("invalid name")

func validateName(kind, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: %s name is empty", ErrInvalidName, kind)
	case len(name) > maxNameBytes:
		return fmt.Errorf("%w: %s name is %d bytes long, more than the limit of %d", ErrInvalidName, kind, len(name), maxNameBytes)
	case name == "." || name == ".." || strings.Contains(name, ".."):
		return fmt.Errorf("%w: %s name %q contains \"..\"", ErrInvalidName, kind, name)
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
		case r == utf8.RuneError:
			return fmt.Errorf("%w: %s name is not valid UTF-8 (byte %d)", ErrInvalidName, kind, i)
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("%w: %s name %q has a control character at byte %d; names may only contain letters, digits, '_', '-' and '.'", ErrInvalidName, kind, name, i)
		default:
			return fmt.Errorf("%w: %s name %q contains %q at byte %d; names may only contain letters, digits, '_', '-' and '.'", ErrInvalidName, kind, name, r, i)
		}
	}
	return nil
}
