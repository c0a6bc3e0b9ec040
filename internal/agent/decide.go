package agent

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sarissa-db/sarissa/internal/jobs"
)

// This file is the agent's decision logic: pure functions of plain data,
// tested by the transcripts under testdata/decide. Everything they need is
// loaded at the edge (agent_eval.go) or remembered by the loop (agent.go).

// TableState is what the agent knows about one table when it decides.
type TableState struct {
	Database string `json:"database"`
	Table    string `json:"table"`
	// Version is the latest version; jobs launched carry it.
	Version uint64 `json:"version"`
	// Indexes are the table's vector indexes, by name.
	Indexes []IndexState `json:"indexes"`
	// Compaction summarizes what compacting Version would rewrite.
	Compaction CompactionState `json:"compaction"`
	// Versions lists the table's versions (with commit times), or is nil
	// when they were not loaded because no cleanup could be due
	// (CleanupCheckDue): listing them reads every manifest.
	Versions []VersionStamp `json:"-"`
	// LastCleanup is when the agent last launched a cleanup of the table
	// (zero: not since it started); cleanup jobs the launcher still lists
	// count too.
	LastCleanup time.Time `json:"last_cleanup,omitzero"`
	// CleanupNotBefore is the earliest time a cleanup can be needed, as the
	// previous decision computed it (zero: unknown).
	CleanupNotBefore time.Time `json:"cleanup_not_before,omitzero"`
}

// IndexState is one vector index's coverage.
type IndexState struct {
	Name          string `json:"name"`
	UnindexedRows int64  `json:"unindexed_rows"`
	// UnindexedSince is when the loop first saw the index with unindexed
	// rows (the time of the write that added them when an event told it);
	// zero when there are none (or unknown).
	UnindexedSince time.Time `json:"unindexed_since,omitzero"`
}

// CompactionState summarizes the compaction plan of the latest version.
type CompactionState struct {
	// Fragments is the number of fragments of the version.
	Fragments int `json:"fragments"`
	// PlanFragments are the fragments the plan would rewrite, in
	// PlanGroups groups.
	PlanFragments int `json:"plan_fragments"`
	PlanGroups    int `json:"plan_groups"`
	// MaxDeletedFraction is the largest fraction of deleted rows among the
	// fragments the plan would rewrite.
	MaxDeletedFraction float64 `json:"max_deleted_fraction"`
	// Unsupported says why the table cannot be compacted (stable row ids,
	// a data format this writer does not write); empty when it can.
	Unsupported string `json:"unsupported,omitempty"`
}

// VersionStamp is one version and when it was committed.
type VersionStamp struct {
	Version   uint64
	Timestamp time.Time
}

// Decision is what to do about one table now.
type Decision struct {
	// Launch are the jobs to start, in order.
	Launch []jobs.Spec `json:"launch,omitempty"`
	// Pending is work the table needs (or will need) that is not launched
	// now, and why.
	Pending []Pending `json:"pending,omitempty"`
	// NextCheck is when the table should be evaluated again even if
	// nothing happens to it (zero: only on events, finished jobs and
	// reconciles).
	NextCheck time.Time `json:"next_check,omitzero"`
	// CleanupNotBefore is the earliest time a cleanup can be needed; the
	// edge does not list versions before then.
	CleanupNotBefore time.Time `json:"cleanup_not_before,omitzero"`
	// OldVersions is the number of versions cleanup would remove (-1:
	// versions not loaded).
	OldVersions int `json:"old_versions"`
}

// Pending is one piece of work not launched, and why.
type Pending struct {
	Kind   jobs.Kind `json:"kind"`
	Index  string    `json:"index,omitempty"`
	Reason string    `json:"reason"`
}

// jobView is the launcher's jobs of one table as Decide reads them.
type jobView struct {
	byName map[string]jobs.Status
	// active are the slots with a pending or running job.
	active map[string]jobs.Status
	// activeKind counts pending or running jobs by kind.
	activeKind map[jobs.Kind]int
	// lastCleanup is the latest start of a cleanup job of the table.
	lastCleanup time.Time
}

func viewJobs(database, tbl string, statuses []jobs.Status) jobView {
	v := jobView{byName: map[string]jobs.Status{}, active: map[string]jobs.Status{}, activeKind: map[jobs.Kind]int{}}
	for _, s := range statuses {
		if s.Spec.Database != database || s.Spec.Table != tbl {
			continue
		}
		v.byName[s.Name] = s
		if !s.State.Done() {
			v.active[s.Spec.Slot()] = s
			v.activeKind[s.Spec.Kind]++
		}
		if s.Spec.Kind == jobs.KindCleanup && s.Started.After(v.lastCleanup) {
			v.lastCleanup = s.Started
		}
	}
	return v
}

