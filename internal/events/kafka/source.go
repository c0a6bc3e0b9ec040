package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/events/internal/promreg"
)

// leaveTimeout bounds leaving the group at Close, so that closing while
// the brokers are unreachable does not hang; the group then notices the
// departure at the session timeout instead.
const leaveTimeout = 10 * time.Second

// Source consumes the topic as a member of cfg.Group, with auto-commit off:
// only Commit moves the group's offsets.
//
// Rebalances: when partitions are revoked or lost, the Source forgets them
// and commits nothing on its own (it cannot know what the caller finished
// beyond what it committed). Their new owner resumes at the last commit,
// so messages fetched here but not committed are delivered again there,
// which the at-least-once contract allows. A later Commit for a partition
// this member no longer owns is dropped rather than sent, so that it
// cannot move back the new owner's offset.
type Source struct {
	cl         *kgo.Client
	topic      string
	log        *slog.Logger
	maxRecords int
	closed     atomic.Bool
	closeOnce  sync.Once

	consumed      prometheus.Counter
	skipped       prometheus.Counter
	commitErrors  prometheus.Counter
	staleCommits  prometheus.Counter
	mu            sync.Mutex
	owned         map[int32]bool  // partitions assigned to this member
	committedNext map[int32]int64 // offset this member last committed, per owned partition
}

var _ events.Source = (*Source)(nil)

// NewSource joins cfg.Group on cfg.Topic. A group with no committed offset
// starts at the oldest retained message. Like NewSink it does not wait for
// the brokers, except to create the topic with cfg.CreateTopic.
func NewSource(ctx context.Context, cfg Config, deps Deps) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Group == "" {
		return nil, errors.New("kafka config: a Source needs a consumer group")
	}
	cfg = cfg.withDefaults()
	log := deps.logger().With("component", "events-kafka-source", "topic", cfg.Topic, "group", cfg.Group)
	s := &Source{
		topic:         cfg.Topic,
		log:           log,
		maxRecords:    cfg.FetchMaxRecords,
		owned:         make(map[int32]bool),
		committedNext: make(map[int32]int64),
	}
	if err := s.registerMetrics(deps.Registerer); err != nil {
		return nil, err
	}
	opts, err := cfg.clientOpts(log)
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.ConsumeTopics(cfg.Topic),
		kgo.ConsumerGroup(cfg.Group),
		kgo.DisableAutoCommit(),
		kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(s.assigned),
		kgo.OnPartitionsRevoked(s.revoked),
		kgo.OnPartitionsLost(s.revoked),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka source: new client: %w", err)
	}
	if cfg.CreateTopic {
		if err := createTopic(ctx, cl, cfg, log); err != nil {
			cl.Close()
			return nil, err
		}
	}
	s.cl = cl
	return s, nil
}

func (s *Source) registerMetrics(reg prometheus.Registerer) error {
	for _, m := range []struct {
		dst        *prometheus.Counter
		name, help string
	}{
		{&s.consumed, "sarissa_events_kafka_consumed_total", "Events fetched and decoded."},
		{&s.skipped, "sarissa_events_kafka_skipped_total", "Messages skipped because they did not decode (garbage, missing fields or a newer schema)."},
		{&s.commitErrors, "sarissa_events_kafka_commit_errors_total", "Commit calls that failed."},
		{&s.staleCommits, "sarissa_events_kafka_stale_commits_total", "Partitions left out of a commit because a rebalance moved them to another member."},
	} {
		c, err := promreg.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: m.name, Help: m.help}))
		if err != nil {
			return fmt.Errorf("kafka source: register metrics: %w", err)
		}
		*m.dst = c
	}
	return nil
}

// assigned and revoked run on franz-go's group goroutine.
func (s *Source) assigned(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range parts[s.topic] {
		s.owned[p] = true
		// Another member may have committed since we last owned it.
		delete(s.committedNext, p)
	}
	s.log.Debug("partitions assigned", "partitions", parts[s.topic])
}

func (s *Source) revoked(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range parts[s.topic] {
		delete(s.owned, p)
		delete(s.committedNext, p)
	}
	s.log.Debug("partitions revoked", "partitions", parts[s.topic])
}

