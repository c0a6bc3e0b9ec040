package e2e

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sarissa-db/sarissa/internal/testkit/nodejs"
)

// readmeAddr is the address the README's snippets connect to: the server's
// default --listen.
const readmeAddr = "127.0.0.1:8080"

// TestReadmeQuickstart runs the README's TypeScript quickstart, copied
// verbatim into a .mjs file of a fresh project directory, against the server
// started the way the README says (`sarissa serve`, no flags, from that
// directory), and checks what it prints and where the table lands.
//
// If 127.0.0.1:8080 is taken on this machine, the server listens on a free
// port instead and the one string "http://127.0.0.1:8080" in the snippet is
// replaced by the server's URL; the test logs when it does that.
//
// The Python snippet cannot run here (no PyPI access on the build machines),
// so TestReadmePythonMatchesTypeScript checks that it makes the same calls
// with the same arguments.
func TestReadmeQuickstart(t *testing.T) {
	nodejs.RequireModules(t)
	root := nodejs.RepoRoot(t)
	ts := readmeSnippet(t, "quickstart-ts", "ts")
	if !strings.Contains(ts, "http://"+readmeAddr) {
		t.Fatalf("README TypeScript quickstart does not connect to http://%s:\n%s", readmeAddr, ts)
	}

	project := t.TempDir()
	if err := os.Symlink(filepath.Join(root, "node_modules"), filepath.Join(project, "node_modules")); err != nil {
		t.Fatal(err)
	}
	script := ts
	var srv *server
	if portFree(readmeAddr) {
		srv = startServer(t, serverOptions{NoFlags: true, Dir: project, DataDir: filepath.Join(project, "sarissa-data")})
		if srv.Addr != readmeAddr {
			t.Fatalf("`sarissa serve` without flags printed %s, want the default %s", srv.Addr, readmeAddr)
		}
	} else {
		srv = startServer(t, serverOptions{Dir: project, DataDir: filepath.Join(project, "sarissa-data")})
		script = strings.ReplaceAll(ts, "http://"+readmeAddr, srv.URL)
		t.Logf("%s is in use on this machine; running the snippet with http://%s replaced by %s", readmeAddr, readmeAddr, srv.URL)
	}
	if err := os.WriteFile(filepath.Join(project, "quickstart.mjs"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out := strings.TrimSpace(string(nodejs.RunScriptIn(t, context.Background(), project, "quickstart.mjs")))

	// The nearest row to [0.1, 0.2, 0.3, 0.5] is "first" at squared l2
	// distance 0.1², computed in float32.
	fields := strings.Fields(out)
	if len(fields) != 2 || fields[0] != "first" {
		t.Fatalf("quickstart printed %q, want \"first <distance>\"", out)
	}
	d, err := strconv.ParseFloat(fields[1], 64)
	want := float64(sqDist32([]float32{0.1, 0.2, 0.3, 0.5}, []float32{0.1, 0.2, 0.3, 0.4}))
	if err != nil || math.Abs(d-want) > 1e-4*want {
		t.Fatalf("quickstart printed distance %q, want %v", fields[1], want)
	}

	// "Tables are plain Lance datasets: ... ./sarissa-data/mydb/items.lance,
	// and stock LanceDB opens it with lancedb.connect("./sarissa-data/mydb")".
	dbDir := filepath.Join(srv.DataDir, "mydb")
	if _, err := os.Stat(filepath.Join(dbDir, "items.lance")); err != nil {
		t.Fatalf("the README says the table is at ./sarissa-data/mydb/items.lance: %v", err)
	}
	var dump struct {
		Count int `json:"count"`
		Rows  [][]json.RawMessage
	}
	raw := nodejs.RunScript(t, context.Background(), "dump.mjs", dbDir, "items", "--order-by", "id")
	// JS numbers make a float64 id column; rows ordered by id, text second.
	if err := json.Unmarshal(raw, &dump); err != nil || dump.Count != 2 || len(dump.Rows) != 2 ||
		string(dump.Rows[0][1]) != `"first"` || string(dump.Rows[1][1]) != `"second"` {
		t.Fatalf("stock LanceDB reading %s/items: %v\n%s", dbDir, err, clip(string(raw), 2000))
	}
}

func sqDist32(a, b []float32) float32 {
	var s float32
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return s
}

// TestReadmePythonMatchesTypeScript compares the README's two quickstarts
// token by token: identifiers (camelCase folded to snake_case), string and
// number literals, in order, after the import lines. Known spelling
// differences between the clients are mapped (toArray ↔ to_list,
// console.log ↔ print, obj.key ↔ obj["key"], key: ↔ "key":). The Python
// snippet cannot be run here — there is no PyPI access on the build
// machines — so this is the check that it does what the tested TypeScript
// snippet does.
func TestReadmePythonMatchesTypeScript(t *testing.T) {
	ts := tokens(readmeSnippet(t, "quickstart-ts", "ts"), "ts")
	pySrc := readmeSnippet(t, "quickstart-py", "python")
	py := tokens(pySrc, "python")
	// The comparison must notice a changed argument or call.
	for _, edit := range [][2]string{{"limit(1)", "limit(2)"}, {"create_table(", "open_table("}, {`"text"`, `"id"`}} {
		if !strings.Contains(pySrc, edit[0]) {
			t.Fatalf("Python quickstart has no %s; update this test", edit[0])
		}
		if slices.Equal(ts, tokens(strings.Replace(pySrc, edit[0], edit[1], 1), "python")) {
			t.Fatalf("token comparison does not notice %s -> %s", edit[0], edit[1])
		}
	}
	if !slices.Equal(ts, py) {
		i := 0
		for i < len(ts) && i < len(py) && ts[i] == py[i] {
			i++
		}
		t.Fatalf("the README's Python quickstart differs from the TypeScript one at token %d:\n  TypeScript: %v\n  Python:     %v",
			i, ts[max(0, i-3):min(len(ts), i+5)], py[max(0, i-3):min(len(py), i+5)])
	}
	for _, call := range []string{"connect", "create_table", "search", "limit", "to_list"} {
		if !slices.Contains(ts, call) {
			t.Errorf("quickstart no longer calls %s; update this test's expectations", call)
		}
	}
}

// readmeSnippet returns the code of the fenced block between the README's
// <!-- name:begin --> and <!-- name:end --> markers.
func readmeSnippet(t testing.TB, name, lang string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(nodejs.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	begin, end := "<!-- "+name+":begin -->", "<!-- "+name+":end -->"
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %s ... %s section", begin, end)
	}
	block := strings.TrimSpace(text[i+len(begin) : j])
	fence := "```" + lang + "\n"
	if !strings.HasPrefix(block, fence) || !strings.HasSuffix(block, "\n```") {
		t.Fatalf("README.md section %s is not exactly one ```%s fenced block:\n%s", name, lang, block)
	}
	return strings.TrimSuffix(strings.TrimPrefix(block, fence), "```")
}

var (
	tokenPattern = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[A-Za-z_$][A-Za-z0-9_$]*|[0-9]+(?:\.[0-9]+)?`)
	pySubscript  = regexp.MustCompile(`\[\s*"([A-Za-z_][A-Za-z0-9_]*)"\s*\]`)
	pyDictKey    = regexp.MustCompile(`"([A-Za-z_][A-Za-z0-9_]*)"\s*:`)
	camelHump    = regexp.MustCompile(`([a-z0-9])([A-Z])`)
)

// tokens reduces a snippet to the sequence the two languages share.
func tokens(code, lang string) []string {
	var lines []string
	for _, l := range strings.Split(code, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "import ") {
			lines = append(lines, l)
		}
	}
	code = strings.Join(lines, "\n")
	if lang == "python" {
		code = pySubscript.ReplaceAllString(code, ".$1")
		code = pyDictKey.ReplaceAllString(code, "$1:")
	}
	var out []string
	for _, tok := range tokenPattern.FindAllString(code, -1) {
		switch {
		case tok[0] == '"' || tok[0] == '\'':
			out = append(out, "str:"+tok[1:len(tok)-1])
		case tok[0] >= '0' && tok[0] <= '9':
			out = append(out, "num:"+tok)
		case tok == "const" || tok == "let" || tok == "await":
		default:
			out = append(out, strings.ToLower(camelHump.ReplaceAllString(tok, "${1}_${2}")))
		}
	}
	// Map the clients' different spellings of the same call.
	var mapped []string
	for i := 0; i < len(out); i++ {
		switch {
		case out[i] == "to_array":
			mapped = append(mapped, "to_list")
		case out[i] == "console" && i+1 < len(out) && out[i+1] == "log":
			mapped = append(mapped, "print")
			i++
		default:
			mapped = append(mapped, out[i])
		}
	}
	return mapped
}
