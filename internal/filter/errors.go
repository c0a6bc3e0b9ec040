package filter

import (
	"errors"
	"fmt"
)

// Positions in every error of this package are 0-based byte offsets into the
// filter text as the caller passed it (not rune offsets), so a caller can
// underline the culprit with strings.Repeat(" ", pos)+"^" for ASCII input.

var (
	// ErrInvalid is wrapped by every error that blames the filter text or its
	// fit with the schema (parse, unknown column, type mismatch, unsupported
	// construct). The REST layer maps it to HTTP 400.
	ErrInvalid = errors.New("invalid filter")
	// ErrUnknownColumn is wrapped (next to ErrInvalid) when a column or nested
	// field does not exist in the schema.
	ErrUnknownColumn = errors.New("unknown column")
	// ErrDivideByZero is wrapped by evaluation errors for integer division or
	// modulo by zero, which DataFusion reports as "Divide by zero error".
	ErrDivideByZero = errors.New("divide by zero")
	// ErrEval is wrapped by every error raised while evaluating a bound
	// expression over a batch (overflow, failed cast, bad regexp, ...).
	ErrEval = errors.New("filter evaluation")
)

// ParseError is a syntax error. Pos is the 0-based byte offset of the
// offending token in the filter text.
type ParseError struct {
	Pos int
	Msg string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("filter: at position %d: %s", e.Pos, e.Msg)
}

// Unwrap lets callers test errors.Is(err, ErrInvalid).
func (e *ParseError) Unwrap() error { return ErrInvalid }

// BindError is a semantic error found while resolving an expression against a
// schema: an unknown column or function, or operand types that do not fit.
// Pos is the 0-based byte offset of the offending node in the filter text.
type BindError struct {
	Pos  int
	Msg  string
	kind error // optional sentinel next to ErrInvalid
}

func (e *BindError) Error() string {
	return fmt.Sprintf("filter: %s (at position %d)", e.Msg, e.Pos)
}

// Unwrap exposes ErrInvalid and, for unknown columns, ErrUnknownColumn.
func (e *BindError) Unwrap() []error {
	if e.kind != nil {
		return []error{ErrInvalid, e.kind}
	}
	return []error{ErrInvalid}
}

func bindErrorf(pos int, format string, args ...any) *BindError {
	return &BindError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// EvalError is a failure while evaluating a bound expression over data, such
// as an integer division by zero. Pos locates the operator in the filter text.
type EvalError struct {
	Pos  int
	Msg  string
	kind error
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("filter: evaluate at position %d: %s", e.Pos, e.Msg)
}

// Unwrap exposes ErrEval and, when set, a more specific sentinel.
func (e *EvalError) Unwrap() []error {
	if e.kind != nil {
		return []error{ErrEval, e.kind}
	}
	return []error{ErrEval}
}

func evalErrorf(pos int, format string, args ...any) *EvalError {
	return &EvalError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}