// CleanupCheckDue reports whether the edge should list the table's versions
// for Decide: no cleanup in the last CleanupInterval (st.LastCleanup, or the
// start of a cleanup job the launcher lists; a failed one counts, so that it
// is retried after the interval rather than in a loop), none running, and
// the previous decision's CleanupNotBefore passed.
func CleanupCheckDue(now time.Time, st TableState, statuses []jobs.Status, p Policy) bool {
	v := viewJobs(st.Database, st.Table, statuses)
	if v.activeKind[jobs.KindCleanup] > 0 {
		return false
	}
	last := laterOf(st.LastCleanup, v.lastCleanup)
	if !last.IsZero() && now.Before(last.Add(p.CleanupInterval)) {
		return false
	}
	return !now.Before(st.CleanupNotBefore)
}

// Decide returns the jobs to launch for st now, given the launcher's jobs
// (statuses of any table; other tables' are ignored) and the policy. Rules,
// in order (docs/agent.md):
//
//  1. Compaction is needed when the plan would rewrite at least
//     CompactMinFragments fragments, or a fragment it would rewrite has more
//     than CompactDeletedFraction of its rows deleted. It is launched
//     unless a compaction of the table is pending or running, or an index
//     job of the table is (compaction and index jobs of a table never run
//     at the same time), or the launcher already knows the job at this
//     version (it ran: doing it again would change nothing).
//  2. An index needs a job when it has unindexed rows and either at least
//     IndexMinUnindexedRows of them or they have waited IndexMaxWait. It is
//     launched unless a compaction was launched now or is pending or
//     running (compaction first: the rewritten fragments become unindexed
//     and the index job after it covers them), or the index's slot is busy,
//     or the launcher knows the job at this version. An index below both
//     thresholds is checked again when its rows will have waited
//     IndexMaxWait.
//  3. Cleanup is needed when no cleanup started in the last
//     CleanupInterval and some version is old: its successor was committed
//     before now − CleanupRetention. It is launched unless one is pending
//     or running or the launcher knows the job at this version.
//
// Duplicate decisions are harmless: a job's name is a function of its spec
// (with the version), and Launch of a known name is a no-op.
func Decide(now time.Time, st TableState, statuses []jobs.Status, p Policy) Decision {
	v := viewJobs(st.Database, st.Table, statuses)
	d := Decision{OldVersions: -1}
	spec := func(kind jobs.Kind, index string) jobs.Spec {
		return jobs.Spec{Kind: kind, Database: st.Database, Table: st.Table, Version: st.Version, Index: index}
	}
	pend := func(kind jobs.Kind, index, format string, args ...any) {
		d.Pending = append(d.Pending, Pending{Kind: kind, Index: index, Reason: fmt.Sprintf(format, args...)})
	}
	checkAt := func(t time.Time) {
		if !t.IsZero() && (d.NextCheck.IsZero() || t.Before(d.NextCheck)) {
			d.NextCheck = t
		}
	}
	// known reports (as a pending reason) a job the launcher already has.
	known := func(s jobs.Spec) bool {
		j, ok := v.byName[s.Name()]
		if ok && j.State.Done() {
			pend(s.Kind, s.Index, "the job at version %d already ran (%s); waiting for a new version", s.Version, j.State)
		}
		return ok && j.State.Done()
	}

	// 1. Compaction.
	compacting := v.activeKind[jobs.KindCompact] > 0
	c := st.Compaction
	if c.Unsupported == "" {
		bySize := c.PlanFragments >= p.CompactMinFragments
		byDeletes := c.MaxDeletedFraction > p.CompactDeletedFraction
		if bySize || byDeletes {
			s := spec(jobs.KindCompact, "")
			why := fmt.Sprintf("%d fragments to rewrite (threshold %d)", c.PlanFragments, p.CompactMinFragments)
			if byDeletes {
				why = fmt.Sprintf("a fragment with %.3g of its rows deleted (threshold %.3g)", c.MaxDeletedFraction, p.CompactDeletedFraction)
			}
			switch {
			case compacting:
				pend(jobs.KindCompact, "", "%s; a compaction is %s", why, v.active[s.Slot()].State)
			case v.activeKind[jobs.KindIndex] > 0:
				pend(jobs.KindCompact, "", "%s; waiting for the table's index jobs to finish", why)
			case known(s):
			default:
				d.Launch = append(d.Launch, s)
				compacting = true
			}
		}
	}

	// 2. Indexes, by name so that decisions are stable.
	indexes := slices.Clone(st.Indexes)
	slices.SortFunc(indexes, func(a, b IndexState) int { return strings.Compare(a.Name, b.Name) })
	for _, in := range indexes {
		if in.UnindexedRows <= 0 {
			continue
		}
		byRows := in.UnindexedRows >= p.IndexMinUnindexedRows
		byWait := !in.UnindexedSince.IsZero() && !now.Before(in.UnindexedSince.Add(p.IndexMaxWait))
		if !byRows && !byWait {
			since := in.UnindexedSince
			if since.IsZero() {
				since = now
			}
			due := since.Add(p.IndexMaxWait)
			pend(jobs.KindIndex, in.Name, "%d unindexed rows below the threshold %d; indexed at %s at the latest",
				in.UnindexedRows, p.IndexMinUnindexedRows, due.UTC().Format(time.RFC3339))
			checkAt(due)
			continue
		}
		s := spec(jobs.KindIndex, in.Name)
		switch {
		case compacting:
			pend(jobs.KindIndex, in.Name, "%d unindexed rows; after the compaction", in.UnindexedRows)
		case v.active[s.Slot()].Name != "":
			pend(jobs.KindIndex, in.Name, "%d unindexed rows; an index job is %s", in.UnindexedRows, v.active[s.Slot()].State)
		case known(s):
		default:
			d.Launch = append(d.Launch, s)
		}
	}

	// 3. Cleanup.
	d.CleanupNotBefore = st.CleanupNotBefore
	s := spec(jobs.KindCleanup, "")
	last := laterOf(st.LastCleanup, v.lastCleanup)
	switch {
	case v.active[s.Slot()].Name != "":
		pend(jobs.KindCleanup, "", "a cleanup is %s", v.active[s.Slot()].State)
	case !last.IsZero() && now.Before(last.Add(p.CleanupInterval)):
		d.CleanupNotBefore = laterOf(d.CleanupNotBefore, last.Add(p.CleanupInterval))
	case st.Versions == nil:
		// Not loaded: CleanupCheckDue said no cleanup can be due yet.
	default:
		old, becomesOld := oldVersions(now, st.Versions, p.CleanupRetention)
		d.OldVersions = old
		switch {
		case old == 0:
			d.CleanupNotBefore = laterOf(becomesOld, last.Add(p.CleanupInterval))
		case known(s):
			d.CleanupNotBefore = now.Add(p.CleanupInterval)
		default:
			d.Launch = append(d.Launch, s)
			d.CleanupNotBefore = now.Add(p.CleanupInterval)
		}
	}
	checkAt(d.CleanupNotBefore)
	return d
}

