package events

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

const (
	// memoryFetchMax bounds one Fetch, as a Kafka fetch is bounded by
	// bytes: a consumer that fell behind catches up in batches rather than
	// in one slice holding the whole log.
	memoryFetchMax = 256
	// memoryRetention is how many messages Memory keeps. Like a Kafka
	// topic's retention it bounds memory in a long-running process; a group
	// that falls further behind resumes at the oldest kept message, and
	// since the agent re-derives its work from the manifests, that only
	// delays work. At a few hundred bytes an event, this is tens of MiB.
	memoryRetention = 100_000
)

// Memory is the in-process transport, for one-process mode and tests. It is
// one ordered log (partition 0, offsets from 0) with consumer groups that
// keep a committed offset each, so it has the Kafka transport's delivery
// semantics: a group's new Source resumes at the group's committed offset,
// and messages fetched but not committed are redelivered after Close.
//
// Within a group the single partition belongs to one Source at a time (the
// first one opened, then, after it closes, the next one to Fetch); other
// Sources of the group wait, as surplus Kafka group members do.
//
// The log keeps the newest messages only (a retention of memoryRetention
// messages); nothing is written to disk. The zero value is not usable; call
// NewMemory. Safe for concurrent use.
type Memory struct {
	mu     sync.Mutex
	base   int64 // offset of log[0]; advances as retention drops messages
	log    []memEntry
	groups map[string]*memGroup
	// changed is closed and replaced whenever the log grows or a
	// partition's owner leaves, which wakes every waiting Fetch.
	changed chan struct{}

	retention int
	skipped   atomic.Int64
}

// memEntry holds the encoded event, not the Event, so that consumers decode
// exactly what a Kafka consumer would (and skip what it would skip).
type memEntry struct {
	key   string
	value []byte
}

type memGroup struct {
	committed int64
	owner     *memSource
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	return &Memory{
		groups:    make(map[string]*memGroup),
		changed:   make(chan struct{}),
		retention: memoryRetention,
	}
}

// Sink returns a Sink that appends to the log. Each call returns a separate
// handle: closing one does not close the others or the Memory.
func (m *Memory) Sink() Sink { return &memSink{m: m} }

// Source returns a member of the consumer group. The group is created at
// its first Source, with no committed offset (it starts at the oldest kept
// message).
func (m *Memory) Source(group string) Source {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.groups[group] == nil {
		m.groups[group] = &memGroup{}
	}
	return &memSource{m: m, group: group}
}

// Skipped returns how many messages the Memory's Sources skipped because
// they did not decode (for tests and debugging; the Kafka transport counts
// the same in a metric).
func (m *Memory) Skipped() int64 { return m.skipped.Load() }

// appendRaw writes messages as they are, without encoding or checking. It
// lets tests put in what a foreign or newer producer would write.
func (m *Memory) appendRaw(entries ...memEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log = append(m.log, entries...)
	// Trim in chunks of a quarter of the retention, so that a full log does
	// not move every entry on every append.
	if len(m.log) > m.retention+m.retention/4 {
		drop := len(m.log) - m.retention
		kept := make([]memEntry, m.retention, m.retention+m.retention/4)
		copy(kept, m.log[drop:])
		m.log = kept
		m.base += int64(drop)
	}
	m.broadcastLocked()
}

func (m *Memory) broadcastLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// encodeChecked encodes e and checks that a consumer of this build could
// read it back, so that a producer bug (a missing table name) fails at
// Publish rather than as a skipped message on the consumer's side.
func encodeChecked(e Event) ([]byte, error) {
	b, err := Encode(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID, err)
	}
	if _, err := Decode(b); err != nil {
		return nil, fmt.Errorf("event %q: %w", e.ID, err)
	}
	return b, nil
}

type memSink struct {
	m      *Memory
	closed atomic.Bool
}

var _ Sink = (*memSink)(nil)

