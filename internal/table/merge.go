package table

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/filter"
	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
)

// MergeInsertOptions configure MergeInsert, with LanceDB's semantics. The
// source rows are matched to the table's (target) rows by the On columns.
type MergeInsertOptions struct {
	// On are the key columns; source and target rows with equal values in
	// all of them match. Rows with a null (or NaN) key never match.
	On []string
	// WhenMatchedUpdateAll replaces each matched target row with its source
	// row. WhenMatchedCondition, if set, limits this to pairs for which the
	// SQL condition holds; it refers to the two rows' columns as
	// source.<column> and target.<column>.
	WhenMatchedUpdateAll bool
	WhenMatchedCondition string
	// WhenNotMatchedInsertAll inserts the source rows that match no target
	// row.
	WhenNotMatchedInsertAll bool
	// WhenNotMatchedBySourceDelete deletes the target rows that match no
	// source row; WhenNotMatchedBySourceFilter, if set, only those for which
	// this SQL filter over the table's columns holds.
	WhenNotMatchedBySourceDelete bool
	WhenNotMatchedBySourceFilter string
}

// MergeResult reports what a merge did.
type MergeResult struct {
	// Version is the version committed. A merge always commits, even when
	// it changes nothing, as Lance does.
	Version  uint64
	Snapshot *Snapshot
	// Inserted counts source rows inserted, Updated target rows replaced,
	// Deleted target rows deleted because no source row matched them.
	Inserted, Updated, Deleted int64
	// Attempts is how often the merge ran (more than one when a concurrent
	// commit forced it to start over).
	Attempts int
}

// ErrAmbiguousMerge is wrapped (next to ErrInvalidArgument) when several
// source rows would update the same target row.
var ErrAmbiguousMerge = errors.New("ambiguous merge insert")

func (o MergeInsertOptions) validate(sch *arrow.Schema) error {
	if len(o.On) == 0 {
		return fmt.Errorf("%w: merge insert needs at least one key column", ErrInvalidArgument)
	}
	if !o.WhenMatchedUpdateAll && !o.WhenNotMatchedInsertAll && !o.WhenNotMatchedBySourceDelete {
		return fmt.Errorf("%w: merge insert would not change anything: enable when_matched_update_all, when_not_matched_insert_all or when_not_matched_by_source_delete", ErrInvalidArgument)
	}
	if o.WhenMatchedCondition != "" && !o.WhenMatchedUpdateAll {
		return fmt.Errorf("%w: a when-matched condition needs when_matched_update_all", ErrInvalidArgument)
	}
	if o.WhenNotMatchedBySourceFilter != "" && !o.WhenNotMatchedBySourceDelete {
		return fmt.Errorf("%w: a not-matched-by-source filter needs when_not_matched_by_source_delete", ErrInvalidArgument)
	}
	seen := map[string]bool{}
	for _, k := range o.On {
		idx := sch.FieldIndices(k)
		if len(idx) != 1 {
			return fmt.Errorf("%w: merge key column %q is not in the table (columns: %s)", ErrInvalidArgument, k, quoteList(fieldNames(sch)))
		}
		if seen[k] {
			return fmt.Errorf("%w: merge key column %q given twice", ErrInvalidArgument, k)
		}
		seen[k] = true
		if !keyable(sch.Field(idx[0]).Type) {
			return fmt.Errorf("%w: merge key column %q has type %s, which cannot be used as a key", ErrInvalidArgument, k, sch.Field(idx[0]).Type)
		}
	}
	return nil
}

func fieldNames(sch *arrow.Schema) []string {
	out := make([]string, sch.NumFields())
	for i, f := range sch.Fields() {
		out[i] = f.Name
	}
	return out
}

// MergeInsert merges source into the table as one atomic commit (a Lance
// Update transaction): matched target rows are replaced by their source
// rows, unmatched source rows inserted, unmatched target rows deleted, as
// opts enable. Several source rows updating one target row is an error
// (ErrAmbiguousMerge); several unmatched source rows with one key are all
// inserted, as in LanceDB.
//
// The source must have the table's columns (in any order). It is read
// completely first (the merge needs all of it to match keys), so it is
// bounded by what the caller is willing to hold in memory. When a
// concurrent commit conflicts, the merge is planned again on the new
// version.
func (t *Table) MergeInsert(ctx context.Context, opts MergeInsertOptions, source array.RecordReader) (MergeResult, error) {
	base, err := t.writableLatest(ctx)
	if err != nil {
		return MergeResult{}, err
	}
	if err := opts.validate(base.arrow); err != nil {
		return MergeResult{}, err
	}
	src, err := t.readMergeSource(ctx, base.arrow, source)
	if err != nil {
		return MergeResult{}, err
	}
	defer src.Release()
	keys := sourceKeys(src, opts.On)
	attempts := 0
	res, err := retryOp(ctx, func() (MergeResult, error) {
		attempts++
		if attempts > 1 {
			if base, err = t.writableLatest(ctx); err != nil {
				return MergeResult{}, err
			}
			if !base.arrow.Equal(src.Schema()) {
				return MergeResult{}, fmt.Errorf("%w: the table's schema changed while merging", ErrSchemaMismatch)
			}
		}
		m, err := newMerger(t, base, opts, src, keys)
		if err != nil {
			return MergeResult{}, err
		}
		return m.run(ctx)
	})
	res.Attempts = attempts
	return res, err
}

