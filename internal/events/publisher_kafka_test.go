package events_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/events/eventstest"
	"github.com/sarissa-db/sarissa/internal/events/kafka"
)

// waitFor polls cond until it holds; the deadline is a guard against
// hangs, not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A broker outage delays events and does not block Publish; a broker that
// comes back on the same address receives every buffered event.
func TestPublisherSurvivesBrokerRestart(t *testing.T) {
	const topic = "sarissa-events"
	dir := t.TempDir() // the broker's log survives its restart, as a real one's would
	first, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic), kfake.DataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	addr := first.ListenAddrs()[0]
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)

	reg := prometheus.NewRegistry()
	cfg := kafka.Config{Brokers: []string{addr}, Topic: topic, DialTimeout: time.Second}
	sink, err := kafka.NewSink(t.Context(), cfg, kafka.Deps{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	p := events.NewPublisher(sink, events.PublisherConfig{
		MinBackoff:     10 * time.Millisecond,
		MaxBackoff:     200 * time.Millisecond,
		PublishTimeout: 2 * time.Second,
	}, events.PublisherDeps{Registerer: reg})
	published := func() float64 { return value(t, reg, "sarissa_events_published_total") }

	var want []string
	publish := func(from, to uint64) {
		for v := from; v <= to; v++ {
			e := eventstest.Event("t"+strconv.FormatUint(v%4, 10), v)
			want = append(want, e.ID)
			p.Publish(e)
		}
	}
	publish(1, 5)
	waitFor(t, "the first events", func() bool { return published() == 5 })

	first.Close()
	publish(6, 25) // returns at once: the buffer takes them
	if got := published(); got != 5 {
		t.Fatalf("published = %v with the broker down, want 5", got)
	}
	if got := value(t, reg, "sarissa_events_buffered"); got != 20 {
		t.Errorf("buffered = %v with the broker down, want 20", got)
	}

	second, err := kfake.NewCluster(kfake.Ports(port), kfake.SeedTopics(3, topic), kfake.DataDir(dir))
	if err != nil {
		t.Fatalf("restart the broker on port %d: %v", port, err)
	}
	defer second.Close()
	waitFor(t, "the buffered events after the restart", func() bool { return published() == 25 })

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := value(t, reg, "sarissa_events_dropped_total"); got != 0 {
		t.Errorf("dropped = %v, want 0", got)
	}

	// Every event, from before and during the outage, is in the topic.
	cfg.Group = "check"
	src, err := kafka.NewSource(ctx, cfg, kafka.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	seen := map[string]bool{}
	for len(seen) < len(want) {
		msgs, err := src.Fetch(ctx)
		if err != nil {
			t.Fatalf("Fetch after %d of %d events: %v", len(seen), len(want), err)
		}
		for _, m := range msgs {
			seen[m.Event.ID] = true
		}
	}
	for _, id := range want {
		if !seen[id] {
			t.Errorf("event %s missing", id)
		}
	}
}
