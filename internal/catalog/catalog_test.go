package catalog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/table"
)

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// rows returns a reader over ids [first, first+n).
func rows(t testing.TB, mem memory.Allocator, first, n int64) array.RecordReader {
	t.Helper()
	b := array.NewRecordBuilder(mem, testSchema)
	defer b.Release()
	for i := first; i < first+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(i)
		b.Field(1).(*array.StringBuilder).Append("n")
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	rr, err := array.NewRecordReader(testSchema, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

type fixture struct {
	cat *Catalog
	mem *memory.CheckedAllocator
	dir string
}

// newFixtures returns a catalog over a temporary directory and one over a
// memory bucket; tests run against both.
func newFixtures(t *testing.T) map[string]fixture {
	t.Helper()
	out := map[string]fixture{}
	for _, kind := range []string{"file", "mem"} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		t.Cleanup(func() { mem.AssertSize(t, 0) })
		var loc, dir string
		if kind == "file" {
			dir = t.TempDir()
			loc = "file://" + filepath.ToSlash(dir)
		} else {
			loc = "mem://cat/root"
		}
		c, err := New(Config{DefaultLocation: loc}, Deps{Table: table.Options{Allocator: mem}})
		if err != nil {
			t.Fatal(err)
		}
		out[kind] = fixture{cat: c, mem: mem, dir: dir}
	}
	return out
}

func (f fixture) db(t *testing.T, name string) *Database {
	t.Helper()
	d, err := f.cat.Database(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (f fixture) create(t *testing.T, d *Database, id string, n int64) {
	t.Helper()
	ident, err := ParseTableID(id, "")
	if err != nil {
		t.Fatal(err)
	}
	rr := rows(t, f.mem, 0, n)
	defer rr.Release()
	if _, err := d.CreateTable(context.Background(), ident, CreateModeCreate, testSchema, rr); err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
}

func count(t *testing.T, d *Database, id string) int64 {
	t.Helper()
	ident, err := ParseTableID(id, "")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := d.OpenTable(context.Background(), ident)
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	s, err := tb.Latest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.NumRows()
}

func listAll(t *testing.T, d *Database, ns []string) []string {
	t.Helper()
	p, err := d.ListTables(context.Background(), ns, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return p.Names
}

func TestNames(t *testing.T) {
	cases := []struct {
		id, delim string
		want      Ident
		err       string
	}{
		{id: "t1", want: Ident{Name: "t1"}},
		{id: "ns1$t1", want: Ident{Namespace: []string{"ns1"}, Name: "t1"}},
		{id: "a$b$t.x-y_z", want: Ident{Namespace: []string{"a", "b"}, Name: "t.x-y_z"}},
		{id: "a.t", delim: ".", want: Ident{Namespace: []string{"a"}, Name: "t"}},
		{id: "", err: "table name is empty"},
		{id: "a/b", err: `contains '/' at byte 1`},
		{id: "..", err: `contains ".."`},
		{id: "a..b", err: `contains ".."`},
		{id: "a\x01", err: "control character at byte 1"},
		{id: "$t", err: "namespace name is empty"},
		{id: ".hidden$t", err: "starts with '.'"},
		{id: "x.lance$t", err: "reserved for tables"},
		{id: "t\xff", err: "not valid UTF-8"},
		{id: strings.Repeat("a", 201), err: "more than the limit"},
		{id: "ü", err: "contains 'ü'"},
	}
	for _, tc := range cases {
		got, err := ParseTableID(tc.id, tc.delim)
		if tc.err != "" {
			if err == nil || !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseTableID(%q) error %v, want ErrInvalidName containing %q", tc.id, err, tc.err)
			}
			continue
		}
		if err != nil || got.Name != tc.want.Name || !slices.Equal(got.Namespace, tc.want.Namespace) {
			t.Errorf("ParseTableID(%q) = %+v, %v; want %+v", tc.id, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		id   string
		want []string
		err  bool
	}{{"$", nil, false}, {"", nil, false}, {"ns1", []string{"ns1"}, false}, {"a$b", []string{"a", "b"}, false}, {"a$$b", nil, true}, {"a/b", nil, true}} {
		got, err := ParseNamespaceID(tc.id, "")
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("ParseNamespaceID(%q) = %v, %v", tc.id, got, err)
		}
	}
	for _, n := range []string{"", ".x", "a/b", "a b"} {
		if err := ValidateDatabaseName(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateDatabaseName(%q) = %v, want ErrInvalidName", n, err)
		}
	}
}

func TestListCreateDrop(t *testing.T) {
	for kind, f := range newFixtures(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			d := f.db(t, "db")
			if got := listAll(t, d, nil); len(got) != 0 {
				t.Fatalf("new database lists %v", got)
			}
			if f.dir != "" {
				if _, err := os.Stat(filepath.Join(f.dir, "db")); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("naming a database created its directory (stat: %v)", err)
				}
			}
			for _, n := range []string{"c", "a", "b.x", "b"} {
				f.create(t, d, n, 3)
			}
			if got, want := listAll(t, d, nil), []string{"a", "b", "b.x", "c"}; !slices.Equal(got, want) {
				t.Fatalf("tables %v, want %v", got, want)
			}
			pages := []Page{}
			token := ""
			for {
				p, err := d.ListTables(ctx, nil, token, 3)
				if err != nil {
					t.Fatal(err)
				}
				pages = append(pages, p)
				if p.NextToken == "" {
					break
				}
				token = p.NextToken
			}
			if len(pages) != 2 || !slices.Equal(pages[0].Names, []string{"a", "b", "b.x"}) || !slices.Equal(pages[1].Names, []string{"c"}) {
				t.Fatalf("pages %+v", pages)
			}
			if p, _ := d.ListTables(ctx, nil, "b", 0); !slices.Equal(p.Names, []string{"b.x", "c"}) {
				t.Fatalf("after b: %v", p.Names)
			}
			if _, err := d.ListTables(ctx, nil, "", -1); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("negative limit: %v", err)
			}
			// Another database is separate.
			if got := listAll(t, f.db(t, "other"), nil); len(got) != 0 {
				t.Fatalf("other database lists %v", got)
			}

			// Create modes.
			id := Ident{Name: "a"}
			rr := rows(t, f.mem, 100, 5)
			_, err := d.CreateTable(ctx, id, CreateModeCreate, testSchema, rr)
			rr.Release()
			if !errors.Is(err, ErrTableExists) || !strings.Contains(err.Error(), "already exists") {
				t.Fatalf("create existing: %v", err)
			}
			rr = rows(t, f.mem, 100, 5)
			c, err := d.CreateTable(ctx, id, CreateModeExistOK, testSchema, rr)
			rr.Release()
			if err != nil || !c.Existed || c.Snapshot.NumRows() != 3 {
				t.Fatalf("exist_ok: %+v %v", c, err)
			}
			rr = rows(t, f.mem, 100, 5)
			c, err = d.CreateTable(ctx, id, CreateModeOverwrite, testSchema, rr)
			rr.Release()
			if err != nil || c.Existed || c.Snapshot.NumRows() != 5 || c.Snapshot.Version() != 2 {
				t.Fatalf("overwrite: %+v %v", c, err)
			}
			if n := count(t, d, "a"); n != 5 {
				t.Fatalf("after overwrite: %d rows", n)
			}
			c, err = d.CreateTable(ctx, Ident{Name: "empty"}, CreateModeExistOK, testSchema, nil)
			if err != nil || c.Existed || c.Snapshot.NumRows() != 0 {
				t.Fatalf("create empty: %+v %v", c, err)
			}

			// Drop.
			if err := d.DropTable(ctx, Ident{Name: "b"}); err != nil {
				t.Fatal(err)
			}
			if got, want := listAll(t, d, nil), []string{"a", "b.x", "c", "empty"}; !slices.Equal(got, want) {
				t.Fatalf("after drop %v, want %v", got, want)
			}
			for a, err := range d.Bucket().List(ctx, "b.lance/") {
				t.Fatalf("object left after drop: %v %v", a.Key, err)
			}
			if _, err := d.OpenTable(ctx, Ident{Name: "b"}); !errors.Is(err, ErrTableNotFound) {
				t.Fatalf("open dropped: %v", err)
			}
			if err := d.DropTable(ctx, Ident{Name: "b"}); !errors.Is(err, ErrTableNotFound) {
				t.Fatalf("drop dropped: %v", err)
			}
			// Re-create under the same name: a fresh table.
			f.create(t, d, "b", 2)
			if n := count(t, d, "b"); n != 2 {
				t.Fatalf("re-created b has %d rows", n)
			}
			if f.dir != "" {
				if _, err := os.Stat(filepath.Join(f.dir, "db", "b.lance", "_versions")); err != nil {
					t.Fatalf("LanceDB OSS layout: %v", err)
				}
			}
		})
	}
}

