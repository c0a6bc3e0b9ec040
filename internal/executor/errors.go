package executor

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/query"
)

// How errors cross the wire. The query node needs three distinctions:
// the request is at fault (InvalidArgument: answer the client with 400,
// never retry), something the plan named is gone (NotFound: plan again
// from fresh metadata), or this executor failed (anything else: run the
// part on a replica).

// toStatus maps a task error to a gRPC status error (nil for nil).
func toStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && status.Code(err) != codes.Unknown {
		return err
	}
	switch {
	case errors.Is(err, query.ErrInvalidRequest):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, objstore.ErrNotExist), errors.Is(err, catalog.ErrTableNotFound),
		errors.Is(err, catalog.ErrDatabaseNotFound), errors.Is(err, lance.ErrVersionNotFound):
		return status.Error(codes.NotFound, err.Error())
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// outcome names a status for the task metric.
func outcome(err error) string {
	switch status.Code(err) {
	case codes.OK:
		return "ok"
	case codes.InvalidArgument:
		return "invalid"
	case codes.NotFound:
		return "not_found"
	case codes.Canceled:
		return "canceled"
	}
	return "error"
}

// errRemote is an executor's failure as the query node sees it.
type errRemote struct {
	node string
	code codes.Code
	msg  string
	is   error // the sentinel the code stands for, if any
}

func (e *errRemote) Error() string {
	if e.code == codes.InvalidArgument {
		// The request's fault: the client sees the message it would see
		// from a single process.
		return e.msg
	}
	return fmt.Sprintf("executor %s: %s: %s", e.node, e.code, e.msg)
}

func (e *errRemote) Unwrap() error { return e.is }

// fromStatus maps an error of a call to node back to the sentinels the
// query layer branches on.
func fromStatus(node string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("executor %s: %w", node, err)
	}
	e := &errRemote{node: node, code: st.Code(), msg: st.Message()}
	switch st.Code() {
	case codes.InvalidArgument:
		e.is = query.ErrInvalidRequest
	case codes.NotFound:
		e.is = objstore.ErrNotExist
	case codes.Canceled:
		e.is = context.Canceled
	case codes.DeadlineExceeded:
		e.is = context.DeadlineExceeded
	}
	return e
}

// retryable reports whether another executor may succeed where node
// failed: not for requests at fault, missing objects (the plan must
// change) or the caller's own cancellation.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var re *errRemote
	if errors.As(err, &re) {
		switch re.code {
		case codes.InvalidArgument, codes.NotFound, codes.Canceled:
			return false
		}
	}
	return true
}

// statusOf turns a call's error back into a status for the part metric.
func statusOf(err error) error {
	var re *errRemote
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return status.Error(re.code, re.msg)
	}
	return status.Error(codes.Unavailable, err.Error())
}
