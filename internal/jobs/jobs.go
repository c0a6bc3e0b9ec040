// Package jobs describes the maintenance work the Lance Agent hands out —
// extending or merging a vector index, compacting small fragments, cleaning
// up old versions — and launches it: in this process (Local), or as
// Kubernetes Jobs running `sarissa job run` (package kube).
//
// A job is identified by its Spec; Spec.Name is deterministic, so launching
// the same job twice is a no-op on every launcher, and two agents that make
// the same decision start one job. Every job is idempotent: it re-reads the
// table, does what is still needed and commits by compare-and-swap, so a
// job that runs again after a crash, or after another job did the work,
// commits nothing or rebases.
package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind is the kind of work a job does.
type Kind string

const (
	// KindIndex brings a vector index up to date: a delta segment over the
	// unindexed fragments, merged with the others when there are too many
	// (vindex.Manager.Optimize).
	KindIndex Kind = "index"
	// KindCompact rewrites small adjacent fragments (and fragments with
	// many deleted rows) into larger ones.
	KindCompact Kind = "compact"
	// KindCleanup removes versions older than the retention and files no
	// retained version references (after the grace period).
	KindCleanup Kind = "cleanup"
)

// Kinds lists every kind, in a stable order.
var Kinds = []Kind{KindIndex, KindCompact, KindCleanup}

// ParseKind checks a kind name.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("%w: unknown job kind %q (want index, compact or cleanup)", ErrInvalid, s)
}

// Spec is one piece of work on one table.
type Spec struct {
	Kind     Kind   `json:"kind"`
	Database string `json:"database"`
	// Table is the table identifier as the REST API names it (namespaces
	// joined with '$').
	Table string `json:"table"`
	// Version is the table version the decision was made at. The job works
	// on the latest version when it runs; Version makes the name of work
	// decided at different versions differ.
	Version uint64 `json:"version"`
	// Index names the index of a KindIndex job.
	Index string `json:"index,omitempty"`
}

// Validate checks the fields every launcher relies on.
func (s Spec) Validate() error {
	if _, err := ParseKind(string(s.Kind)); err != nil {
		return err
	}
	if s.Database == "" || s.Table == "" {
		return fmt.Errorf("%w: a job needs a database and a table", ErrInvalid)
	}
	if s.Kind == KindIndex && s.Index == "" {
		return fmt.Errorf("%w: an index job needs the index name", ErrInvalid)
	}
	if s.Kind != KindIndex && s.Index != "" {
		return fmt.Errorf("%w: only index jobs name an index", ErrInvalid)
	}
	return nil
}

// Slot identifies the (table, kind) pair of which at most one job runs at a
// time; index jobs of different indexes have different slots.
func (s Spec) Slot() string {
	slot := string(s.Kind) + ":" + s.Database + "/" + s.Table
	if s.Index != "" {
		slot += "#" + s.Index
	}
	return slot
}

// Name is the job's deterministic name, usable as a Kubernetes object name
// (a DNS-1123 label of at most 63 characters): sarissa-<kind>-<hash>-v<version>,
// where hash covers database, table and index.
func (s Spec) Name() string {
	h := sha256.Sum256([]byte(s.Database + "\x00" + s.Table + "\x00" + s.Index))
	return "sarissa-" + string(s.Kind) + "-" + hex.EncodeToString(h[:6]) + "-v" + strconv.FormatUint(s.Version, 10)
}

// String describes the job for logs.
func (s Spec) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s/%s@%d", s.Kind, s.Database, s.Table, s.Version)
	if s.Index != "" {
		fmt.Fprintf(&b, " index %s", s.Index)
	}
	return b.String()
}

// State is where a job is in its life.
type State string

const (
	StatePending   State = "pending" // accepted, not started (queued, pod scheduling)
	StateRunning   State = "running"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
)

// Done reports whether the job has finished.
func (s State) Done() bool { return s == StateSucceeded || s == StateFailed }

// Status is a launcher's view of one job.
type Status struct {
	Spec  Spec   `json:"spec"`
	Name  string `json:"name"`
	State State  `json:"state"`
	// Error is the failure of a failed job, as far as the launcher knows it.
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
}

// Launcher starts jobs somewhere and reports on them.
type Launcher interface {
	// Launch starts the job. A job of the same name that is pending,
	// running or recently finished makes Launch a no-op (it returns nil):
	// duplicate decisions never start duplicate work.
	Launch(ctx context.Context, spec Spec) error
	// List returns the jobs the launcher knows: unfinished ones and those
	// finished recently (implementations forget finished jobs after a
	// while). Order is unspecified.
	List(ctx context.Context) ([]Status, error)
}

// Runner executes one job to completion in this process: what a local
// launcher calls and what `sarissa job run` (the indexer's entry point)
// runs.
type Runner interface {
	Run(ctx context.Context, spec Spec) error
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context, spec Spec) error

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context, spec Spec) error { return f(ctx, spec) }

// ErrInvalid reports an unusable job spec.
var ErrInvalid = errors.New("invalid job")
