// Package location turns storage location URLs into buckets:
//
//	file:///abs/path                      a local directory
//	mem://name[/prefix]                   an in-memory bucket, shared by name within one Resolver
//	az://container[/prefix]?account=name  an Azure container, via the Resolver's account table
//
// It sits outside package objstore so that objstore does not import the
// Azure SDK.
package location

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/azure"
)

// ErrInvalid reports a location that cannot be parsed or resolved.
var ErrInvalid = errors.New("invalid storage location")

// Scheme names a kind of location.
type Scheme string

// The supported schemes.
const (
	File  Scheme = "file"
	Mem   Scheme = "mem"
	Azure Scheme = "az"
)

// Location is a parsed location URL.
type Location struct {
	Scheme Scheme
	// Path is the root directory of a file location, cleaned, in OS form.
	Path string
	// Name is the in-memory bucket's name.
	Name string
	// Container and Account identify an Azure container; Account is a key
	// of the Resolver's account table, not necessarily the storage
	// account's own name.
	Container string
	Account   string
	// Prefix is the key prefix inside a mem or az bucket, without leading or
	// trailing '/'; "" means the whole bucket.
	Prefix string
}

// Parse parses a location URL. Errors wrap ErrInvalid and quote the input.
func Parse(s string) (Location, error) {
	fail := func(format string, args ...any) (Location, error) {
		return Location{}, fmt.Errorf("%w %q: %s", ErrInvalid, redact(s), fmt.Sprintf(format, args...))
	}
	if s == "" {
		return fail("empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fail("%v", errors.Unwrap(err))
	}
	if u.Scheme == "" {
		return fail("no scheme; want file:///abs/path, mem://name or az://container/prefix?account=name")
	}
	if u.User != nil {
		return fail("user information is not allowed (credentials belong in the account table)")
	}
	if u.Fragment != "" {
		return fail("fragment is not allowed")
	}
	switch Scheme(strings.ToLower(u.Scheme)) {
	case File:
		return parseFile(u, fail)
	case Mem:
		if u.Opaque != "" || u.Host == "" {
			return fail("want mem://name[/prefix]")
		}
		if u.RawQuery != "" {
			return fail("mem locations take no query parameters")
		}
		if err := checkMemName(u.Host); err != nil {
			return fail("%v", err)
		}
		prefix, err := parsePrefix(u.Path)
		if err != nil {
			return fail("%v", err)
		}
		return Location{Scheme: Mem, Name: u.Host, Prefix: prefix}, nil
	case Azure:
		return parseAzure(u, fail)
	default:
		return fail("unknown scheme %q (want file, mem or az)", u.Scheme)
	}
}

func parseFile(u *url.URL, fail func(string, ...any) (Location, error)) (Location, error) {
	if u.Opaque != "" {
		return fail("relative path %q; want file:///absolute/path", u.Opaque)
	}
	if u.Host != "" && u.Host != "localhost" {
		return fail("host %q is not allowed (a relative path?); want file:///absolute/path", u.Host)
	}
	if u.RawQuery != "" {
		return fail("file locations take no query parameters")
	}
	if u.Path == "" || !strings.HasPrefix(u.Path, "/") {
		return fail("want file:///absolute/path")
	}
	for seg := range strings.SplitSeq(strings.Trim(u.Path, "/"), "/") {
		if seg == ".." {
			return fail("path must not contain \"..\"")
		}
	}
	return Location{Scheme: File, Path: filepath.Clean(filepath.FromSlash(u.Path))}, nil
}

func parseAzure(u *url.URL, fail func(string, ...any) (Location, error)) (Location, error) {
	if u.Opaque != "" || u.Host == "" {
		return fail("want az://container[/prefix]?account=name")
	}
	if u.Port() != "" {
		return fail("container %q has a port; the endpoint belongs in the account table", u.Host)
	}
	if err := azure.ValidateContainerName(u.Host); err != nil {
		return fail("%v", err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fail("query: %v", err)
	}
	account := q.Get("account")
	if account == "" {
		return fail("missing account parameter (az://container/prefix?account=name)")
	}
	for k, v := range q {
		if k != "account" {
			return fail("unknown query parameter %q", k)
		}
		if len(v) > 1 {
			return fail("account given %d times", len(v))
		}
	}
	prefix, err := parsePrefix(u.Path)
	if err != nil {
		return fail("%v", err)
	}
	return Location{Scheme: Azure, Container: u.Host, Account: account, Prefix: prefix}, nil
}

// redact masks what could be a credential pasted into a location by
// mistake (a password, a SAS token in the query) before the location is
// quoted in an error.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.IndexAny(s, "?@"); i >= 0 {
			return s[:i] + "…"
		}
		return s
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = "REDACTED"
		} else {
			for k := range q {
				if k != "account" {
					q[k] = []string{"REDACTED"}
				}
			}
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// parsePrefix turns a URL path into a key prefix; it must be a valid key
// once the surrounding slashes are dropped.
func parsePrefix(path string) (string, error) {
	p := strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/")
	if p == "" {
		return "", nil
	}
	if err := objstore.ValidateKey(p); err != nil {
		return "", fmt.Errorf("prefix: %w", err)
	}
	return p, nil
}

func checkMemName(name string) error {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("bucket name %q: character %q (want letters, digits, '-', '_' or '.')", name, r)
		}
	}
	return nil
}

// String formats l back into a location URL that Parse accepts.
func (l Location) String() string {
	suffix := ""
	if l.Prefix != "" {
		suffix = "/" + (&url.URL{Path: l.Prefix}).EscapedPath()
	}
	switch l.Scheme {
	case File:
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(l.Path)}).String()
	case Mem:
		return "mem://" + l.Name + suffix
	case Azure:
		return "az://" + l.Container + suffix + "?" + url.Values{"account": {l.Account}}.Encode()
	default:
		return fmt.Sprintf("<invalid location scheme %q>", string(l.Scheme))
	}
}
