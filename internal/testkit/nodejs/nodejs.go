// Package nodejs runs the Node.js scripts under test/compat and test/e2e from
// Go tests.
//
// Those scripts drive stock LanceDB (@lancedb/lancedb) and apache-arrow, the
// reference implementations our Lance reader and writer are checked against,
// and the official LanceDB client against a running Sarissa server.
// The Node packages come from the repository's package-lock.json; `make test`
// installs them with `npm ci`.
package nodejs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// DefaultTimeout bounds one script run when the caller's context has no
// earlier deadline. Writing a few thousand rows with LanceDB takes seconds;
// two minutes leave room for a loaded two-core machine.
const DefaultTimeout = 2 * time.Minute

// RepoRoot returns the directory holding go.mod, found by walking up from the
// test's working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := findRepoRoot()
	if err != nil {
		t.Fatalf("nodejs: %v", err)
	}
	return root
}

func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repo root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repo root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// RequireModules fails the test (it does not skip it: a missing tool must not
// look like a pass) when node or the Node packages the scripts need are not
// installed.
func RequireModules(t testing.TB) {
	t.Helper()
	root := RepoRoot(t)
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("nodejs: node is not on PATH (%v); install Node.js >= 20", err)
	}
	missing := missingModules(root)
	if len(missing) > 0 {
		t.Fatalf("nodejs: missing Node packages %s under %s/node_modules; run `make test` or `npm ci` in the repository root",
			strings.Join(missing, ", "), root)
	}
}

// missingModules lists the Node packages the scripts import (and the Azurite
// emulator other tests start) that are absent under root/node_modules; any
// at all means `npm ci` has not run in this checkout.
func missingModules(root string) []string {
	var missing []string
	for _, m := range []string{"@lancedb/lancedb", "@lancedb/lancedb-linux-x64-gnu", "apache-arrow", "azurite"} {
		if _, err := os.Stat(filepath.Join(root, "node_modules", m, "package.json")); err != nil {
			missing = append(missing, m)
		}
	}
	return missing
}

// RunScript runs `node test/compat/<script> args...` from the repository root
// and returns its stdout. A non-zero exit, a timeout or a missing package fails
// the test with the script's stderr.
func RunScript(t testing.TB, ctx context.Context, script string, args ...string) []byte {
	t.Helper()
	return RunScriptIn(t, ctx, filepath.Join("test", "compat"), script, args...)
}

// RunScriptIn is RunScript for a script in another directory: dir is either
// relative to the repository root (test/e2e) or absolute (a test's temporary
// directory, which must be able to resolve the repository's node_modules,
// e.g. through a symlink). The script runs from the repository root.
func RunScriptIn(t testing.TB, ctx context.Context, dir, script string, args ...string) []byte {
	t.Helper()
	RequireModules(t)
	root := RepoRoot(t)
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	out, err := runScript(ctx, root, dir, script, args...)
	if err != nil {
		t.Fatalf("nodejs: %v", err)
	}
	return out
}

func runScript(ctx context.Context, root, dir, script string, args ...string) ([]byte, error) {
	if filepath.IsAbs(script) || strings.Contains(filepath.ToSlash(script), "..") {
		return nil, fmt.Errorf("script %q: want a file name inside %s", script, dir)
	}
	path := filepath.Join(dir, script)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("script %s: %w", script, err)
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, "node", append([]string{path}, args...)...)
	cmd.Dir = root
	// Kill the whole process if the deadline passes, and do not wait forever
	// for pipes held open by a grandchild.
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("node %s %s: stopped after %s (%v): %w\nstderr:\n%s",
				script, strings.Join(args, " "), time.Since(start).Round(time.Millisecond), ctx.Err(), err, stderr.String())
		}
		return nil, fmt.Errorf("node %s %s: %w\nstderr:\n%s", script, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}
