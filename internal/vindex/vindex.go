// Package vindex manages the vector indexes of tables: it builds them as
// background jobs that stream over a table snapshot, records them in an index
// catalog kept under the table root (outside Lance's own index section, so
// stock LanceDB still opens the table), extends them with delta segments for
// new fragments, and answers searches over every segment of an index with a
// byte-budgeted partition cache.
//
// An index is a list of segments; each segment is one ivf file built with the
// index's model and covering a known set of fragments, identified by fragment
// id and the path of the fragment's first data file so that a fragment that
// was overwritten or compacted under a reused id never matches. Fragments a
// snapshot holds but no segment covers are the caller's to brute-force
// (Result.Covered tells which).
package vindex

import (
	"errors"
	"log/slog"
	"time"

	"github.com/sarissa-db/sarissa/internal/index/ivf"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// Sentinel errors. Wrapped errors carry the details.
var (
	// ErrNotFound reports an index name or job id that does not exist.
	ErrNotFound = errors.New("index not found")
	// ErrInvalid reports a request that cannot be carried out as given
	// (unknown or unsuitable column, bad parameters, too few rows).
	ErrInvalid = errors.New("invalid index request")
	// ErrNoIndex reports that the queried column has no usable index; the
	// caller searches exactly instead.
	ErrNoIndex = errors.New("no usable vector index")
	// ErrMetricMismatch reports a query whose distance type differs from the
	// index's. It also matches ErrNoIndex: as in Lance (lance#5609) such a
	// query does not use the index and falls back to an exact search.
	ErrMetricMismatch = errors.New("distance type does not match the index")
	// ErrCorrupt reports an unreadable index catalog.
	ErrCorrupt = errors.New("corrupt index catalog")
	// ErrConflict reports a catalog change that lost against concurrent
	// changes it cannot be rebased over (or too many retries).
	ErrConflict = errors.New("index catalog commit conflict")
	// ErrClosed reports use of a closed Manager or a build it canceled.
	ErrClosed = errors.New("index manager closed")
)

// Config configures a Manager. Zero values select defaults.
type Config struct {
	Logger *slog.Logger
	Now    func() time.Time
	// BuildMemoryBytes bounds the encoded rows a build holds in memory
	// (default 1 GiB); beyond it partitions spill to files in SpillDir.
	BuildMemoryBytes int64
	// CacheBytes is the budget of the partition cache (default 1 GiB).
	CacheBytes int64
	// SpillDir holds build spill files (default os.TempDir()).
	SpillDir string
	// Workers is the parallelism of training and encoding (default
	// GOMAXPROCS).
	Workers int
	// MaxConcurrentBuilds bounds builds running at once (default 1); more
	// jobs wait queued.
	MaxConcurrentBuilds int
	// Seed seeds sampling and training, so builds are reproducible.
	Seed uint64
	// CatalogRefresh is how long a catalog read for a search is reused before
	// the object store is asked again (default 1s; negative: always ask).
	// Changes made through this Manager are seen at once.
	CatalogRefresh time.Duration
	// MaxSegments is the number of segments an index may have before
	// Optimize merges them into one (default 4).
	MaxSegments int
}

// TableRef names a table for the Manager.
type TableRef struct {
	Table *table.Table
	// URI is the table's full location; it keys caches across tables.
	URI string
	// Name is used in messages.
	Name string
}

// Spec describes an index to create.
type Spec struct {
	// Name is the index name; empty means "<column>_idx".
	Name   string
	Column string
	Params ivf.BuildParams
}

// Info describes an index as seen from one table snapshot.
type Info struct {
	Name, Column string
	Kind         ivf.Kind
	Metric       vector.Metric
	UUID         string
	CreatedAt    time.Time
	// NumIndexedRows counts live rows in fragments the index covers,
	// NumUnindexedRows live rows in the snapshot's other fragments.
	NumIndexedRows, NumUnindexedRows int64
	// NumIndices is the number of segments (LanceDB's deltas).
	NumIndices int
	SizeBytes  int64
	Params     ivf.BuildParams
}

// Query is one nearest-neighbour search through an index.
type Query struct {
	Column                  string
	Vector                  []float32
	K, MinProbes, MaxProbes int
	Ef                      int
	// Metric 0 means the index's.
	Metric vector.Metric
	// Allow, if set, admits a row address; the caller combines its
	// prefilter and the snapshot's deletions in it.
	Allow func(addr uint64) bool
}

// Result is the answer of Search.
type Result struct {
	// Hits are the nearest indexed rows, nearest first.
	Hits []vector.Hit
	// Covered reports whether the index answered for a fragment; the caller
	// searches the others exactly and merges.
	Covered func(fragmentID uint64) bool
	Index   Info
}