// Publish appends the events in order, all or none: an event that would not
// decode fails the call (ErrSchema) before anything is written.
func (s *memSink) Publish(ctx context.Context, events ...Event) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory sink: publish: %w", err)
	}
	entries := make([]memEntry, len(events))
	for i, e := range events {
		b, err := encodeChecked(e)
		if err != nil {
			return fmt.Errorf("memory sink: publish: %w", err)
		}
		entries[i] = memEntry{key: e.Key(), value: b}
	}
	if len(entries) > 0 {
		s.m.appendRaw(entries...)
	}
	return nil
}

// Close makes further Publish calls fail with ErrClosed. Closing twice is
// harmless.
func (s *memSink) Close() error {
	s.closed.Store(true)
	return nil
}

type memSource struct {
	m     *Memory
	group string
	// pos and closed are guarded by m.mu. pos is the next offset to
	// deliver and means something only while this Source owns the
	// partition.
	pos    int64
	closed bool
}

var _ Source = (*memSource)(nil)

// Fetch returns up to memoryFetchMax messages from the Source's position,
// waiting until there is one, ctx ends or the Source is closed.
func (s *memSource) Fetch(ctx context.Context) ([]Message, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("memory source: fetch: %w", err)
		}
		raw, first, wait, err := s.take()
		if err != nil {
			return nil, err
		}
		if len(raw) > 0 {
			// Decode outside the lock; the entries are never modified.
			msgs := make([]Message, 0, len(raw))
			for i, e := range raw {
				ev, err := Decode(e.value)
				if err != nil {
					s.m.skipped.Add(1)
					continue
				}
				msgs = append(msgs, Message{Event: ev, Partition: 0, Offset: first + int64(i)})
			}
			if len(msgs) > 0 {
				return msgs, nil
			}
			// Everything taken was undecodable: keep going, as a Kafka
			// consumer would, rather than return an empty batch.
			continue
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("memory source: fetch: %w", ctx.Err())
		case <-wait:
		}
	}
}

// take claims the partition if nobody owns it and moves the position past
// the entries it returns. With nothing to return it gives the channel that
// signals the next change.
func (s *memSource) take() (raw []memEntry, first int64, wait <-chan struct{}, err error) {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.closed {
		return nil, 0, nil, ErrClosed
	}
	g := m.groups[s.group]
	if g.owner == nil {
		g.owner = s
		s.pos = g.committed
	}
	if g.owner != s {
		return nil, 0, m.changed, nil
	}
	if s.pos < m.base {
		s.pos = m.base
	}
	start := int(s.pos - m.base)
	end := min(len(m.log), start+memoryFetchMax)
	if start >= end {
		return nil, 0, m.changed, nil
	}
	raw = m.log[start:end:end]
	first = s.pos
	s.pos += int64(end - start)
	return raw, first, nil, nil
}

// Commit moves the group's committed offset past the newest of msgs. It
// never moves it back, so committing an older batch late is harmless.
func (s *memSource) Commit(ctx context.Context, msgs []Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory source: commit: %w", err)
	}
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	next := int64(-1)
	end := m.base + int64(len(m.log))
	for _, msg := range msgs {
		if msg.Partition != 0 {
			return fmt.Errorf("memory source: commit: partition %d does not exist (Memory has partition 0 only)", msg.Partition)
		}
		if msg.Offset < 0 || msg.Offset >= end {
			return fmt.Errorf("memory source: commit: offset %d is outside the log (0..%d)", msg.Offset, end-1)
		}
		next = max(next, msg.Offset+1)
	}
	g := m.groups[s.group]
	if next > g.committed {
		g.committed = next
	}
	return nil
}

// Close leaves the group: the partition goes to the group's next Source,
// which resumes at the committed offset. Closing twice is harmless.
func (s *memSource) Close() error {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if g := m.groups[s.group]; g.owner == s {
		g.owner = nil
	}
	// Wake this Source's own Fetch (to return ErrClosed) and the group's
	// waiting members (to take the partition over).
	m.broadcastLocked()
	return nil
}