func TestRename(t *testing.T) {
	for kind, f := range newFixtures(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			d := f.db(t, "db")
			f.create(t, d, "src", 4)
			f.create(t, d, "taken", 1)
			if _, err := d.CreateNamespace(ctx, []string{"ns"}, NamespaceCreate, nil); err != nil {
				t.Fatal(err)
			}
			// Add a second version so manifests and deletion files move too.
			tb, err := d.OpenTable(ctx, Ident{Name: "src"})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := tb.Delete(ctx, "id = 0"); err != nil {
				t.Fatal(err)
			}
			if err := d.RenameTable(ctx, Ident{Name: "src"}, Ident{Name: "taken"}); !errors.Is(err, ErrTableExists) {
				t.Fatalf("rename onto existing: %v", err)
			}
			if err := d.RenameTable(ctx, Ident{Name: "nope"}, Ident{Name: "x"}); !errors.Is(err, ErrTableNotFound) {
				t.Fatalf("rename missing: %v", err)
			}
			if err := d.RenameTable(ctx, Ident{Name: "src"}, Ident{Namespace: []string{"missing"}, Name: "x"}); !errors.Is(err, ErrNamespaceNotFound) {
				t.Fatalf("rename into missing namespace: %v", err)
			}
			if err := d.RenameTable(ctx, Ident{Name: "src"}, Ident{Name: "dst"}); err != nil {
				t.Fatal(err)
			}
			if got, want := listAll(t, d, nil), []string{"dst", "taken"}; !slices.Equal(got, want) {
				t.Fatalf("after rename %v, want %v", got, want)
			}
			if n := count(t, d, "dst"); n != 3 {
				t.Fatalf("renamed table has %d rows, want 3", n)
			}
			tb, err = d.OpenTable(ctx, Ident{Name: "dst"})
			if err != nil {
				t.Fatal(err)
			}
			if s, err := tb.Checkout(ctx, 1); err != nil || s.NumRows() != 4 {
				t.Fatalf("version 1 of the renamed table: %v", err)
			}
			if _, err := d.OpenTable(ctx, Ident{Name: "src"}); !errors.Is(err, ErrTableNotFound) {
				t.Fatalf("old name still opens: %v", err)
			}
			if err := d.RenameTable(ctx, Ident{Name: "dst"}, Ident{Namespace: []string{"ns"}, Name: "moved"}); err != nil {
				t.Fatal(err)
			}
			if got := listAll(t, d, []string{"ns"}); !slices.Equal(got, []string{"moved"}) {
				t.Fatalf("namespace ns lists %v", got)
			}
			if n := count(t, d, "ns$moved"); n != 3 {
				t.Fatalf("moved table has %d rows", n)
			}
		})
	}
}

