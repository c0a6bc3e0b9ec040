// Package filesystem is an objstore.Bucket over a local directory, laid out
// exactly as the keys say (key "db/t.lance/x" is file <root>/db/t.lance/x), so
// other Lance tools can open the same tree.
//
// Writes go to a hidden temporary file in the destination directory, are
// fsynced, and then appear atomically: Put renames over the destination,
// PutIfAbsent hard-links to it, which fails if the name is taken. A link is
// atomic with respect to other processes too, unlike a stat-then-rename.
package filesystem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/internal/ctxio"
)

// tempPrefix starts the names of in-progress writes. Keys with a segment
// starting with it are refused, so no object can be mistaken for one.
const tempPrefix = ".tmp-"

// Bucket is an objstore.Bucket rooted at a local directory.
type Bucket struct {
	root string
}

var _ objstore.Bucket = (*Bucket)(nil)

// New returns a bucket rooted at dir, which must be an absolute path. The
// directory is created if it does not exist.
func New(dir string) (*Bucket, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("filesystem bucket root %q: not an absolute path", dir)
	}
	root := filepath.Clean(dir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("filesystem bucket root: %w", err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("filesystem bucket root: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("filesystem bucket root %q: not a directory", root)
	}
	return &Bucket{root: root}, nil
}

// Root returns the bucket's root directory.
func (b *Bucket) Root() string { return b.root }

func (b *Bucket) path(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := objstore.ValidateKey(key); err != nil {
		return "", err
	}
	if strings.HasPrefix(key, tempPrefix) || strings.Contains(key, "/"+tempPrefix) {
		return "", fmt.Errorf("%w %q: segments starting with %q are reserved for temporary files", objstore.ErrInvalidKey, key, tempPrefix)
	}
	return filepath.Join(b.root, filepath.FromSlash(key)), nil
}

// isMissing reports errors that mean "no object at this path": the file is
// absent, or a path element is a regular file (ENOTDIR), as when asking for
// "a/b" while "a" is an object.
func isMissing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// open opens the regular file for key. Directories are not objects.
func (b *Bucket) open(ctx context.Context, op, key string) (*os.File, fs.FileInfo, error) {
	p, err := b.path(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(p)
	if isMissing(err) {
		return nil, nil, fmt.Errorf("%s %q: %w", op, key, objstore.ErrNotExist)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s %q: %w", op, key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s %q: %w", op, key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s %q: %w", op, key, objstore.ErrNotExist)
	}
	return f, fi, nil
}

// Get implements objstore.Bucket. The open file keeps reading the version it
// opened even if the key is overwritten meanwhile.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	f, _, err := b.open(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// GetRange implements objstore.Bucket.
func (b *Bucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("get %q range: negative offset %d", key, off)
	}
	f, fi, err := b.open(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	n := max(fi.Size()-off, 0)
	if length >= 0 {
		n = min(n, length)
	}
	return &sectionReadCloser{SectionReader: io.NewSectionReader(f, off, n), f: f}, nil
}

type sectionReadCloser struct {
	*io.SectionReader
	f *os.File
}

func (s *sectionReadCloser) Close() error { return s.f.Close() }

// Stat implements objstore.Bucket.
func (b *Bucket) Stat(ctx context.Context, key string) (objstore.Attrs, error) {
	p, err := b.path(ctx, key)
	if err != nil {
		return objstore.Attrs{}, err
	}
	fi, err := os.Stat(p)
	if isMissing(err) || (err == nil && !fi.Mode().IsRegular()) {
		return objstore.Attrs{}, fmt.Errorf("stat %q: %w", key, objstore.ErrNotExist)
	}
	if err != nil {
		return objstore.Attrs{}, fmt.Errorf("stat %q: %w", key, err)
	}
	return attrs(key, fi), nil
}

func attrs(key string, fi fs.FileInfo) objstore.Attrs {
	return objstore.Attrs{Key: key, Size: fi.Size(), ETag: etag(fi), LastModified: fi.ModTime()}
}

// etag combines size, modification time and file identity. Every write
// produces a new file (then renamed into place), so the identity changes too;
// writeTemp additionally stamps a fine-grained mtime because a reused inode
// number plus the kernel's coarse timestamps could otherwise repeat a tag.
func etag(fi fs.FileInfo) string {
	return fmt.Sprintf("%x-%x-%x", fi.Size(), fi.ModTime().UnixNano(), fileID(fi))
}

// Put implements objstore.Bucket.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader) error {
	p, err := b.path(ctx, key)
	if err != nil {
		return err
	}
	tmp, err := writeTemp(ctx, p, r)
	if err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %q: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	return nil
}

// PutIfAbsent implements objstore.Bucket.
func (b *Bucket) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	p, err := b.path(ctx, key)
	if err != nil {
		return err
	}
	tmp, err := writeTemp(ctx, p, r)
	if err != nil {
		return fmt.Errorf("put-if-absent %q: %w", key, err)
	}
	// The link either creates the name with the complete content or fails
	// because the name exists; the temporary name goes away either way.
	linkErr := os.Link(tmp, p)
	if err := os.Remove(tmp); err != nil && linkErr == nil {
		linkErr = err
	}
	if errors.Is(linkErr, fs.ErrExist) {
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
			return fmt.Errorf("put-if-absent %q: a directory has that name", key)
		}
		return fmt.Errorf("put-if-absent %q: %w", key, objstore.ErrExists)
	}
	if linkErr != nil {
		return fmt.Errorf("put-if-absent %q: %w", key, linkErr)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("put-if-absent %q: %w", key, err)
	}
	return nil
}

// writeTemp writes r to a new hidden file next to dest, fsyncs it and returns
// its name. On error nothing is left behind.
func writeTemp(ctx context.Context, dest string, r io.Reader) (name string, err error) {
	dir := filepath.Dir(dest)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := io.Copy(f, ctxio.Reader(ctx, r)); err != nil {
		return "", fmt.Errorf("write content: %w", err)
	}
	// CreateTemp uses 0600; objects are ordinary data files.
	if err := f.Chmod(0o644); err != nil {
		return "", err
	}
	now := time.Now()
	if err := os.Chtimes(f.Name(), now, now); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// Delete implements objstore.Bucket. Directories left empty stay in place:
// removing them would race with a concurrent Put creating a file inside.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	p, err := b.path(ctx, key)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	if isMissing(err) || (err == nil && fi.IsDir()) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	if err := os.Remove(p); err != nil && !isMissing(err) {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return nil
}
