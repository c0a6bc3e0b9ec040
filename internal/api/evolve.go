package api

import (
	"encoding/json"
	"net/http"

	"github.com/sarissa-db/sarissa/internal/api/schemajson"
	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/table"
)

// addColumns: POST /v1/table/{id}/add_columns/
// {"new_columns": [{"name", "expression"}]} → {"version"} (§7.9).
func (s *server) addColumns(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		NewColumns []struct {
			Name       string  `json:"name"`
			Expression *string `json:"expression"`
		} `json:"new_columns"`
	}
	if err := s.readJSON(r, &req); err != nil {
		return err
	}
	if len(req.NewColumns) == 0 {
		return badRequest("new_columns is empty")
	}
	cols := make([]table.NewColumn, len(req.NewColumns))
	for i, c := range req.NewColumns {
		if c.Expression == nil {
			return badRequest("new_columns[%d] (%q): only columns computed from a SQL \"expression\" are supported", i, c.Name)
		}
		cols[i] = table.NewColumn{Name: c.Name, Expr: *c.Expression}
	}
	ref, err := s.openTable(r)
	if err != nil {
		return err
	}
	snap, err := ref.t.AddColumns(r.Context(), cols)
	if err != nil {
		return err
	}
	s.written(ref, snap.Version(), events.OpAddColumns, events.Event{})
	return writeJSON(w, map[string]uint64{"version": snap.Version()})
}

// alterColumns: POST /v1/table/{id}/alter_columns/
// {"alterations": [{"path", "rename"?, "nullable"?, "data_type"?}]}, with
// data_type in the JSON type format (§4.5).
func (s *server) alterColumns(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Alterations []struct {
			Path     string          `json:"path"`
			Rename   *string         `json:"rename"`
			Nullable *bool           `json:"nullable"`
			DataType json.RawMessage `json:"data_type"`
		} `json:"alterations"`
	}
	if err := s.readJSON(r, &req); err != nil {
		return err
	}
	if len(req.Alterations) == 0 {
		return badRequest("alterations is empty")
	}
	alts := make([]table.Alteration, len(req.Alterations))
	for i, a := range req.Alterations {
		alts[i] = table.Alteration{Path: a.Path, Rename: a.Rename, Nullable: a.Nullable}
		if len(a.DataType) > 0 && string(a.DataType) != "null" {
			dt, err := schemajson.ParseType(a.DataType)
			if err != nil {
				return badRequest("alterations[%d] (%q): data_type: %v", i, a.Path, err)
			}
			alts[i].DataType = dt
		}
	}
	ref, err := s.openTable(r)
	if err != nil {
		return err
	}
	snap, err := ref.t.AlterColumns(r.Context(), alts)
	if err != nil {
		return err
	}
	s.written(ref, snap.Version(), events.OpAlterColumns, events.Event{})
	return writeJSON(w, map[string]uint64{"version": snap.Version()})
}

// dropColumns: POST /v1/table/{id}/drop_columns/ {"columns": [...]}.
func (s *server) dropColumns(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Columns []string `json:"columns"`
	}
	if err := s.readJSON(r, &req); err != nil {
		return err
	}
	if len(req.Columns) == 0 {
		return badRequest("columns is empty")
	}
	ref, err := s.openTable(r)
	if err != nil {
		return err
	}
	snap, err := ref.t.DropColumns(r.Context(), req.Columns)
	if err != nil {
		return err
	}
	s.written(ref, snap.Version(), events.OpDropColumns, events.Event{})
	return writeJSON(w, map[string]uint64{"version": snap.Version()})
}
