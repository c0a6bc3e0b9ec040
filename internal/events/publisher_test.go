package events_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/events/eventstest"
)

// fakeSink records what it accepted. It fails its first failures calls
// with failErr, and with block set it waits for ctx instead.
type fakeSink struct {
	mu       sync.Mutex
	got      []events.Event
	calls    int
	failures int
	failErr  error
	block    bool
	closed   bool
}

func (s *fakeSink) Publish(ctx context.Context, evs ...events.Event) error {
	s.mu.Lock()
	s.calls++
	call, block := s.calls, s.block
	s.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	if call <= s.failures {
		return s.failErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, evs...)
	return nil
}

func (s *fakeSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *fakeSink) events() []events.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

// fakeSleep records the backoffs asked for and returns at once.
type fakeSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (f *fakeSleep) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.waits = append(f.waits, d)
	f.mu.Unlock()
	return ctx.Err()
}

// value reads a series from reg: the sum over series of name whose labels
// include the given name/value pairs (0 if none).
func value(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			}
			if g := m.GetGauge(); g != nil {
				sum += g.GetValue()
			}
		}
	}
	return sum
}

func manyEvents(n int) []events.Event {
	evs := make([]events.Event, n)
	for i := range evs {
		evs[i] = eventstest.Event(fmt.Sprintf("t%d", i%3), uint64(i+1))
	}
	return evs
}

