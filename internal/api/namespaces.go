package api

import (
	"net/http"

	"github.com/sarissa-db/sarissa/internal/catalog"
)

func (s *server) namespaceParam(r *http.Request) (*catalog.Database, []string, error) {
	db, err := s.database(r)
	if err != nil {
		return nil, nil, err
	}
	ns, err := catalog.ParseNamespaceID(r.PathValue("ns"), delimiter(r))
	return db, ns, err
}

// listNamespaces: GET /v1/namespace/{ns}/list → {"namespaces": [...]}.
func (s *server) listNamespaces(w http.ResponseWriter, r *http.Request) error {
	db, ns, err := s.namespaceParam(r)
	if err != nil {
		return err
	}
	token, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	p, err := db.ListNamespaces(r.Context(), ns, token, limit)
	if err != nil {
		return err
	}
	out := map[string]any{"namespaces": p.Names}
	if p.Names == nil {
		out["namespaces"] = []string{}
	}
	if p.NextToken != "" {
		out["page_token"] = p.NextToken
	}
	return writeJSON(w, out)
}

// createNamespace: POST /v1/namespace/{ns}/create {"mode"?, "properties"?}.
func (s *server) createNamespace(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Mode       string            `json:"mode"`
		Properties map[string]string `json:"properties"`
	}
	if err := s.readJSON(r, &req); err != nil {
		return err
	}
	mode, err := catalog.ParseNamespaceCreateMode(req.Mode)
	if err != nil {
		return err
	}
	db, ns, err := s.namespaceParam(r)
	if err != nil {
		return err
	}
	props, err := db.CreateNamespace(r.Context(), ns, mode, req.Properties)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"properties": props})
}

// describeNamespace: POST /v1/namespace/{ns}/describe → {"properties": {...}}.
func (s *server) describeNamespace(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.readBody(r); err != nil {
		return err
	}
	db, ns, err := s.namespaceParam(r)
	if err != nil {
		return err
	}
	props, err := db.DescribeNamespace(r.Context(), ns)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{"properties": props})
}

// dropNamespace: POST /v1/namespace/{ns}/drop {"mode"?: Fail|Skip,
// "behavior"?: Restrict|Cascade}.
func (s *server) dropNamespace(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Mode     string `json:"mode"`
		Behavior string `json:"behavior"`
	}
	if err := s.readJSON(r, &req); err != nil {
		return err
	}
	opts, err := catalog.ParseNamespaceDropOptions(req.Mode, req.Behavior)
	if err != nil {
		return err
	}
	db, ns, err := s.namespaceParam(r)
	if err != nil {
		return err
	}
	if err := db.DropNamespace(r.Context(), ns, opts); err != nil {
		return err
	}
	return writeJSON(w, struct{}{})
}
