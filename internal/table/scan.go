package table

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/filter"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/lance/schema"
)

// RowIDColumn is the name of the row address column a scan can add.
const RowIDColumn = "_rowid"

// ScanOptions select what a scan returns.
type ScanOptions struct {
	// Columns are the top-level columns to return, in order; nil means all.
	Columns []string
	// Filter is a SQL WHERE expression; empty selects every row.
	Filter string
	// Offset skips that many matching rows; Limit > 0 stops after that many.
	Offset, Limit int64
	// WithRowID appends RowIDColumn (UInt64 row address) to the output.
	WithRowID bool
	// Fragments restricts the scan to these fragment ids (nil: all).
	Fragments []uint64
	// BatchRows overrides Options.BatchRows.
	BatchRows int

	// includeDeleted reads deleted rows too (schema evolution must rewrite
	// every physical row so that new columns stay aligned).
	includeDeleted bool
}

// Scanner streams the rows of a snapshot that match a scan. It follows the
// operator shape: Next returns a batch the caller owns (and must Release), or
// io.EOF at the end.
type Scanner struct {
	s         *Snapshot
	opts      ScanOptions
	out       *arrow.Schema
	outFields []int // index into read of each output column
	read      []*schema.Field
	readTypes []arrow.DataType
	readArrow *arrow.Schema
	pred      *filter.Bound
	frags     []*tablepb.DataFragment
	mem       memory.Allocator

	fi       int
	cur      *fragmentReader
	curPlan  []colSource
	pos      int64
	skip     int64 // matching rows still to skip for Offset
	returned int64
	done     bool
}

// Scan starts a scan. Errors in the request (unknown columns, bad filter) are
// reported here, before any data is read.
func (s *Snapshot) Scan(ctx context.Context, opts ScanOptions) (*Scanner, error) {
	if opts.Offset < 0 || opts.Limit < 0 {
		return nil, fmt.Errorf("%w: offset and limit must not be negative", ErrInvalidArgument)
	}
	if opts.BatchRows <= 0 {
		opts.BatchRows = s.t.opts.BatchRows
	}
	sc := &Scanner{s: s, opts: opts, mem: s.t.opts.Allocator, skip: opts.Offset}
	names := opts.Columns
	if names == nil {
		names = make([]string, 0, len(s.schema.Fields))
		for _, f := range s.schema.Fields {
			names = append(names, f.Name)
		}
	}
	readNames := slices.Clone(names)
	if opts.Filter != "" {
		pred, err := filter.Compile(opts.Filter, s.arrow)
		if err != nil {
			return nil, err
		}
		sc.pred = pred
		for _, c := range pred.Columns() {
			if !slices.Contains(readNames, c) {
				readNames = append(readNames, c)
			}
		}
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			return nil, fmt.Errorf("%w: column %q requested twice", ErrInvalidArgument, n)
		}
		seen[n] = true
	}
	var outFields []arrow.Field
	for i, n := range readNames {
		idx := s.schema.FieldIndex(n)
		if idx < 0 {
			return nil, fmt.Errorf("%w: no column %q in table (columns: %s)", ErrInvalidArgument, n, quoteList(s.columnNames()))
		}
		sc.read = append(sc.read, s.schema.Fields[idx])
		sc.readTypes = append(sc.readTypes, s.arrow.Field(idx).Type)
		if i < len(names) {
			sc.outFields = append(sc.outFields, i)
			outFields = append(outFields, s.arrow.Field(idx))
		}
	}
	readArrow := make([]arrow.Field, len(sc.read))
	for i, f := range sc.read {
		readArrow[i] = s.arrow.Field(s.schema.FieldIndex(f.Name))
	}
	sc.readArrow = arrow.NewSchema(readArrow, nil)
	if opts.WithRowID {
		outFields = append(outFields, arrow.Field{Name: RowIDColumn, Type: arrow.PrimitiveTypes.Uint64})
	}
	sc.out = arrow.NewSchema(outFields, nil)
	var want map[uint64]bool
	if opts.Fragments != nil {
		want = make(map[uint64]bool, len(opts.Fragments))
		for _, id := range opts.Fragments {
			want[id] = true
		}
	}
	for _, f := range s.ls.Fragments() {
		if want == nil || want[f.GetId()] {
			sc.frags = append(sc.frags, f)
		}
	}
	return sc, nil
}

func (s *Snapshot) columnNames() []string {
	names := make([]string, len(s.schema.Fields))
	for i, f := range s.schema.Fields {
		names[i] = f.Name
	}
	return names
}

// Schema is the schema of every batch Next returns.
func (sc *Scanner) Schema() *arrow.Schema { return sc.out }

// Next returns the next non-empty batch, or io.EOF.
func (sc *Scanner) Next(ctx context.Context) (arrow.RecordBatch, error) {
	for !sc.done {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if sc.opts.Limit > 0 && sc.returned >= sc.opts.Limit {
			sc.done = true
			break
		}
		if sc.cur == nil {
			if sc.fi >= len(sc.frags) {
				sc.done = true
				break
			}
			sc.cur = newFragmentReader(sc.s, sc.frags[sc.fi])
			sc.fi++
			sc.pos = 0
			plan, err := sc.cur.plan(ctx, sc.read)
			if err != nil {
				return nil, err
			}
			sc.curPlan = plan
		}
		if sc.pos >= sc.cur.rows() {
			sc.cur = nil
			continue
		}
		start := sc.pos
		end := min(start+int64(sc.opts.BatchRows), sc.cur.rows())
		sc.pos = end
		rec, err := sc.batch(ctx, start, end)
		if err != nil {
			return nil, err
		}
		if rec != nil {
			return rec, nil
		}
	}
	return nil, io.EOF
}

