package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/lance"
)

// listVersions: POST /v1/table/{id}/version/list/ (§7.11).
func (s *server) listVersions(w http.ResponseWriter, r *http.Request) error {
	ref, err := s.openTable(r)
	if err != nil {
		return err
	}
	vs, err := ref.t.Lance().ListVersions(r.Context())
	if err != nil {
		return err
	}
	type version struct {
		Version   uint64            `json:"version"`
		Timestamp string            `json:"timestamp"`
		Metadata  map[string]string `json:"metadata"`
	}
	out := make([]version, len(vs))
	for i, v := range vs {
		md := v.Metadata
		if md == nil {
			md = map[string]string{}
		}
		out[i] = version{Version: v.Version, Timestamp: v.Timestamp.UTC().Format(time.RFC3339Nano), Metadata: md}
	}
	return writeJSON(w, map[string]any{"versions": out})
}

// restore: POST /v1/table/{id}/restore/ {"version": N|null}: commits a new
// version with version N's content; null (an unpinned handle) changes
// nothing.
func (s *server) restore(w http.ResponseWriter, r *http.Request) error {
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
	if req.Version == nil {
		snap, err := ref.t.Latest(r.Context())
		if err != nil {
			return err
		}
		return writeJSON(w, map[string]uint64{"version": snap.Version()})
	}
	snap, err := ref.t.Restore(r.Context(), *req.Version)
	if errors.Is(err, lance.ErrVersionNotFound) {
		// Not 404: the client would report the table as missing.
		return &apiError{status: http.StatusBadRequest, msg: "cannot restore table '" + ref.String() + "': version " + itoa(*req.Version) + " does not exist", err: err}
	}
	if err != nil {
		return err
	}
	s.written(ref, snap.Version(), events.OpRestore, events.Event{})
	return writeJSON(w, map[string]uint64{"version": snap.Version()})
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

// tagBody is the body of the tags/* calls.
type tagBody struct {
	Tag     string  `json:"tag"`
	Version *uint64 `json:"version"`
	Branch  *string `json:"branch"`
}

func (s *server) readTag(r *http.Request, needVersion bool) (tagBody, tableRef, error) {
	var req tagBody
	if err := s.readJSON(r, &req); err != nil {
		return req, tableRef{}, err
	}
	if err := (versionBody{Branch: req.Branch}).check(); err != nil {
		return req, tableRef{}, err
	}
	if req.Tag == "" {
		return req, tableRef{}, badRequest("missing field \"tag\"")
	}
	if needVersion && req.Version == nil {
		return req, tableRef{}, badRequest("missing field \"version\"")
	}
	ref, err := s.openTable(r)
	return req, ref, err
}

// tagError words tag failures for the client. Missing tags and versions are
// 400, not 404: the client turns every 404 on a table path into "table not
// found".
func tagError(ref tableRef, tag string, v *uint64, err error) error {
	switch {
	case errors.Is(err, lance.ErrTagNotFound):
		return &apiError{status: http.StatusBadRequest, msg: "tag '" + tag + "' does not exist on table '" + ref.String() + "'", err: err}
	case errors.Is(err, lance.ErrTagExists):
		return &apiError{status: http.StatusBadRequest, msg: "tag '" + tag + "' already exists on table '" + ref.String() + "'", err: err}
	case errors.Is(err, lance.ErrVersionNotFound) && v != nil:
		return &apiError{status: http.StatusBadRequest, msg: "version " + itoa(*v) + " of table '" + ref.String() + "' does not exist", err: err}
	}
	return err
}

// listTags: POST /v1/table/{id}/tags/list/ → a bare map with camelCase
// manifestSize (§7.11).
func (s *server) listTags(w http.ResponseWriter, r *http.Request) error {
	ref, err := s.openTable(r)
	if err != nil {
		return err
	}
	tags, err := ref.t.Lance().ListTags(r.Context())
	if err != nil {
		return err
	}
	type contents struct {
		Version      uint64 `json:"version"`
		ManifestSize int64  `json:"manifestSize"`
	}
	out := make(map[string]contents, len(tags))
	for _, t := range tags {
		out[t.Name] = contents{Version: t.Version, ManifestSize: t.ManifestSize}
	}
	return writeJSON(w, out)
}

func (s *server) createTag(w http.ResponseWriter, r *http.Request) error {
	req, ref, err := s.readTag(r, true)
	if err != nil {
		return err
	}
	if err := ref.t.Lance().CreateTag(r.Context(), req.Tag, *req.Version); err != nil {
		return tagError(ref, req.Tag, req.Version, err)
	}
	return writeJSON(w, struct{}{})
}

func (s *server) updateTag(w http.ResponseWriter, r *http.Request) error {
	req, ref, err := s.readTag(r, true)
	if err != nil {
		return err
	}
	if err := ref.t.Lance().UpdateTag(r.Context(), req.Tag, *req.Version); err != nil {
		return tagError(ref, req.Tag, req.Version, err)
	}
	return writeJSON(w, struct{}{})
}

func (s *server) deleteTag(w http.ResponseWriter, r *http.Request) error {
	req, ref, err := s.readTag(r, false)
	if err != nil {
		return err
	}
	if err := ref.t.Lance().DeleteTag(r.Context(), req.Tag); err != nil {
		return tagError(ref, req.Tag, nil, err)
	}
	return writeJSON(w, struct{}{})
}

// tagVersion: POST /v1/table/{id}/tags/version/ {"tag"} → {"version": N};
// checkout("tag") resolves tags through it.
func (s *server) tagVersion(w http.ResponseWriter, r *http.Request) error {
	req, ref, err := s.readTag(r, false)
	if err != nil {
		return err
	}
	tag, err := ref.t.Lance().GetTag(r.Context(), req.Tag)
	if err != nil {
		return tagError(ref, req.Tag, nil, err)
	}
	return writeJSON(w, map[string]uint64{"version": tag.Version})
}
