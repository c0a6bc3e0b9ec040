package app

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listeningRE = regexp.MustCompile(`sarissa listening on (http://\S+)`)

// startServer runs `sarissa serve args...` and returns its base URL and a
// function that stops it and returns the exit status.
func startServer(t *testing.T, args ...string) (url string, stdout, stderr *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- Run(ctx, append([]string{"serve"}, args...), stdout, stderr) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listeningRE.FindStringSubmatch(stdout.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case code := <-done:
			cancel()
			t.Fatalf("serve exited with %d before listening\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not report its address\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("serve did not stop within 10s of cancellation\nstderr:\n%s", stderr)
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return url, stdout, stderr, stop
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func TestServeHealthAndMetrics(t *testing.T) {
	dir := t.TempDir()
	url, stdout, stderr, stop := startServer(t, "--listen", "127.0.0.1:0", "--data-dir", dir)
	if strings.HasSuffix(url, ":0") || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("banner URL %q should carry the real port", url)
	}
	if code, body := get(t, url+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	code, body := get(t, url+"/metrics")
	if code != http.StatusOK {
		t.Errorf("/metrics: %d", code)
	}
	for _, m := range []string{"go_goroutines", "process_cpu_seconds_total", "go_memstats_alloc_bytes"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	out := stdout.String()
	for _, want := range []string{
		`lancedb.connect("db://mydb", { apiKey: "any", hostOverride: "` + url + `" })`,
		`lancedb.connect("db://mydb", api_key="any", host_override="` + url + `")`,
		dir,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
	if code := stop(); code != 0 {
		t.Errorf("exit status %d after cancellation\nstderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr.String(), "msg=stopped") {
		t.Errorf("no shutdown log:\n%s", stderr)
	}
	// The listener is closed.
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), time.Second); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}

func TestServeFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, "listen: 127.0.0.1:0\ndata_dir: "+dir+"\nlog_format: json\n")
	url, _, stderr, stop := startServer(t, "--config", cfg)
	if code, _ := get(t, url+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	stop()
	if !strings.Contains(stderr.String(), `"msg":"serving"`) || !strings.Contains(stderr.String(), `"storage":"`+dir) {
		t.Errorf("want JSON logs naming the data dir, got:\n%s", stderr)
	}
}

func TestServeErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--listen", busy.Addr().String(), "--data-dir", t.TempDir()}, 1, "listen on " + busy.Addr().String()},
		{[]string{"--listen", "0.0.0.0:0"}, 2, "pass --insecure"},
		{[]string{"--target", "query"}, 2, "target query needs --executors"},
		{[]string{"extra"}, 2, "serve takes no arguments"},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), append([]string{"serve"}, tc.args...), &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d containing %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
}

// TestGracefulShutdown checks that a request in flight when the server is
// told to stop still gets its answer, and that the server stops.
func TestGracefulShutdown(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	var logs syncBuffer
	n := &node{cfg: cfg, logger: newLogger(cfg, &logs), stdout: io.Discard, now: time.Now}
	ctx := context.Background()
	if err := initMetrics(ctx, n); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	n.api = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	})
	if err := initServer(ctx, n); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runServer(runCtx, n) }()

	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + n.ln.Addr().String() + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, string(b), err}
	}()
	<-entered
	cancel()
	// Shutdown has begun: new connections are refused while the slow
	// request is still running.
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("server stopped with a request in flight: %v", err)
	default:
	}
	close(release)
	r := <-res
	if r.err != nil || r.code != http.StatusOK || r.body != "finished" {
		t.Errorf("in-flight request: %d %q %v", r.code, r.body, r.err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runServer: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server did not stop after the last request")
	}
}

func TestRunCommands(t *testing.T) {
	for _, tc := range []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{nil, 2, "", "Usage: sarissa <command>"},
		{[]string{"nope"}, 2, "", `unknown command "nope"`},
		{[]string{"version"}, 0, "sarissa ", ""},
		{[]string{"--help"}, 0, "Commands:", ""},
		{[]string{"serve", "-h"}, 0, "", "Usage: sarissa serve"},
		{[]string{"import", "--help"}, 0, "", "-vector-columns"},
	} {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.out) || !strings.Contains(stderr.String(), tc.errOut) {
			t.Errorf("%q: exit %d\nstdout %q\nstderr %q", tc.args, code, stdout.String(), stderr.String())
		}
	}
}

// TestServeSeesImportedTables checks the composition: a table imported into
// the data directory is listed by the server under any database name, and
// the API's request metrics land in the registry /metrics serves.
func TestServeSeesImportedTables(t *testing.T) {
	dir := t.TempDir()
	file := writeSample(t, t.TempDir(), "jsonl", 0, 25)
	if code, _, errOut := runImportCmd(t, "--data-dir", dir, "--database", "shop", "--table", "items", "--progress", "none", file); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	url, _, stderr, stop := startServer(t, "--listen", "127.0.0.1:0", "--data-dir", dir)
	list := func(db string) (int, string) {
		req, _ := http.NewRequest("GET", url+"/v1/table/", nil)
		req.Header.Set("x-lancedb-database", db)
		req.Header.Set("x-api-key", "any")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := list("shop"); code != http.StatusOK || !strings.Contains(body, `"items"`) {
		t.Errorf("list shop: %d %s", code, body)
	}
	if code, body := list("anything-else"); code != http.StatusOK || strings.Contains(body, "items") {
		t.Errorf("list another database: %d %s", code, body)
	}
	_, metrics := get(t, url+"/metrics")
	if !strings.Contains(metrics, "sarissa_http_requests_total") {
		t.Errorf("/metrics lacks the API's request counter")
	}
	if code := stop(); code != 0 {
		t.Errorf("exit %d\n%s", code, stderr)
	}
}

// TestServeIndexSpillDir checks that the server works in a directory of its
// own under index_spill_dir (created if missing) and removes it on exit.
func TestServeIndexSpillDir(t *testing.T) {
	spill := filepath.Join(t.TempDir(), "spill", "nested")
	_, _, stderr, stop := startServer(t, "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--index-spill-dir", spill)
	own, err := filepath.Glob(filepath.Join(spill, "sarissa-*"))
	if err != nil || len(own) != 1 {
		t.Fatalf("spill directories while serving: %v, %v", own, err)
	}
	if fi, err := os.Stat(own[0]); err != nil || !fi.IsDir() {
		t.Fatalf("spill directory %s: %v", own[0], err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(own[0]); !os.IsNotExist(err) {
		t.Errorf("spill directory %s left behind after exit: %v", own[0], err)
	}
}