// readMergeSource reads the whole source, conformed to the table schema,
// into one batch.
func (t *Table) readMergeSource(ctx context.Context, target *arrow.Schema, source array.RecordReader) (arrow.RecordBatch, error) {
	conf, err := newConformer(target, source.Schema())
	if err != nil {
		return nil, err
	}
	var parts []arrow.RecordBatch
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	for source.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rec, err := conf.apply(source.RecordBatch())
		if err != nil {
			return nil, err
		}
		parts = append(parts, rec)
	}
	if err := source.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read merge source: %w", err)
	}
	cols := make([]arrow.Array, target.NumFields())
	defer releaseAll(cols)
	var rows int64
	for _, p := range parts {
		rows += p.NumRows()
	}
	for i := range cols {
		if len(parts) == 0 {
			cols[i] = array.MakeArrayOfNull(t.opts.Allocator, target.Field(i).Type, 0)
			continue
		}
		pieces := make([]arrow.Array, len(parts))
		for k, p := range parts {
			pieces[k] = p.Column(i)
		}
		c, err := array.Concatenate(pieces, t.opts.Allocator)
		if err != nil {
			return nil, fmt.Errorf("merge source column %q: %w", target.Field(i).Name, err)
		}
		cols[i] = c
	}
	return array.NewRecordBatch(target, cols, rows), nil
}

// sourceKeys indexes the source rows by key; rows with a null key are left
// out (they match nothing).
func sourceKeys(src arrow.RecordBatch, on []string) map[string][]int32 {
	enc := newKeyEncoder(src, on)
	idx := make(map[string][]int32, src.NumRows())
	var buf []byte
	for i := range int(src.NumRows()) {
		k, ok := enc.key(buf[:0], i)
		if !ok {
			continue
		}
		idx[string(k)] = append(idx[string(k)], int32(i))
		buf = k
	}
	return idx
}

// merger runs one attempt of a merge against base.
type merger struct {
	t       *Table
	base    *Snapshot
	opts    MergeInsertOptions
	src     arrow.RecordBatch
	keys    map[string][]int32
	cond    *filter.Bound // when-matched condition over (source, target) structs
	condTgt []arrow.Field // target columns the condition reads
	del     *filter.Bound // not-matched-by-source filter
	scan    []string      // target columns to read

	matched  []bool  // per source row: matched some target row
	updates  []int32 // per source row: target rows it replaces
	hits     map[uint64]*lance.DeletionVector
	updated  int64
	deleted  int64
	inserted int64
}

func newMerger(t *Table, base *Snapshot, opts MergeInsertOptions, src arrow.RecordBatch, keys map[string][]int32) (*merger, error) {
	m := &merger{t: t, base: base, opts: opts, src: src, keys: keys,
		matched: make([]bool, src.NumRows()), updates: make([]int32, src.NumRows()),
		hits: map[uint64]*lance.DeletionVector{}}
	m.scan = append(m.scan, opts.On...)
	addCol := func(name string) {
		for _, c := range m.scan {
			if c == name {
				return
			}
		}
		m.scan = append(m.scan, name)
	}
	if opts.WhenMatchedCondition != "" {
		if err := m.bindCondition(); err != nil {
			return nil, err
		}
		for _, f := range m.condTgt {
			addCol(f.Name)
		}
	}
	if opts.WhenNotMatchedBySourceFilter != "" {
		b, err := filter.Compile(opts.WhenNotMatchedBySourceFilter, base.arrow)
		if err != nil {
			return nil, fmt.Errorf("when_not_matched_by_source_delete filter: %w", err)
		}
		m.del = b
		for _, c := range b.Columns() {
			addCol(c)
		}
	}
	return m, nil
}

