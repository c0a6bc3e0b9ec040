package query

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

// The query node's half of a query: plan tasks, run them on the fleet,
// merge their partial results, and finish (post-filter, offset, limit,
// projection).

// runVector executes a vector search: the k+offset nearest rows per query
// vector over the fleet, then (post-)filtering, offset, limit and
// projection of the winners.
func (x *executor) runVector(ctx context.Context) (*Result, error) {
	res, err := x.runVectorOnce(ctx)
	if errors.Is(err, objstore.ErrNotExist) && x.indexUsable() && !x.opts.freshIndex {
		// An index file of the plan was removed meanwhile (a merge replaced
		// it): plan again from a fresh read of the index catalog.
		x.opts.freshIndex = true
		res, err = x.runVectorOnce(ctx)
	}
	return res, err
}

func (x *executor) runVectorOnce(ctx context.Context) (*Result, error) {
	p, req := x.p, x.p.req
	res := &Result{Schema: p.outSchema}
	kk := int(min(satAdd(req.K, req.Offset), math.MaxInt32)) // candidates before offset and post-filter
	plan, err := x.planIndex(ctx, kk)
	if err != nil {
		return nil, err
	}
	if plan == nil && req.FastSearch {
		// fast_search reads only indexed rows, and no index covers any.
		return res, nil
	}
	task := Task{Kind: TaskSearch, Request: req}
	var rounds *probeRounds
	if plan != nil {
		task.Metric = plan.Index.Metric
		lo, _ := req.Probes()
		rounds = newProbeRounds(plan, clampInt(lo))
		task.Index = rounds.next(nil)
	}
	if plan == nil || !req.FastSearch {
		// Fragments no index segment covers (appended since the build) are
		// searched exactly.
		for _, id := range liveFragmentIDs(p.snap) {
			if plan == nil || !plan.Covered[id] {
				task.Fragments = append(task.Fragments, id)
			}
		}
	}
	cands := &candidates{kk: kk, rows: make([][]candidate, len(req.Vectors))}
	defer cands.release()
	for task.Index != nil || len(task.Fragments) > 0 {
		results, err := x.opts.fleet().Run(ctx, x.opts.target(p.snap), p.snap, task)
		if err != nil {
			return nil, err
		}
		if err := cands.add(results); err != nil {
			return nil, err
		}
		if rounds == nil {
			break
		}
		// As LanceDB does between minimum_nprobes and maximum_nprobes:
		// probe more partitions only while fewer than k rows were found.
		task = Task{Kind: TaskSearch, Request: req, Metric: task.Metric, Index: rounds.next(cands.short())}
	}
	for qi := range req.Vectors {
		rec, err := x.finishVector(ctx, cands, qi)
		if err != nil {
			res.Release()
			return nil, err
		}
		if rec == nil {
			continue
		}
		if rec.NumRows() == 0 {
			rec.Release()
			continue
		}
		res.Batches = append(res.Batches, rec)
	}
	return res, nil
}

// planIndex plans the search through the column's vector index, or returns
// nil when the query searches exactly (no usable index, or bypassed).
func (x *executor) planIndex(ctx context.Context, kk int) (*vindex.SearchPlan, error) {
	if !x.indexUsable() {
		return nil, nil
	}
	req, vp := x.p.req, x.p.vec
	k := kk
	if rf := req.RefineFactor; rf != nil && *rf > 0 {
		k = int(min(int64(kk)*min(*rf, math.MaxInt32), math.MaxInt32))
	}
	lo, hi := req.Probes()
	q := vindex.Query{Column: vp.column, K: k, Metric: req.Metric, MinProbes: clampInt(lo), MaxProbes: clampInt(hi)}
	plan, err := x.opts.Indexes.PlanSearch(ctx, x.opts.Table, x.p.snap, q, vp.floats, x.opts.freshIndex)
	switch {
	case errors.Is(err, vindex.ErrNoIndex):
		// No index on the column, or one built for another distance type:
		// LanceDB then searches exactly with the metric asked for.
		return nil, nil
	case errors.Is(err, vindex.ErrInvalid):
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	case err != nil:
		return nil, fmt.Errorf("plan the index search of column %q: %w", vp.column, err)
	}
	if err := x.checkIndexQuery(plan.Index); err != nil {
		return nil, err
	}
	return plan, nil
}

