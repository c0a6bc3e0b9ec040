// Package eventstest is the conformance suite every events transport runs
// (Memory and Kafka), so that the agent can rely on the same delivery
// semantics whichever transport a deployment picks.
package eventstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sarissa-db/sarissa/internal/events"
)

// waitTimeout bounds every wait in the suite. It is a guard against hangs
// (a Kafka group join takes milliseconds against kfake), not a timing
// assertion.
const waitTimeout = 30 * time.Second

// Transport is one instance of the implementation under test, fresh for
// each subtest.
type Transport struct {
	// Sink publishes to the transport. The suite closes it in one test;
	// the constructor should register any other cleanup with t.Cleanup.
	Sink events.Sink
	// NewSource opens a member of group. The suite closes what it opens,
	// sometimes early; Close must be idempotent.
	NewSource func(t *testing.T, group string) events.Source
	// PublishRaw writes value under key exactly as given, as a foreign or
	// newer producer would, bypassing Encode and the Sink's checks.
	PublishRaw func(ctx context.Context, key string, value []byte) error
	// Skipped returns how many undecodable messages the transport's
	// Sources have skipped so far (the implementation's counter).
	Skipped func() float64
}

// RunSuite runs the conformance tests, calling newTransport for a fresh
// transport in every subtest.
func RunSuite(t *testing.T, newTransport func(t *testing.T) Transport) {
	tests := []struct {
		name string
		fn   func(t *testing.T, tr Transport)
	}{
		{"RoundTripEveryField", testRoundTrip},
		{"OrderPerKey", testOrderPerKey},
		{"ConcurrentPublish", testConcurrentPublish},
		{"UncommittedRedelivered", testUncommittedRedelivered},
		{"CommittedNotRedelivered", testCommittedNotRedelivered},
		{"TwoGroupsSeeEverything", testTwoGroups},
		{"FetchHonoursContext", testFetchContext},
		{"UseAfterClose", testUseAfterClose},
		{"InvalidEventRefused", testInvalidRefused},
		{"UndecodableSkipped", testUndecodableSkipped},
		{"NewerSchemaSkipped", testNewerSchemaSkipped},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newTransport(t))
		})
	}
}

