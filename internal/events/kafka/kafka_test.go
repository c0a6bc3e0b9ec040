package kafka

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/events/eventstest"
)

const testTopic = "sarissa-events"

// startCluster starts a one-broker kfake cluster on a random loopback port
// with the topic seeded in three partitions, so that keys spread.
func startCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(3, testTopic)}, opts...)...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func plainConfig(c *kfake.Cluster) Config {
	return Config{Brokers: c.ListenAddrs(), Topic: testTopic}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// counterValue reads a counter by name from reg (0 if not registered yet).
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			sum := 0.0
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	return 0
}

// transport builds the conformance suite's Transport over cfg.
func transport(t *testing.T, cfg Config) eventstest.Transport {
	t.Helper()
	reg := prometheus.NewRegistry()
	deps := Deps{Logger: discard(), Registerer: reg}
	sink, err := NewSink(t.Context(), cfg, deps)
	if err != nil {
		t.Fatalf("NewSink: %v", err)
	}
	t.Cleanup(func() { _ = sink.Close() })

	// A plain franz-go producer, for bytes our Sink would refuse to write.
	opts, err := cfg.withDefaults().clientOpts(discard())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(cfg.Topic))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(raw.Close)

	return eventstest.Transport{
		Sink: sink,
		NewSource: func(t *testing.T, group string) events.Source {
			c := cfg
			c.Group = group
			src, err := NewSource(t.Context(), c, deps)
			if err != nil {
				t.Fatalf("NewSource: %v", err)
			}
			return src
		},
		PublishRaw: func(ctx context.Context, key string, value []byte) error {
			return raw.ProduceSync(ctx, &kgo.Record{Key: []byte(key), Value: value}).FirstErr()
		},
		Skipped: func() float64 { return counterValue(t, reg, "sarissa_events_kafka_skipped_total") },
	}
}

func TestKafkaConformance(t *testing.T) {
	eventstest.RunSuite(t, func(t *testing.T) eventstest.Transport {
		return transport(t, plainConfig(startCluster(t)))
	})
}

// eventHubsLike starts a cluster that asks for what Event Hubs asks for:
// TLS, and SASL PLAIN with user $ConnectionString and the namespace
// connection string as password. It returns the cluster and the CA file.
func eventHubsLike(t *testing.T, connString string) (*kfake.Cluster, string) {
	t.Helper()
	certPEM, keyPEM := eventstest.SelfSignedCert(t)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t,
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "$ConnectionString", connString),
	)
	return c, caFile
}

const fakeConnString = "Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c2VjcmV0+/="

// The Event Hubs settings, through the URL form, against a broker that
// requires TLS and SASL PLAIN: the whole suite passes over them.
func TestKafkaConformanceTLSAndSASLPlain(t *testing.T) {
	eventstest.RunSuite(t, func(t *testing.T) eventstest.Transport {
		c, caFile := eventHubsLike(t, fakeConnString)
		getenv := func(k string) string {
			if k == "EH_CONN" {
				return fakeConnString
			}
			return ""
		}
		u := "kafka://" + c.ListenAddrs()[0] + "/" + testTopic +
			"?tls=true&ca_file=" + caFile + "&sasl=plain&user=$ConnectionString&password_env=EH_CONN"
		cfg, err := ParseURL(u, getenv)
		if err != nil {
			t.Fatalf("ParseURL: %v", err)
		}
		if cfg.SASLUser != "$ConnectionString" || cfg.SASLPassword != fakeConnString {
			t.Fatalf("ParseURL: user %q, password %d bytes", cfg.SASLUser, len(cfg.SASLPassword))
		}
		return transport(t, cfg)
	})
}

// Wrong credentials, or no TLS against a TLS broker, fail Publish rather
// than succeeding silently.
func TestKafkaRefusedSettings(t *testing.T) {
	c, caFile := eventHubsLike(t, fakeConnString)
	addr := c.ListenAddrs()
	good := Config{Brokers: addr, Topic: testTopic, TLS: true, TLSCAFile: caFile, SASLMechanism: "PLAIN", SASLUser: "$ConnectionString", SASLPassword: fakeConnString}

	wrongPassword := good
	wrongPassword.SASLPassword = "nope"
	noTLS := good
	noTLS.TLS, noTLS.TLSCAFile = false, ""
	untrusted := good
	untrusted.TLSCAFile = ""
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		// kfake drops the connection on a bad password (Kafka would
		// answer SASL_AUTHENTICATION_FAILED), so only the EOF shows.
		{"wrong password", wrongPassword, "last broker connection error"},
		{"no TLS", noTLS, "last broker connection error"},
		{"untrusted certificate", untrusted, "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			cfg.DialTimeout = 2 * time.Second
			sink, err := NewSink(t.Context(), cfg, Deps{})
			if err != nil {
				t.Fatalf("NewSink: %v", err)
			}
			defer sink.Close()
			// franz-go retries connection errors until ctx ends, so
			// every case runs into the deadline; the error says why.
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			err = sink.Publish(ctx, eventstest.Event("t", 1))
			if err == nil {
				t.Fatal("Publish succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Publish = %v, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), fakeConnString) {
				t.Errorf("the error carries the password: %v", err)
			}
		})
	}
}