func TestNamespaces(t *testing.T) {
	for kind, f := range newFixtures(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			d := f.db(t, "db")
			if _, err := d.CreateNamespace(ctx, []string{"a", "b"}, NamespaceCreate, nil); !errors.Is(err, ErrNamespaceNotFound) {
				t.Fatalf("create under missing parent: %v", err)
			}
			props, err := d.CreateNamespace(ctx, []string{"a"}, NamespaceCreate, map[string]string{"k": "v"})
			if err != nil || props["k"] != "v" {
				t.Fatalf("create: %v %v", props, err)
			}
			if _, err := d.CreateNamespace(ctx, []string{"a"}, NamespaceCreate, nil); !errors.Is(err, ErrNamespaceExists) {
				t.Fatalf("create twice: %v", err)
			}
			if props, err := d.CreateNamespace(ctx, []string{"a"}, NamespaceExistOK, nil); err != nil || props["k"] != "v" {
				t.Fatalf("exist ok: %v %v", props, err)
			}
			if _, err := d.CreateNamespace(ctx, []string{"a", "b"}, NamespaceCreate, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := d.CreateNamespace(ctx, []string{"z"}, NamespaceCreate, nil); err != nil {
				t.Fatal(err)
			}
			if props, err := d.DescribeNamespace(ctx, []string{"a"}); err != nil || props["k"] != "v" {
				t.Fatalf("describe: %v %v", props, err)
			}
			if _, err := d.DescribeNamespace(ctx, []string{"nope"}); !errors.Is(err, ErrNamespaceNotFound) {
				t.Fatalf("describe missing: %v", err)
			}
			f.create(t, d, "root_t", 1)
			f.create(t, d, "a$t1", 2)
			f.create(t, d, "a$b$t2", 3)
			if p, err := d.ListNamespaces(ctx, nil, "", 0); err != nil || !slices.Equal(p.Names, []string{"a", "z"}) {
				t.Fatalf("root namespaces %v %v", p.Names, err)
			}
			if p, err := d.ListNamespaces(ctx, []string{"a"}, "", 0); err != nil || !slices.Equal(p.Names, []string{"b"}) {
				t.Fatalf("a's namespaces %v %v", p.Names, err)
			}
			if _, err := d.ListTables(ctx, []string{"nope"}, "", 0); !errors.Is(err, ErrNamespaceNotFound) {
				t.Fatalf("tables of missing namespace: %v", err)
			}
			if got := listAll(t, d, nil); !slices.Equal(got, []string{"root_t"}) {
				t.Fatalf("root tables %v", got)
			}
			if got := listAll(t, d, []string{"a"}); !slices.Equal(got, []string{"t1"}) {
				t.Fatalf("a's tables %v", got)
			}
			if _, err := d.CreateTable(ctx, Ident{Namespace: []string{"nope"}, Name: "t"}, CreateModeCreate, testSchema, nil); !errors.Is(err, ErrNamespaceNotFound) {
				t.Fatalf("create in missing namespace: %v", err)
			}
			err = d.DropNamespace(ctx, []string{"a"}, NamespaceDropOptions{})
			if !errors.Is(err, ErrNamespaceNotEmpty) || !strings.Contains(err.Error(), "table(s) t1") || !strings.Contains(err.Error(), "namespace(s) b") {
				t.Fatalf("restricted drop of non-empty: %v", err)
			}
			if err := d.DropNamespace(ctx, []string{"z"}, NamespaceDropOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := d.DropNamespace(ctx, []string{"z"}, NamespaceDropOptions{}); !errors.Is(err, ErrNamespaceNotFound) {
				t.Fatalf("drop missing: %v", err)
			}
			if err := d.DropNamespace(ctx, []string{"z"}, NamespaceDropOptions{SkipMissing: true}); err != nil {
				t.Fatalf("drop missing with skip: %v", err)
			}
			if n := count(t, d, "a$b$t2"); n != 3 {
				t.Fatalf("nested table: %d rows", n)
			}
			if err := d.DropNamespace(ctx, []string{"a"}, NamespaceDropOptions{Cascade: true}); err != nil {
				t.Fatal(err)
			}
			var left []string
			for a, err := range d.Bucket().List(ctx, "") {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(a.Key, "root_t.lance/") {
					left = append(left, a.Key)
				}
			}
			if len(left) > 0 {
				t.Fatalf("objects left after cascade drop: %v", left)
			}
			if _, err := d.OpenTable(ctx, Ident{Namespace: []string{"a"}, Name: "t1"}); !errors.Is(err, ErrTableNotFound) {
				t.Fatalf("table of dropped namespace opens: %v", err)
			}
			if err := d.DropNamespace(ctx, nil, NamespaceDropOptions{}); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("drop root: %v", err)
			}
		})
	}
}