// bindCondition binds the when-matched condition to a schema of two struct
// columns, source (every table column) and target (the columns the
// condition names), as Lance evaluates it.
func (m *merger) bindCondition() error {
	e, err := filter.Parse(m.opts.WhenMatchedCondition)
	if err != nil {
		return fmt.Errorf("when_matched_update_all condition: %w", err)
	}
	seen := map[string]bool{}
	var missing []string
	filter.Walk(e, func(x filter.Expr) bool {
		c, ok := x.(*filter.Column)
		if !ok || len(c.Path) < 2 || !strings.EqualFold(c.Path[0], "target") {
			return true
		}
		f, ok := lookupColumn(m.base.arrow, c.Path[1])
		switch {
		case !ok:
			missing = append(missing, c.Path[1])
		case !seen[f.Name]:
			seen[f.Name] = true
			m.condTgt = append(m.condTgt, f)
		}
		return true
	})
	if len(missing) > 0 {
		return fmt.Errorf("%w: when_matched_update_all condition: the table has no column %s (columns: %s)", ErrInvalidArgument, quoteList(missing), quoteList(fieldNames(m.base.arrow)))
	}
	fields := []arrow.Field{{Name: "source", Type: arrow.StructOf(m.base.arrow.Fields()...)}}
	if len(m.condTgt) > 0 {
		fields = append(fields, arrow.Field{Name: "target", Type: arrow.StructOf(m.condTgt...)})
	}
	b, err := filter.Bind(e, arrow.NewSchema(fields, nil))
	if err != nil {
		return fmt.Errorf("when_matched_update_all condition (columns are source.<name> and target.<name>): %w", err)
	}
	if b.Type().ID() != arrow.BOOL {
		return fmt.Errorf("%w: when_matched_update_all condition %q is of type %s, not boolean", ErrInvalidArgument, m.opts.WhenMatchedCondition, b.Type())
	}
	m.cond = b
	return nil
}