// oldVersions counts the versions a cleanup at now would remove (those
// whose successor was committed before now − retention, as
// lance.CleanupOptions defines it; tags are the cleanup's business) and
// returns the earliest time another version becomes old: a successor's
// commit time plus the retention, and at least now plus the retention for
// the latest version, whose successor is yet to come.
func oldVersions(now time.Time, versions []VersionStamp, retention time.Duration) (int, time.Time) {
	vs := slices.Clone(versions)
	slices.SortFunc(vs, func(a, b VersionStamp) int {
		switch {
		case a.Version < b.Version:
			return -1
		case a.Version > b.Version:
			return 1
		}
		return 0
	})
	cutoff := now.Add(-retention)
	old := 0
	next := now.Add(retention)
	for i := 0; i+1 < len(vs); i++ {
		succ := vs[i+1].Timestamp
		if succ.Before(cutoff) {
			old++
			continue
		}
		if t := succ.Add(retention); t.Before(next) {
			next = t
		}
	}
	return old, next
}

// trackUnindexed updates the loop's memory of when each index's unindexed
// rows appeared. An index with unindexed rows keeps the time it already
// has, or gets the time of the earliest write the table's events reported
// since the last evaluation (firstWrite, if not zero and not in the
// future), or now. A succeeded index job of the index that started later
// moves the time to the job's start: the job indexed everything committed
// before it started, so what is left is younger. Indexes without unindexed
// rows, and indexes that are gone, are forgotten.
func trackUnindexed(now time.Time, prev map[string]time.Time, rows map[string]int64, firstWrite time.Time,
	database, tbl string, statuses []jobs.Status) map[string]time.Time {
	out := map[string]time.Time{}
	for name, n := range rows {
		if n <= 0 {
			continue
		}
		since, ok := prev[name]
		if !ok {
			since = now
			if !firstWrite.IsZero() && firstWrite.Before(now) {
				since = firstWrite
			}
		}
		for _, s := range statuses {
			if s.Spec.Kind == jobs.KindIndex && s.Spec.Database == database && s.Spec.Table == tbl &&
				s.Spec.Index == name && s.State == jobs.StateSucceeded && s.Started.After(since) && !s.Started.After(now) {
				since = s.Started
			}
		}
		out[name] = since
	}
	return out
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