// batch reads physical rows [start, end) of the current fragment and returns
// the selected rows, or nil when none survive.
func (sc *Scanner) batch(ctx context.Context, start, end int64) (arrow.RecordBatch, error) {
	fr := sc.cur
	n := int(end - start)
	var dvMask []byte // bit set = live row
	if !sc.opts.includeDeleted {
		dv, err := fr.deletions(ctx)
		if err != nil {
			return nil, err
		}
		if dv != nil {
			dvMask = make([]byte, bitutil.BytesForBits(int64(n)))
			live := 0
			for i := range n {
				if !dv.Contains(uint32(start) + uint32(i)) {
					bitutil.SetBit(dvMask, i)
					live++
				}
			}
			if live == 0 {
				return nil, nil
			}
			if live == n {
				dvMask = nil
			}
		}
	}
	cols, err := fr.read(ctx, sc.read, sc.readTypes, sc.curPlan, start, end)
	if err != nil {
		return nil, err
	}
	rec := array.NewRecordBatch(sc.readArrow, cols, int64(n))
	releaseAll(cols)
	defer rec.Release()

	sel, err := sc.selection(ctx, rec, dvMask)
	if err != nil {
		return nil, err
	}
	// sel == nil: every row selected.
	idx := sel
	if sc.skip > 0 || sc.opts.Limit > 0 {
		if idx == nil {
			idx = make([]int32, n)
			for i := range idx {
				idx[i] = int32(i)
			}
		}
		drop := min(sc.skip, int64(len(idx)))
		idx = idx[drop:]
		sc.skip -= drop
		if sc.opts.Limit > 0 {
			idx = idx[:min(int64(len(idx)), sc.opts.Limit-sc.returned)]
		}
		if len(idx) == n {
			idx = nil
		}
	}
	if idx != nil && len(idx) == 0 {
		return nil, nil
	}
	out, err := sc.project(ctx, rec, idx, fr.frag.GetId(), start)
	if err != nil {
		return nil, err
	}
	sc.returned += out.NumRows()
	return out, nil
}

// selection returns the indices of rows that are live and match the filter,
// or nil if all rows do.
func (sc *Scanner) selection(ctx context.Context, rec arrow.RecordBatch, dvMask []byte) ([]int32, error) {
	n := int(rec.NumRows())
	if sc.pred == nil && dvMask == nil {
		return nil, nil
	}
	var predMask *array.Boolean
	if sc.pred != nil {
		m, err := sc.pred.EvalPredicate(ctx, rec, sc.mem)
		if err != nil {
			return nil, err
		}
		defer m.Release()
		predMask = m
	}
	idx := make([]int32, 0, n)
	for i := range n {
		if dvMask != nil && !bitutil.BitIsSet(dvMask, i) {
			continue
		}
		if predMask != nil && !predMask.Value(i) {
			continue
		}
		idx = append(idx, int32(i))
	}
	if len(idx) == n {
		return nil, nil
	}
	return idx, nil
}

// project builds the output batch: the output columns of rec at idx (all rows
// if idx is nil) plus the row address column.
func (sc *Scanner) project(ctx context.Context, rec arrow.RecordBatch, idx []int32, fragID uint64, start int64) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, 0, sc.out.NumFields())
	defer func() { releaseAll(cols) }()
	var idxArr arrow.Array
	if idx != nil {
		b := array.NewInt32Builder(sc.mem)
		b.AppendValues(idx, nil)
		idxArr = b.NewArray()
		b.Release()
		defer idxArr.Release()
	}
	for _, i := range sc.outFields {
		col := rec.Column(i)
		if idxArr == nil {
			col.Retain()
			cols = append(cols, col)
			continue
		}
		taken, err := compute.TakeArray(compute.WithAllocator(ctx, sc.mem), col, idxArr)
		if err != nil {
			return nil, fmt.Errorf("select rows of %q: %w", rec.ColumnName(i), err)
		}
		cols = append(cols, taken)
	}
	rows := rec.NumRows()
	if idx != nil {
		rows = int64(len(idx))
	}
	if sc.opts.WithRowID {
		b := array.NewUint64Builder(sc.mem)
		b.Reserve(int(rows))
		for r := range int(rows) {
			off := r
			if idx != nil {
				off = int(idx[r])
			}
			b.UnsafeAppend(RowAddress(fragID, uint32(start)+uint32(off)))
		}
		cols = append(cols, b.NewArray())
		b.Release()
	}
	return array.NewRecordBatch(sc.out, cols, rows), nil
}

// Close releases the scanner's resources; it is safe to call more than once.
func (sc *Scanner) Close() { sc.done = true; sc.cur = nil }

// Collect runs a scan to the end and returns every batch; the caller releases
// them. Meant for small results and tests.
func (s *Snapshot) Collect(ctx context.Context, opts ScanOptions) ([]arrow.RecordBatch, *arrow.Schema, error) {
	sc, err := s.Scan(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	defer sc.Close()
	var out []arrow.RecordBatch
	for {
		rec, err := sc.Next(ctx)
		if err == io.EOF {
			return out, sc.Schema(), nil
		}
		if err != nil {
			for _, r := range out {
				r.Release()
			}
			return nil, nil, err
		}
		out = append(out, rec)
	}
}
