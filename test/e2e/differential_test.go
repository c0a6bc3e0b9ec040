package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sarissa-db/sarissa/internal/testkit/nodejs"
)

// TestDifferential runs sequence.mjs against stock LanceDB embedded and
// against Sarissa through the official client in remote mode, and requires
// the same results step by step (compareSequences): same rows, the same order
// where LanceDB defines one (vector results by _distance, plain queries in
// scan order), distances within 1e-4 relative, the same failures.
//
// Afterwards stock LanceDB opens the table Sarissa wrote and must read what
// it wrote itself: Sarissa's data directory is a plain LanceDB database.
func TestDifferential(t *testing.T) {
	nodejs.RequireModules(t)
	runDifferential(t, startServer(t, serverOptions{}))
}

// runDifferential compares srv with stock LanceDB (see TestDifferential).
func runDifferential(t *testing.T, srv *server) {
	refDir := t.TempDir()

	ref := runNode(t, "sequence.mjs", "--embedded", refDir)
	got := runNode(t, "sequence.mjs", "--remote", srv.URL, "--db", "e2e")
	refSteps := parseSteps(t, "stock LanceDB", ref)
	gotSteps := parseSteps(t, "Sarissa", got)
	if len(refSteps) < 80 {
		t.Fatalf("stock LanceDB run recorded only %d steps; the sequence stopped early", len(refSteps))
	}
	problems := compareSequences(refSteps, gotSteps)
	for _, p := range problems {
		t.Errorf("%s", p)
	}
	t.Logf("%d steps compared, %d differ", len(refSteps), len(problems))

	// The on-disk check: table <data-dir>/<database>/<table>.lance, readable
	// by stock LanceDB, equal to the reference table at its latest version.
	loc := filepath.Join(srv.DataDir, "e2e", "items.lance")
	if _, err := os.Stat(loc); err != nil {
		t.Fatalf("Sarissa's table is not at %s: %v", loc, err)
	}
	ctx := context.Background()
	want := nodejs.RunScript(t, ctx, "dump.mjs", refDir, "items", "--order-by", "id")
	have := nodejs.RunScript(t, ctx, "dump.mjs", filepath.Join(srv.DataDir, "e2e"), "items", "--order-by", "id")
	if d := diffLines(string(want), string(have)); d != "" {
		t.Errorf("stock LanceDB reads a different table from Sarissa's data dir than from its own (canonical dumps, ordered by id):\n%s", d)
	}
}