// probeRounds hands out a planned index search's partitions round by
// round: first the minimum number of probes of every segment for every
// query vector, then, for the query vectors that found fewer than k rows,
// twice as many as so far, up to the plan's maximum.
type probeRounds struct {
	plan *vindex.SearchPlan
	minP int
	done [][]int // per segment and query vector: probes handed out
}

func newProbeRounds(plan *vindex.SearchPlan, minP int) *probeRounds {
	r := &probeRounds{plan: plan, minP: max(minP, 1), done: make([][]int, len(plan.Segments))}
	for i, s := range plan.Segments {
		r.done[i] = make([]int, len(s.Probes))
	}
	return r
}

// next returns the index part of the next round (need nil: the first), or
// nil when no query vector in need has partitions left.
func (r *probeRounds) next(need []bool) *IndexTask {
	it := &IndexTask{Name: r.plan.Index.Name}
	for si, seg := range r.plan.Segments {
		s := IndexSegment{File: seg.File, Stale: seg.Stale, Partitions: make([][]int, len(seg.Probes))}
		some := false
		for qi, probes := range seg.Probes {
			from := r.done[si][qi]
			var to int
			switch {
			case need == nil:
				to = min(r.minP, len(probes))
			case need[qi]:
				to = min(max(2*from, from+1), len(probes))
			default:
				continue
			}
			if to > from {
				s.Partitions[qi] = probes[from:to]
				r.done[si][qi] = to
				some = true
			}
		}
		if some {
			it.Segments = append(it.Segments, s)
		}
	}
	if len(it.Segments) == 0 {
		return nil
	}
	return it
}

// candidates collects the rows search tasks return, per query vector.
type candidates struct {
	kk    int
	parts []*Result     // every task result, retained until finished
	rows  [][]candidate // per query vector
}

type candidate struct {
	dist      float32
	addr      uint64
	part, row int32
}

func (c *candidates) release() { releaseResults(c.parts) }

// add takes ownership of results.
func (c *candidates) add(results []*Result) error {
	first := len(c.parts)
	c.parts = append(c.parts, results...)
	for j, r := range results {
		pi := int32(first + j)
		if len(r.Batches) != len(c.rows) {
			return fmt.Errorf("search task returned %d batches for %d query vectors", len(r.Batches), len(c.rows))
		}
		for qi, b := range r.Batches {
			addrs, err := systemColumn[*array.Uint64](b, colRowID)
			if err != nil {
				return err
			}
			dists, err := systemColumn[*array.Float32](b, colDistance)
			if err != nil {
				return err
			}
			for i := range int(b.NumRows()) {
				c.rows[qi] = append(c.rows[qi], candidate{dist: dists.Value(i), addr: addrs.Value(i), part: pi, row: int32(i)})
			}
		}
	}
	return nil
}

// systemColumn returns the system column name of a task's working batch
// (the last one so named: a table column of that name comes first).
func systemColumn[A arrow.Array](b arrow.RecordBatch, name string) (A, error) {
	var zero A
	idx := b.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return zero, fmt.Errorf("task result lacks %s", name)
	}
	a, ok := b.Column(idx[len(idx)-1]).(A)
	if !ok {
		return zero, fmt.Errorf("task result column %s is %s", name, b.Column(idx[len(idx)-1]).DataType())
	}
	return a, nil
}