// lookupColumn finds a column as filter binding does: exact name first,
// then a unique case-insensitive match.
func lookupColumn(sch *arrow.Schema, name string) (arrow.Field, bool) {
	if idx := sch.FieldIndices(name); len(idx) == 1 {
		return sch.Field(idx[0]), true
	}
	var found []arrow.Field
	for _, f := range sch.Fields() {
		if strings.EqualFold(f.Name, name) {
			found = append(found, f)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return arrow.Field{}, false
}

func (m *merger) run(ctx context.Context) (MergeResult, error) {
	sc, err := m.base.Scan(ctx, ScanOptions{Columns: m.scan, WithRowID: true})
	if err != nil {
		return MergeResult{}, err
	}
	defer sc.Close()
	for {
		rec, err := sc.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return MergeResult{}, err
		}
		err = m.target(ctx, rec)
		rec.Release()
		if err != nil {
			return MergeResult{}, err
		}
	}
	newFrags, err := m.write(ctx)
	if err != nil {
		return MergeResult{}, err
	}
	res := MergeResult{Inserted: m.inserted, Updated: m.updated, Deleted: m.deleted}
	// Like Lance, commit even when nothing changed, so that version numbers
	// advance exactly as they do for clients of stock LanceDB.
	updated, removed, err := m.base.applyDeletions(ctx, m.hits)
	if err != nil {
		return MergeResult{}, err
	}
	s, err := m.t.commit(ctx, m.base, "merge insert", lance.NewUpdate(removed, updated, newFrags, nil))
	if err != nil {
		return MergeResult{}, err
	}
	res.Version, res.Snapshot = s.Version(), s
	return res, nil
}

func (m *merger) hit(addr uint64) {
	frag, off := SplitRowAddress(addr)
	dv := m.hits[frag]
	if dv == nil {
		dv = lance.NewDeletionVector()
		m.hits[frag] = dv
	}
	dv.Add(off)
}

// target processes one batch of target rows (the scan columns, then _rowid).
func (m *merger) target(ctx context.Context, rec arrow.RecordBatch) error {
	n := int(rec.NumRows())
	addrs := rec.Column(int(rec.NumCols()) - 1).(*array.Uint64)
	enc := newKeyEncoder(rec, m.opts.On)
	var delMask *array.Boolean
	if m.opts.WhenNotMatchedBySourceDelete && m.del != nil {
		mask, err := m.del.EvalPredicate(ctx, rec, m.t.opts.Allocator)
		if err != nil {
			return fmt.Errorf("when_not_matched_by_source_delete filter: %w", err)
		}
		defer mask.Release()
		delMask = mask
	}
	var pairT, pairS []int32 // candidate (target, source) pairs for the condition
	var buf []byte
	for i := range n {
		var rows []int32
		if k, ok := enc.key(buf[:0], i); ok {
			rows = m.keys[string(k)]
			buf = k
		}
		if len(rows) == 0 {
			if m.opts.WhenNotMatchedBySourceDelete && (delMask == nil || delMask.Value(i)) {
				m.hit(addrs.Value(i))
				m.deleted++
			}
			continue
		}
		for _, r := range rows {
			m.matched[r] = true
		}
		if !m.opts.WhenMatchedUpdateAll {
			continue
		}
		if m.cond == nil {
			if len(rows) > 1 {
				return m.ambiguous(int(rows[0]), len(rows))
			}
			m.update(rows[0], addrs.Value(i))
			continue
		}
		for _, r := range rows {
			pairT = append(pairT, int32(i))
			pairS = append(pairS, r)
		}
	}
	if len(pairT) == 0 {
		return nil
	}
	pass, err := m.evalCondition(ctx, rec, pairT, pairS)
	if err != nil {
		return err
	}
	defer pass.Release()
	for j := 0; j < len(pairT); {
		// Pairs of one target row are adjacent.
		k, chosen, count := j, int32(-1), 0
		for ; k < len(pairT) && pairT[k] == pairT[j]; k++ {
			if pass.Value(k) {
				chosen = pairS[k]
				count++
			}
		}
		switch {
		case count > 1:
			return m.ambiguous(int(chosen), count)
		case count == 1:
			m.update(chosen, addrs.Value(int(pairT[j])))
		}
		j = k
	}
	return nil
}

func (m *merger) update(srcRow int32, addr uint64) {
	m.updates[srcRow]++
	m.updated++
	m.hit(addr)
}

func (m *merger) ambiguous(srcRow, n int) error {
	var parts []string
	for _, k := range m.opts.On {
		col := m.src.Column(m.src.Schema().FieldIndices(k)[0])
		parts = append(parts, fmt.Sprintf("%s = %s", k, col.ValueStr(srcRow)))
	}
	return fmt.Errorf("%w: %w: %d source rows match the same target row on (%s); each target row may be matched by at most one source row",
		ErrInvalidArgument, ErrAmbiguousMerge, n, strings.Join(parts, ", "))
}

// evalCondition evaluates the when-matched condition for each pair and
// returns the selection mask.
func (m *merger) evalCondition(ctx context.Context, rec arrow.RecordBatch, pairT, pairS []int32) (*array.Boolean, error) {
	mem := m.t.opts.Allocator
	cctx := compute.WithAllocator(ctx, mem)
	take := func(idx []int32, cols []arrow.Array, fields []arrow.Field) (arrow.Array, error) {
		b := array.NewInt32Builder(mem)
		b.AppendValues(idx, nil)
		ia := b.NewArray()
		b.Release()
		defer ia.Release()
		out := make([]arrow.Array, len(cols))
		defer releaseAll(out)
		for i, c := range cols {
			tc, err := compute.TakeArray(cctx, c, ia)
			if err != nil {
				return nil, fmt.Errorf("when_matched_update_all condition: column %q: %w", fields[i].Name, err)
			}
			out[i] = tc
		}
		return array.NewStructArrayWithFields(out, fields)
	}
	srcStruct, err := take(pairS, m.src.Columns(), m.base.arrow.Fields())
	if err != nil {
		return nil, err
	}
	defer srcStruct.Release()
	cols := []arrow.Array{srcStruct}
	fields := []arrow.Field{{Name: "source", Type: srcStruct.DataType()}}
	if len(m.condTgt) > 0 {
		tcols := make([]arrow.Array, len(m.condTgt))
		for i, f := range m.condTgt {
			tcols[i] = rec.Column(rec.Schema().FieldIndices(f.Name)[0])
		}
		tgtStruct, err := take(pairT, tcols, m.condTgt)
		if err != nil {
			return nil, err
		}
		defer tgtStruct.Release()
		cols = append(cols, tgtStruct)
		fields = append(fields, arrow.Field{Name: "target", Type: tgtStruct.DataType()})
	}
	combined := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(len(pairT)))
	defer combined.Release()
	mask, err := m.cond.EvalPredicate(ctx, combined, mem)
	if err != nil {
		return nil, fmt.Errorf("when_matched_update_all condition: %w", err)
	}
	return mask, nil
}

// mergeWriteRows bounds the rows gathered into one batch for writing.
const mergeWriteRows = 64 << 10

