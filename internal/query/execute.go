package query

import (
	"context"
	"fmt"
	"runtime"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

// Options configure one query execution.
type Options struct {
	// Cache holds decoded vector columns across queries; nil caches nothing.
	Cache *Cache
	// TableURI identifies the table's storage for cache keys: the full
	// location URL of the table root (e.g. az://account/container/db/t.lance).
	// Two different tables must never share it. Empty disables caching.
	TableURI string
	// Parallelism is the number of goroutines scanning vectors (default
	// GOMAXPROCS).
	Parallelism int
	// Allocator allocates result buffers (default memory.DefaultAllocator).
	Allocator memory.Allocator
	// Indexes searches the table's vector indexes; nil searches flat.
	Indexes *vindex.Manager
	// Table is the table as Indexes knows it (needed with Indexes).
	Table vindex.TableRef
	// Fleet runs the query's tasks (plan executors); nil runs them in this
	// process with these options.
	Fleet Fleet
	// Database and TableID name the table for a Fleet whose executors open
	// it themselves.
	Database, TableID string
	// freshIndex plans index searches from a fresh catalog read (after a
	// task met an index file removed meanwhile).
	freshIndex bool
}

// fleet returns where tasks run.
func (o Options) fleet() Fleet {
	if o.Fleet != nil {
		return o.Fleet
	}
	return localFleet{opts: o}
}

// target names snap's table for the fleet.
func (o Options) target(snap *table.Snapshot) Target {
	return Target{Database: o.Database, Table: o.TableID, Version: snap.Version(), URI: o.TableURI}
}

func (o Options) withDefaults() Options {
	if o.Parallelism <= 0 {
		o.Parallelism = runtime.GOMAXPROCS(0)
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	return o
}

// Result is a query's output: a schema and the batches holding the rows, in
// order. The caller owns the batches and must call Release.
type Result struct {
	Schema  *arrow.Schema
	Batches []arrow.RecordBatch
}

// NumRows is the total number of result rows.
func (r *Result) NumRows() int64 {
	var n int64
	for _, b := range r.Batches {
		n += b.NumRows()
	}
	return n
}

// Release releases every batch.
func (r *Result) Release() {
	if r == nil {
		return
	}
	for _, b := range r.Batches {
		b.Release()
	}
	r.Batches = nil
}

// Execute runs req against snap. The caller checks out the snapshot that
// req.Version asks for; Execute does not look at req.Version.
func Execute(ctx context.Context, snap *table.Snapshot, req Request, opts Options) (*Result, error) {
	p, err := newPlan(snap, req)
	if err != nil {
		return nil, err
	}
	x := &executor{p: p, opts: opts.withDefaults()}
	if p.vec != nil {
		return x.runVector(ctx)
	}
	return x.runScan(ctx)
}

// Explain describes how req would run against snap with opts, as the text
// explain_plan returns (the caller JSON-encodes it as a string): the vector
// index a search would use (opts.Indexes), its probes, ef and refine step,
// and the exact search over rows the index does not cover.
func Explain(ctx context.Context, snap *table.Snapshot, req Request, verbose bool, opts Options) (string, error) {
	p, err := newPlan(snap, req)
	if err != nil {
		return "", err
	}
	x := &executor{p: p, opts: opts.withDefaults()}
	var ix *vindex.Info
	skipped := ""
	if x.indexUsable() {
		infos, err := opts.Indexes.List(ctx, opts.Table, snap)
		if err != nil {
			return "", fmt.Errorf("list vector indexes: %w", err)
		}
		for i := range infos {
			if infos[i].Column == p.vec.column {
				ix = &infos[i]
				break
			}
		}
		if ix != nil && req.Metric != 0 && req.Metric != ix.Metric {
			skipped = fmt.Sprintf("index %s not used: built for %s, query asks for %s", ix.Name, ix.Metric, req.Metric)
			ix = nil
		}
	}
	return p.explain(verbose, ix, skipped), nil
}