func TestKafkaKeyPicksPartition(t *testing.T) {
	c := startCluster(t)
	tr := transport(t, plainConfig(c))
	var evs []events.Event
	for v := uint64(1); v <= 20; v++ {
		evs = append(evs, eventstest.Event("one_table", v))
	}
	if err := tr.Sink.Publish(t.Context(), evs...); err != nil {
		t.Fatal(err)
	}
	src := tr.NewSource(t, "g")
	defer src.Close()
	var got []events.Message
	for len(got) < len(evs) {
		msgs, err := src.Fetch(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, msgs...)
	}
	for _, m := range got {
		if m.Partition != got[0].Partition {
			t.Fatalf("one table's events in partitions %d and %d", got[0].Partition, m.Partition)
		}
	}
}

// CreateTopic creates a missing topic and accepts an existing one.
func TestKafkaCreateTopic(t *testing.T) {
	c := startCluster(t)
	cfg := Config{Brokers: c.ListenAddrs(), Topic: "created", CreateTopic: true, Partitions: 2}
	for range 2 {
		sink, err := NewSink(t.Context(), cfg, Deps{})
		if err != nil {
			t.Fatalf("NewSink with CreateTopic: %v", err)
		}
		if err := sink.Publish(t.Context(), eventstest.Event("t", 1)); err != nil {
			t.Fatalf("Publish to the created topic: %v", err)
		}
		_ = sink.Close()
	}
}

// lockedBuffer is a log destination safe for franz-go's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// An undecodable message is logged at warn with its position, not its bytes.
func TestKafkaSkipLogsWarning(t *testing.T) {
	c := startCluster(t)
	cfg := plainConfig(c)
	tr := transport(t, cfg)
	if err := tr.PublishRaw(t.Context(), "db/t", []byte("garbage-payload")); err != nil {
		t.Fatal(err)
	}
	valid := eventstest.Event("t", 1)
	if err := tr.Sink.Publish(t.Context(), valid); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	cfg.Group = "g"
	src, err := NewSource(t.Context(), cfg, Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	msgs, err := src.Fetch(t.Context())
	if err != nil || len(msgs) != 1 || msgs[0].Event.ID != valid.ID {
		t.Fatalf("Fetch = %+v, %v", msgs, err)
	}
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "skipping undecodable event") || !strings.Contains(out, "offset=") {
		t.Errorf("log = %q, want a warning with the offset", out)
	}
	if strings.Contains(out, "garbage-payload") {
		t.Errorf("log carries the message bytes: %q", out)
	}
}

// After a rebalance moves a partition to another member, the first
// member's late commit for it is dropped, and the new owner gets the
// uncommitted messages.
func TestKafkaRebalanceDropsStaleCommits(t *testing.T) {
	c := startCluster(t)
	cfg := plainConfig(c)
	cfg.Group = "g"
	reg := prometheus.NewRegistry()
	deps := Deps{Logger: discard(), Registerer: reg}
	sink, err := NewSink(t.Context(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	var evs []events.Event
	for i := range 12 {
		evs = append(evs, eventstest.Event(string(rune('a'+i)), 1))
	}
	if err := sink.Publish(t.Context(), evs...); err != nil {
		t.Fatal(err)
	}

	a, err := NewSource(t.Context(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var fromA []events.Message
	for len(fromA) < len(evs) {
		msgs, err := a.Fetch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fromA = append(fromA, msgs...)
	}

	b, err := NewSource(t.Context(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// b's first messages prove the rebalance gave it partitions (which a
	// never committed, so b sees their messages again).
	fromB, err := b.Fetch(ctx)
	if err != nil {
		t.Fatalf("second member Fetch: %v", err)
	}
	movedTo := map[int32]bool{}
	for _, m := range fromB {
		movedTo[m.Partition] = true
	}
	// a learns of the revocation when its group goroutine runs the
	// callback, which the rebalance waits for before b is assigned.
	if err := a.Commit(ctx, fromA); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got := counterValue(t, reg, "sarissa_events_kafka_stale_commits_total"); got < float64(len(movedTo)) {
		t.Errorf("stale commits = %v, want at least %d (partitions moved to b)", got, len(movedTo))
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("timed out")
	}
}