// write writes the updated and inserted source rows, in source order, to
// new fragments.
func (m *merger) write(ctx context.Context) ([]*tablepb.DataFragment, error) {
	w := m.t.fragmentWriter(m.base.schema, m.base.arrow)
	defer w.abort()
	var idx []int32
	flush := func() error {
		if len(idx) == 0 {
			return nil
		}
		rec, err := takeRows(ctx, m.t.opts.Allocator, m.src, idx)
		if err != nil {
			return err
		}
		err = w.add(ctx, rec)
		rec.Release()
		idx = idx[:0]
		return err
	}
	for i := range int32(m.src.NumRows()) {
		n := m.updates[i]
		if n == 0 && !m.matched[i] && m.opts.WhenNotMatchedInsertAll {
			n = 1
			m.inserted++
		}
		for range n {
			idx = append(idx, i)
		}
		if len(idx) >= mergeWriteRows {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return w.close()
}

// takeRows returns the rows of rec at idx, in order.
func takeRows(ctx context.Context, mem memory.Allocator, rec arrow.RecordBatch, idx []int32) (arrow.RecordBatch, error) {
	b := array.NewInt32Builder(mem)
	b.AppendValues(idx, nil)
	ia := b.NewArray()
	b.Release()
	defer ia.Release()
	cols := make([]arrow.Array, rec.NumCols())
	defer releaseAll(cols)
	for i, c := range rec.Columns() {
		tc, err := compute.TakeArray(compute.WithAllocator(ctx, mem), c, ia)
		if err != nil {
			return nil, fmt.Errorf("take rows of column %q: %w", rec.ColumnName(i), err)
		}
		cols[i] = tc
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(len(idx))), nil
}

// keyable reports whether values of dt can be compared as merge keys.
func keyable(dt arrow.DataType) bool {
	switch dt.(type) {
	case *arrow.BooleanType, *arrow.StringType, *arrow.LargeStringType, *arrow.BinaryType, *arrow.LargeBinaryType,
		*arrow.FixedSizeBinaryType, *arrow.Decimal128Type, *arrow.Decimal256Type:
		return true
	}
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64,
		arrow.DATE32, arrow.DATE64, arrow.TIME32, arrow.TIME64, arrow.TIMESTAMP, arrow.DURATION:
		return true
	}
	return false
}

// keyEncoder encodes the key columns of a row into bytes that are equal
// exactly when the keys are equal: fixed-width values as their bytes (floats
// with -0 folded into 0), variable-width values length-prefixed.
type keyEncoder struct {
	cols []arrow.Array
}

func newKeyEncoder(rec arrow.RecordBatch, on []string) keyEncoder {
	cols := make([]arrow.Array, len(on))
	for i, k := range on {
		cols[i] = rec.Column(rec.Schema().FieldIndices(k)[0])
	}
	return keyEncoder{cols: cols}
}

// key appends row's key to buf; ok is false when a key value is null or
// NaN, which matches nothing.
func (e keyEncoder) key(buf []byte, row int) (_ []byte, ok bool) {
	for _, c := range e.cols {
		if c.IsNull(row) {
			return buf, false
		}
		switch a := c.(type) {
		case *array.Boolean:
			if a.Value(row) {
				buf = append(buf, 1)
			} else {
				buf = append(buf, 0)
			}
		case *array.String:
			buf = appendVar(buf, a.Value(row))
		case *array.LargeString:
			buf = appendVar(buf, a.Value(row))
		case *array.Binary:
			buf = appendVar(buf, string(a.Value(row)))
		case *array.LargeBinary:
			buf = appendVar(buf, string(a.Value(row)))
		case *array.Float16:
			bits := a.Value(row).Uint16()
			if bits&0x7c00 == 0x7c00 && bits&0x03ff != 0 {
				return buf, false // NaN
			}
			if bits == 0x8000 {
				bits = 0
			}
			buf = binary.LittleEndian.AppendUint16(buf, bits)
		case *array.Float32:
			v := a.Value(row)
			if v != v {
				return buf, false
			}
			if v == 0 {
				v = 0
			}
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		case *array.Float64:
			v := a.Value(row)
			if v != v {
				return buf, false
			}
			if v == 0 {
				v = 0
			}
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		default:
			// Other keyable types are fixed width; compare their bytes.
			d := c.Data()
			w := d.DataType().(arrow.FixedWidthDataType).BitWidth() / 8
			start := (d.Offset() + row) * w
			buf = append(buf, d.Buffers()[1].Bytes()[start:start+w]...)
		}
	}
	return buf, true
}

func appendVar(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}
