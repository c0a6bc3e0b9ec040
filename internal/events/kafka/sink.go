package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/events/internal/promreg"
)

// Sink produces events to the topic, keyed by Event.Key so that one
// table's events land in one partition, in order.
type Sink struct {
	cl       *kgo.Client
	topic    string
	connErrs *connErrors
	log      *slog.Logger

	produced prometheus.Counter
	failed   prometheus.Counter

	closed atomic.Bool
}

var _ events.Sink = (*Sink)(nil)

// NewSink returns a Sink for cfg.Topic. It does not wait for the brokers
// (a query node starts, and its Publisher buffers, while Kafka is down),
// except with cfg.CreateTopic, which creates the topic before returning.
func NewSink(ctx context.Context, cfg Config, deps Deps) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := deps.logger().With("component", "events-kafka-sink", "topic", cfg.Topic)
	opts, err := cfg.clientOpts(log)
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.DefaultProduceTopic(cfg.Topic),
		// Murmur2 over the key, as Kafka's Java producer: a table's
		// events share a partition whichever client wrote them.
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		// Event Hubs refuses compressed batches, and events are small.
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		// Publish must end when its ctx does, even with a request in
		// flight. That can duplicate an event on retry, which consumers
		// tolerate (they dedupe by ID); a Publish stuck until the brokers
		// answer would stall the Publisher's Close instead.
		kgo.AllowIdempotentProduceCancellation(),
	)
	connErrs := &connErrors{}
	opts = append(opts, kgo.WithHooks(connErrs))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka sink: new client: %w", err)
	}
	if cfg.CreateTopic {
		if err := createTopic(ctx, cl, cfg, log); err != nil {
			cl.Close()
			return nil, err
		}
	}
	s := &Sink{cl: cl, topic: cfg.Topic, connErrs: connErrs, log: log}
	if s.produced, err = promreg.Register(deps.Registerer, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sarissa_events_kafka_produced_total",
		Help: "Events the Kafka brokers acknowledged.",
	})); err != nil {
		cl.Close()
		return nil, fmt.Errorf("kafka sink: register metrics: %w", err)
	}
	if s.failed, err = promreg.Register(deps.Registerer, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sarissa_events_kafka_produce_errors_total",
		Help: "Events a Publish call could not get acknowledged (the caller may retry them).",
	})); err != nil {
		cl.Close()
		return nil, fmt.Errorf("kafka sink: register metrics: %w", err)
	}
	return s, nil
}

// createTopic creates the topic unless it exists.
func createTopic(ctx context.Context, cl *kgo.Client, cfg Config, log *slog.Logger) error {
	rf := cfg.ReplicationFactor
	if rf == 0 {
		rf = -1 // the broker's default.replication.factor
	}
	_, err := kadm.NewClient(cl).CreateTopic(ctx, cfg.Partitions, rf, nil, cfg.Topic)
	switch {
	case err == nil:
		log.Info("created topic", "partitions", cfg.Partitions)
		return nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		return nil
	default:
		return fmt.Errorf("kafka: create topic %s: %w", cfg.Topic, err)
	}
}

// Publish produces the events and waits until the brokers acknowledge all
// of them (acks=all) or ctx ends. The call is all or nothing up front: if
// one event would not decode (events.ErrSchema), nothing is produced. After
// a produce error some events may have been written; the error says how
// many were not acknowledged. Safe for concurrent use.
func (s *Sink) Publish(ctx context.Context, evs ...events.Event) error {
	records := make([]*kgo.Record, len(evs))
	for i, e := range evs {
		b, err := encodeChecked(e)
		if err != nil {
			return fmt.Errorf("kafka sink: publish: %w", err)
		}
		records[i] = &kgo.Record{Key: []byte(e.Key()), Value: b}
	}
	if s.closed.Load() {
		return events.ErrClosed
	}
	if len(records) == 0 {
		return nil
	}
	results := s.cl.ProduceSync(ctx, records...)
	var first error
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
			if first == nil {
				first = r.Err
			}
		}
	}
	s.produced.Add(float64(len(records) - failed))
	if failed > 0 {
		s.failed.Add(float64(failed))
		if errors.Is(first, kgo.ErrClientClosed) {
			return events.ErrClosed
		}
		return fmt.Errorf("kafka sink: publish: %d of %d events not acknowledged: %w", failed, len(records), s.connErrs.explain(first))
	}
	return nil
}

// Close closes the client; Publish calls in flight fail with
// events.ErrClosed rather than holding Close up until the brokers answer.
// Closing twice is harmless.
func (s *Sink) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cl.Close()
	return nil
}

// encodeChecked encodes e and checks that a consumer of this build could
// read it, so that a producer bug fails at Publish (as with Memory), not as
// a skipped message at every consumer.
func encodeChecked(e events.Event) ([]byte, error) {
	b, err := events.Encode(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID, err)
	}
	if _, err := events.Decode(b); err != nil {
		return nil, fmt.Errorf("event %q: %w", e.ID, err)
	}
	return b, nil
}
