package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/sarissa-db/sarissa/internal/api/arrowhttp"
	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/table"
)

// Headers of the protocol (§3).
const (
	hdrDatabase       = "x-lancedb-database"
	hdrMinVersion     = "x-lancedb-min-version"
	hdrMinReadVersion = "x-lancedb-min-read-version"
	hdrVersion        = "x-lancedb-version"

	contentTypeJSON      = "application/json"
	contentTypeArrowFile = "application/vnd.apache.arrow.file"
)

// database resolves the x-lancedb-database header.
func (s *server) database(r *http.Request) (*catalog.Database, error) {
	name := r.Header.Get(hdrDatabase)
	if name == "" {
		return nil, badRequest("missing %s header: connect with lancedb.connect(\"db://<database>\", {hostOverride: \"http://<this server>\"})", hdrDatabase)
	}
	state(r).database = name
	db, err := s.cat.Database(r.Context(), name)
	if err != nil {
		return nil, err
	}
	return db, nil
}

// delimiter is the client's identifier delimiter (?delimiter=, default $).
func delimiter(r *http.Request) string {
	if d := r.URL.Query().Get("delimiter"); d != "" {
		return d
	}
	return catalog.DefaultDelimiter
}

// tableRef is a resolved table path parameter.
type tableRef struct {
	db *catalog.Database
	id catalog.Ident
	t  *table.Table // nil until opened
}

func (ref tableRef) String() string { return ref.id.String() }

// tableIdent resolves the database and the {id} path parameter.
func (s *server) tableIdent(r *http.Request) (tableRef, error) {
	db, err := s.database(r)
	if err != nil {
		return tableRef{}, err
	}
	id, err := catalog.ParseTableID(r.PathValue("id"), delimiter(r))
	if err != nil {
		return tableRef{}, err
	}
	return tableRef{db: db, id: id}, nil
}

// openTable resolves and opens the {id} table; a missing table is a 404
// whose text reads well after the client's own "Table 'x' was not found".
func (s *server) openTable(r *http.Request) (tableRef, error) {
	ref, err := s.tableIdent(r)
	if err != nil {
		return ref, err
	}
	ref.t, err = ref.db.OpenTable(r.Context(), ref.id)
	if errors.Is(err, catalog.ErrTableNotFound) {
		return ref, &apiError{status: http.StatusNotFound, msg: fmt.Sprintf("Table '%s' was not found in database '%s'", ref.id, ref.db.Name()), err: err}
	}
	return ref, err
}

// readBody reads a JSON body whole, within MaxJSONBodyBytes.
func (s *server) readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxJSONBodyBytes+1))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, badRequest("read request body: %v", err)
	}
	if int64(len(data)) > s.cfg.MaxJSONBodyBytes {
		return nil, errorf(http.StatusRequestEntityTooLarge, "JSON request body is larger than the server's limit of %d bytes", s.cfg.MaxJSONBodyBytes)
	}
	return data, nil
}

// readJSON decodes a JSON body into v. An empty body (the client sends none
// for several calls) leaves v at its zero value. Unknown fields are
// ignored: clients add fields over time.
func (s *server) readJSON(r *http.Request, v any) error {
	data, err := s.readBody(r)
	if err != nil {
		return err
	}
	return decodeJSON(data, v)
}

func decodeJSON(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return badRequest("invalid JSON body: more than one JSON value")
	}
	return nil
}

// jsonError turns encoding/json's errors into precise 400s.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return badRequest("invalid JSON body at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(top level)"
		}
		return badRequest("invalid JSON body: field %q: want %s, got JSON %s", field, typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("invalid JSON body: unexpected end of input")
	}
	return badRequest("invalid JSON body: %v", err)
}

// arrowBody starts decoding an Arrow IPC stream body. The caller releases
// the reader.
func (s *server) arrowBody(r *http.Request) (*arrowhttp.StreamReader, error) {
	if r.Body == nil {
		return nil, badRequest("missing request body: want an Arrow IPC stream")
	}
	return arrowhttp.NewStreamReader(r.Body, s.limits, s.mem)
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
	return nil
}

// headerUint parses an unsigned integer header (0 when absent).
func headerUint(r *http.Request, name string) (uint64, error) {
	v := r.Header.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, badRequest("%s: %q is not a version number", name, v)
	}
	return n, nil
}

// snapshot returns the version a read should see: the pinned version if the
// body names one (checkout), else the latest, which must not be older than
// what the client has already seen (x-lancedb-min-version for its own
// writes, x-lancedb-min-read-version for earlier reads). Storage listings
// are strongly consistent, so the latest version can only be older when
// the table was dropped and re-created; that is answered with 503, which
// the client retries and then reports.
func (s *server) snapshot(ctx context.Context, r *http.Request, ref tableRef, version *uint64) (*table.Snapshot, error) {
	if version != nil {
		snap, err := ref.t.Checkout(ctx, *version)
		if errors.Is(err, lance.ErrVersionNotFound) {
			return nil, &apiError{status: http.StatusNotFound, msg: fmt.Sprintf("version %d of table '%s' does not exist", *version, ref), err: err}
		}
		return snap, err
	}
	minV, err := headerUint(r, hdrMinVersion)
	if err != nil {
		return nil, err
	}
	minRead, err := headerUint(r, hdrMinReadVersion)
	if err != nil {
		return nil, err
	}
	snap, err := ref.t.Latest(ctx)
	if err != nil {
		return nil, err
	}
	if want := max(minV, minRead); snap.Version() < want {
		return nil, errorf(http.StatusServiceUnavailable, "table '%s' is at version %d, older than version %d this client has already seen (%s/%s); the table may have been dropped and re-created", ref, snap.Version(), want, hdrMinVersion, hdrMinReadVersion)
	}
	return snap, nil
}

// versionBody is the {"version": N|null} part of read requests.
type versionBody struct {
	Version *uint64 `json:"version"`
	Branch  *string `json:"branch"`
}

func (v versionBody) check() error {
	if v.Branch != nil && *v.Branch != "" && *v.Branch != "main" {
		return badRequest("branches are not supported (branch %q)", *v.Branch)
	}
	return nil
}
