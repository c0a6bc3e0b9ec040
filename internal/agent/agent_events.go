package agent

import (
	"context"
	"errors"
	"time"

	"github.com/sarissa-db/sarissa/internal/events"
)

// Events: the consumer goroutine, marking tables dirty, and committing
// offsets once the tables an event names have been evaluated.

// noteEvents marks the tables the messages name as dirty, to be evaluated
// Settle after the first of them, and queues the batch for commit once they
// are.
func (a *Agent) noteEvents(msgs []events.Message) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	b := &batch{seq: a.seq, msgs: msgs}
	mark := func(k tableKey, at time.Time) {
		tr := a.trackLocked(k)
		if !tr.dirty {
			tr.dirty, tr.dueAt = true, now.Add(a.cfg.Settle)
		}
		if !at.IsZero() && (tr.firstWrite.IsZero() || at.Before(tr.firstWrite)) {
			tr.firstWrite = at
		}
		tr.markedSeq = a.seq
		tr.lastSeen = now
		b.tables = append(b.tables, k)
	}
	for _, msg := range msgs {
		ev := msg.Event
		a.m.events.WithLabelValues(opLabel(ev.Operation)).Inc()
		k := tableKey{ev.Database, ev.Table}
		switch ev.Operation {
		case events.OpDropTable, events.OpRenameTable:
			// The name's memory belongs to the table that had it; a
			// table created under it later starts afresh. It is still
			// evaluated: a redelivered drop may find a re-created table.
			a.forgetLocked(k)
			mark(k, time.Time{})
			if ev.Operation == events.OpRenameTable && ev.NewTable != "" {
				mark(tableKey{ev.Database, ev.NewTable}, ev.Time)
			}
		default:
			// Unknown operations too: whatever changed, the table's
			// state says what it needs.
			mark(k, ev.Time)
		}
	}
	a.batches = append(a.batches, b)
}

// advanceCommitsLocked moves the oldest batches whose tables have all been
// evaluated since to toCommit. Batches are committed in order: a commit
// covers every earlier message of its partitions.
func (a *Agent) advanceCommitsLocked() {
	for len(a.batches) > 0 {
		b := a.batches[0]
		for _, k := range b.tables {
			if tr, ok := a.tables[k]; ok && tr.coveredSeq < b.seq {
				return
			}
		}
		for _, m := range b.msgs {
			if prev, ok := a.toCommit[m.Partition]; !ok || m.Offset > prev.Offset {
				a.toCommit[m.Partition] = m
			}
		}
		a.batches = a.batches[1:]
		if a.interruptFetch != nil {
			a.interruptFetch()
		}
	}
}

// consume is the only goroutine talking to the Source: it fetches, hands
// the messages to the loop, and commits what the loop marked evaluated
// between fetches. ctx ends consuming; the last commit follows
// workersDone.
func (a *Agent) consume(ctx context.Context, workersDone <-chan struct{}) {
	src := a.deps.Source
	defer func() {
		<-workersDone
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		defer cancel()
		a.commit(cctx)
	}()
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, fetchWait)
		a.mu.Lock()
		a.interruptFetch = cancel
		a.mu.Unlock()
		a.commit(ctx)
		// Both transports return what they polled even when fctx ends, so
		// interrupting a Fetch loses nothing.
		msgs, err := src.Fetch(fctx)
		timedOut := fctx.Err() != nil
		a.mu.Lock()
		a.interruptFetch = nil
		a.mu.Unlock()
		cancel()
		switch {
		case len(msgs) > 0:
			select {
			case a.batchCh <- msgs:
			case <-ctx.Done():
				return
			}
		case errors.Is(err, events.ErrClosed):
			a.log.Warn("event source closed; reconciles only from now on")
			return
		case err != nil && !timedOut:
			a.m.sourceErrors.Inc()
			a.log.Warn("fetching events", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(a.sourceRetry):
			}
		}
	}
}

// commit commits the messages the loop marked evaluated.
func (a *Agent) commit(ctx context.Context) {
	a.mu.Lock()
	msgs := make([]events.Message, 0, len(a.toCommit))
	for _, m := range a.toCommit {
		msgs = append(msgs, m)
	}
	clear(a.toCommit)
	a.mu.Unlock()
	if len(msgs) == 0 {
		return
	}
	if err := a.deps.Source.Commit(ctx, msgs); err != nil {
		a.m.sourceErrors.Inc()
		a.log.Warn("committing event offsets", "err", err)
		// Put them back unless newer ones arrived meanwhile: the next
		// commit retries.
		a.mu.Lock()
		for _, m := range msgs {
			if prev, ok := a.toCommit[m.Partition]; !ok || m.Offset > prev.Offset {
				a.toCommit[m.Partition] = m
			}
		}
		a.mu.Unlock()
	}
}
