package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/jobs"
	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

// This file is the edge of the decisions: it loads a table's state, calls
// Decide and launches the jobs.

// errGone reports a table that does not exist (any more): dropped, renamed,
// or a name no table can have. There is nothing to do about it.
var errGone = errors.New("table is gone")

// evaluate loads the table's state, decides and launches. Evaluations of
// one table are serialized; the table's events seen before it started count
// as processed once it returns (even with an error: the table is retried
// after errorRetry, and the reconcile finds the work anyway), unless ctx
// ended.
func (a *Agent) evaluate(ctx context.Context, tr *tracked) error {
	err := a.evaluateTable(ctx, tr)
	if err != nil && ctx.Err() == nil {
		a.log.Warn("evaluating table", "database", tr.key.Database, "table", tr.key.Table, "err", err)
	}
	return err
}

func (a *Agent) evaluateTable(ctx context.Context, tr *tracked) error {
	tr.evalMu.Lock()
	defer tr.evalMu.Unlock()
	a.mu.Lock()
	listed := !a.jobs.listedAt.IsZero()
	a.mu.Unlock()
	if !listed {
		a.refreshJobs(ctx)
	}

	now := a.now()
	a.mu.Lock()
	seq, firstWrite := tr.markedSeq, tr.firstWrite
	tr.dirty, tr.firstWrite, tr.nextCheck = false, time.Time{}, time.Time{}
	base := TableState{
		Database: tr.key.Database, Table: tr.key.Table,
		LastCleanup: tr.lastCleanup, CleanupNotBefore: tr.cleanupNotBefore,
	}
	prevSince := maps.Clone(tr.unindexedSince)
	a.mu.Unlock()

	statuses := a.statuses()
	st, rows, err := a.load(ctx, now, base, statuses)
	a.m.evaluations.Inc()
	switch {
	case errors.Is(err, errGone):
		a.mu.Lock()
		if a.tables[tr.key] == tr && tr.markedSeq == seq && !tr.dirty {
			a.forgetLocked(tr.key)
		}
		tr.coveredSeq = max(tr.coveredSeq, seq)
		a.advanceCommitsLocked()
		a.mu.Unlock()
		a.log.Debug("table is gone; forgotten", "database", tr.key.Database, "table", tr.key.Table, "why", err)
		return nil
	case err != nil && ctx.Err() != nil:
		// Canceled, not failed: the next evaluation does the work.
		a.mu.Lock()
		tr.dirty, tr.dueAt = true, now
		if !firstWrite.IsZero() && (tr.firstWrite.IsZero() || firstWrite.Before(tr.firstWrite)) {
			tr.firstWrite = firstWrite
		}
		a.mu.Unlock()
		return fmt.Errorf("evaluate %s/%s: %w", tr.key.Database, tr.key.Table, err)
	case err != nil:
		a.m.evaluationErrors.Inc()
		a.mu.Lock()
		tr.nextCheck = now.Add(min(errorRetry, a.cfg.ReconcileInterval))
		tr.err, tr.evaluated = err.Error(), now
		// Keep what the events said, for the retry.
		if !firstWrite.IsZero() && (tr.firstWrite.IsZero() || firstWrite.Before(tr.firstWrite)) {
			tr.firstWrite = firstWrite
		}
		tr.coveredSeq = max(tr.coveredSeq, seq)
		a.advanceCommitsLocked()
		a.mu.Unlock()
		return fmt.Errorf("evaluate %s/%s: %w", tr.key.Database, tr.key.Table, err)
	}

	since := trackUnindexed(now, prevSince, rows, firstWrite, st.Database, st.Table, statuses)
	for i := range st.Indexes {
		st.Indexes[i].UnindexedSince = since[st.Indexes[i].Name]
	}
	d := Decide(now, st, statuses, a.cfg.Policy)
	var launched []jobs.Spec
	var errs []error
	for _, spec := range d.Launch {
		if err := a.deps.Launcher.Launch(ctx, spec); err != nil {
			errs = append(errs, fmt.Errorf("launch %s: %w", spec, err))
			continue
		}
		launched = append(launched, spec)
		a.m.launched.WithLabelValues(string(spec.Kind)).Inc()
		a.log.Info("launched job", "job", spec.Name(), "kind", spec.Kind, "database", spec.Database,
			"table", spec.Table, "version", spec.Version, "index", spec.Index)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	for _, spec := range launched {
		a.jobs.overlay[spec.Name()] = overlayJob{
			status:   jobs.Status{Spec: spec, Name: spec.Name(), State: jobs.StatePending},
			launched: now,
		}
		if spec.Kind == jobs.KindCleanup {
			tr.lastCleanup = now
		}
	}
	tr.unindexedSince = since
	tr.cleanupNotBefore = d.CleanupNotBefore
	tr.nextCheck = d.NextCheck
	tr.err = ""
	if err := errors.Join(errs...); err != nil {
		a.m.evaluationErrors.Inc()
		retry := now.Add(min(errorRetry, a.cfg.ReconcileInterval))
		if tr.nextCheck.IsZero() || retry.Before(tr.nextCheck) {
			tr.nextCheck = retry
		}
		tr.err = err.Error()
	}
	st.Versions = nil
	tr.state, tr.decision, tr.evaluated = &st, &d, now
	if len(launched) > 0 {
		tr.launched = launched
	}
	tr.coveredSeq = max(tr.coveredSeq, seq)
	a.advanceCommitsLocked()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("evaluate %s/%s: %w", tr.key.Database, tr.key.Table, err)
	}
	return nil
}

