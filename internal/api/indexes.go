package api

import (
	"net/http"
	"strings"
)

// Vector, scalar and full-text indexes arrive with a later release. Until
// then index creation is refused with a clear 400, and the read side
// reports a table without indexes, so that listIndices and waitForIndex work.

// createIndex: POST /v1/table/{id}/create_index/.
func (s *server) createIndex(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Column    string `json:"column"`
		IndexType string `json:"index_type"`
	}
	if err := s.readJSON(r, &req); err != nil {
		return err
	}
	ref, err := s.openTable(r)
	if err != nil {
		return err
	}
	if req.Column != "" {
		snap, err := ref.t.Latest(r.Context())
		if err != nil {
			return err
		}
		if _, ok := snap.Schema().FieldsByName(req.Column); !ok {
			return badRequest("cannot index column %q: table '%s' has no such column", req.Column, ref)
		}
	}
	kind := strings.ToUpper(req.IndexType)
	if kind == "" {
		kind = "(unspecified)"
	}
	return badRequest("index type %s is not supported yet", kind)
}

// listIndexes: POST /v1/table/{id}/index/list/ → no indexes.
func (s *server) listIndexes(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.openTable(r); err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"indexes": []any{}})
}

// noSuchIndex answers 404, which the client maps to "no such index" for
// stats and to IndexNotFound for drop.
func (s *server) noSuchIndex(w http.ResponseWriter, r *http.Request) error {
	ref, err := s.openTable(r)
	if err != nil {
		return err
	}
	return errorf(http.StatusNotFound, "Index '%s' was not found on table '%s'", r.PathValue("name"), ref)
}

func (s *server) indexStats(w http.ResponseWriter, r *http.Request) error { return s.noSuchIndex(w, r) }
func (s *server) dropIndex(w http.ResponseWriter, r *http.Request) error  { return s.noSuchIndex(w, r) }
func (s *server) prewarmIndex(w http.ResponseWriter, r *http.Request) error {
	return s.noSuchIndex(w, r)
}

// prewarmPageCache: POST /v1/table/{id}/page_cache/prewarm/ — nothing to
// warm beyond what queries cache on their own.
func (s *server) prewarmPageCache(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.openTable(r); err != nil {
		return err
	}
	return writeJSON(w, struct{}{})
}