// Fetch returns up to cfg.FetchMaxRecords decoded messages, in order per
// partition, waiting until there is one or ctx ends. Undecodable messages
// are skipped, counted and logged at warn. A fetch error with no messages
// is returned (franz-go retries transient ones itself); with messages it is
// logged and the messages are returned.
func (s *Source) Fetch(ctx context.Context) ([]events.Message, error) {
	for {
		if s.closed.Load() {
			return nil, events.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("kafka source: fetch: %w", err)
		}
		fs := s.cl.PollRecords(ctx, s.maxRecords)
		if fs.IsClientClosed() {
			return nil, events.ErrClosed
		}
		var msgs []events.Message
		fs.EachRecord(func(r *kgo.Record) {
			ev, err := events.Decode(r.Value)
			if err != nil {
				s.skipped.Inc()
				s.log.Warn("skipping undecodable event", "partition", r.Partition, "offset", r.Offset, "err", err)
				return
			}
			msgs = append(msgs, events.Message{Event: ev, Partition: r.Partition, Offset: r.Offset})
		})
		var fetchErr error
		fs.EachError(func(_ string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			if fetchErr == nil {
				fetchErr = fmt.Errorf("kafka source: fetch partition %d: %w", p, err)
			}
		})
		// Return what was polled even if ctx ended meanwhile: the client
		// has moved past these records, so dropping them would hide them
		// from this member until the next restart.
		if len(msgs) > 0 {
			if fetchErr != nil {
				s.log.Warn("fetch error alongside messages", "err", fetchErr)
			}
			s.consumed.Add(float64(len(msgs)))
			return msgs, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("kafka source: fetch: %w", err)
		}
		if fetchErr != nil {
			return nil, fetchErr
		}
		// Only undecodable messages, or an empty poll: keep waiting.
	}
}

// Commit commits, per partition, the offset after the newest of msgs, and
// waits for the group coordinator to store it. It never moves an offset
// back that this member committed, and leaves out partitions this member
// no longer owns (see Source).
func (s *Source) Commit(ctx context.Context, msgs []events.Message) error {
	if s.closed.Load() {
		return events.ErrClosed
	}
	next := make(map[int32]int64)
	for _, m := range msgs {
		if m.Partition < 0 || m.Offset < 0 {
			return fmt.Errorf("kafka source: commit: invalid position %d/%d", m.Partition, m.Offset)
		}
		next[m.Partition] = max(next[m.Partition], m.Offset+1)
	}
	offsets := make(map[int32]kgo.EpochOffset)
	s.mu.Lock()
	for p, o := range next {
		if !s.owned[p] {
			s.staleCommits.Inc()
			s.log.Debug("not committing a partition this member no longer owns", "partition", p, "offset", o)
			continue
		}
		if c, ok := s.committedNext[p]; ok && o <= c {
			continue
		}
		// Epoch -1: Message does not carry the leader epoch, and an
		// unknown epoch only turns off truncation detection at resume.
		offsets[p] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	s.mu.Unlock()
	if len(offsets) == 0 {
		return nil
	}

	var cerr error
	s.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{s.topic: offsets},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				cerr = err
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil && cerr == nil {
						cerr = fmt.Errorf("partition %d: %w", p.Partition, err)
					}
				}
			}
		})
	if cerr != nil {
		s.commitErrors.Inc()
		if errors.Is(cerr, kgo.ErrClientClosed) {
			return events.ErrClosed
		}
		return fmt.Errorf("kafka source: commit: %w", cerr)
	}
	s.mu.Lock()
	for p, o := range offsets {
		if s.owned[p] && o.Offset > s.committedNext[p] {
			s.committedNext[p] = o.Offset
		}
	}
	s.mu.Unlock()
	return nil
}

// Close leaves the group (waiting at most leaveTimeout) and closes the
// client; uncommitted messages go to the group's next member. A Fetch
// blocked in another goroutine returns events.ErrClosed. Closing twice is
// harmless.
func (s *Source) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
		defer cancel()
		if err := s.cl.LeaveGroupContext(ctx); err != nil {
			s.log.Warn("leaving the consumer group", "err", err)
		}
		s.cl.Close()
	})
	return nil
}
