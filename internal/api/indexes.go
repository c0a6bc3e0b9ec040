package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

// Vector indexes (protocol §7.10). create_index validates the request and
// answers as soon as the build has started in the background; the client's
// waitForIndex then polls index/list and index/{name}/stats until the index
// is listed with no unindexed rows. An index under construction is not
// listed (the previous one of the same name, if any, is, until the new one
// replaces it). Scalar and full-text indexes are refused with a 400 until
// they exist.

// indexManager returns the manager or the 400 a server without one gives.
func (s *server) indexManager() (*vindex.Manager, error) {
	if s.indexes == nil {
		return nil, badRequest("vector indexes are not enabled on this server")
	}
	return s.indexes, nil
}

// indexRef is what the index manager needs to know of a table.
func (s *server) indexRef(ref tableRef) vindex.TableRef {
	return vindex.TableRef{Table: ref.t, URI: ref.db.TableURI(ref.id), Name: ref.String()}
}

// createIndex: POST /v1/table/{id}/create_index/.
func (s *server) createIndex(w http.ResponseWriter, r *http.Request) error {
	data, err := s.readBody(r)
	if err != nil {
		return err
	}
	ref, err := s.openTable(r)
	if err != nil {
		return err
	}
	snap, err := ref.t.Latest(r.Context())
	if err != nil {
		return err
	}
	req, err := parseIndexRequest(data, snap.Schema(), ref.String())
	if err != nil {
		return err
	}
	m, err := s.indexManager()
	if err != nil {
		return err
	}
	if _, err := m.Create(r.Context(), s.indexRef(ref), vindex.Spec{Name: req.Name, Column: req.Column, Params: req.Params}); err != nil {
		return err
	}
	s.written(ref, snap.Version(), events.OpCreateIndex, events.Event{Index: req.Name})
	// No job_id: the client would make it a job to poll on endpoints this
	// server does not have. The index name helps REST users who let it
	// default.
	return writeJSON(w, map[string]string{"index_name": req.Name})
}

// indexListEntry is one entry of index/list in the enriched form the 0.39
// client reads without a stats call per index.
type indexListEntry struct {
	Name             string   `json:"index_name"`
	Columns          []string `json:"columns"`
	Type             string   `json:"index_type"`
	UUID             string   `json:"index_uuid,omitempty"`
	CreatedAt        string   `json:"created_at,omitempty"`
	NumIndexedRows   int64    `json:"num_indexed_rows"`
	NumUnindexedRows int64    `json:"num_unindexed_rows"`
	SizeBytes        int64    `json:"size_bytes"`
	NumSegments      int      `json:"num_segments"`
	DistanceType     string   `json:"distance_type"`
	Details          string   `json:"index_details"`
}

// indexSnapshot opens the table and the version a body {"version"} asks for.
func (s *server) indexSnapshot(r *http.Request) (tableRef, *table.Snapshot, error) {
	var body versionBody
	if err := s.readJSON(r, &body); err != nil {
		return tableRef{}, nil, err
	}
	if err := body.check(); err != nil {
		return tableRef{}, nil, err
	}
	ref, err := s.openTable(r)
	if err != nil {
		return ref, nil, err
	}
	snap, err := s.snapshot(r.Context(), r, ref, body.Version)
	return ref, snap, err
}

// listIndexes: POST /v1/table/{id}/index/list/ {"version"}.
func (s *server) listIndexes(w http.ResponseWriter, r *http.Request) error {
	ref, snap, err := s.indexSnapshot(r)
	if err != nil {
		return err
	}
	out := []indexListEntry{}
	if s.indexes != nil {
		infos, err := s.indexes.List(r.Context(), s.indexRef(ref), snap)
		if err != nil {
			return err
		}
		for _, in := range infos {
			// The client fails the whole listing when an entry names a
			// column the schema lacks (dropped after the index was built).
			if len(snap.Schema().FieldIndices(in.Column)) == 0 {
				continue
			}
			e := indexListEntry{
				Name: in.Name, Columns: []string{in.Column}, Type: in.Kind.String(), UUID: in.UUID,
				NumIndexedRows: in.NumIndexedRows, NumUnindexedRows: in.NumUnindexedRows,
				SizeBytes: in.SizeBytes, NumSegments: in.NumIndices,
				DistanceType: in.Metric.String(), Details: indexDetails(in.Params, in.Metric),
			}
			if !in.CreatedAt.IsZero() {
				e.CreatedAt = in.CreatedAt.UTC().Format(time.RFC3339Nano)
			}
			out = append(out, e)
		}
	}
	return writeJSON(w, map[string]any{"indexes": out})
}

// describeIndex finds the {name} index as of the requested version; a
// missing one is a 404, which the client maps to "no such index" for stats
// and to IndexNotFound for drop.
func (s *server) describeIndex(r *http.Request) (vindex.Info, error) {
	ref, snap, err := s.indexSnapshot(r)
	if err != nil {
		return vindex.Info{}, err
	}
	name := r.PathValue("name")
	if s.indexes == nil {
		return vindex.Info{}, indexNotFound(name, ref)
	}
	in, err := s.indexes.Describe(r.Context(), s.indexRef(ref), snap, name)
	if errors.Is(err, vindex.ErrNotFound) {
		return in, indexNotFound(name, ref)
	}
	return in, err
}

func indexNotFound(name string, ref tableRef) error {
	return errorf(http.StatusNotFound, "Index '%s' was not found on table '%s'", name, ref)
}

// indexStats: POST /v1/table/{id}/index/{name}/stats/ {"version"}.
func (s *server) indexStats(w http.ResponseWriter, r *http.Request) error {
	in, err := s.describeIndex(r)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{
		"num_indexed_rows":   in.NumIndexedRows,
		"num_unindexed_rows": in.NumUnindexedRows,
		"index_type":         in.Kind.String(),
		"distance_type":      in.Metric.String(),
		"num_indices":        in.NumIndices,
	})
}

// dropIndex: POST /v1/table/{id}/index/{name}/drop/ (no body).
func (s *server) dropIndex(w http.ResponseWriter, r *http.Request) error {
	ref, err := s.openTable(r)
	if err != nil {
		return err
	}
	if b := r.URL.Query().Get("branch"); b != "" && b != "main" {
		return badRequest("branches are not supported (branch %q)", b)
	}
	name := r.PathValue("name")
	if s.indexes == nil {
		return indexNotFound(name, ref)
	}
	err = s.indexes.Drop(r.Context(), s.indexRef(ref), name)
	if errors.Is(err, vindex.ErrNotFound) {
		return indexNotFound(name, ref)
	}
	if err != nil {
		return err
	}
	s.written(ref, 0, events.OpDropIndex, events.Event{Index: name})
	return writeJSON(w, struct{}{})
}

// prewarmIndex: POST /v1/table/{id}/index/{name}/prewarm/ — partitions are
// loaded on demand by queries; this only checks that the index exists.
func (s *server) prewarmIndex(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.describeIndex(r); err != nil {
		return err
	}
	return writeJSON(w, struct{}{})
}

// prewarmPageCache: POST /v1/table/{id}/page_cache/prewarm/ — nothing to
// warm beyond what queries cache on their own.
func (s *server) prewarmPageCache(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.openTable(r); err != nil {
		return err
	}
	return writeJSON(w, struct{}{})
}
