package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sarissa-db/sarissa/internal/api/arrowhttp"
	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/query"
	"github.com/sarissa-db/sarissa/internal/table"
)

// insert: POST /v1/table/{id}/insert/[?mode=overwrite] with an Arrow stream
// in the table's schema (§7.4). Nothing is committed unless the whole body
// decodes and every batch fits the schema.
func (s *server) insert(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Has("upload_id") {
		return badRequest("multipart writes (upload_id) are not supported by this server")
	}
	overwrite := false
	switch mode := strings.ToLower(q.Get("mode")); mode {
	case "", "append":
	case "overwrite":
		overwrite = true
	default:
		return badRequest("insert mode %q: want append or overwrite", mode)
	}
	ref, err := s.openTable(r)
	if err != nil {
		return err
	}
	body, err := s.arrowBody(r)
	if err != nil {
		return err
	}
	defer body.Release()
	var snap *table.Snapshot
	var rows int64
	if overwrite {
		snap, rows, err = ref.t.Overwrite(r.Context(), nil, body)
	} else {
		snap, rows, err = ref.t.Append(r.Context(), body)
	}
	if err != nil {
		return err
	}
	s.m.rowsWritten.WithLabelValues("insert").Add(float64(rows))
	op := events.OpInsert
	if overwrite {
		op = events.OpOverwrite
	}
	s.written(ref, snap.Version(), op, events.Event{RowsAdded: rows})
	return writeJSON(w, map[string]uint64{"version": snap.Version()})
}

// query: POST /v1/table/{id}/query/ → Arrow IPC file (§7.6).
func (s *server) query(w http.ResponseWriter, r *http.Request) error {
	req, ref, snap, err := s.readQuery(r, query.ParseRequest)
	if err != nil {
		return err
	}
	res, err := query.Execute(r.Context(), snap, req, s.queryOptions(ref))
	if err != nil {
		return err
	}
	defer res.Release()
	h := w.Header()
	h.Set("Content-Type", contentTypeArrowFile)
	h.Set(hdrVersion, strconv.FormatUint(snap.Version(), 10))
	if err := arrowhttp.WriteFile(w, res.Schema, res.Batches, s.mem); err != nil {
		// The status is sent by now; the client sees a truncated body.
		return fmt.Errorf("write query result: %w", err)
	}
	return nil
}

// readQuery decodes a query body with parse, opens the table and checks out
// the version the query asks for (honouring the freshness headers).
func (s *server) readQuery(r *http.Request, parse func([]byte) (query.Request, error)) (query.Request, tableRef, *table.Snapshot, error) {
	data, err := s.readBody(r)
	if err != nil {
		return query.Request{}, tableRef{}, nil, err
	}
	req, err := parse(data)
	if err != nil {
		return query.Request{}, tableRef{}, nil, err
	}
	ref, err := s.openTable(r)
	if err != nil {
		return query.Request{}, tableRef{}, nil, err
	}
	snap, err := s.snapshot(r.Context(), r, ref, req.Version)
	if err != nil {
		return query.Request{}, tableRef{}, nil, err
	}
	return req, ref, snap, nil
}

func (s *server) queryOptions(ref tableRef) query.Options {
	return query.Options{
		Cache:       s.cache,
		TableURI:    ref.db.TableURI(ref.id),
		Parallelism: s.cfg.QueryParallelism,
		Allocator:   s.mem,
		Indexes:     s.indexes,
		Table:       s.indexRef(ref),
		Fleet:       s.fleet,
		Database:    ref.db.Name(),
		TableID:     ref.id.String(),
	}
}

// explainPlan: POST /v1/table/{id}/explain_plan/ {"verbose", "query"} → a
// JSON string.
func (s *server) explainPlan(w http.ResponseWriter, r *http.Request) error {
	var verbose bool
	req, ref, snap, err := s.readQuery(r, func(data []byte) (query.Request, error) {
		req, v, err := query.ParseExplainRequest(data)
		verbose = v
		return req, err
	})
	if err != nil {
		return err
	}
	plan, err := query.Explain(r.Context(), snap, req, verbose, s.queryOptions(ref))
	if err != nil {
		return err
	}
	return writeJSON(w, plan)
}

// analyzePlan: POST /v1/table/{id}/analyze_plan/ with a query body: runs the
// query and returns the plan with what the run produced, as a JSON string.
func (s *server) analyzePlan(w http.ResponseWriter, r *http.Request) error {
	req, ref, snap, err := s.readQuery(r, query.ParseRequest)
	if err != nil {
		return err
	}
	plan, err := query.Explain(r.Context(), snap, req, true, s.queryOptions(ref))
	if err != nil {
		return err
	}
	start := s.now()
	res, err := query.Execute(r.Context(), snap, req, s.queryOptions(ref))
	if err != nil {
		return err
	}
	rows, batches := res.NumRows(), len(res.Batches)
	res.Release()
	elapsed := s.now().Sub(start)
	return writeJSON(w, fmt.Sprintf("%s\n\nExecution: output_rows=%d, output_batches=%d, elapsed=%s, version=%d", strings.TrimRight(plan, "\n"), rows, batches, elapsed, snap.Version()))
}

