// Package e2e holds Sarissa's acceptance tests: the real `sarissa` binary,
// started as users start it, driven by the official LanceDB client
// (@lancedb/lancedb 0.39.0 in remote mode) through the Node scripts beside
// this file, and compared with stock LanceDB in embedded mode.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sarissa-db/sarissa/internal/testkit/nodejs"
)

const (
	// buildTimeout bounds `go build ./cmd/sarissa`; a cold -race build on two
	// busy cores takes about a minute.
	buildTimeout = 4 * time.Minute
	// startTimeout bounds the wait for the printed address and /healthz.
	startTimeout = 20 * time.Second
	// stopTimeout bounds a graceful shutdown after SIGTERM.
	stopTimeout = 15 * time.Second
	// logTail is how many server log lines a failing test prints.
	logTail = 300
)

var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// sarissaBinary builds ./cmd/sarissa once per test run (with -race when the
// tests themselves run with -race, so the server's data races fail the test
// too) and returns the binary's path.
func sarissaBinary(t testing.TB) string {
	t.Helper()
	root := nodejs.RepoRoot(t)
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "sarissa-e2e-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "sarissa")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/sarissa")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build sarissa: %v", buildErr)
	}
	return binPath
}

// server is one running `sarissa serve` process.
type server struct {
	URL     string // http://host:port, what the client's hostOverride gets
	Addr    string // host:port
	DataDir string
	// FlightAddr is an executor's Arrow Flight address (host:port).
	FlightAddr string

	name    string
	killed  bool // the test killed it on purpose
	cmd     *exec.Cmd
	log     *logBuffer
	exited  chan struct{} // closed once the process has exited
	waitErr error         // the process's exit status; read after exited is closed
}

type serverOptions struct {
	// Listen is the --listen value; empty means 127.0.0.1:0 (the server picks
	// a free port and prints it). NoFlags starts `sarissa serve` with no flags
	// at all (its defaults) in Dir.
	Listen  string
	NoFlags bool
	// Dir is the working directory; empty means a fresh temporary directory.
	Dir string
	// DataDir is --data-dir; empty means <Dir>/data.
	DataDir string
	// Args are more flags (--target, --executors, ...).
	Args []string
	// Name tells servers of one test apart in failure logs.
	Name string
}

var addrPattern = regexp.MustCompile(`(127\.0\.0\.1|localhost|\[::1\]):([1-9][0-9]*)`)

// startServer starts the binary, waits until it has printed where it listens
// and /healthz answers 200, and stops it with SIGTERM when the test ends. A
// failing test gets the server's log.
func startServer(t testing.TB, opts serverOptions) *server {
	t.Helper()
	bin := sarissaBinary(t)
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(opts.Dir, "data")
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	args := []string{"serve"}
	if !opts.NoFlags {
		args = append(args, "--listen", opts.Listen, "--data-dir", opts.DataDir)
	}
	args = append(args, opts.Args...)
	s := &server{DataDir: opts.DataDir, log: &logBuffer{}, exited: make(chan struct{}), name: opts.Name}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = opts.Dir
	s.cmd.Stderr = s.log
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("server stdout: %v", err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s %s: %v", bin, strings.Join(args, " "), err)
	}
	addrs := make(chan string, 1)
	flight := make(chan string, 1)
	stdoutDone := make(chan struct{})
	go func() {
		defer close(stdoutDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			s.log.add("stdout: " + line + "\n")
			if f, ok := strings.CutPrefix(strings.TrimSpace(line), "flight"); ok {
				select {
				case flight <- addrPattern.FindString(f):
				default:
				}
				continue
			}
			if m := addrPattern.FindString(line); m != "" {
				select {
				case addrs <- m:
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		<-stdoutDone // Wait closes the pipe; read it to the end first
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.stop(t) })

	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	select {
	case s.Addr = <-addrs:
	case <-s.exited:
		t.Fatalf("sarissa %s exited before printing its address (%v); log:\n%s", strings.Join(args, " "), s.waitErr, s.log.Tail(logTail))
	case <-deadline.C:
		t.Fatalf("sarissa %s printed no listen address (127.0.0.1:PORT) within %s; log:\n%s", strings.Join(args, " "), startTimeout, s.log.Tail(logTail))
	}
	s.URL = "http://" + s.Addr
	s.waitHealthy(t, deadline.C)
	if slices.Contains(args, "executor") {
		select {
		case s.FlightAddr = <-flight:
		case <-deadline.C:
			t.Fatalf("executor printed no flight address; log:\n%s", s.log.Tail(logTail))
		}
	}
	return s
}

// waitHealthy polls GET /healthz until it answers 200.
func (s *server) waitHealthy(t testing.TB, deadline <-chan time.Time) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		resp, err := client.Get(s.URL + "/healthz")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("status %s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		select {
		case <-tick.C:
		case <-s.exited:
			t.Fatalf("sarissa exited (%v) before /healthz answered; log:\n%s", s.waitErr, s.log.Tail(logTail))
		case <-deadline:
			t.Fatalf("GET %s/healthz not 200 within %s (last: %s); log:\n%s", s.URL, startTimeout, last, s.log.Tail(logTail))
		}
	}
}

// stop sends SIGTERM and checks the shutdown is clean: a timely exit with
// status 0 and no race report. A failing test gets the log.
func (s *server) stop(t testing.TB) {
	t.Helper()
	select {
	case <-s.exited:
		if !s.killed {
			t.Errorf("sarissa %s exited on its own before the test ended (%v)", s.name, s.waitErr)
		}
	default:
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("SIGTERM sarissa: %v", err)
		}
		timer := time.NewTimer(stopTimeout)
		defer timer.Stop()
		select {
		case <-s.exited:
			if s.waitErr != nil {
				t.Errorf("sarissa did not exit cleanly after SIGTERM: %v", s.waitErr)
			}
		case <-timer.C:
			s.cmd.Process.Kill()
			<-s.exited
			t.Errorf("sarissa did not exit within %s of SIGTERM; killed", stopTimeout)
		}
	}
	if strings.Contains(s.log.String(), "WARNING: DATA RACE") {
		t.Errorf("the race detector reported a data race in sarissa")
	}
	if t.Failed() {
		t.Logf("sarissa %s log (last %d lines):\n%s", s.name, logTail, s.log.Tail(logTail))
	}
}

// logBuffer collects the server's output; the reader goroutines and the test
// use it concurrently.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) add(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns the last n lines.
func (b *logBuffer) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// portFree reports whether addr can be listened on right now.
func portFree(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// runNode runs a script under test/e2e and returns its stdout.
func runNode(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	return nodejs.RunScriptIn(t, context.Background(), filepath.Join("test", "e2e"), script, args...)
}
