package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/sarissa-db/sarissa/internal/api/arrowhttp"
	"github.com/sarissa-db/sarissa/internal/api/schemajson"
	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/filter"
	"github.com/sarissa-db/sarissa/internal/index/ivf"
	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/lance/schema"
	"github.com/sarissa-db/sarissa/internal/query"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

// statusClientClosed is logged (never sent) when the client went away.
const statusClientClosed = 499

// apiError is an error with the status and message a handler chose.
type apiError struct {
	status int
	msg    string
	err    error // cause, for logs; may be nil
}

func (e *apiError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *apiError) Unwrap() error { return e.err }

func errorf(status int, format string, args ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return errorf(http.StatusBadRequest, format, args...)
}

// statusOf maps an error to the HTTP status and body the LanceDB client
// expects (protocol §5): missing tables 404, existing tables 400 with
// "already exists", bad input 400, commit conflicts 409 (retried by the
// client), and 500 only for faults of the server or its storage.
func statusOf(err error, maxBody int64) (int, string) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, ae.msg
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than the server's limit of %d bytes (max_body_bytes); send the data in smaller requests", maxBody)
	case errors.Is(err, arrowhttp.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusRequestTimeout, "request timed out (x-request-timeout-ms or the server's request_timeout): " + err.Error()
	case errors.Is(err, context.Canceled):
		return statusClientClosed, "request canceled by the client"

	case errors.Is(err, catalog.ErrTableNotFound), errors.Is(err, lance.ErrTableNotFound),
		errors.Is(err, catalog.ErrNamespaceNotFound), errors.Is(err, catalog.ErrDatabaseNotFound),
		errors.Is(err, lance.ErrVersionNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, vindex.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, vindex.ErrConflict):
		return http.StatusConflict, "concurrent index change, retry the request: " + err.Error()
	case errors.Is(err, vindex.ErrClosed):
		return http.StatusServiceUnavailable, "the server is shutting down: " + err.Error()
	case errors.Is(err, catalog.ErrNamespaceExists):
		return http.StatusConflict, err.Error()
	case errors.Is(err, lance.ErrCommitConflict), errors.Is(err, lance.ErrIncompatibleConflict):
		return http.StatusConflict, "concurrent commit conflict, retry the request: " + err.Error()
	case errors.Is(err, lance.ErrUnsupportedFeature):
		return http.StatusNotImplemented, err.Error()

	case errors.Is(err, catalog.ErrTableExists), errors.Is(err, lance.ErrTableExists),
		errors.Is(err, catalog.ErrInvalidName), errors.Is(err, catalog.ErrInvalidArgument),
		errors.Is(err, catalog.ErrNamespaceNotEmpty),
		errors.Is(err, lance.ErrTagNotFound), errors.Is(err, lance.ErrTagExists), errors.Is(err, lance.ErrInvalidTag),
		errors.Is(err, table.ErrInvalidArgument), errors.Is(err, table.ErrSchemaMismatch),
		errors.Is(err, filter.ErrInvalid), errors.Is(err, filter.ErrEval),
		errors.Is(err, query.ErrInvalidRequest),
		errors.Is(err, vindex.ErrInvalid), errors.Is(err, ivf.ErrInvalid),
		errors.Is(err, arrowhttp.ErrInvalid), errors.Is(err, schemajson.ErrInvalid),
		errors.Is(err, schema.ErrInvalidSchema), errors.Is(err, schema.ErrUnsupportedType):
		return http.StatusBadRequest, err.Error()
	}
	return http.StatusInternalServerError, "internal error: " + err.Error()
}

func isExists(err error) bool {
	return errors.Is(err, catalog.ErrTableExists) || errors.Is(err, lance.ErrTableExists)
}

func isNotFound(err error) bool {
	return errors.Is(err, catalog.ErrTableNotFound) || errors.Is(err, lance.ErrTableNotFound)
}

func isNamespaceNotFound(err error) bool { return errors.Is(err, catalog.ErrNamespaceNotFound) }
