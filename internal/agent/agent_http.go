package agent

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/sarissa-db/sarissa/internal/jobs"
)

// Handler serves the admin endpoints (docs/agent.md):
//
//	GET /v1/agent/jobs    the launcher's jobs: {"jobs": [Status...]}, by name
//	GET /v1/agent/tables  the tracked tables: {"tables": [TableInfo...]}
//
// Other methods get 405. Both are read-only and cheap: jobs asks the
// launcher, tables reads the agent's memory.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/agent/jobs", a.serveJobs)
	mux.HandleFunc("GET /v1/agent/tables", a.serveTables)
	return mux
}

func (a *Agent) serveJobs(w http.ResponseWriter, r *http.Request) {
	list, err := a.deps.Launcher.List(r.Context())
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "list jobs: " + err.Error()})
		return
	}
	slices.SortFunc(list, func(x, y jobs.Status) int { return cmp.Compare(x.Name, y.Name) })
	if list == nil {
		list = []jobs.Status{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": list})
}

// TableInfo is one tracked table as GET /v1/agent/tables shows it.
type TableInfo struct {
	Database string `json:"database"`
	Table    string `json:"table"`
	// State is what the last evaluation loaded (absent before the first).
	State *TableState `json:"state,omitempty"`
	// Decision is the last evaluation's: pending work and why, next check.
	Decision *Decision `json:"decision,omitempty"`
	// Launched are the jobs the last evaluation that launched any
	// launched.
	Launched []jobs.Spec `json:"launched,omitempty"`
	// Dirty: events arrived that no evaluation has covered yet; the table
	// is evaluated at DueAt.
	Dirty bool      `json:"dirty"`
	DueAt time.Time `json:"due_at,omitzero"`
	// NextCheck is when the table is evaluated again without news.
	NextCheck time.Time `json:"next_check,omitzero"`
	Evaluated time.Time `json:"evaluated,omitzero"`
	// Error is the last evaluation's failure.
	Error string `json:"error,omitempty"`
}

func (a *Agent) serveTables(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"tables": a.Tables()})
}

// Tables returns the tracked tables, by database and table.
func (a *Agent) Tables() []TableInfo {
	a.mu.Lock()
	out := make([]TableInfo, 0, len(a.tables))
	for _, tr := range a.tables {
		ti := TableInfo{
			Database: tr.key.Database, Table: tr.key.Table,
			Launched: slices.Clone(tr.launched), Dirty: tr.dirty,
			NextCheck: tr.nextCheck, Evaluated: tr.evaluated, Error: tr.err,
		}
		if tr.dirty {
			ti.DueAt = tr.dueAt
		}
		if tr.state != nil {
			st := *tr.state
			st.Indexes = slices.Clone(st.Indexes)
			ti.State = &st
		}
		if tr.decision != nil {
			d := *tr.decision
			d.Launch, d.Pending = slices.Clone(d.Launch), slices.Clone(d.Pending)
			ti.Decision = &d
		}
		out = append(out, ti)
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y TableInfo) int {
		return cmp.Or(cmp.Compare(x.Database, y.Database), cmp.Compare(x.Table, y.Table))
	})
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}
