package file

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt reports a file whose bytes contradict the format: bad
	// magic, offsets past the end of the file, inconsistent row counts.
	ErrCorrupt = errors.New("corrupt lance file")
	// ErrUnsupported reports a valid file (or request) using a feature this
	// package does not implement: other format versions, other encodings,
	// types without a 2.0 mapping.
	ErrUnsupported = errors.New("unsupported lance file feature")
	// ErrInvalidArgument reports a bad call: rows out of range, a record
	// batch that does not match the writer's schema.
	ErrInvalidArgument = errors.New("invalid argument")
)

// Error is the error type returned by readers and writers. It names the file
// (as given in the options), where in the file the problem is, and what is
// wrong, e.g.
//
//	lance file data/abc.lance: column 3 page 0: buffer [100,164) past end of file (size 120)
//
// errors.Is matches it against ErrCorrupt, ErrUnsupported or
// ErrInvalidArgument and against the underlying cause.
type Error struct {
	Path  string // file name as passed in the options
	Where string // "footer", "column 3 page 0", ...; may be empty
	Kind  error  // ErrCorrupt, ErrUnsupported, ErrInvalidArgument or nil
	Err   error  // the cause
}

func (e *Error) Error() string {
	s := "lance file " + e.Path
	if e.Where != "" {
		s += ": " + e.Where
	}
	return s + ": " + e.Err.Error()
}

// Unwrap exposes both the kind and the cause to errors.Is / errors.As.
func (e *Error) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

// locErr is an error raised deep in decoding that does not know the file
// name yet; the public entry points turn it into an *Error.
type locErr struct {
	where string
	kind  error
	err   error
}

func (e *locErr) Error() string   { return e.where + ": " + e.err.Error() }
func (e *locErr) Unwrap() []error { return []error{e.kind, e.err} }

func corruptf(where, format string, args ...any) error {
	return &locErr{where: where, kind: ErrCorrupt, err: fmt.Errorf(format, args...)}
}

func unsupportedf(where, format string, args ...any) error {
	return &locErr{where: where, kind: ErrUnsupported, err: fmt.Errorf(format, args...)}
}

// withPath converts a decoding error into an *Error for the named file.
func withPath(path string, err error) error {
	if err == nil {
		return nil
	}
	var fe *Error
	if errors.As(err, &fe) {
		return err
	}
	var le *locErr
	if errors.As(err, &le) {
		return &Error{Path: path, Where: le.where, Kind: le.kind, Err: le.err}
	}
	return &Error{Path: path, Err: err}
}