// best returns the kk nearest distinct rows of query vector qi, ordered by
// distance then row address.
func (c *candidates) best(qi int) []candidate {
	rows := c.rows[qi]
	slices.SortFunc(rows, func(a, b candidate) int {
		if d := cmp.Compare(a.dist, b.dist); d != 0 {
			return d
		}
		return cmp.Compare(a.addr, b.addr)
	})
	out := rows[:0:0]
	for i, r := range rows {
		if i > 0 && r.addr == rows[i-1].addr {
			continue // a row two parts returned (duplicates sort together)
		}
		out = append(out, r)
		if len(out) == c.kk {
			break
		}
	}
	return out
}

// short reports, per query vector, whether fewer than kk rows were found.
func (c *candidates) short() []bool {
	out := make([]bool, len(c.rows))
	for qi := range c.rows {
		out[qi] = len(c.best(qi)) < c.kk
	}
	return out
}

// finishVector turns the best candidates of query vector qi into an output
// batch: post-filter, offset and limit, projection. nil when no row
// remains.
func (x *executor) finishVector(ctx context.Context, c *candidates, qi int) (arrow.RecordBatch, error) {
	p, req, mem := x.p, x.p.req, x.opts.Allocator
	best := c.best(qi)
	if !p.postfilter {
		best = cut(best, req.Offset, req.K)
	}
	if len(best) == 0 {
		return nil, nil
	}
	work, err := x.gather(ctx, c, qi, best)
	if err != nil {
		return nil, err
	}
	defer work.Release()
	var idx []int32
	if p.postfilter {
		mask, err := p.filter.EvalPredicate(ctx, work, mem)
		if err != nil {
			return nil, fmt.Errorf("%w: filter %q: %w", ErrInvalidRequest, req.Filter, err)
		}
		idx = cut(selected(mask), req.Offset, req.K)
		mask.Release()
	}
	sub, err := takeRows(ctx, mem, work, idx)
	if err != nil {
		return nil, err
	}
	defer sub.Release()
	return p.project(ctx, mem, sub, qi)
}

// gather builds one working batch of the given candidates of query vector
// qi, in order, from the task results holding them.
func (x *executor) gather(ctx context.Context, c *candidates, qi int, rows []candidate) (arrow.RecordBatch, error) {
	mem := x.opts.Allocator
	// Concatenate the parts' batches of qi (one part needs no copy) and
	// select the rows from the whole.
	var batches []arrow.RecordBatch
	base := make(map[int32]int32, len(c.parts))
	var n int32
	for pi, r := range c.parts {
		b := r.Batches[qi]
		if b.NumRows() == 0 {
			continue
		}
		base[int32(pi)] = n
		n += int32(b.NumRows())
		batches = append(batches, b)
	}
	whole, err := ConcatBatches(mem, batches)
	if err != nil {
		return nil, err
	}
	defer whole.Release()
	idx := make([]int32, len(rows))
	for i, r := range rows {
		idx[i] = base[r.part] + r.row
	}
	return takeRows(ctx, mem, whole, idx)
}

// ConcatBatches returns batches of one schema as one batch (a new
// reference).
func ConcatBatches(mem memory.Allocator, batches []arrow.RecordBatch) (arrow.RecordBatch, error) {
	if len(batches) == 1 {
		batches[0].Retain()
		return batches[0], nil
	}
	schema := batches[0].Schema()
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	var rows int64
	for _, b := range batches {
		if !b.Schema().Equal(schema) {
			return nil, fmt.Errorf("task results disagree on the schema: %s vs %s", b.Schema(), schema)
		}
		rows += b.NumRows()
	}
	for i := range cols {
		parts := make([]arrow.Array, len(batches))
		for j, b := range batches {
			parts[j] = b.Column(i)
		}
		col, err := array.Concatenate(parts, mem)
		if err != nil {
			return nil, fmt.Errorf("merge task results: column %q: %w", schema.Field(i).Name, err)
		}
		cols[i] = col
	}
	return array.NewRecordBatch(schema, cols, rows), nil
}

