package agent

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/jobs"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

// Unit tests of the loop's bookkeeping, without tables.

// staticLauncher lists what the test puts in it.
type staticLauncher struct {
	mu   sync.Mutex
	list []jobs.Status
}

func (l *staticLauncher) Launch(context.Context, jobs.Spec) error { return nil }

func (l *staticLauncher) List(context.Context) ([]jobs.Status, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]jobs.Status(nil), l.list...), nil
}

func newBareAgent(t *testing.T, l jobs.Launcher) *Agent {
	t.Helper()
	cat, err := catalog.New(catalog.Config{DefaultLocation: "file://" + t.TempDir()}, catalog.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	mgr := vindex.New(vindex.Config{})
	t.Cleanup(mgr.Close)
	a, err := New(Config{Policy: DefaultPolicy(), Settle: time.Minute}, Deps{Launcher: l, Catalog: cat, Indexes: mgr})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func msg(offset int64, table, op string) events.Message {
	return events.Message{Offset: offset, Event: events.Event{Database: "db", Table: table, Operation: op, Time: time.Unix(1000+offset, 0)}}
}

// Batches are committed in order, each once all its tables are evaluated.
func TestCommitOrder(t *testing.T) {
	a := newBareAgent(t, &staticLauncher{})
	a.noteEvents([]events.Message{msg(0, "a", events.OpInsert), msg(1, "a", events.OpInsert)})
	a.noteEvents([]events.Message{msg(2, "b", events.OpInsert)})
	a.mu.Lock()
	defer a.mu.Unlock()
	ta, tb := a.tables[tableKey{"db", "a"}], a.tables[tableKey{"db", "b"}]
	if !ta.dirty || !tb.dirty || !ta.firstWrite.Equal(time.Unix(1000, 0)) {
		t.Fatalf("tables after the events: %+v %+v", ta, tb)
	}
	tb.coveredSeq = tb.markedSeq
	a.advanceCommitsLocked()
	if len(a.toCommit) != 0 {
		t.Fatalf("committed past a table not evaluated: %v", a.toCommit)
	}
	ta.coveredSeq = ta.markedSeq
	a.advanceCommitsLocked()
	if len(a.batches) != 0 || a.toCommit[0].Offset != 2 {
		t.Fatalf("after both evaluations: batches %d, to commit %v", len(a.batches), a.toCommit)
	}
}

// drop_table forgets the name's memory and still evaluates it;
// rename_table does the same and marks the new name.
func TestDropRenameForget(t *testing.T) {
	a := newBareAgent(t, &staticLauncher{})
	a.mu.Lock()
	for _, n := range []string{"t", "u"} {
		tr := a.trackLocked(tableKey{"db", n})
		tr.unindexedSince["vec_idx"] = time.Unix(1, 0)
		tr.lastCleanup = time.Unix(2, 0)
	}
	a.mu.Unlock()
	a.noteEvents([]events.Message{
		{Offset: 0, Event: events.Event{Database: "db", Table: "t", Operation: events.OpDropTable}},
		{Offset: 1, Event: events.Event{Database: "db", Table: "u", NewTable: "v", Operation: events.OpRenameTable, Time: time.Unix(5, 0)}},
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, n := range []string{"t", "u", "v"} {
		tr := a.tables[tableKey{"db", n}]
		if tr == nil || !tr.dirty || len(tr.unindexedSince) != 0 || !tr.lastCleanup.IsZero() {
			t.Errorf("%s after drop/rename: %+v", n, tr)
		}
	}
	if v := a.tables[tableKey{"db", "v"}]; !v.firstWrite.Equal(time.Unix(5, 0)) {
		t.Errorf("the new name's first write: %v", v.firstWrite)
	}
}

// A job that finishes makes its table due at once, even while an
// evaluation of it is running; an agent's own launch counts as pending
// until the launcher lists it.
func TestFinishedJobMarksTable(t *testing.T) {
	l := &staticLauncher{}
	a := newBareAgent(t, l)
	spec := jobs.Spec{Kind: jobs.KindIndex, Database: "db", Table: "t", Version: 3, Index: "vec_idx"}
	l.list = []jobs.Status{{Spec: spec, Name: spec.Name(), State: jobs.StateRunning}}
	a.mu.Lock()
	tr := a.trackLocked(tableKey{"db", "t"})
	a.mu.Unlock()
	a.refreshJobs(t.Context())
	a.mu.Lock()
	if tr.dirty {
		t.Fatal("a running job marked its table")
	}
	tr.queued = true // an evaluation is running
	a.mu.Unlock()

	l.mu.Lock()
	l.list[0].State = jobs.StateSucceeded
	l.mu.Unlock()
	a.refreshJobs(t.Context())
	a.mu.Lock()
	if !tr.dirty || tr.dueAt.After(a.now()) {
		t.Fatalf("after the job finished: dirty %v, due %v", tr.dirty, tr.dueAt)
	}
	tr.queued = false
	a.mu.Unlock()
	if due := a.dueTables(10); len(due) != 1 || due[0] != tr {
		t.Fatalf("due tables: %v", due)
	}

	// A launch the launcher does not list yet is seen as pending.
	next := spec
	next.Version = 4
	a.mu.Lock()
	a.jobs.overlay[next.Name()] = overlayJob{status: jobs.Status{Spec: next, Name: next.Name(), State: jobs.StatePending}, launched: a.now()}
	a.mu.Unlock()
	if got := a.statuses(); len(got) != 2 {
		t.Fatalf("statuses with the overlay: %+v", got)
	}
	l.mu.Lock()
	l.list = append(l.list, jobs.Status{Spec: next, Name: next.Name(), State: jobs.StateRunning})
	l.mu.Unlock()
	a.refreshJobs(t.Context())
	if got := a.statuses(); len(got) != 2 || len(a.jobs.overlay) != 0 {
		t.Fatalf("statuses once listed: %+v (overlay %v)", got, a.jobs.overlay)
	}
}
