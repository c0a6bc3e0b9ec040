package table

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"google.golang.org/protobuf/proto"

	"github.com/sarissa-db/sarissa/internal/filter"
	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/lance/schema"
)

// NewColumn is a column computed from a SQL expression over existing columns.
type NewColumn struct {
	Name string
	Expr string
}

// AddColumns adds computed columns. Each fragment gets one new data file
// holding the new columns for all of its physical rows (deleted rows too, so
// offsets stay aligned); existing data files are untouched.
func (t *Table) AddColumns(ctx context.Context, cols []NewColumn) (*Snapshot, error) {
	if len(cols) == 0 {
		return nil, fmt.Errorf("%w: add_columns needs at least one column", ErrInvalidArgument)
	}
	base, err := t.writableLatest(ctx)
	if err != nil {
		return nil, err
	}
	exprs := make([]*filter.Bound, len(cols))
	added := &schema.Schema{}
	var newArrow []arrow.Field
	for i, c := range cols {
		if strings.TrimSpace(c.Name) == "" {
			return nil, fmt.Errorf("%w: add_columns: column %d has an empty name", ErrInvalidArgument, i)
		}
		if base.schema.FieldIndex(c.Name) >= 0 || slices.ContainsFunc(cols[:i], func(o NewColumn) bool { return o.Name == c.Name }) {
			return nil, fmt.Errorf("%w: add_columns: column %q already exists", ErrInvalidArgument, c.Name)
		}
		b, err := compileExpr(c.Expr, base.arrow)
		if err != nil {
			return nil, fmt.Errorf("add column %q: %w", c.Name, err)
		}
		typ := b.Type()
		if typ.ID() == arrow.NULL {
			return nil, fmt.Errorf("%w: add column %q: expression %q has no type; cast it, e.g. CAST(NULL AS string)", ErrInvalidArgument, c.Name, c.Expr)
		}
		exprs[i] = b
		// Nullability as DataFusion infers it, so the schema matches LanceDB's.
		af := arrow.Field{Name: c.Name, Type: typ, Nullable: b.Nullable(base.arrow)}
		lf, err := schema.FieldFromArrow(af)
		if err != nil {
			return nil, fmt.Errorf("%w: add column %q: %w", ErrInvalidArgument, c.Name, err)
		}
		added.Fields = append(added.Fields, lf)
		newArrow = append(newArrow, af)
	}
	added.AssignIDs(base.maxFieldID())
	addedArrow := arrow.NewSchema(newArrow, nil)
	var readCols []string
	for _, b := range exprs {
		for _, c := range b.Columns() {
			if !slices.Contains(readCols, c) {
				readCols = append(readCols, c)
			}
		}
	}
	frags, err := t.rewriteColumns(ctx, base, readCols, added, addedArrow, func(rec arrow.RecordBatch) ([]arrow.Array, error) {
		out := make([]arrow.Array, len(exprs))
		for i, b := range exprs {
			v, err := b.Eval(ctx, rec, t.opts.Allocator)
			if err != nil {
				releaseAll(out)
				return nil, fmt.Errorf("add column %q: %w", cols[i].Name, err)
			}
			out[i] = v
		}
		return out, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	full := base.schema.Clone()
	full.Fields = append(full.Fields, added.Fields...)
	fields, meta := full.ToProto()
	return t.commit(ctx, base, "add_columns", lance.NewMerge(fields, meta, frags))
}

// rewriteColumns computes columns for every fragment of base and returns the
// fragments with one more data file each. compute gets batches of readCols
// over all physical rows and returns arrays of out's types. tombstone, if
// set, lists field ids to retire from the existing data files.
func (t *Table) rewriteColumns(ctx context.Context, base *Snapshot, readCols []string, out *schema.Schema, outArrow *arrow.Schema,
	compute func(arrow.RecordBatch) ([]arrow.Array, error), tombstone []int32) ([]*tablepb.DataFragment, error) {
	var frags []*tablepb.DataFragment
	for _, frag := range base.ls.Fragments() {
		sc, err := base.Scan(ctx, ScanOptions{Columns: readCols, Fragments: []uint64{frag.GetId()}, includeDeleted: true})
		if err != nil {
			return nil, err
		}
		w := t.fragmentWriter(out, outArrow)
		w.opts.MaxRowsPerFile = int64(frag.GetPhysicalRows()) + 1 // one file per fragment
		w.opts.MaxBytesPerFile = 1 << 62
		var written []*tablepb.DataFragment
		err = func() error {
			defer sc.Close()
			defer w.abort()
			for {
				rec, err := sc.Next(ctx)
				if errors.Is(err, io.EOF) {
					written, err = w.close()
					return err
				}
				if err != nil {
					return err
				}
				cols, err := compute(rec)
				n := rec.NumRows()
				rec.Release()
				if err != nil {
					return err
				}
				for i, f := range outArrow.Fields() {
					c, err := castTo(ctx, t, cols[i], f)
					cols[i].Release()
					cols[i] = c
					if err != nil {
						releaseAll(cols[i+1:])
						releaseAll(cols[:i])
						return err
					}
				}
				batch := array.NewRecordBatch(outArrow, cols, n)
				releaseAll(cols)
				err = w.add(ctx, batch)
				batch.Release()
				if err != nil {
					return err
				}
			}
		}()
		if err != nil {
			return nil, err
		}
		nf := proto.Clone(frag).(*tablepb.DataFragment)
		for _, df := range nf.Files {
			for i, id := range df.Fields {
				if slices.Contains(tombstone, id) {
					df.Fields[i] = -2
				}
			}
		}
		if len(written) == 1 {
			if written[0].GetPhysicalRows() != frag.GetPhysicalRows() {
				return nil, fmt.Errorf("fragment %d: rewrote %d rows but it has %d", frag.GetId(), written[0].GetPhysicalRows(), frag.GetPhysicalRows())
			}
			nf.Files = append(nf.Files, written[0].Files...)
		} else if len(written) > 1 || frag.GetPhysicalRows() > 0 {
			return nil, fmt.Errorf("fragment %d: rewrite produced %d files", frag.GetId(), len(written))
		}
		frags = append(frags, nf)
	}
	return frags, nil
}

// maxFieldID is the largest field id used by the schema or any data file:
// ids of dropped columns live on in old data files and must never be reused.
func (s *Snapshot) maxFieldID() int32 {
	m := s.schema.MaxFieldID()
	for _, f := range s.ls.Fragments() {
		for _, df := range f.GetFiles() {
			for _, id := range df.GetFields() {
				m = max(m, id)
			}
		}
	}
	return m
}

// Alteration changes one column: rename it, change its nullability, or cast
// it to another type. Path is a top-level name or a dotted struct member path
// (rename and nullability only).
type Alteration struct {
	Path     string
	Rename   *string
	Nullable *bool
	DataType arrow.DataType
}

// AlterColumns applies alterations. Renames and nullability changes only
// change the schema; a type change rewrites the column into new data files and
// retires the old field id.
func (t *Table) AlterColumns(ctx context.Context, alts []Alteration) (*Snapshot, error) {
	if len(alts) == 0 {
		return nil, fmt.Errorf("%w: alter_columns needs at least one alteration", ErrInvalidArgument)
	}
	base, err := t.writableLatest(ctx)
	if err != nil {
		return nil, err
	}
	next := base.schema.Clone()
	var casts []Alteration
	for _, a := range alts {
		f := next.FieldByName(a.Path)
		if f == nil {
			return nil, fmt.Errorf("%w: alter_columns: no column %q", ErrInvalidArgument, a.Path)
		}
		if a.Rename == nil && a.Nullable == nil && a.DataType == nil {
			return nil, fmt.Errorf("%w: alter_columns: alteration of %q changes nothing", ErrInvalidArgument, a.Path)
		}
		if a.Nullable != nil && !*a.Nullable && f.Nullable {
			if strings.Contains(a.Path, ".") {
				return nil, fmt.Errorf("%w: alter_columns: making nested field %q non-nullable is not supported", ErrInvalidArgument, a.Path)
			}
			n, err := base.Count(ctx, quoteIdent(a.Path)+" IS NULL")
			if err != nil {
				return nil, err
			}
			if n > 0 {
				return nil, fmt.Errorf("%w: alter_columns: column %q has %d null value(s) and cannot become non-nullable", ErrInvalidArgument, a.Path, n)
			}
		}
		if a.Nullable != nil {
			f.Nullable = *a.Nullable
		}
		if a.DataType != nil {
			if strings.Contains(a.Path, ".") {
				return nil, fmt.Errorf("%w: alter_columns: changing the type of nested field %q is not supported", ErrInvalidArgument, a.Path)
			}
			casts = append(casts, a)
		}
		if a.Rename != nil {
			name := *a.Rename
			if strings.TrimSpace(name) == "" || strings.Contains(name, ".") {
				return nil, fmt.Errorf("%w: alter_columns: invalid new name %q for %q", ErrInvalidArgument, name, a.Path)
			}
			parent := a.Path[:max(strings.LastIndex(a.Path, "."), 0)]
			sibling := name
			if parent != "" {
				sibling = parent + "." + name
			}
			if name != f.Name && next.FieldByName(sibling) != nil {
				return nil, fmt.Errorf("%w: alter_columns: cannot rename %q to %q: a column with that name exists", ErrInvalidArgument, a.Path, name)
			}
			f.Name = name
		}
	}
	if len(casts) == 0 {
		fields, _ := next.ToProto()
		return t.commit(ctx, base, "alter_columns", lance.NewProject(fields))
	}
	return t.castColumns(ctx, base, next, casts)
}

// castColumns rewrites cast columns into new data files with new field ids.
func (t *Table) castColumns(ctx context.Context, base *Snapshot, next *schema.Schema, casts []Alteration) (*Snapshot, error) {
	out := &schema.Schema{}
	var outArrow []arrow.Field
	var readCols []string
	var retired []int32
	for _, a := range casts {
		old := base.schema.FieldByName(a.Path)
		cur := next.FieldByName(a.Path)
		if cur == nil {
			// Renamed in the same request: find it by id.
			cur = next.FieldByID(old.ID)
		}
		af := arrow.Field{Name: cur.Name, Type: a.DataType, Nullable: cur.Nullable}
		nf, err := schema.FieldFromArrow(af)
		if err != nil {
			return nil, fmt.Errorf("%w: alter column %q: %w", ErrInvalidArgument, a.Path, err)
		}
		if !compute.CanCast(base.arrow.Field(base.schema.FieldIndex(old.Name)).Type, a.DataType) {
			return nil, fmt.Errorf("%w: alter column %q: cannot cast %s to %s", ErrInvalidArgument, a.Path, base.arrow.Field(base.schema.FieldIndex(old.Name)).Type, a.DataType)
		}
		out.Fields = append(out.Fields, nf)
		outArrow = append(outArrow, af)
		readCols = append(readCols, old.Name)
		retired = append(retired, fieldIDs(old)...)
		idx := next.FieldIndex(cur.Name)
		next.Fields[idx] = nf
	}
	out.AssignIDs(base.maxFieldID())
	outSchema := arrow.NewSchema(outArrow, nil)
	frags, err := t.rewriteColumns(ctx, base, readCols, out, outSchema, func(rec arrow.RecordBatch) ([]arrow.Array, error) {
		cols := make([]arrow.Array, rec.NumCols())
		for i := range cols {
			c := rec.Column(i)
			c.Retain()
			cols[i] = c
		}
		return cols, nil
	}, retired)
	if err != nil {
		return nil, err
	}
	fields, meta := next.ToProto()
	return t.commit(ctx, base, "alter_columns", lance.NewMerge(fields, meta, frags))
}

// DropColumns removes columns from the schema. Their data stays in the data
// files (ignored by readers) until compaction rewrites them.
func (t *Table) DropColumns(ctx context.Context, names []string) (*Snapshot, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: drop_columns needs at least one column", ErrInvalidArgument)
	}
	base, err := t.writableLatest(ctx)
	if err != nil {
		return nil, err
	}
	next := base.schema.Clone()
	for _, n := range names {
		i := next.FieldIndex(n)
		if i < 0 {
			return nil, fmt.Errorf("%w: drop_columns: no column %q", ErrInvalidArgument, n)
		}
		next.Fields = slices.Delete(next.Fields, i, i+1)
	}
	if len(next.Fields) == 0 {
		return nil, fmt.Errorf("%w: drop_columns: cannot drop every column of a table", ErrInvalidArgument)
	}
	fields, _ := next.ToProto()
	return t.commit(ctx, base, "drop_columns", lance.NewProject(fields))
}

// quoteIdent quotes a (possibly dotted) column path for the filter dialect.
func quoteIdent(path string) string {
	parts := strings.Split(path, ".")
	for i, p := range parts {
		parts[i] = "`" + strings.ReplaceAll(p, "`", "``") + "`"
	}
	return strings.Join(parts, ".")
}
