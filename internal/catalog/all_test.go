package catalog

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/objstore"
)

// AllTables finds the tables of every database, in every namespace, on the
// default location and on explicitly configured ones, and the WrapBucket
// hook sees every bucket opened.
func TestAllTablesAndWrapBucket(t *testing.T) {
	ctx := context.Background()
	root, other := t.TempDir(), t.TempDir()
	var wrapped []string
	cat, err := New(Config{
		DefaultLocation: "file://" + filepath.ToSlash(root),
		Databases:       map[string]DatabaseConfig{"own": {Location: "file://" + filepath.ToSlash(other)}},
	}, Deps{WrapBucket: func(loc string, b objstore.Bucket) (objstore.Bucket, error) {
		wrapped = append(wrapped, loc)
		return b, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	create := func(dbName string, id Ident) {
		t.Helper()
		db, err := cat.Database(ctx, dbName)
		if err != nil {
			t.Fatal(err)
		}
		if len(id.Namespace) > 0 {
			if _, err := db.CreateNamespace(ctx, id.Namespace, NamespaceCreate, nil); err != nil {
				t.Fatal(err)
			}
		}
		rr := rows(t, mem, 0, 3)
		defer rr.Release()
		if _, err := db.CreateTable(ctx, id, CreateModeCreate, testSchema, rr); err != nil {
			t.Fatal(err)
		}
	}
	create("a", Ident{Name: "t1"})
	create("a", Ident{Name: "t2"})
	create("b", Ident{Namespace: []string{"ns"}, Name: "t3"})
	create("own", Ident{Name: "t4"})
	got, err := cat.AllTables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tn := range got {
		names = append(names, tn.Database+"/"+tn.ID.String())
	}
	slices.Sort(names)
	want := []string{"a/t1", "a/t2", "b/ns$t3", "own/t4"}
	if !slices.Equal(names, want) {
		t.Fatalf("AllTables = %v, want %v", names, want)
	}
	slices.Sort(wrapped)
	if len(wrapped) != 2 {
		t.Fatalf("wrapped buckets %v, want the default location and own's", wrapped)
	}
}

func TestTableOfKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want string
		ok   bool
	}{
		{"t.lance/_versions/1.manifest", "t", true},
		{"a/b/t.lance/_versions/x", "a$b$t", true},
		{"t.lance/data/x.lance", "", false},
		{"x/_versions/1", "", false},
		{"bad name.lance/_versions/1", "", false},
		{"bad ns/t.lance/_versions/1", "", false},
	} {
		id, ok := tableOfKey(tc.key)
		if ok != tc.ok || ok && id.String() != tc.want {
			t.Errorf("tableOfKey(%q) = %v, %v; want %q, %v", tc.key, id, ok, tc.want, tc.ok)
		}
	}
}
