package agent

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/sarissa-db/sarissa/internal/jobs"
)

// jobCache is the launcher's job list as last read, plus the jobs this
// agent launched since (a launch is visible to the next decision before the
// next List shows it). Guarded by Agent.mu.
type jobCache struct {
	list     []jobs.Status
	listedAt time.Time
	overlay  map[string]overlayJob
}

type overlayJob struct {
	status   jobs.Status
	launched time.Time
}

// statuses returns the jobs decisions see.
func (a *Agent) statuses() []jobs.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Clone(a.jobs.list)
	for _, o := range a.jobs.overlay {
		out = append(out, o.status)
	}
	return out
}

// refreshJobs lists the launcher's jobs. Tables whose job finished (or was
// forgotten) since the last list are evaluated again at once: an index job
// may be due after a compaction, or rows written meanwhile need one.
func (a *Agent) refreshJobs(ctx context.Context) {
	start := a.now()
	list, err := a.deps.Launcher.List(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("listing jobs", "err", err)
		}
		return
	}
	slices.SortFunc(list, func(x, y jobs.Status) int { return cmp.Compare(x.Name, y.Name) })
	counts := map[jobs.State]int{}
	for _, s := range list {
		counts[s.State]++
	}
	for _, s := range []jobs.State{jobs.StatePending, jobs.StateRunning, jobs.StateSucceeded, jobs.StateFailed} {
		a.m.jobs.WithLabelValues(string(s)).Set(float64(counts[s]))
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := make(map[string]jobs.Status, len(list))
	for _, s := range list {
		cur[s.Name] = s
	}
	// A finished job marks its table dirty, due now, rather than setting
	// its next check: an evaluation running meanwhile may have seen the job
	// still running, and it clears the dirty flag only when it starts.
	finished := func(s jobs.Status) {
		if tr, ok := a.tables[tableKey{s.Spec.Database, s.Spec.Table}]; ok {
			if !tr.dirty || tr.dueAt.After(now) {
				tr.dueAt = now
			}
			tr.dirty = true
		}
	}
	for _, s := range a.jobs.list {
		if c, ok := cur[s.Name]; !s.State.Done() && (!ok || c.State.Done()) {
			finished(s)
		}
	}
	for name, o := range a.jobs.overlay {
		c, ok := cur[name]
		switch {
		case ok && c.State.Done():
			finished(c) // finished between its launch and this list
			delete(a.jobs.overlay, name)
		case ok, o.launched.Before(start):
			delete(a.jobs.overlay, name)
		}
	}
	a.jobs.list, a.jobs.listedAt = list, now
	a.signal()
}
