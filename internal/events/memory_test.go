package events_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/events/eventstest"
)

func TestMemoryConformance(t *testing.T) {
	eventstest.RunSuite(t, func(t *testing.T) eventstest.Transport {
		m := events.NewMemory()
		return eventstest.Transport{
			Sink:      m.Sink(),
			NewSource: func(_ *testing.T, group string) events.Source { return m.Source(group) },
			PublishRaw: func(_ context.Context, key string, value []byte) error {
				events.AppendRaw(m, key, value)
				return nil
			},
			Skipped: func() float64 { return float64(m.Skipped()) },
		}
	})
}

// Within a group the partition belongs to one Source at a time; the next
// member takes over at the committed offset when the owner leaves.
func TestMemoryGroupMembersShareThePartition(t *testing.T) {
	ctx := t.Context()
	m := events.NewMemory()
	if err := m.Sink().Publish(ctx, eventstest.Event("t", 1), eventstest.Event("t", 2)); err != nil {
		t.Fatal(err)
	}
	owner, waiting := m.Source("g"), m.Source("g")
	defer waiting.Close()
	got, err := owner.Fetch(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("owner Fetch = %d messages, %v", len(got), err)
	}
	if err := owner.Commit(ctx, got[:1]); err != nil {
		t.Fatal(err)
	}

	// The second member gets nothing while the owner is open.
	short, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := waiting.Fetch(short); !errors.Is(err, context.Canceled) {
		t.Fatalf("second member Fetch = %v, want context.Canceled", err)
	}

	done := make(chan []events.Message, 1)
	go func() {
		msgs, err := waiting.Fetch(ctx)
		if err != nil {
			t.Errorf("second member Fetch after the owner left: %v", err)
		}
		done <- msgs
	}()
	if err := owner.Close(); err != nil {
		t.Fatal(err)
	}
	msgs := <-done
	if len(msgs) != 1 || msgs[0].Event.Version != 2 || msgs[0].Offset != 1 {
		t.Fatalf("second member got %+v, want version 2 at offset 1", msgs)
	}
}

func TestMemoryCommitChecks(t *testing.T) {
	ctx := t.Context()
	m := events.NewMemory()
	if err := m.Sink().Publish(ctx, eventstest.Event("t", 1)); err != nil {
		t.Fatal(err)
	}
	src := m.Source("g")
	defer src.Close()
	for _, msg := range []events.Message{{Partition: 1, Offset: 0}, {Offset: 1}, {Offset: -1}} {
		if err := src.Commit(ctx, []events.Message{msg}); err == nil {
			t.Errorf("Commit(%d/%d) = nil, want an error", msg.Partition, msg.Offset)
		}
	}
	if err := src.Commit(ctx, nil); err != nil {
		t.Errorf("Commit(nil) = %v", err)
	}
}

// Retention drops the oldest messages; a group behind them resumes at the
// oldest kept one.
func TestMemoryRetention(t *testing.T) {
	ctx := t.Context()
	m := events.NewMemory()
	events.SetRetention(m, 4)
	sink := m.Sink()
	for v := uint64(1); v <= 10; v++ {
		if err := sink.Publish(ctx, eventstest.Event("t", v)); err != nil {
			t.Fatal(err)
		}
	}
	src := m.Source("g")
	defer src.Close()
	var got []events.Message
	for len(got) == 0 || got[len(got)-1].Event.Version < 10 {
		msgs, err := src.Fetch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, msgs...)
	}
	if len(got) < 4 || len(got) > 5 {
		t.Fatalf("got %d messages after retention of 4 (trimmed in chunks), want 4 or 5", len(got))
	}
	for i, msg := range got {
		if msg.Offset != int64(msg.Event.Version-1) {
			t.Errorf("message %d: offset %d for version %d; offsets must stay absolute", i, msg.Offset, msg.Event.Version)
		}
	}
}