// Event returns a complete event of table at version, with every field
// set, so that round trips check every field.
func Event(table string, version uint64) events.Event {
	return events.Event{
		Schema:      events.SchemaVersion,
		ID:          events.NewID("db", table, version, events.OpInsert),
		Database:    "db",
		Table:       table,
		Version:     version,
		Operation:   events.OpInsert,
		RowsAdded:   int64(version) * 10,
		RowsDeleted: 2,
		RowsUpdated: 3,
		Index:       "vec_idx",
		NewTable:    table + "_renamed",
		Time:        time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC),
		Producer:    "query-0",
	}
}

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func publish(t *testing.T, sink events.Sink, evs ...events.Event) {
	t.Helper()
	if err := sink.Publish(waitCtx(t), evs...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

func openSource(t *testing.T, tr Transport, group string) events.Source {
	t.Helper()
	src := tr.NewSource(t, group)
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// fetchUntil fetches until done says the messages so far are enough.
func fetchUntil(t *testing.T, src events.Source, done func([]events.Message) bool) []events.Message {
	t.Helper()
	ctx := waitCtx(t)
	var got []events.Message
	for !done(got) {
		msgs, err := src.Fetch(ctx)
		if err != nil {
			t.Fatalf("Fetch after %d messages: %v", len(got), err)
		}
		if len(msgs) == 0 {
			t.Fatalf("Fetch returned no messages and no error")
		}
		got = append(got, msgs...)
	}
	return got
}

func fetchN(t *testing.T, src events.Source, n int) []events.Message {
	t.Helper()
	return fetchUntil(t, src, func(got []events.Message) bool { return len(got) >= n })
}

// fetchIDs fetches until every id has been seen.
func fetchIDs(t *testing.T, src events.Source, ids ...string) []events.Message {
	t.Helper()
	return fetchUntil(t, src, func(got []events.Message) bool {
		seen := make(map[string]bool, len(got))
		for _, m := range got {
			seen[m.Event.ID] = true
		}
		for _, id := range ids {
			if !seen[id] {
				return false
			}
		}
		return true
	})
}

func sameEvent(a, b events.Event) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return a == b
}

// checkOrder fails unless each key's versions increase and each
// partition's offsets increase, in the order fetched.
func checkOrder(t *testing.T, msgs []events.Message) {
	t.Helper()
	lastVersion := map[string]uint64{}
	lastOffset := map[int32]int64{}
	for _, m := range msgs {
		k := m.Event.Key()
		if v, ok := lastVersion[k]; ok && m.Event.Version <= v {
			t.Errorf("key %s: version %d after %d", k, m.Event.Version, v)
		}
		lastVersion[k] = m.Event.Version
		if o, ok := lastOffset[m.Partition]; ok && m.Offset <= o {
			t.Errorf("partition %d: offset %d after %d", m.Partition, m.Offset, o)
		}
		lastOffset[m.Partition] = m.Offset
	}
}

func testRoundTrip(t *testing.T, tr Transport) {
	want := []events.Event{Event("t1", 1), Event("t1", 2)}
	// Schema left for Encode to fill; the consumer must see SchemaVersion.
	want[1].Schema = 0
	publish(t, tr.Sink, want...)
	want[1].Schema = events.SchemaVersion

	got := fetchN(t, openSource(t, tr, "g"), 2)
	if len(got) != 2 {
		t.Fatalf("got %d messages, want 2", len(got))
	}
	for i, m := range got {
		if !sameEvent(m.Event, want[i]) {
			t.Errorf("message %d:\n got %+v\nwant %+v", i, m.Event, want[i])
		}
		if m.Partition < 0 || m.Offset < 0 {
			t.Errorf("message %d: position %d/%d", i, m.Partition, m.Offset)
		}
	}
	if got[0].Partition == got[1].Partition && got[1].Offset <= got[0].Offset {
		t.Errorf("offsets %d then %d in one partition", got[0].Offset, got[1].Offset)
	}
}

func testOrderPerKey(t *testing.T, tr Transport) {
	const tables, versions = 5, 8
	// Interleave keys, and mix single-event and batched calls.
	for v := uint64(1); v <= versions; v++ {
		var batch []events.Event
		for i := range tables {
			batch = append(batch, Event(fmt.Sprintf("t%d", i), v))
		}
		if v%2 == 0 {
			publish(t, tr.Sink, batch...)
			continue
		}
		for _, e := range batch {
			publish(t, tr.Sink, e)
		}
	}
	got := fetchN(t, openSource(t, tr, "g"), tables*versions)
	if len(got) != tables*versions {
		t.Fatalf("got %d messages, want %d", len(got), tables*versions)
	}
	checkOrder(t, got)
}

func testConcurrentPublish(t *testing.T, tr Transport) {
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for v := uint64(1); v <= each; v++ {
				if err := tr.Sink.Publish(waitCtx(t), Event(fmt.Sprintf("w%d", w), v)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Publish: %v", err)
	}
	got := fetchN(t, openSource(t, tr, "g"), writers*each)
	if len(got) != writers*each {
		t.Fatalf("got %d messages, want %d", len(got), writers*each)
	}
	checkOrder(t, got)
}

// publishSpread publishes n events over four tables and returns their IDs.
func publishSpread(t *testing.T, sink events.Sink, prefix string, n int) []string {
	t.Helper()
	var evs []events.Event
	var ids []string
	for i := range n {
		e := Event(fmt.Sprintf("%s%d", prefix, i%4), uint64(i+1))
		evs = append(evs, e)
		ids = append(ids, e.ID)
	}
	publish(t, sink, evs...)
	return ids
}

func testUncommittedRedelivered(t *testing.T, tr Transport) {
	ids := publishSpread(t, tr.Sink, "t", 12)
	a := openSource(t, tr, "g")
	got := fetchIDs(t, a, ids...)

	// Commit the second message of each partition: that covers the first
	// as well, and leaves the rest uncommitted.
	byPartition := map[int32][]events.Message{}
	for _, m := range got {
		byPartition[m.Partition] = append(byPartition[m.Partition], m)
	}
	var commit []events.Message
	committedThrough := map[int32]int64{}
	for p, ms := range byPartition {
		if len(ms) >= 2 {
			commit = append(commit, ms[1])
			committedThrough[p] = ms[1].Offset
		}
	}
	if err := a.Commit(waitCtx(t), commit); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	want := map[string]bool{}
	for _, m := range got {
		if through, ok := committedThrough[m.Partition]; !ok || m.Offset > through {
			want[m.Event.ID] = true
		}
	}
	if len(want) == 0 {
		t.Fatal("test setup: nothing left uncommitted")
	}
	b := openSource(t, tr, "g")
	again := fetchIDs(t, b, slices.Collect(maps.Keys(want))...)
	for _, m := range again {
		if !want[m.Event.ID] {
			t.Errorf("redelivered %s (partition %d offset %d), which was committed", m.Event.ID, m.Partition, m.Offset)
		}
	}
}

func testCommittedNotRedelivered(t *testing.T, tr Transport) {
	ids := publishSpread(t, tr.Sink, "t", 12)
	a := openSource(t, tr, "g")
	got := fetchIDs(t, a, ids...)
	if err := a.Commit(waitCtx(t), got); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// One sentinel per table, so that every partition holding a committed
	// message has a sentinel after it: a redelivered message would arrive
	// before its partition's sentinel.
	var sentinels []events.Event
	var sentinelIDs []string
	for i := range 4 {
		e := Event(fmt.Sprintf("t%d", i), 1000)
		sentinels = append(sentinels, e)
		sentinelIDs = append(sentinelIDs, e.ID)
	}
	publish(t, tr.Sink, sentinels...)
	b := openSource(t, tr, "g")
	for _, m := range fetchIDs(t, b, sentinelIDs...) {
		if !slices.Contains(sentinelIDs, m.Event.ID) {
			t.Errorf("committed message %s redelivered", m.Event.ID)
		}
	}
}

func testTwoGroups(t *testing.T, tr Transport) {
	ids := publishSpread(t, tr.Sink, "t", 8)
	a := openSource(t, tr, "group-a")
	b := openSource(t, tr, "group-b")
	for name, src := range map[string]events.Source{"group-a": a, "group-b": b} {
		got := fetchIDs(t, src, ids...)
		if len(got) != len(ids) {
			t.Errorf("%s: got %d messages, want %d", name, len(got), len(ids))
		}
	}
	// A commit by one group does not move the other.
	later := publishSpread(t, tr.Sink, "u", 4)
	gotA := fetchIDs(t, a, later...)
	if err := a.Commit(waitCtx(t), gotA); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got := fetchIDs(t, b, later...); len(got) != len(later) {
		t.Errorf("group-b: got %d messages, want %d", len(got), len(later))
	}
}

func testFetchContext(t *testing.T, tr Transport) {
	src := openSource(t, tr, "g")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if msgs, err := src.Fetch(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch with a canceled context = %d messages, %v; want context.Canceled", len(msgs), err)
	}

	// Cancel while Fetch is blocked on an empty log.
	ctx, cancel = context.WithCancel(t.Context())
	timer := time.AfterFunc(50*time.Millisecond, cancel)
	defer timer.Stop()
	if msgs, err := src.Fetch(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch canceled while blocked = %d messages, %v; want context.Canceled", len(msgs), err)
	}

	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if msgs, err := src.Fetch(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Fetch past its deadline = %d messages, %v; want context.DeadlineExceeded", len(msgs), err)
	}

	// The Source still works after a canceled Fetch.
	e := Event("t", 1)
	publish(t, tr.Sink, e)
	fetchIDs(t, src, e.ID)
}

func testUseAfterClose(t *testing.T, tr Transport) {
	src := openSource(t, tr, "g")
	if err := tr.Sink.Close(); err != nil {
		t.Fatalf("Sink.Close: %v", err)
	}
	if err := tr.Sink.Publish(waitCtx(t), Event("t", 1)); !errors.Is(err, events.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if err := tr.Sink.Close(); err != nil {
		t.Errorf("second Sink.Close = %v, want nil", err)
	}

	if err := src.Close(); err != nil {
		t.Fatalf("Source.Close: %v", err)
	}
	if _, err := src.Fetch(waitCtx(t)); !errors.Is(err, events.ErrClosed) {
		t.Errorf("Fetch after Close = %v, want ErrClosed", err)
	}
	if err := src.Commit(waitCtx(t), nil); !errors.Is(err, events.ErrClosed) {
		t.Errorf("Commit after Close = %v, want ErrClosed", err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Source.Close = %v, want nil", err)
	}
}

func testInvalidRefused(t *testing.T, tr Transport) {
	bad := Event("t", 2)
	bad.Table = ""
	err := tr.Sink.Publish(waitCtx(t), Event("t", 1), bad)
	if !errors.Is(err, events.ErrSchema) {
		t.Fatalf("Publish with an event missing its table = %v, want ErrSchema", err)
	}
	// All or nothing: the valid event of the refused call was not written.
	sentinel := Event("t", 3)
	publish(t, tr.Sink, sentinel)
	got := fetchIDs(t, openSource(t, tr, "g"), sentinel.ID)
	if len(got) != 1 {
		t.Errorf("got %d messages (%s first), want only the sentinel", len(got), got[0].Event.ID)
	}
}

// checkSkipped publishes raw values before a valid event with the same key
// and checks that the consumer returns only the valid event and counts the
// rest.
func checkSkipped(t *testing.T, tr Transport, raws ...[]byte) {
	t.Helper()
	valid := Event("t", 1)
	before := tr.Skipped()
	for _, raw := range raws {
		if err := tr.PublishRaw(waitCtx(t), valid.Key(), raw); err != nil {
			t.Fatalf("PublishRaw: %v", err)
		}
	}
	publish(t, tr.Sink, valid)
	src := openSource(t, tr, "g")
	got := fetchIDs(t, src, valid.ID)
	if len(got) != 1 || !sameEvent(got[0].Event, valid) {
		t.Errorf("got %d messages, want only the valid event", len(got))
	}
	if n := tr.Skipped() - before; n != float64(len(raws)) {
		t.Errorf("skipped counter rose by %v, want %d", n, len(raws))
	}
	// Committing the valid event covers the skipped ones before it.
	if err := src.Commit(waitCtx(t), got); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func testUndecodableSkipped(t *testing.T, tr Transport) {
	checkSkipped(t, tr,
		[]byte("not json"),
		[]byte(`{"schema":1}`), // no database, table or operation
		[]byte(`{"database":"db","table":"t","operation":"insert"}`), // no schema
		nil,
	)
}

func testNewerSchemaSkipped(t *testing.T, tr Transport) {
	newer := Event("t", 5)
	newer.Schema = events.SchemaVersion + 1
	raw, err := json.Marshal(newer)
	if err != nil {
		t.Fatal(err)
	}
	checkSkipped(t, tr, raw)
}
