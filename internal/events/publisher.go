package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sarissa-db/sarissa/internal/events/internal/promreg"
)

// Defaults of PublisherConfig, in one place.
const (
	DefaultPublisherBufferSize     = 10_000
	DefaultPublisherBatchSize      = 500
	DefaultPublisherMinBackoff     = 100 * time.Millisecond
	DefaultPublisherMaxBackoff     = 10 * time.Second
	DefaultPublisherPublishTimeout = 10 * time.Second
)

// Reasons a Publisher drops an event (the reason label of
// sarissa_events_dropped_total).
const (
	DropBufferFull = "buffer_full" // the buffer held BufferSize events
	DropClosed     = "closed"      // Publish after Close, or still buffered when Close's ctx ended
	DropInvalid    = "invalid"     // the event would not decode (ErrSchema): a producer bug
	DropRejected   = "rejected"    // the sink refused it for good (ErrSchema, ErrClosed)
)

// PublisherConfig tunes a Publisher. Zero values mean the defaults above.
type PublisherConfig struct {
	// BufferSize bounds the events waiting to be sent, including the
	// batch in flight. Beyond it events are dropped, not queued, so that
	// a long outage costs bounded memory.
	BufferSize int
	// BatchSize bounds the events of one Sink.Publish call.
	BatchSize int
	// MinBackoff and MaxBackoff bound the wait between failed attempts,
	// which doubles from MinBackoff up to MaxBackoff.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// PublishTimeout bounds one Sink.Publish attempt, after which the
	// batch is retried.
	PublishTimeout time.Duration
}

// withDefaults fills zero (and, for robustness, negative) values.
func (c PublisherConfig) withDefaults() PublisherConfig {
	if c.BufferSize <= 0 {
		c.BufferSize = DefaultPublisherBufferSize
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultPublisherBatchSize
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultPublisherMinBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultPublisherMaxBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = DefaultPublisherPublishTimeout
	}
	return c
}

// Validate refuses negative values and a MaxBackoff below MinBackoff
// (NewPublisher would silently replace them).
func (c PublisherConfig) Validate() error {
	switch {
	case c.BufferSize < 0:
		return fmt.Errorf("events publisher: buffer size %d is negative", c.BufferSize)
	case c.BatchSize < 0:
		return fmt.Errorf("events publisher: batch size %d is negative", c.BatchSize)
	case c.MinBackoff < 0 || c.MaxBackoff < 0:
		return fmt.Errorf("events publisher: backoff %v..%v is negative", c.MinBackoff, c.MaxBackoff)
	case c.MaxBackoff != 0 && c.MaxBackoff < c.withDefaults().MinBackoff:
		return fmt.Errorf("events publisher: max backoff %v is below min backoff %v", c.MaxBackoff, c.withDefaults().MinBackoff)
	case c.PublishTimeout < 0:
		return fmt.Errorf("events publisher: publish timeout %v is negative", c.PublishTimeout)
	}
	return nil
}

// PublisherDeps are a Publisher's collaborators. Zero values are valid.
type PublisherDeps struct {
	// Logger gets retry warnings and drop notices; nil discards.
	Logger *slog.Logger
	// Registerer gets the sarissa_events_* series; nil registers nothing.
	// Publishers sharing a Registerer share the series.
	Registerer prometheus.Registerer
	// Sleep waits d or until ctx ends (returning ctx's error); nil uses a
	// timer. Tests inject one to run backoff without waiting.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Publisher sits between a committed write and a Sink: Publish never
// blocks and never fails the write. Events wait in a bounded buffer and a
// background goroutine sends them in order, in batches, retrying failures
// with capped exponential backoff, so a broker outage delays events (up to
// BufferSize of them; later ones are dropped and counted) and a broker
// that comes back receives them. A retried batch may reach the sink twice,
// which consumers tolerate (they dedupe by ID).
//
// The Publisher does not own the Sink: Close does not close it. Safe for
// concurrent use.
type Publisher struct {
	sink  Sink
	cfg   PublisherConfig
	log   *slog.Logger
	sleep func(context.Context, time.Duration) error

	published prometheus.Counter
	dropped   *prometheus.CounterVec
	pubErrors prometheus.Counter
	buffered  prometheus.Gauge

	mu       sync.Mutex
	queue    []Event // oldest first; the head batch stays here until sent
	closed   bool
	dropping bool // a buffer_full drop was logged and the buffer has not drained since

	wake      chan struct{} // capacity 1: "the queue or closed changed"
	runCtx    context.Context
	cancelRun context.CancelFunc
	done      chan struct{} // closed when the sender goroutine returns
}

// NewPublisher starts a Publisher's sender goroutine; Close stops it.
func NewPublisher(sink Sink, cfg PublisherConfig, deps PublisherDeps) *Publisher {
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "events-publisher")
	p := &Publisher{
		sink:  sink,
		cfg:   cfg.withDefaults(),
		log:   log,
		sleep: deps.Sleep,
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	if p.sleep == nil {
		p.sleep = sleepTimer
	}
	p.registerMetrics(deps.Registerer)
	p.runCtx, p.cancelRun = context.WithCancel(context.Background())
	go p.run()
	return p
}

func (p *Publisher) registerMetrics(reg prometheus.Registerer) {
	// A conflicting registration (same name, other help or labels) cannot
	// fail a constructor that must not fail the write path: the series
	// then count unregistered, and the conflict is logged.
	warn := func(err error) {
		if err != nil {
			p.log.Error("registering events publisher metrics", "err", err)
		}
	}
	var err error
	p.published, err = promreg.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sarissa_events_published_total",
		Help: "Events the sink accepted.",
	}))
	warn(err)
	p.dropped, err = promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sarissa_events_dropped_total",
		Help: "Events dropped instead of published, by reason (buffer_full, closed, invalid, rejected).",
	}, []string{"reason"}))
	warn(err)
	p.pubErrors, err = promreg.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sarissa_events_publish_errors_total",
		Help: "Failed attempts to publish a batch (each is retried after a backoff).",
	}))
	warn(err)
	p.buffered, err = promreg.Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sarissa_events_buffered",
		Help: "Events waiting in the publisher's buffer, including the batch being sent.",
	}))
	warn(err)
}