func TestExplicitDatabases(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := Config{Databases: map[string]DatabaseConfig{"prod": {Location: "file://" + filepath.ToSlash(filepath.Join(dir, "elsewhere"))}}}
	c, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Database(ctx, "other"); !errors.Is(err, ErrDatabaseNotFound) {
		t.Fatalf("unconfigured database without a default: %v", err)
	}
	d, err := c.Database(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateTable(ctx, Ident{Name: "t"}, CreateModeCreate, testSchema, nil); err != nil {
		t.Fatal(err)
	}
	// Tables of an explicit database live directly under its location.
	if _, err := os.Stat(filepath.Join(dir, "elsewhere", "t.lance", "_versions")); err != nil {
		t.Fatal(err)
	}
	if got, want := d.TableURI(Ident{Name: "t"}), "file://"+filepath.ToSlash(filepath.Join(dir, "elsewhere", "t.lance")); got != want {
		t.Fatalf("TableURI %q, want %q", got, want)
	}
	for _, bad := range []Config{
		{},
		{DefaultLocation: "nope"},
		{Databases: map[string]DatabaseConfig{"a/b": {Location: "mem://x"}}},
		{Databases: map[string]DatabaseConfig{"a": {Location: "ftp://x"}}},
	} {
		if _, err := New(bad, Deps{}); err == nil {
			t.Errorf("New(%+v) accepted a bad config", bad)
		}
	}
}
