package filesystem

import (
	"context"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sarissa-db/sarissa/internal/objstore"
)

// List implements objstore.Bucket. It walks only the directories the prefix
// can reach. The listing is not a snapshot: objects written or deleted while
// it runs may or may not appear.
//
// Only regular files are objects; symlinks, devices and in-progress temporary
// files are skipped, as are names that are not valid keys.
func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[objstore.Attrs, error] {
	return func(yield func(objstore.Attrs, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(objstore.Attrs{}, err)
			return
		}
		if err := objstore.ValidatePrefix(prefix); err != nil {
			yield(objstore.Attrs{}, err)
			return
		}
		dir, partial := "", prefix
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			dir, partial = prefix[:i], prefix[i+1:]
		}
		b.walk(ctx, prefix, dir, partial, yield)
	}
}

type dirItem struct {
	sortName string // the name, plus '/' for directories
	entry    os.DirEntry
}

// walk yields, in key order, the objects under directory dir (a key path,
// "" for the root) whose first name element starts with partial. It returns
// false once iteration must stop.
//
// Sorting each directory by name alone would be wrong: the keys inside
// directory "a" all start with "a/", and '/' sorts after characters such as
// '.' and '-' but before digits, so "a.b" < "a/x" < "a0". Comparing
// directories by name+"/" gives exactly the order of the keys they contain.
func (b *Bucket) walk(ctx context.Context, prefix, dir, partial string, yield func(objstore.Attrs, error) bool) bool {
	entries, err := os.ReadDir(filepath.Join(b.root, filepath.FromSlash(dir)))
	if isMissing(err) {
		// Not there (or not a directory): no keys, or it vanished mid-walk.
		return true
	}
	if err != nil {
		yield(objstore.Attrs{}, fmt.Errorf("list %q: %w", prefix, err))
		return false
	}
	items := make([]dirItem, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, partial) || strings.HasPrefix(name, tempPrefix) {
			continue
		}
		switch {
		case e.IsDir():
			items = append(items, dirItem{sortName: name + "/", entry: e})
		case e.Type().IsRegular():
			items = append(items, dirItem{sortName: name, entry: e})
		}
	}
	slices.SortFunc(items, func(x, y dirItem) int { return strings.Compare(x.sortName, y.sortName) })

	for _, it := range items {
		if err := ctx.Err(); err != nil {
			yield(objstore.Attrs{}, err)
			return false
		}
		key := it.entry.Name()
		if dir != "" {
			key = dir + "/" + key
		}
		if objstore.ValidateKey(key) != nil {
			continue
		}
		if it.entry.IsDir() {
			if !b.walk(ctx, prefix, key, "", yield) {
				return false
			}
			continue
		}
		fi, err := it.entry.Info()
		if isMissing(err) {
			continue // deleted since ReadDir
		}
		if err != nil {
			yield(objstore.Attrs{}, fmt.Errorf("list %q: %w", prefix, err))
			return false
		}
		if !yield(attrs(key, fi), nil) {
			return false
		}
	}
	return true
}
