package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/events/eventstest"
	"github.com/sarissa-db/sarissa/internal/events/kafka"
)

// readyWriter captures stdout and hands over the first line.
type readyWriter struct {
	mu    sync.Mutex
	buf   strings.Builder
	line  chan string
	ready bool
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if s := w.buf.String(); !w.ready && strings.Contains(s, "\n") {
		w.ready = true
		w.line <- strings.SplitN(s, "\n", 2)[0]
	}
	return len(p), nil
}

// start runs devkafka with args until the returned stop is called, and
// returns the address from its ready line.
func start(t *testing.T, args []string, env map[string]string) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out := &readyWriter{line: make(chan string, 1)}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, out, io.Discard, func(k string) string { return env[k] }) }()
	select {
	case line := <-out.line:
		addr, ok := strings.CutPrefix(line, "devkafka listening on ")
		if !ok {
			cancel()
			t.Fatalf("ready line = %q", line)
		}
		stopped := false
		stop = func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run returned %v after the signal", err)
			}
		}
		t.Cleanup(stop)
		return addr, stop
	case err := <-done:
		cancel()
		t.Fatalf("run ended before it was ready: %v", err)
	case <-time.After(60 * time.Second): // a hang guard, not a timing assertion
		cancel()
		t.Fatal("no ready line")
	}
	return "", nil
}

// roundTrip publishes e through the kafka package and reads it back in a
// new group.
func roundTrip(t *testing.T, cfg kafka.Config, group string, e events.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sink, err := kafka.NewSink(ctx, cfg, kafka.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.Publish(ctx, e); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	expectEvent(t, cfg, group, e.ID)
}

func expectEvent(t *testing.T, cfg kafka.Config, group, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cfg.Group = group
	src, err := kafka.NewSource(ctx, cfg, kafka.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for {
		msgs, err := src.Fetch(ctx)
		if err != nil {
			t.Fatalf("Fetch waiting for %s: %v", id, err)
		}
		for _, m := range msgs {
			if m.Event.ID == id {
				return
			}
		}
	}
}

// Serve, produce and consume, stop; restart on the same port and data
// directory with another topic: the old event is still there and the new
// topic exists.
func TestRunServesAndKeepsData(t *testing.T) {
	dir := t.TempDir()
	addr, stop := start(t, []string{"--listen", "127.0.0.1:0", "--topic", "first", "--partitions", "2", "--data-dir", dir}, nil)
	first := kafka.Config{Brokers: []string{addr}, Topic: "first"}
	e := eventstest.Event("t", 1)
	roundTrip(t, first, "g1", e)
	stop()

	addr2, _ := start(t, []string{"--listen", addr, "--topic", "second", "--data-dir", dir}, nil)
	if addr2 != addr {
		t.Fatalf("restarted on %s, asked for %s", addr2, addr)
	}
	expectEvent(t, first, "g2", e.ID)
	roundTrip(t, kafka.Config{Brokers: []string{addr}, Topic: "second"}, "g3", eventstest.Event("t", 2))
}

// The Event Hubs shape: TLS and SASL PLAIN with user $ConnectionString,
// reached through the kafka:// URL form.
func TestRunWithTLSAndSASL(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := eventstest.SelfSignedCert(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	const conn = "Endpoint=sb://dev.servicebus.windows.net/;SharedAccessKeyName=dev;SharedAccessKey=ZGV2"
	env := map[string]string{"DEV_CONN": conn}
	addr, _ := start(t, []string{
		"--listen", "127.0.0.1:0", "--sasl-user", "$ConnectionString", "--sasl-password-env", "DEV_CONN",
		"--tls-cert", certFile, "--tls-key", keyFile,
	}, env)

	cfg, err := kafka.ParseURL("kafka://"+addr+"/sarissa-events?tls=true&ca_file="+certFile+
		"&sasl=plain&user=$ConnectionString&password_env=DEV_CONN", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, cfg, "agent", eventstest.Event("t", 1))
}

func TestRunRefusesBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "nohostport"}, "--listen"},
		{[]string{"--partitions", "0"}, "--partitions 0"},
		{[]string{"--sasl-user", "u"}, "go together"},
		{[]string{"--tls-cert", "c.pem"}, "go together"},
		{[]string{"--sasl-user", "u", "--sasl-password-env", "UNSET"}, "UNSET (--sasl-password-env) is empty or unset"},
		{[]string{"--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"}, "load TLS certificate"},
		{[]string{"--bogus"}, "flag provided but not defined"},
		{[]string{"extra"}, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			err := run(t.Context(), tc.args, io.Discard, io.Discard, func(string) string { return "" })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
}