func TestPublisherRetriesThenDeliversInOrder(t *testing.T) {
	reg := prometheus.NewRegistry()
	sink := &fakeSink{failures: 5, failErr: errors.New("broker unavailable")}
	sleep := &fakeSleep{}
	p := events.NewPublisher(sink, events.PublisherConfig{BatchSize: 7, MaxBackoff: 500 * time.Millisecond},
		events.PublisherDeps{Registerer: reg, Sleep: sleep.Sleep})
	want := manyEvents(100)
	for _, e := range want {
		p.Publish(e)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got := sink.events()
	if len(got) != len(want) {
		t.Fatalf("delivered %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID {
			t.Fatalf("event %d is %s, want %s (order lost)", i, got[i].ID, want[i].ID)
		}
	}
	wantWaits := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond}
	if !slices.Equal(sleep.waits, wantWaits) {
		t.Errorf("backoffs = %v, want %v", sleep.waits, wantWaits)
	}
	for name, want := range map[string]float64{
		"sarissa_events_published_total":      100,
		"sarissa_events_publish_errors_total": 5,
		"sarissa_events_dropped_total":        0,
		"sarissa_events_buffered":             0,
	} {
		if got := value(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if sink.closed {
		t.Error("Close closed the sink it does not own")
	}
}

// A sink that never returns: Publish still returns at once, the buffer
// holds exactly BufferSize events, and the rest are dropped and counted.
// Close with a deadline gives up, counts the buffered events as dropped,
// and stops the sender.
func TestPublisherBlockedSinkDropsBeyondBuffer(t *testing.T) {
	reg := prometheus.NewRegistry()
	sink := &fakeSink{block: true}
	p := events.NewPublisher(sink, events.PublisherConfig{BufferSize: 100, BatchSize: 10}, events.PublisherDeps{Registerer: reg})
	for _, e := range manyEvents(150) {
		p.Publish(e)
	}
	// Exact series, as a scrape shows them.
	const want = `
# HELP sarissa_events_buffered Events waiting in the publisher's buffer, including the batch being sent.
# TYPE sarissa_events_buffered gauge
sarissa_events_buffered 100
# HELP sarissa_events_dropped_total Events dropped instead of published, by reason (buffer_full, closed, invalid, rejected).
# TYPE sarissa_events_dropped_total counter
sarissa_events_dropped_total{reason="buffer_full"} 50
# HELP sarissa_events_published_total Events the sink accepted.
# TYPE sarissa_events_published_total counter
sarissa_events_published_total 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"sarissa_events_buffered", "sarissa_events_dropped_total", "sarissa_events_published_total"); err != nil {
		t.Error(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := p.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want context.DeadlineExceeded", err)
	}
	if got := value(t, reg, "sarissa_events_dropped_total", "reason", events.DropClosed); got != 100 {
		t.Errorf("dropped (closed) = %v, want 100", got)
	}
	if got := value(t, reg, "sarissa_events_buffered"); got != 0 {
		t.Errorf("buffered after Close = %v, want 0", got)
	}
	if got := value(t, reg, "sarissa_events_published_total"); got != 0 {
		t.Errorf("published = %v, want 0", got)
	}

	p.Publish(eventstest.Event("t", 1))
	if got := value(t, reg, "sarissa_events_dropped_total", "reason", events.DropClosed); got != 101 {
		t.Errorf("dropped (closed) after a Publish after Close = %v, want 101", got)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestPublisherDropsInvalidAndRejected(t *testing.T) {
	reg := prometheus.NewRegistry()
	sink := &fakeSink{failures: 1, failErr: fmt.Errorf("sink: %w", events.ErrSchema)}
	p := events.NewPublisher(sink, events.PublisherConfig{BatchSize: 1}, events.PublisherDeps{Registerer: reg, Sleep: (&fakeSleep{}).Sleep})
	bad := eventstest.Event("t", 1)
	bad.Operation = ""
	p.Publish(bad)
	first, second := eventstest.Event("t", 2), eventstest.Event("t", 3)
	p.Publish(first)  // rejected by the sink for good
	p.Publish(second) // delivered: the rejection does not wedge the queue
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := sink.events(); len(got) != 1 || got[0].ID != second.ID {
		t.Errorf("delivered %v, want only %s", got, second.ID)
	}
	for reason, want := range map[string]float64{events.DropInvalid: 1, events.DropRejected: 1} {
		if got := value(t, reg, "sarissa_events_dropped_total", "reason", reason); got != want {
			t.Errorf("dropped (%s) = %v, want %v", reason, got, want)
		}
	}
}

func TestPublisherConcurrentPublish(t *testing.T) {
	reg := prometheus.NewRegistry()
	sink := &fakeSink{}
	p := events.NewPublisher(sink, events.PublisherConfig{}, events.PublisherDeps{Registerer: reg})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for v := uint64(1); v <= 500; v++ {
				p.Publish(eventstest.Event(fmt.Sprintf("w%d", w), v))
			}
		})
	}
	wg.Wait()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := sink.events()
	if len(got) != 2000 {
		t.Fatalf("delivered %d, want 2000", len(got))
	}
	last := map[string]uint64{}
	for _, e := range got {
		if e.Version <= last[e.Table] {
			t.Fatalf("table %s: version %d after %d", e.Table, e.Version, last[e.Table])
		}
		last[e.Table] = e.Version
	}
	if got := value(t, reg, "sarissa_events_published_total"); got != 2000 {
		t.Errorf("published = %v, want 2000", got)
	}
}

// Two Publishers on one Registerer share the series instead of panicking.
func TestPublishersShareARegisterer(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		p := events.NewPublisher(&fakeSink{}, events.PublisherConfig{}, events.PublisherDeps{Registerer: reg})
		p.Publish(eventstest.Event("t", 1))
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := value(t, reg, "sarissa_events_published_total"); got != 2 {
		t.Errorf("published = %v, want 2", got)
	}
}

func TestPublisherConfigValidate(t *testing.T) {
	if err := (events.PublisherConfig{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	for _, c := range []events.PublisherConfig{
		{BufferSize: -1},
		{BatchSize: -1},
		{MinBackoff: -time.Second},
		{MinBackoff: time.Second, MaxBackoff: time.Millisecond},
		{MaxBackoff: time.Millisecond}, // below the default minimum
		{PublishTimeout: -1},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", c)
		}
	}
}
