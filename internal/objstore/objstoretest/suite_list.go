package objstoretest

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"

	"github.com/sarissa-db/sarissa/internal/objstore"
)

func collect(t *testing.T, b objstore.Bucket, prefix string) []objstore.Attrs {
	t.Helper()
	var out []objstore.Attrs
	for a, err := range b.List(t.Context(), prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		out = append(out, a)
	}
	return out
}

func keysOf(as []objstore.Attrs) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Key
	}
	return out
}

// firstErr drains seq and returns the first error, or the number of entries.
func firstErr(seq iter.Seq2[objstore.Attrs, error]) (int, error) {
	n := 0
	for _, err := range seq {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// trickyKeys defeat a naive depth-first directory walk: the separator '/'
// sorts after ' ', '!', '-' and '.' but before '0', so "a/b" comes after
// "a.b" and before "a0" even though "a" is a directory on a filesystem. No
// key is both an object and a directory (see testFileDirConflict for that).
var trickyKeys = []string{
	"a b/c", "a!", "a-b/c", "a.b", "a/b", "a/b.c/d", "a/bc", "a0", "ab",
	"b/c/d", "b/c/d.e", "b/cd", "Z", "z", "é/x", "日本/語", "~",
}

func putTricky(t *testing.T, b objstore.Bucket) []string {
	t.Helper()
	// Insert in an order unrelated to the sorted one.
	for i := range trickyKeys {
		k := trickyKeys[(i*7)%len(trickyKeys)]
		put(t, b, k, []byte("content of "+k))
	}
	want := slices.Clone(trickyKeys)
	slices.Sort(want) // byte-wise, which is what "lexical" means for keys
	return want
}

func testListOrder(t *testing.T, b objstore.Bucket) {
	want := putTricky(t, b)
	got := collect(t, b, "")
	if !slices.Equal(keysOf(got), want) {
		t.Fatalf("List order:\n got %q\nwant %q", keysOf(got), want)
	}
	for _, a := range got {
		if a.Size != int64(len("content of "+a.Key)) || a.ETag == "" || a.LastModified.IsZero() {
			t.Errorf("List entry %+v: want size %d, an ETag and a time", a, len("content of "+a.Key))
		}
		if s := stat(t, b, a.Key); s.ETag != a.ETag || s.Size != a.Size {
			t.Errorf("List entry %+v disagrees with Stat %+v", a, s)
		}
	}
}

func testListPrefixes(t *testing.T, b objstore.Bucket) {
	all := putTricky(t, b)
	prefixes := []string{
		"a",    // file name prefix, directory "a" and siblings "a.b", "a0"
		"a/",   // directory boundary
		"a/b",  // not a boundary: object "a/b", directory "a/b.c", object "a/bc"
		"a/b.", // partial segment inside a directory
		"a/b/", // "a/b" is an object, not a directory: nothing
		"b/c/", "b/c/d", "b/c/d/", "b/c", "b",
		"é", "日", "日本/", "~", "Z", "zz", "nothing",
		"a.", "a-", "a ",
	}
	for _, p := range prefixes {
		var want []string
		for _, k := range all {
			if strings.HasPrefix(k, p) {
				want = append(want, k)
			}
		}
		if got := keysOf(collect(t, b, p)); !slices.Equal(got, want) {
			t.Errorf("List(%q):\n got %q\nwant %q", p, got, want)
		}
	}
	// Spot-check the oracle above with one hand-written answer.
	if got := keysOf(collect(t, b, "a/b")); fmt.Sprint(got) != "[a/b a/b.c/d a/bc]" {
		t.Errorf("List(a/b) = %q", got)
	}
}

func testListEarlyStop(t *testing.T, b objstore.Bucket) {
	for i := range 5 {
		put(t, b, fmt.Sprintf("e/%d", i), []byte{byte(i)})
	}
	n := 0
	for _, err := range b.List(t.Context(), "e/") {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if n++; n == 2 {
			break
		}
	}
	// Stopping early must release whatever the listing held.
	put(t, b, "e/after", []byte("x"))
	if got := len(collect(t, b, "e/")); got != 6 {
		t.Fatalf("List after early stop: got %d entries, want 6", got)
	}
}

// testFileDirConflict covers "p" and "p/q" coexisting. Flat stores allow it;
// hierarchical ones (the filesystem) cannot, and must refuse cleanly: an error
// that is not ErrExists, with the existing object untouched.
func testFileDirConflict(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	put(t, b, "p/q", []byte("child"))
	put(t, b, "r", []byte("parent"))
	errP := b.Put(ctx, "p", bytes.NewReader([]byte("parent")))
	errRS := b.Put(ctx, "r/s", bytes.NewReader([]byte("child")))
	errPIA := b.PutIfAbsent(ctx, "p", bytes.NewReader([]byte("parent")))
	for _, err := range []error{errP, errRS} {
		if errors.Is(err, objstore.ErrExists) || errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("conflicting Put: got %v, want success or a plain error", err)
		}
	}
	wantContent(t, b, "p/q", []byte("child"))
	wantContent(t, b, "r", []byte("parent"))
	want := []string{"p/q", "r"}
	if errP == nil {
		wantContent(t, b, "p", []byte("parent"))
		want = []string{"p", "p/q", "r"}
		if !errors.Is(errPIA, objstore.ErrExists) {
			t.Fatalf("PutIfAbsent(p) after Put(p): got %v, want ErrExists", errPIA)
		}
	} else {
		wantNotExist(t, b, "p")
		// Nothing exists at "p", so reporting ErrExists would send a
		// committer into an endless rebase loop.
		if errPIA == nil || errors.Is(errPIA, objstore.ErrExists) {
			t.Fatalf("PutIfAbsent(p) where Put(p) failed: got %v, want a plain error", errPIA)
		}
	}
	if errRS == nil {
		wantContent(t, b, "r/s", []byte("child"))
		want = append(want, "r/s")
	} else {
		wantNotExist(t, b, "r/s")
	}
	if got := keysOf(collect(t, b, "")); !slices.Equal(got, want) {
		t.Fatalf("List: got %q, want %q", got, want)
	}
}

func testWithPrefix(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	put(t, b, "vie", []byte("outside: prefix of the prefix"))
	put(t, b, "view.txt", []byte("outside: file name extending the prefix"))
	put(t, b, "view0/x", []byte("outside: sibling sharing the name"))
	put(t, b, "other/x", []byte("outside"))
	v := objstore.WithPrefix(b, "view/")
	put(t, v, "k1", []byte("one"))
	put(t, v, "sub/k2", []byte("two"))
	if err := v.PutIfAbsent(ctx, "k1", bytes.NewReader(nil)); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("view PutIfAbsent(k1): got %v, want ErrExists", err)
	}
	wantContent(t, b, "view/k1", []byte("one"))
	wantContent(t, b, "view/sub/k2", []byte("two"))
	if a := stat(t, v, "sub/k2"); a.Key != "sub/k2" {
		t.Fatalf("view Stat key = %q, want sub/k2", a.Key)
	}
	if got := keysOf(collect(t, v, "")); fmt.Sprint(got) != "[k1 sub/k2]" {
		t.Fatalf("view List: got %q, want [k1 sub/k2]", got)
	}
	if got := keysOf(collect(t, v, "s")); fmt.Sprint(got) != "[sub/k2]" {
		t.Fatalf("view List(s): got %q, want [sub/k2]", got)
	}
	if got := readAll(t, v, "k1"); string(got) != "one" {
		t.Fatalf("view Get(k1) = %q", got)
	}
	if err := v.Delete(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	wantNotExist(t, b, "view/k1")
	// The view cannot reach outside its prefix.
	if _, err := v.Stat(ctx, "../other/x"); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Fatalf("view Stat(../other/x): got %v, want ErrInvalidKey", err)
	}
	// Nested views compose; an invalid prefix fails every call.
	nested := objstore.WithPrefix(v, "sub")
	if got := readAll(t, nested, "k2"); string(got) != "two" {
		t.Fatalf("nested view Get(k2) = %q", got)
	}
	bad := objstore.WithPrefix(b, "../up")
	if _, err := bad.Stat(ctx, "x"); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Fatalf("view with invalid prefix: got %v, want ErrInvalidKey", err)
	}
	if _, err := firstErr(bad.List(ctx, "")); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Fatalf("List on view with invalid prefix: got %v, want ErrInvalidKey", err)
	}
}
