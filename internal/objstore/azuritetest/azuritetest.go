// Package azuritetest runs the Azurite blob emulator for tests. Azurite comes
// from the repository's node_modules (installed by `make test` or `npm ci`);
// a missing installation fails the test rather than skipping it, so Azure
// coverage cannot silently disappear.
package azuritetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// The emulator's well-known development account. The key is published in
// Azure's documentation and grants access to nothing but local emulators.
const (
	AccountName = "devstoreaccount1"
	AccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

const (
	startTimeout = 30 * time.Second
	stopGrace    = 2 * time.Second
)

// Server is a running Azurite blob service owned by one test.
type Server struct {
	// Endpoint is the account's service URL, e.g. http://127.0.0.1:PORT/devstoreaccount1.
	Endpoint    string
	AccountName string
	AccountKey  string

	client     *http.Client   // trusts the server's certificate in TLS mode
	roots      *x509.CertPool // nil unless TLS
	containers atomic.Int64
}

type options struct {
	tls bool
}

// Option configures Start.
type Option func(*options)

// WithTLSAndOAuth serves HTTPS with a throwaway self-signed certificate and
// enables Azurite's basic OAuth mode, which accepts bearer tokens (checking
// issuer, audience and lifetime, not signatures). Azurite takes tokens only
// over HTTPS, hence one option for both. Use Server.HTTPClient to connect.
func WithTLSAndOAuth() Option { return func(o *options) { o.tls = true } }

// Start launches Azurite on a free loopback port with its data in a fresh
// temporary directory and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("azuritetest: node is not installed (%v); Azure tests need Node.js and `npm ci`", err)
	}
	mainJS := filepath.Join(RepoRoot(t), "node_modules", "azurite", "dist", "src", "blob", "main.js")
	if _, err := os.Stat(mainJS); err != nil {
		t.Fatalf("azuritetest: Azurite is not installed (%v); run `make test` or `npm ci` in the repository root", err)
	}

	s := &Server{AccountName: AccountName, AccountKey: AccountKey, client: &http.Client{}}
	var extra []string
	scheme := "http"
	if o.tls {
		certFile, keyFile, pool := selfSignedCert(t)
		extra = []string{"--cert", certFile, "--key", keyFile, "--oauth", "basic"}
		scheme = "https"
		s.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		s.roots = pool
	}

	// Picking a free port and then starting Azurite on it can lose a race
	// with another process; a few attempts make that harmless.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("azuritetest: %v", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		args := append([]string{mainJS,
			"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
			"--location", t.TempDir(),
			"--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry",
		}, extra...)
		if lastErr = launch(t, node, args, addr); lastErr == nil {
			s.Endpoint = fmt.Sprintf("%s://%s/%s", scheme, addr, AccountName)
			return s
		}
	}
	t.Fatalf("azuritetest: %v", lastErr)
	return nil
}

// launch starts node directly (not through npx or a shell) so that the one
// PID it gets is the server's, then waits until addr accepts connections.
func launch(t testing.TB, node string, args []string, addr string) error {
	var out syncBuffer
	cmd := exec.Command(node, args...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start Azurite: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case err := <-exited:
			return fmt.Errorf("azurite exited before listening on %s (%v); output:\n%s", addr, err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop(cmd, exited)
			return fmt.Errorf("azurite did not listen on %s within %v; output:\n%s", addr, startTimeout, out.String())
		}
	}
	t.Cleanup(func() { stop(cmd, exited) })
	return nil
}

// stop sends SIGTERM and, because Azurite can linger long after closing its
// listeners, SIGKILL once the grace period is over.
func stop(cmd *exec.Cmd, exited <-chan error) {
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		<-exited
		return
	}
	select {
	case <-exited:
	case <-time.After(stopGrace):
		cmd.Process.Kill()
		<-exited
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RepoRoot returns the directory holding go.mod, found by walking up from the
// test's working directory (its package directory).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("azuritetest: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("azuritetest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// HTTPClient returns a client that can talk to the server (in TLS mode it
// trusts the server's certificate). Pass it as the transport of SDK clients.
func (s *Server) HTTPClient() *http.Client { return s.client }

// CertPool returns a pool trusting the server's certificate in TLS mode (nil
// otherwise), for tests that build a client trusting other servers too.
func (s *Server) CertPool() *x509.CertPool { return s.roots }

// SharedKeyCredential returns the development account's credential.
func (s *Server) SharedKeyCredential(t testing.TB) *container.SharedKeyCredential {
	t.Helper()
	cred, err := container.NewSharedKeyCredential(s.AccountName, s.AccountKey)
	if err != nil {
		t.Fatalf("azuritetest: %v", err)
	}
	return cred
}

// CreateContainer creates the named container with the account key.
func (s *Server) CreateContainer(t testing.TB, name string) {
	t.Helper()
	opts := &container.ClientOptions{}
	opts.Transport = s.client
	c, err := container.NewClientWithSharedKeyCredential(s.Endpoint+"/"+name, s.SharedKeyCredential(t), opts)
	if err != nil {
		t.Fatalf("azuritetest: container client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Create(ctx, nil); err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) {
			t.Fatalf("azuritetest: create container %q: HTTP %d %s", name, re.StatusCode, re.ErrorCode)
		}
		t.Fatalf("azuritetest: create container %q: %v", name, err)
	}
}

// NewContainer creates a container with a name unique within this server
// and returns the name.
func (s *Server) NewContainer(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test-%04d", s.containers.Add(1))
	s.CreateContainer(t, name)
	return name
}

// syncBuffer collects a child's output, written from os/exec's copying goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