// countRows: POST /v1/table/{id}/count_rows/ → a bare JSON integer (§7.7).
func (s *server) countRows(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Version   *uint64 `json:"version"`
		Branch    *string `json:"branch"`
		Predicate *string `json:"predicate"`
	}
	if err := s.readJSON(r, &req); err != nil {
		return err
	}
	if err := (versionBody{Branch: req.Branch}).check(); err != nil {
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
	pred := ""
	if req.Predicate != nil {
		pred = *req.Predicate
	}
	n, err := query.Count(r.Context(), snap, pred, s.queryOptions(ref))
	if err != nil {
		return err
	}
	w.Header().Set(hdrVersion, strconv.FormatUint(snap.Version(), 10))
	return writeJSON(w, n)
}

// deleteRows: POST /v1/table/{id}/delete/ {"predicate"} (§7.8).
func (s *server) deleteRows(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Predicate string `json:"predicate"`
	}
	if err := s.readJSON(r, &req); err != nil {
		return err
	}
	ref, err := s.openTable(r)
	if err != nil {
		return err
	}
	snap, n, err := ref.t.Delete(r.Context(), req.Predicate)
	if err != nil {
		return err
	}
	if n > 0 {
		s.written(ref, snap.Version(), events.OpDelete, events.Event{RowsDeleted: n})
	}
	return writeJSON(w, map[string]any{"num_deleted_rows": n, "version": snap.Version()})
}

// updateRows: POST /v1/table/{id}/update/ {"updates": [[col, expr], ...],
// "predicate"} (§7.8).
func (s *server) updateRows(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Updates   []json.RawMessage `json:"updates"`
		Predicate *string           `json:"predicate"`
	}
	if err := s.readJSON(r, &req); err != nil {
		return err
	}
	sets := make([]table.SetClause, 0, len(req.Updates))
	for i, u := range req.Updates {
		var pair []string
		if err := json.Unmarshal(u, &pair); err != nil || len(pair) != 2 {
			return badRequest("updates[%d]: want a [column, SQL expression] pair, got %s", i, u)
		}
		sets = append(sets, table.SetClause{Column: pair[0], Expr: pair[1]})
	}
	ref, err := s.openTable(r)
	if err != nil {
		return err
	}
	pred := ""
	if req.Predicate != nil {
		pred = *req.Predicate
	}
	snap, n, err := ref.t.Update(r.Context(), pred, sets)
	if err != nil {
		return err
	}
	s.m.rowsWritten.WithLabelValues("update").Add(float64(n))
	if n > 0 {
		s.written(ref, snap.Version(), events.OpUpdate, events.Event{RowsUpdated: n})
	}
	return writeJSON(w, map[string]any{"rows_updated": n, "version": snap.Version()})
}

// mergeInsert: POST /v1/table/{id}/merge_insert/?on=... with an Arrow stream
// of source rows (§7.5).
func (s *server) mergeInsert(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var opts table.MergeInsertOptions
	for _, on := range q["on"] {
		for part := range strings.SplitSeq(on, ",") {
			if part = strings.TrimSpace(part); part != "" {
				opts.On = append(opts.On, part)
			}
		}
	}
	if len(opts.On) == 0 {
		return badRequest("merge_insert needs the key column(s) in ?on=")
	}
	flag := func(name string) (bool, error) {
		v := q.Get(name)
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, badRequest("%s: %q is not true or false", name, v)
		}
		return b, nil
	}
	var err error
	if opts.WhenMatchedUpdateAll, err = flag("when_matched_update_all"); err != nil {
		return err
	}
	if opts.WhenNotMatchedInsertAll, err = flag("when_not_matched_insert_all"); err != nil {
		return err
	}
	if opts.WhenNotMatchedBySourceDelete, err = flag("when_not_matched_by_source_delete"); err != nil {
		return err
	}
	if _, err := flag("use_index"); err != nil {
		return err // accepted; there are no indexes to use yet
	}
	if lsm, err := flag("use_lsm"); err != nil {
		return err
	} else if lsm {
		return badRequest("use_lsm: LSM writes are not supported by this server")
	}
	opts.WhenMatchedCondition = q.Get("when_matched_update_all_filt")
	opts.WhenNotMatchedBySourceFilter = q.Get("when_not_matched_by_source_delete_filt")
	ref, err := s.openTable(r)
	if err != nil {
		return err
	}
	body, err := s.arrowBody(r)
	if err != nil {
		return err
	}
	defer body.Release()
	res, err := ref.t.MergeInsert(r.Context(), opts, body)
	if err != nil {
		return err
	}
	s.m.rowsWritten.WithLabelValues("merge_insert").Add(float64(res.Inserted + res.Updated))
	if res.Inserted+res.Updated+res.Deleted > 0 {
		s.written(ref, res.Version, events.OpMergeInsert, events.Event{RowsAdded: res.Inserted, RowsUpdated: res.Updated, RowsDeleted: res.Deleted})
	}
	return writeJSON(w, map[string]any{
		"version":           res.Version,
		"num_inserted_rows": res.Inserted,
		"num_updated_rows":  res.Updated,
		"num_deleted_rows":  res.Deleted,
		"num_attempts":      res.Attempts,
	})
}
