package query

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sarissa-db/sarissa/internal/table"
)

// Fleet runs the Tasks of a query. The plan executors' client
// (internal/executor) is one; with none configured, Execute runs every task
// in this process through the same code (localFleet).
type Fleet interface {
	// Run executes t against the table version snap holds (tgt names it
	// for processes that open the table themselves). It may cut t into
	// parts by its units (Task.Units, Task.Subset) and run them
	// concurrently; a part that fails on one executor runs again on
	// another, so every unit is answered exactly once. The results are
	// the parts' outputs, owned by the caller (Release each). Errors that
	// blame the request wrap ErrInvalidRequest; a task that met a removed
	// index file wraps objstore.ErrNotExist.
	Run(ctx context.Context, tgt Target, snap *table.Snapshot, t Task) ([]*Result, error)
}

// Target names the table version a task reads.
type Target struct {
	// Database and Table identify the table as the REST API does.
	Database, Table string
	Version         uint64
	// URI is the table's full location, which keys caches and placement.
	URI string
}

// localFleet runs tasks in this process, on the caller's snapshot, with the
// query's own options.
type localFleet struct{ opts Options }

func (l localFleet) Run(ctx context.Context, _ Target, snap *table.Snapshot, t Task) ([]*Result, error) {
	r, err := RunTask(ctx, snap, t, l.opts)
	if err != nil {
		return nil, err
	}
	return []*Result{r}, nil
}

// RunTask executes one task against snap: what a plan executor does with a
// task it receives (and the local fleet with every task). The request is
// validated again against snap; unknown fragments in the task are an
// error. The caller releases the result.
func RunTask(ctx context.Context, snap *table.Snapshot, t Task, opts Options) (*Result, error) {
	p, err := newPlan(snap, t.Request)
	if err != nil {
		return nil, err
	}
	x := &executor{p: p, opts: opts.withDefaults()}
	if err := x.checkFragments(t.Fragments); err != nil {
		return nil, err
	}
	switch t.Kind {
	case TaskSearch:
		if p.vec == nil {
			return nil, invalid("a search task needs a query vector")
		}
		return x.searchTask(ctx, t)
	case TaskScan:
		if p.vec != nil {
			return nil, invalid("a scan task takes no query vector")
		}
		return x.scanTask(ctx, t)
	case TaskCount:
		n, err := snap.CountFragments(ctx, p.req.Filter, t.Fragments)
		if err != nil {
			return nil, err
		}
		return countResult(x.opts, n), nil
	}
	return nil, invalid("unknown task kind %v", t.Kind)
}

// checkFragments refuses fragment ids the snapshot does not have: the
// planner and the executor must be reading the same version.
func (x *executor) checkFragments(ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	have := make(map[uint64]bool, len(x.p.snap.Lance().Fragments()))
	for _, f := range x.p.snap.Lance().Fragments() {
		have[f.GetId()] = true
	}
	for _, id := range ids {
		if !have[id] {
			return invalid("task names fragment %d, which version %d does not have", id, x.p.snap.Version())
		}
	}
	return nil
}

const countColumn = "count"

var countSchema = arrow.NewSchema([]arrow.Field{{Name: countColumn, Type: arrow.PrimitiveTypes.Int64}}, nil)

func countResult(opts Options, n int64) *Result {
	b := array.NewInt64Builder(opts.Allocator)
	defer b.Release()
	b.Append(n)
	col := b.NewArray()
	defer col.Release()
	return &Result{Schema: countSchema, Batches: []arrow.RecordBatch{array.NewRecordBatch(countSchema, []arrow.Array{col}, 1)}}
}

// Count returns the number of live rows of snap matching filter (all rows
// when empty), counting fragments on the fleet.
func Count(ctx context.Context, snap *table.Snapshot, filter string, opts Options) (int64, error) {
	if filter == "" {
		return snap.NumRows(), nil
	}
	opts = opts.withDefaults()
	t := Task{Kind: TaskCount, Request: Request{K: NoLimit, Filter: filter, Prefilter: true}, Fragments: liveFragmentIDs(snap)}
	if len(t.Fragments) == 0 {
		return 0, nil
	}
	results, err := opts.fleet().Run(ctx, opts.target(snap), snap, t)
	if err != nil {
		return 0, err
	}
	defer releaseResults(results)
	var n int64
	for _, r := range results {
		for _, b := range r.Batches {
			i := b.Schema().FieldIndices(countColumn)
			if len(i) != 1 {
				return 0, fmt.Errorf("count task returned %s, not a count", b.Schema())
			}
			c, ok := b.Column(i[0]).(*array.Int64)
			if !ok {
				return 0, fmt.Errorf("count task returned %s, not a count", b.Schema())
			}
			for _, v := range c.Int64Values() {
				n += v
			}
		}
	}
	return n, nil
}

// liveFragmentIDs lists the fragments of snap with live rows, in manifest
// order, from the manifest alone.
func liveFragmentIDs(snap *table.Snapshot) []uint64 {
	var ids []uint64
	for _, f := range snap.Lance().Fragments() {
		if f.GetPhysicalRows() > f.GetDeletionFile().GetNumDeletedRows() {
			ids = append(ids, f.GetId())
		}
	}
	return ids
}

func releaseResults(rs []*Result) {
	for _, r := range rs {
		r.Release()
	}
}
