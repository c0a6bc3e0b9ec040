package nodejs

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestRepoRoot(t *testing.T) {
	root := RepoRoot(t)
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mod), "module github.com/sarissa-db/sarissa") {
		t.Fatalf("RepoRoot = %s, whose go.mod is not Sarissa's", root)
	}
}

func TestMissingModules(t *testing.T) {
	if got := missingModules(RepoRoot(t)); len(got) != 0 {
		t.Fatalf("missing in this checkout: %v; run `make test` or `npm ci`", got)
	}
	if got := missingModules(t.TempDir()); len(got) != 4 {
		t.Fatalf("missingModules(empty dir) = %v, want all four packages", got)
	}
}

func TestRunScriptErrors(t *testing.T) {
	RequireModules(t)
	root := RepoRoot(t)
	ctx := context.Background()

	t.Run("usage error carries stderr", func(t *testing.T) {
		_, err := runScript(ctx, root, compat(root), "dump.mjs")
		if err == nil || !strings.Contains(err.Error(), "usage: node dump.mjs") || !strings.Contains(err.Error(), "exit status 2") {
			t.Fatalf("err = %v, want exit status 2 with the usage text", err)
		}
	})
	t.Run("missing script", func(t *testing.T) {
		_, err := runScript(ctx, root, compat(root), "no-such-script.mjs")
		if !os.IsNotExist(unwrapAll(err)) {
			t.Fatalf("err = %v, want a not-exist error", err)
		}
	})
	t.Run("path outside test/compat", func(t *testing.T) {
		_, err := runScript(ctx, root, compat(root), "../../go.mod")
		if err == nil || !strings.Contains(err.Error(), "want a file name inside "+compat(root)) {
			t.Fatalf("err = %v, want a rejection", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := runScript(cctx, root, compat(root), "versions.mjs", t.TempDir(), "t")
		if err == nil || !strings.Contains(err.Error(), "stopped after") {
			t.Fatalf("err = %v, want a stopped-by-context error", err)
		}
	})
}

func compat(root string) string { return filepath.Join(root, "test", "compat") }

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

type summary struct {
	DataStorageVersion string         `json:"data_storage_version"`
	Footers            map[string]int `json:"data_file_footers"`
	Versions           []struct {
		Version int    `json:"version"`
		Op      string `json:"op"`
		Rows    int    `json:"rows"`
	} `json:"versions"`
	Latest int `json:"latest"`
	Rows   int `json:"rows"`
}

type dumpDoc struct {
	Version int `json:"version"`
	Schema  []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"schema"`
	Count int                 `json:"count"`
	Rows  [][]json.RawMessage `json:"rows"`
}

// TestStockTableScripts runs the compatibility scripts end to end against
// stock LanceDB: write a 2.0 table with history, then read it back at several
// versions and check the content follows from what was written.
func TestStockTableScripts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const rows = 700 // small to keep the test quick; the harness default is 5000

	out := RunScript(t, ctx, "write-stock.mjs", dir, "stock", "--rows", strconv.Itoa(rows))
	var sum summary
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("write-stock summary %q: %v", out, err)
	}
	if sum.DataStorageVersion != "2.0" || len(sum.Footers) != 1 || sum.Footers["0.3"] == 0 {
		t.Fatalf("summary says storage %q, footers %v; want 2.0 with only 0.3 footers", sum.DataStorageVersion, sum.Footers)
	}
	if len(sum.Versions) != 4 || sum.Latest != 4 {
		t.Fatalf("summary versions %+v latest %d, want 4 versions", sum.Versions, sum.Latest)
	}

	lines := strings.Split(strings.TrimSpace(string(RunScript(t, ctx, "versions.mjs", dir, "stock"))), "\n")
	if len(lines) != 4 {
		t.Fatalf("versions.mjs printed %d lines, want 4:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, l := range lines {
		var v struct {
			Version  int               `json:"version"`
			Metadata map[string]string `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("versions.mjs line %d %q: %v", i, l, err)
		}
		if v.Version != i+1 || v.Metadata["total_rows"] != strconv.Itoa(sum.Versions[i].Rows) {
			t.Fatalf("versions.mjs line %d = %s, want version %d with total_rows %d", i, l, i+1, sum.Versions[i].Rows)
		}
	}

	dump := func(args ...string) dumpDoc {
		t.Helper()
		raw := RunScript(t, ctx, "dump.mjs", append([]string{dir, "stock"}, args...)...)
		var d dumpDoc
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("dump.mjs %v: %v", args, err)
		}
		if d.Count != len(d.Rows) {
			t.Fatalf("dump.mjs %v: count %d but %d rows", args, d.Count, len(d.Rows))
		}
		return d
	}
	col := func(d dumpDoc, name string) int {
		t.Helper()
		for i, c := range d.Schema {
			if c.Name == name {
				return i
			}
		}
		t.Fatalf("column %s missing from schema %+v", name, d.Schema)
		return -1
	}
	ids := func(d dumpDoc) []int {
		t.Helper()
		c := col(d, "id")
		out := make([]int, len(d.Rows))
		for i, r := range d.Rows {
			var s string
			if err := json.Unmarshal(r[c], &s); err != nil {
				t.Fatalf("row %d id %s: %v", i, r[c], err)
			}
			n, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("row %d id %q: %v", i, s, err)
			}
			out[i] = n
		}
		return out
	}

	v1 := dump("--version", "1")
	if v1.Version != 1 || v1.Count != rows {
		t.Fatalf("version 1: version %d count %d, want 1 and %d", v1.Version, v1.Count, rows)
	}
	for i, id := range ids(v1) {
		if id != i {
			t.Fatalf("version 1 scan order: row %d has id %d", i, id)
		}
	}
	if got := len(v1.Schema); got != 28 {
		t.Fatalf("schema has %d columns, want the 28 written", got)
	}

	latest := dump("--order-by", "id")
	if latest.Version != 4 || latest.Count != sum.Rows {
		t.Fatalf("latest: version %d count %d, want 4 and %d", latest.Version, latest.Count, sum.Rows)
	}
	i32, cat := col(latest, "i32"), col(latest, "category")
	prev := -1
	for i, id := range ids(latest) {
		if id <= prev {
			t.Fatalf("--order-by id: row %d id %d after %d", i, id, prev)
		}
		prev = id
		if id%7 == 3 {
			t.Fatalf("row with id %d survived the delete of id %% 7 = 3", id)
		}
		r := latest.Rows[i]
		if updated := id%11 == 5; updated != (string(r[cat]) == `"updated"`) || updated && string(r[i32]) != `"42"` {
			t.Fatalf("id %d: i32 %s category %s; the update touches exactly id %% 11 = 5", id, r[i32], r[cat])
		}
	}
}
