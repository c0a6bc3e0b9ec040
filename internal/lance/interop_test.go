package lance

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/objstore/filesystem"
)

// Interop with stock LanceDB (@lancedb/lancedb from the repository's
// node_modules, driven by testdata/interop.mjs). Each direction is checked:
// stock LanceDB reads and commits on tables we wrote to, and we read and
// commit on tables it wrote, including rebasing over each other's deletes.

type stockView struct {
	Version  uint64                    `json:"version"`
	Count    uint64                    `json:"count"`
	IDs      []int                     `json:"ids"`
	Versions []uint64                  `json:"versions"`
	Tags     map[string]map[string]any `json:"tags"`
}

type stock struct {
	t    *testing.T
	node string
	dir  string
}

func newStock(t *testing.T) *stock {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is required for this test: %v", err)
	}
	return &stock{t: t, node: node, dir: t.TempDir()}
}

func (s *stock) command(args ...string) *exec.Cmd {
	cmd := exec.Command(s.node, append([]string{"interop.mjs"}, args...)...)
	cmd.Dir = "testdata"
	return cmd
}

func (s *stock) run(args ...string) string {
	s.t.Helper()
	out, err := s.command(args...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("stock LanceDB %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (s *stock) inspect(table string, tag ...string) stockView {
	s.t.Helper()
	out := s.run(append([]string{"inspect", s.dir, table}, tag...)...)
	var v stockView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		s.t.Fatalf("decode %q: %v", out, err)
	}
	return v
}

func ids(from, to int, except ...int) []int {
	var out []int
	for i := from; i < to; i++ {
		if !slices.Contains(except, i) {
			out = append(out, i)
		}
	}
	return out
}

func TestStockLanceDBInterop(t *testing.T) {
	ctx := context.Background()
	st := newStock(t)
	b, err := filesystem.New(st.dir)
	if err != nil {
		t.Fatal(err)
	}

	// A V1-named table created by stock LanceDB: rows id 0..9 in fragment 0,
	// so row offsets equal ids.
	st.run("create", st.dir, "s", "10", "false")
	tbl, err := Open(ctx, b, "s.lance", testOptions(81))
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Naming() != NamingV1 {
		t.Fatalf("stock table naming %v", tbl.Naming())
	}
	s1, err := tbl.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s1.NumRows() != 10 {
		t.Fatalf("stock table has %d rows", s1.NumRows())
	}

	// We prepare a delete at version 1; stock deletes another row first; our
	// commit rebases over stock's Delete and merges its deletion file.
	ours := deleteRows(t, tbl, s1, 0, 2, 3)
	st.run("delete", st.dir, "s", "id = 7")
	s3 := mustCommit(t, tbl, 1, ours)
	if got := deletedRows(t, tbl, s3, 0); !slices.Equal(got, []uint32{2, 3, 7}) {
		t.Fatalf("merged deletions %v", got)
	}
	mustCommit(t, tbl, 3, NewUpdateConfig(map[string]*string{"sarissa.test": proto.String("1")}, nil))
	if err := tbl.CreateTag(ctx, "ours", 3); err != nil {
		t.Fatal(err)
	}
	v := st.inspect("s")
	if v.Version != 4 || v.Count != 7 || !slices.Equal(v.IDs, ids(0, 10, 2, 3, 7)) ||
		!slices.Equal(v.Versions, []uint64{1, 2, 3, 4}) || v.Tags["ours"]["version"] != float64(3) {
		t.Fatalf("stock sees %+v", v)
	}
	if tv := st.inspect("s", "ours"); tv.Version != 3 || tv.Count != 7 {
		t.Fatalf("stock checkout of our tag: %+v", tv)
	}

	// Stock commits on top of ours; we read its manifest and transaction.
	st.run("add", st.dir, "s", "10", "13")
	s5, err := tbl.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s5.Version() != 5 || s5.NumRows() != 10 || s5.Config()["sarissa.test"] != "1" {
		t.Fatalf("after stock append: version %d rows %d config %v", s5.Version(), s5.NumRows(), s5.Config())
	}
	if txn, err := tbl.Transaction(ctx, 5); err != nil || len(txn.GetAppend().GetFragments()) != 1 {
		t.Fatalf("stock's append transaction: %v %v", txn, err)
	}

	// Stock holds version 5 open, we delete row 0 (version 6), then stock
	// deletes id 11 on its stale handle: it must rebase over our Delete.
	ready, goFile := filepath.Join(st.dir, "ready"), filepath.Join(st.dir, "go")
	cmd := st.command("delete-when", st.dir, "s", "id = 11", ready, goFile)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, ready)
	mustCommit(t, tbl, 5, deleteRows(t, tbl, s5, 0, 0))
	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("stock delete on a stale handle: %v\n%s", err, out.String())
	}
	v = st.inspect("s")
	if v.Version != 7 || !slices.Equal(v.IDs, ids(0, 13, 0, 2, 3, 7, 11)) {
		t.Fatalf("after concurrent deletes stock sees %+v", v)
	}

	// Restore: version 2's content (only id 7 deleted) as version 8.
	if _, err := tbl.Restore(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if v := st.inspect("s"); v.Version != 8 || !slices.Equal(v.IDs, ids(0, 10, 7)) {
		t.Fatalf("after restore stock sees %+v", v)
	}

	// A V2-named table we create, over stock-written data files (copied),
	// which stock then appends to and deletes from.
	frags := s1.Fragments()
	for _, f := range frags {
		for _, df := range f.GetFiles() {
			data, err := os.ReadFile(filepath.Join(st.dir, "s.lance", "data", df.GetPath()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(st.dir, "g.lance", "data"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(st.dir, "g.lance", "data", df.GetPath()), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	unassigned := cloneFragments(frags)
	for _, f := range unassigned {
		f.Id = 0
	}
	g, _, err := Create(ctx, b, "g.lance", CreateParams{
		Fields: s1.Fields(), SchemaMetadata: s1.SchemaMetadata(), Fragments: unassigned,
		DataFormatVersion: s1.DataFormatVersion(),
	}, testOptions(82))
	if err != nil {
		t.Fatal(err)
	}
	if v := st.inspect("g"); v.Version != 1 || !slices.Equal(v.IDs, ids(0, 10)) {
		t.Fatalf("stock reads our new table as %+v", v)
	}
	st.run("add", st.dir, "g", "10", "12")
	st.run("delete", st.dir, "g", "id < 2")
	gl, err := g.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gl.Version() != 3 || gl.NumRows() != 10 || !slices.Equal(fragmentIDs(gl), []uint64{0, 1}) {
		t.Fatalf("our view after stock commits: version %d rows %d ids %v", gl.Version(), gl.NumRows(), fragmentIDs(gl))
	}
	if got := deletedRows(t, g, gl, 0); !slices.Equal(got, []uint32{0, 1}) {
		t.Fatalf("stock's deletion file reads as %v", got)
	}
	if _, err := b.Stat(ctx, "g.lance/"+manifestName(NamingV2, 3)); err != nil {
		t.Fatalf("stock did not keep V2 naming: %v", err)
	}
	// Our append lands after stock's; stock sees it.
	extra := proto.Clone(gl.Fragments()[1]).(*tablepb.DataFragment)
	extra.Id, extra.DeletionFile = 0, nil
	mustCommit(t, g, 3, NewAppend(extra))
	if v := st.inspect("g"); v.Version != 4 || len(v.IDs) != 12 {
		t.Fatalf("stock after our append to its commit: %+v", v)
	}
}

func waitForFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