// runScan executes a query without a vector: rows in scan order over the
// fleet, filtered, then offset and limit (k), then projected.
func (x *executor) runScan(ctx context.Context) (*Result, error) {
	p, req, mem := x.p, x.p.req, x.opts.Allocator
	res := &Result{Schema: p.outSchema}
	if req.K == 0 || len(p.out) == 0 {
		// LanceDB returns no rows for limit 0 and for an empty selection.
		return res, nil
	}
	t := Task{Kind: TaskScan, Request: req, Fragments: liveFragmentIDs(p.snap)}
	if len(t.Fragments) == 0 {
		return res, nil
	}
	results, err := x.opts.fleet().Run(ctx, x.opts.target(p.snap), p.snap, t)
	if err != nil {
		return nil, err
	}
	defer releaseResults(results)
	runs, err := scanOrder(p.snap, results)
	if err != nil {
		return nil, err
	}
	skip, left := req.Offset, req.K
	for _, run := range runs {
		if left == 0 {
			break
		}
		n := int64(len(run.rows))
		if skip >= n {
			skip -= n
			continue
		}
		idx := cut(run.rows, skip, left)
		skip = 0
		if int64(len(idx)) == run.batch.NumRows() && idx[0] == 0 && idx[len(idx)-1] == int32(len(idx)-1) {
			idx = nil // the whole batch, in order
		}
		sub, err := takeRows(ctx, mem, run.batch, idx)
		if err != nil {
			res.Release()
			return nil, err
		}
		out, err := p.project(ctx, mem, sub, -1)
		sub.Release()
		if err != nil {
			res.Release()
			return nil, err
		}
		res.Batches = append(res.Batches, out)
		left -= out.NumRows()
	}
	return res, nil
}

// scanRun is a run of consecutive result rows (in scan order) from one
// task batch.
type scanRun struct {
	batch arrow.RecordBatch
	rows  []int32
}

// scanOrder puts the rows scan tasks returned into scan order: fragments
// in manifest order, rows by offset. Each part returns its fragments in
// that order already, so one part needs no sorting.
func scanOrder(snap *table.Snapshot, results []*Result) ([]scanRun, error) {
	if len(results) == 1 {
		runs := make([]scanRun, 0, len(results[0].Batches))
		for _, b := range results[0].Batches {
			runs = append(runs, scanRun{batch: b, rows: allRows(b)})
		}
		return runs, nil
	}
	pos := map[uint64]int{}
	for i, f := range snap.Lance().Fragments() {
		pos[f.GetId()] = i
	}
	type row struct {
		key   [2]uint64 // manifest position, offset
		batch arrow.RecordBatch
		i     int32
	}
	var rows []row
	for _, r := range results {
		for _, b := range r.Batches {
			addrs, err := systemColumn[*array.Uint64](b, colRowID)
			if err != nil {
				return nil, err
			}
			for i, a := range addrs.Uint64Values() {
				fid, off := table.SplitRowAddress(a)
				rows = append(rows, row{key: [2]uint64{uint64(pos[fid]), uint64(off)}, batch: b, i: int32(i)})
			}
		}
	}
	slices.SortFunc(rows, func(a, b row) int {
		if c := cmp.Compare(a.key[0], b.key[0]); c != 0 {
			return c
		}
		return cmp.Compare(a.key[1], b.key[1])
	})
	var runs []scanRun
	for _, r := range rows {
		if n := len(runs); n > 0 && runs[n-1].batch == r.batch {
			runs[n-1].rows = append(runs[n-1].rows, r.i)
			continue
		}
		runs = append(runs, scanRun{batch: r.batch, rows: []int32{r.i}})
	}
	return runs, nil
}

func allRows(b arrow.RecordBatch) []int32 {
	idx := make([]int32, b.NumRows())
	for i := range idx {
		idx[i] = int32(i)
	}
	return idx
}
