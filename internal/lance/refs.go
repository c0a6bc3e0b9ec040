package lance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/sarissa-db/sarissa/internal/objstore"
)

// Tag names a version. Stored as _refs/tags/{name}.json in the JSON Lance
// writes (serde, camelCase, pretty-printed):
//
//	{
//	  "branch": null,
//	  "version": 3,
//	  "manifestSize": 1234
//	}
type Tag struct {
	Name         string
	Version      uint64
	ManifestSize int64
}

type tagJSON struct {
	Branch       *string `json:"branch"`
	Version      uint64  `json:"version"`
	ManifestSize int64   `json:"manifestSize"`
}

// ValidateTagName applies Lance's rules: non-empty; letters, digits, '.',
// '-' and '_' only; no leading or trailing '.', no "..", not ending in
// ".lock".
func ValidateTagName(name string) error {
	bad := func(why string) error { return fmt.Errorf("tag %q: %s: %w", name, why, ErrInvalidTag) }
	switch {
	case name == "":
		return bad("empty name")
	case strings.ContainsFunc(name, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r) && r != '.' && r != '-' && r != '_'
	}):
		return bad("only letters, digits, '.', '-' and '_' are allowed")
	case strings.HasPrefix(name, "."):
		return bad("begins with a dot")
	case strings.HasSuffix(name, "."):
		return bad("ends with a dot")
	case strings.HasSuffix(name, ".lock"):
		return bad("ends with .lock")
	case strings.Contains(name, ".."):
		return bad("contains two consecutive dots")
	}
	return nil
}

// CreateTag points a new tag at version v. It fails with ErrTagExists if the
// tag exists and ErrVersionNotFound if v does not.
func (t *Table) CreateTag(ctx context.Context, name string, v uint64) error {
	data, err := t.tagContents(ctx, name, v)
	if err != nil {
		return fmt.Errorf("create tag %q on %s: %w", name, t.root, err)
	}
	err = t.bucket.PutIfAbsent(ctx, t.key(tagFileName(name)), bytes.NewReader(data))
	if errors.Is(err, objstore.ErrExists) {
		err = ErrTagExists
	}
	if err != nil {
		return fmt.Errorf("create tag %q on %s: %w", name, t.root, err)
	}
	return nil
}

// UpdateTag moves an existing tag to version v.
func (t *Table) UpdateTag(ctx context.Context, name string, v uint64) error {
	if _, err := t.GetTag(ctx, name); err != nil {
		return fmt.Errorf("update tag: %w", err)
	}
	data, err := t.tagContents(ctx, name, v)
	if err != nil {
		return fmt.Errorf("update tag %q on %s: %w", name, t.root, err)
	}
	if err := t.bucket.Put(ctx, t.key(tagFileName(name)), bytes.NewReader(data)); err != nil {
		return fmt.Errorf("update tag %q on %s: %w", name, t.root, err)
	}
	return nil
}

// tagContents validates the name and the version and encodes the tag file.
func (t *Table) tagContents(ctx context.Context, name string, v uint64) ([]byte, error) {
	if err := ValidateTagName(name); err != nil {
		return nil, err
	}
	if v == 0 || v&detachedVersionBit != 0 {
		return nil, fmt.Errorf("version %d: %w", v, ErrVersionNotFound)
	}
	a, err := t.bucket.Stat(ctx, t.key(manifestName(t.naming, v)))
	if errors.Is(err, objstore.ErrNotExist) {
		return nil, fmt.Errorf("version %d: %w", v, ErrVersionNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("stat manifest of version %d: %w", v, err)
	}
	return json.MarshalIndent(tagJSON{Version: v, ManifestSize: a.Size}, "", "  ")
}

// DeleteTag removes a tag; ErrTagNotFound if it does not exist.
func (t *Table) DeleteTag(ctx context.Context, name string) error {
	if err := ValidateTagName(name); err != nil {
		return fmt.Errorf("delete tag: %w", err)
	}
	key := t.key(tagFileName(name))
	if _, err := t.bucket.Stat(ctx, key); err != nil {
		if errors.Is(err, objstore.ErrNotExist) {
			err = ErrTagNotFound
		}
		return fmt.Errorf("delete tag %q on %s: %w", name, t.root, err)
	}
	if err := t.bucket.Delete(ctx, key); err != nil {
		return fmt.Errorf("delete tag %q on %s: %w", name, t.root, err)
	}
	return nil
}

// GetTag reads one tag.
func (t *Table) GetTag(ctx context.Context, name string) (Tag, error) {
	if err := ValidateTagName(name); err != nil {
		return Tag{}, err
	}
	key := t.key(tagFileName(name))
	data, err := objstore.ReadAll(ctx, t.bucket, key)
	if errors.Is(err, objstore.ErrNotExist) {
		return Tag{}, fmt.Errorf("tag %q on %s: %w", name, t.root, ErrTagNotFound)
	}
	if err != nil {
		return Tag{}, fmt.Errorf("read tag %q on %s: %w", name, t.root, err)
	}
	return decodeTag(key, name, data)
}

func decodeTag(key, name string, data []byte) (Tag, error) {
	var j tagJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return Tag{}, corruptf(key, "decode tag: %v", err)
	}
	if j.Branch != nil {
		return Tag{}, fmt.Errorf("tag %q points into branch %q: %w", name, *j.Branch, ErrUnsupportedFeature)
	}
	return Tag{Name: name, Version: j.Version, ManifestSize: j.ManifestSize}, nil
}

// ListTags returns all tags sorted by name.
func (t *Table) ListTags(ctx context.Context) ([]Tag, error) {
	prefix := t.key(tagsDir) + "/"
	var keys []string
	for a, err := range t.bucket.List(ctx, prefix) {
		if err != nil {
			return nil, fmt.Errorf("list tags of %s: %w", t.root, err)
		}
		rest := strings.TrimPrefix(a.Key, prefix)
		if name, ok := strings.CutSuffix(rest, ".json"); ok && !strings.Contains(name, "/") {
			keys = append(keys, name)
		}
	}
	slices.Sort(keys)
	tags := make([]Tag, len(keys))
	err := forEachParallel(ctx, len(keys), 16, func(ctx context.Context, i int) error {
		key := prefix + keys[i] + ".json"
		data, err := objstore.ReadAll(ctx, t.bucket, key)
		if err != nil {
			return fmt.Errorf("read tag %q: %w", keys[i], err)
		}
		tags[i], err = decodeTag(key, keys[i], data)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", t.root, err)
	}
	return tags, nil
}

// CheckoutTag returns the version a tag points at.
func (t *Table) CheckoutTag(ctx context.Context, name string) (*Snapshot, error) {
	tag, err := t.GetTag(ctx, name)
	if err != nil {
		return nil, err
	}
	return t.Checkout(ctx, tag.Version)
}