func sleepTimer(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Publish queues ev and returns at once. If the buffer is full, or the
// Publisher is closed, or ev would not decode, ev is dropped and counted
// in sarissa_events_dropped_total.
func (p *Publisher) Publish(ev Event) {
	if _, err := encodeChecked(ev); err != nil {
		p.dropped.WithLabelValues(DropInvalid).Inc()
		p.log.Error("dropping an event that would not decode", "id", ev.ID, "err", err)
		return
	}
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		p.dropped.WithLabelValues(DropClosed).Inc()
		return
	case len(p.queue) >= p.cfg.BufferSize:
		first := !p.dropping
		p.dropping = true
		p.mu.Unlock()
		p.dropped.WithLabelValues(DropBufferFull).Inc()
		if first {
			// Once per episode: a flood of one line per write would bury
			// the cause.
			p.log.Warn("events buffer full, dropping events until the sink catches up", "buffer_size", p.cfg.BufferSize)
		}
		return
	}
	p.queue = append(p.queue, ev)
	p.mu.Unlock()
	p.buffered.Inc()
	p.signal()
}

func (p *Publisher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run sends batches from the head of the queue until the queue is empty
// after Close, or Close's ctx ends.
func (p *Publisher) run() {
	defer close(p.done)
	backoff := time.Duration(0)
	for {
		batch := p.next()
		if batch == nil {
			return
		}
		err := p.send(batch)
		if err == nil {
			p.remove(len(batch))
			p.published.Add(float64(len(batch)))
			backoff = 0
			continue
		}
		if p.runCtx.Err() != nil {
			return // Close gave up; it counts what is left
		}
		if errors.Is(err, ErrSchema) || errors.Is(err, ErrClosed) {
			// Retrying cannot help: drop the batch rather than wedge
			// every later event behind it.
			p.remove(len(batch))
			p.dropped.WithLabelValues(DropRejected).Add(float64(len(batch)))
			p.log.Error("sink rejected a batch for good; dropped it", "events", len(batch), "err", err)
			continue
		}
		p.pubErrors.Inc()
		backoff = min(max(2*backoff, p.cfg.MinBackoff), p.cfg.MaxBackoff)
		p.log.Warn("publishing events failed; retrying", "events", len(batch), "buffered", p.queueLen(), "retry_in", backoff, "err", err)
		if err := p.sleep(p.runCtx, backoff); err != nil {
			return
		}
	}
}

// next returns a copy of the head batch, waiting for one; nil means stop.
func (p *Publisher) next() []Event {
	for {
		p.mu.Lock()
		if n := min(len(p.queue), p.cfg.BatchSize); n > 0 {
			batch := slices.Clone(p.queue[:n])
			p.mu.Unlock()
			return batch
		}
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return nil
		}
		select {
		case <-p.wake:
		case <-p.runCtx.Done():
			return nil
		}
	}
}

func (p *Publisher) send(batch []Event) error {
	ctx, cancel := context.WithTimeout(p.runCtx, p.cfg.PublishTimeout)
	defer cancel()
	return p.sink.Publish(ctx, batch...)
}

// remove takes the n oldest events off the queue.
func (p *Publisher) remove(n int) {
	p.mu.Lock()
	clear(p.queue[:n]) // let the sent events be collected
	p.queue = p.queue[n:]
	if len(p.queue) == 0 {
		p.queue = nil // drop the backing array after a burst
	}
	recovered := p.dropping && len(p.queue) < p.cfg.BufferSize
	if recovered {
		p.dropping = false
	}
	p.mu.Unlock()
	p.buffered.Sub(float64(n))
	if recovered {
		p.log.Info("events buffer has room again")
	}
}

func (p *Publisher) queueLen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

// Close stops accepting events and sends what is buffered until the buffer
// is empty or ctx ends; then it drops the rest (counted with reason
// closed) and returns an error saying how many. It does not close the
// Sink, which the caller owns and may close after Close returns. It
// returns once the sender goroutine has stopped, which relies on the Sink
// honouring ctx in Publish. Calling Close again returns nil.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.signal()

	defer p.cancelRun()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
	}
	p.cancelRun()
	<-p.done
	p.mu.Lock()
	n := len(p.queue)
	p.queue = nil
	p.mu.Unlock()
	if n == 0 {
		return nil
	}
	p.buffered.Sub(float64(n))
	p.dropped.WithLabelValues(DropClosed).Add(float64(n))
	return fmt.Errorf("events publisher: close: %d events not sent: %w", n, ctx.Err())
}
