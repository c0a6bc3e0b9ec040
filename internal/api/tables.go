package api

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/sarissa-db/sarissa/internal/api/schemajson"
	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/events"
)

// pageParams reads ?limit= and ?page_token=.
func pageParams(r *http.Request) (token string, limit int, err error) {
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 0 {
			return "", 0, badRequest("limit: %q is not a non-negative integer", v)
		}
	}
	return q.Get("page_token"), limit, nil
}

type tablesPage struct {
	Tables    []string `json:"tables"`
	PageToken *string  `json:"page_token,omitempty"`
}

func pageOf(p catalog.Page) tablesPage {
	out := tablesPage{Tables: p.Names}
	if out.Tables == nil {
		out.Tables = []string{}
	}
	if p.NextToken != "" {
		out.PageToken = &p.NextToken
	}
	return out
}

// listTables: GET /v1/table/ (§7.1).
func (s *server) listTables(w http.ResponseWriter, r *http.Request) error {
	return s.listTablesIn(w, r, nil)
}

// listNamespaceTables: GET /v1/namespace/{ns}/table/list.
func (s *server) listNamespaceTables(w http.ResponseWriter, r *http.Request) error {
	ns, err := catalog.ParseNamespaceID(r.PathValue("ns"), delimiter(r))
	if err != nil {
		return err
	}
	return s.listTablesIn(w, r, ns)
}

func (s *server) listTablesIn(w http.ResponseWriter, r *http.Request, ns []string) error {
	db, err := s.database(r)
	if err != nil {
		return err
	}
	token, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	p, err := db.ListTables(r.Context(), ns, token, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, pageOf(p))
}

// createTable: POST /v1/table/{id}/create/?mode= with an Arrow stream body
// holding the schema and the initial rows (§7.2).
func (s *server) createTable(w http.ResponseWriter, r *http.Request) error {
	ref, err := s.tableIdent(r)
	if err != nil {
		return err
	}
	mode, err := catalog.ParseCreateMode(r.URL.Query().Get("mode"))
	if err != nil {
		return err
	}
	body, err := s.arrowBody(r)
	if err != nil {
		return err
	}
	defer body.Release()
	c, err := ref.db.CreateTable(r.Context(), ref.id, mode, body.Schema(), body)
	if err != nil {
		if mode == catalog.CreateModeCreate && isExists(err) {
			return errorf(http.StatusBadRequest, "Table '%s' already exists in database '%s'", ref, ref.db.Name())
		}
		return err
	}
	s.m.rowsWritten.WithLabelValues("create").Add(float64(c.Rows))
	if !c.Existed {
		s.written(ref, c.Snapshot.Version(), events.OpCreateTable, events.Event{RowsAdded: c.Rows})
	}
	return writeJSON(w, map[string]uint64{"version": c.Snapshot.Version()})
}

// describeTable: POST /v1/table/{id}/describe/ with no body (open) or
// {"version": N|null} (§7.3).
func (s *server) describeTable(w http.ResponseWriter, r *http.Request) error {
	var req versionBody
	if err := s.readJSON(r, &req); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	ref, err := s.openTable(r)
	if err != nil {
		return err
	}
	snap, err := s.snapshot(r.Context(), r, ref, req.Version)
	if err != nil {
		return err
	}
	js, err := schemajson.FromArrow(snap.Schema())
	if err != nil {
		return err
	}
	var physical uint64
	frags := snap.Lance().Fragments()
	for _, f := range frags {
		physical += f.GetPhysicalRows()
	}
	return writeJSON(w, map[string]any{
		"table":    ref.id.Name,
		"version":  snap.Version(),
		"schema":   js,
		"location": ref.db.TableURI(ref.id),
		"stats": map[string]uint64{
			"num_deleted_rows": physical - uint64(snap.NumRows()),
			"num_fragments":    uint64(len(frags)),
		},
	})
}

// dropTable: POST /v1/table/{id}/drop/ (§7.13).
func (s *server) dropTable(w http.ResponseWriter, r *http.Request) error {
	ref, err := s.tableIdent(r)
	if err != nil {
		return err
	}
	if err := ref.db.DropTable(r.Context(), ref.id); err != nil {
		if isNotFound(err) {
			return &apiError{status: http.StatusNotFound, msg: "Table '" + ref.String() + "' was not found in database '" + ref.db.Name() + "'", err: err}
		}
		return err
	}
	s.written(ref, 0, events.OpDropTable, events.Event{})
	return writeJSON(w, struct{}{})
}

// renameTable: POST /v1/table/{id}/rename/ {"new_table_name", "new_namespace"?}.
func (s *server) renameTable(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		NewTableName string   `json:"new_table_name"`
		NewNamespace []string `json:"new_namespace"`
	}
	if err := s.readJSON(r, &req); err != nil {
		return err
	}
	ref, err := s.tableIdent(r)
	if err != nil {
		return err
	}
	if err := catalog.ValidateTableName(req.NewTableName); err != nil {
		return badRequest("new_table_name: %v", err)
	}
	to := catalog.Ident{Namespace: ref.id.Namespace, Name: req.NewTableName}
	if req.NewNamespace != nil {
		to.Namespace = req.NewNamespace
		for _, p := range req.NewNamespace {
			if err := catalog.ValidateNamespaceName(p); err != nil {
				return badRequest("new_namespace: %v", err)
			}
		}
	}
	if err := ref.db.RenameTable(r.Context(), ref.id, to); err != nil {
		if isNotFound(err) && !isNamespaceNotFound(err) {
			return &apiError{status: http.StatusNotFound, msg: "Table '" + ref.String() + "' was not found in database '" + ref.db.Name() + "'", err: err}
		}
		return err
	}
	s.written(ref, 0, events.OpRenameTable, events.Event{NewTable: to.String()})
	return writeJSON(w, struct{}{})
}

// tableStats: POST /v1/table/{id}/stats/ (§7.12), computed as LanceDB does:
// data file bytes, live rows, and the distribution of fragments' physical
// row counts.
func (s *server) tableStats(w http.ResponseWriter, r *http.Request) error {
	ref, err := s.openTable(r)
	if err != nil {
		return err
	}
	snap, err := s.snapshot(r.Context(), r, ref, nil)
	if err != nil {
		return err
	}
	const smallFragment = 100_000 // LanceDB's threshold
	var total uint64
	var sizes []uint64
	small := 0
	for _, f := range snap.Lance().Fragments() {
		for _, df := range f.GetFiles() {
			total += df.GetFileSizeBytes()
		}
		n := f.GetPhysicalRows()
		sizes = append(sizes, n)
		if n < smallFragment {
			small++
		}
	}
	slices.Sort(sizes)
	at := func(i int) uint64 {
		if i >= 0 && i < len(sizes) {
			return sizes[i]
		}
		return 0
	}
	var sum, mean uint64
	for _, n := range sizes {
		sum += n
	}
	if len(sizes) > 0 {
		mean = sum / uint64(len(sizes))
	}
	n := len(sizes)
	return writeJSON(w, map[string]any{
		"total_bytes": total,
		"num_rows":    snap.NumRows(),
		"num_indices": 0,
		"fragment_stats": map[string]any{
			"num_fragments":       n,
			"num_small_fragments": small,
			"lengths": map[string]uint64{
				"min": at(0), "max": at(n - 1), "mean": mean,
				"p25": at(n / 4), "p50": at(n / 2), "p75": at(n * 3 / 4), "p99": at(n * 99 / 100),
			},
		},
	})
}