// load reads the table's state: latest version, index coverage, the
// compaction plan, and, when a cleanup may be due, its versions. It also
// returns the unindexed rows by index name.
func (a *Agent) load(ctx context.Context, now time.Time, st TableState, statuses []jobs.Status) (TableState, map[string]int64, error) {
	if err := catalog.ValidateDatabaseName(st.Database); err != nil {
		return st, nil, fmt.Errorf("%w: %w", errGone, err)
	}
	id, err := catalog.ParseTableID(st.Table, "")
	if err != nil {
		return st, nil, fmt.Errorf("%w: %w", errGone, err)
	}
	db, err := a.deps.Catalog.Database(ctx, st.Database)
	if errors.Is(err, catalog.ErrDatabaseNotFound) {
		return st, nil, fmt.Errorf("%w: %w", errGone, err)
	}
	if err != nil {
		return st, nil, err
	}
	t, err := db.OpenTable(ctx, id)
	if errors.Is(err, catalog.ErrTableNotFound) {
		return st, nil, fmt.Errorf("%w: %w", errGone, err)
	}
	if err != nil {
		return st, nil, err
	}
	snap, err := t.Latest(ctx)
	if errors.Is(err, lance.ErrTableNotFound) {
		// Dropped by another process since this one cached the handle.
		return st, nil, fmt.Errorf("%w: %w", errGone, err)
	}
	if err != nil {
		return st, nil, fmt.Errorf("read the latest version: %w", err)
	}
	st.Version = snap.Version()

	ref := vindex.TableRef{Table: t, URI: db.TableURI(id), Name: id.String()}
	infos, err := a.deps.Indexes.List(ctx, ref, snap)
	if err != nil {
		return st, nil, fmt.Errorf("list indexes: %w", err)
	}
	rows := make(map[string]int64, len(infos))
	st.Indexes = make([]IndexState, 0, len(infos))
	for _, in := range infos {
		st.Indexes = append(st.Indexes, IndexState{Name: in.Name, UnindexedRows: in.NumUnindexedRows})
		rows[in.Name] = in.NumUnindexedRows
	}

	st.Compaction = CompactionState{Fragments: len(snap.Lance().Fragments())}
	plan, err := snap.PlanCompaction(ctx, a.cfg.Policy.CompactOptions())
	switch {
	case errors.Is(err, lance.ErrUnsupportedFeature):
		st.Compaction.Unsupported = err.Error()
	case err != nil:
		return st, nil, fmt.Errorf("plan compaction: %w", err)
	default:
		st.Compaction = summarizePlan(st.Compaction, plan)
	}

	if CleanupCheckDue(now, st, statuses, a.cfg.Policy) {
		versions, err := t.Lance().ListVersions(ctx)
		if err != nil {
			return st, nil, fmt.Errorf("list versions: %w", err)
		}
		st.Versions = make([]VersionStamp, 0, len(versions))
		for _, v := range versions {
			st.Versions = append(st.Versions, VersionStamp{Version: v.Version, Timestamp: v.Timestamp})
		}
	}
	return st, rows, nil
}

// summarizePlan counts the fragments a compaction plan rewrites and the
// largest deleted fraction among them.
func summarizePlan(c CompactionState, plan table.CompactionPlan) CompactionState {
	c.PlanGroups = len(plan.Groups)
	for _, g := range plan.Groups {
		c.PlanFragments += len(g.Fragments)
		for _, f := range g.Fragments {
			phys := f.GetPhysicalRows()
			if phys == 0 {
				continue
			}
			del := min(f.GetDeletionFile().GetNumDeletedRows(), phys)
			c.MaxDeletedFraction = max(c.MaxDeletedFraction, float64(del)/float64(phys))
		}
	}
	return c
}
