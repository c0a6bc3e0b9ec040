package query

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sarissa-db/sarissa/internal/filter"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// System columns a query can read or return besides the table's own.
const (
	colRowID      = table.RowIDColumn // UInt64 row address
	colRowOffset  = "_rowoffset"      // UInt64 position among live rows
	colDistance   = "_distance"       // Float32 distance of vector results
	colQueryIndex = "query_index"     // Int32 index of the query vector
)

type outKind uint8

const (
	outTable outKind = iota + 1 // a table column, passed through
	outExpr                     // a computed column
	outDistance
	outRowID
	outRowOffset
)

// outCol is one column of the result.
type outCol struct {
	kind  outKind
	name  string        // output name
	src   string        // outTable: the table column read
	bound *filter.Bound // outExpr
	field arrow.Field
}

// plan is a validated request bound to a snapshot's schema. Building it
// reports every request error before any data is read.
type plan struct {
	snap   *table.Snapshot
	req    Request
	schema *arrow.Schema // table schema

	vec *vectorPlan // nil for plain queries

	filter     *filter.Bound // bound against the working columns
	filterCols []string      // table columns the filter reads
	postfilter bool          // vector query filtering after the top-k

	out       []outCol
	outSchema *arrow.Schema
	readCols  []string // table columns the output needs
	needRowID bool     // _rowid read by the filter or the output
	needRowOf bool     // _rowoffset read by the filter or the output
	needDist  bool     // _distance read by the output or a post-filter
}

// vectorPlan describes the search part of a vector query.
type vectorPlan struct {
	column  string
	fieldID int32
	dim     int
	elem    arrow.DataType // element type of the column's vectors
	metric  vector.Metric
	// Exactly one of these is set, per query vector.
	floats [][]float32 // float columns: queries in float32
	bytes  [][]byte    // uint8 columns (hamming): queries as bytes
}

func newPlan(snap *table.Snapshot, req Request) (*plan, error) {
	p := &plan{snap: snap, req: req, schema: snap.Schema()}
	if req.IsVectorQuery() {
		vp, err := planVector(snap, req)
		if err != nil {
			return nil, err
		}
		p.vec = vp
		p.postfilter = req.Filter != "" && !req.Prefilter
	}
	if err := p.planOutput(); err != nil {
		return nil, err
	}
	if req.Filter != "" {
		// The filter may read system columns; _distance only after the
		// search (LanceDB: "Column _distance does not exist" in a prefilter).
		b, err := filter.Compile(req.Filter, p.workSchema(p.postfilter))
		if err != nil {
			return nil, fmt.Errorf("%w: filter %q: %w", ErrInvalidRequest, req.Filter, err)
		}
		p.filter = b
		for _, c := range b.Columns() {
			switch c {
			case colRowID:
				p.needRowID = true
			case colRowOffset:
				p.needRowOf = true
			case colDistance:
				p.needDist = true
			default:
				p.filterCols = appendUnique(p.filterCols, c)
			}
		}
	}
	return p, nil
}

// workSchema is the table schema plus the system columns expressions may
// read; withDistance adds _distance.
func (p *plan) workSchema(withDistance bool) *arrow.Schema {
	fields := append([]arrow.Field(nil), p.schema.Fields()...)
	for _, name := range []string{colRowID, colRowOffset} {
		if p.schema.HasField(name) {
			continue
		}
		fields = append(fields, arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Uint64, Nullable: true})
	}
	if withDistance && !p.schema.HasField(colDistance) {
		fields = append(fields, distanceField())
	}
	return arrow.NewSchema(fields, nil)
}

func distanceField() arrow.Field {
	return arrow.Field{Name: colDistance, Type: arrow.PrimitiveTypes.Float32, Nullable: true}
}

func rowIDField() arrow.Field {
	return arrow.Field{Name: colRowID, Type: arrow.PrimitiveTypes.Uint64, Nullable: true}
}

func rowOffsetField() arrow.Field {
	return arrow.Field{Name: colRowOffset, Type: arrow.PrimitiveTypes.Uint64, Nullable: true}
}

// planOutput resolves the projection into output columns, in LanceDB's
// order: the selection, then _distance (vector queries) unless placed, then
// _rowid when with_row_id is set.
func (p *plan) planOutput() error {
	isVec := p.vec != nil
	placedDist, placedRowID := false, false
	add := func(c outCol) error {
		for _, o := range p.out {
			if o.name == c.name {
				return fmt.Errorf("%w: duplicate column name %q in the selection", ErrInvalidRequest, c.name)
			}
		}
		p.out = append(p.out, c)
		switch c.kind {
		case outTable:
			p.readCols = appendUnique(p.readCols, c.src)
		case outExpr:
			for _, col := range c.bound.Columns() {
				switch col {
				case colRowID:
					p.needRowID = true
				case colRowOffset:
					p.needRowOf = true
				case colDistance:
					p.needDist = true
				default:
					p.readCols = appendUnique(p.readCols, col)
				}
			}
		case outDistance:
			placedDist = true
			p.needDist = true
		case outRowID:
			placedRowID = true
			p.needRowID = true
		case outRowOffset:
			p.needRowOf = true
		}
		return nil
	}
	switch {
	case p.req.Columns == nil:
		for _, f := range p.schema.Fields() {
			if err := add(outCol{kind: outTable, name: f.Name, src: f.Name, field: f}); err != nil {
				return err
			}
		}
	default:
		for _, c := range p.req.Columns {
			oc, err := p.resolveColumn(c, isVec)
			if err != nil {
				return err
			}
			if oc.kind == outRowID && p.req.WithRowID {
				// LanceDB puts _rowid last when with_row_id is set, even if
				// the selection names it.
				continue
			}
			if err := add(oc); err != nil {
				return err
			}
		}
	}
	if isVec && !placedDist {
		if err := add(outCol{kind: outDistance, name: colDistance, field: distanceField()}); err != nil {
			return err
		}
	}
	if p.req.WithRowID && !placedRowID {
		if err := add(outCol{kind: outRowID, name: colRowID, field: rowIDField()}); err != nil {
			return err
		}
	}
	fields := make([]arrow.Field, 0, len(p.out)+1)
	if isVec && p.req.MultiVector {
		fields = append(fields, arrow.Field{Name: colQueryIndex, Type: arrow.PrimitiveTypes.Int32})
	}
	for _, o := range p.out {
		fields = append(fields, o.field)
	}
	p.outSchema = arrow.NewSchema(fields, nil)
	return nil
}

// resolveColumn turns one selection entry into an output column.
func (p *plan) resolveColumn(c Column, isVec bool) (outCol, error) {
	if c.Expr == "" {
		switch c.Name {
		case colDistance:
			if !isVec {
				return outCol{}, p.unknownColumn(c.Name)
			}
			return outCol{kind: outDistance, name: c.Name, field: distanceField()}, nil
		case colRowID:
			return outCol{kind: outRowID, name: c.Name, field: rowIDField()}, nil
		case colRowOffset:
			return outCol{kind: outRowOffset, name: c.Name, field: rowOffsetField()}, nil
		}
		if i := p.schema.FieldIndices(c.Name); len(i) > 0 {
			return outCol{kind: outTable, name: c.Name, src: c.Name, field: p.schema.Field(i[0])}, nil
		}
		// A nested field path such as `meta.source`: computed by the
		// expression evaluator, named as written.
		if e, err := filter.Parse(c.Name); err == nil {
			if _, ok := e.(*filter.Column); ok && strings.Contains(c.Name, ".") {
				return p.exprColumn(c.Name, c.Name, isVec)
			}
		}
		return outCol{}, p.unknownColumn(c.Name)
	}
	// name → expression. A bare table column keeps its field (type,
	// nullability, metadata) under the new name.
	if e, err := filter.Parse(c.Expr); err == nil {
		if col, ok := e.(*filter.Column); ok && len(col.Path) == 1 {
			if i := p.schema.FieldIndices(col.Path[0]); len(i) > 0 {
				f := p.schema.Field(i[0])
				f.Name = c.Name
				return outCol{kind: outTable, name: c.Name, src: col.Path[0], field: f}, nil
			}
		}
	}
	return p.exprColumn(c.Name, c.Expr, isVec)
}

func (p *plan) exprColumn(name, expr string, isVec bool) (outCol, error) {
	e, err := filter.Parse(expr)
	if err != nil {
		return outCol{}, fmt.Errorf("%w: column %q: expression %q: %w", ErrInvalidRequest, name, expr, err)
	}
	b, err := filter.Bind(e, p.workSchema(isVec))
	if err != nil {
		if errors.Is(err, filter.ErrUnknownColumn) {
			return outCol{}, fmt.Errorf("%w: column %q: expression %q: %w (valid fields are %s)", ErrInvalidRequest, name, expr, err, p.fieldList())
		}
		return outCol{}, fmt.Errorf("%w: column %q: expression %q: %w", ErrInvalidRequest, name, expr, err)
	}
	// Nullability as DataFusion infers it, so result schemas match LanceDB's.
	nullable := b.Nullable(p.workSchema(isVec))
	return outCol{kind: outExpr, name: name, bound: b, field: arrow.Field{Name: name, Type: b.Type(), Nullable: nullable}}, nil
}

func (p *plan) unknownColumn(name string) error {
	return fmt.Errorf("%w: no field named %q; valid fields are %s", ErrInvalidRequest, name, p.fieldList())
}

func (p *plan) fieldList() string {
	names := make([]string, p.schema.NumFields())
	for i, f := range p.schema.Fields() {
		names[i] = "`" + f.Name + "`"
	}
	return strings.Join(names, ", ")
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// planVector picks the vector column, checks the query vectors against it
// and settles the metric, with LanceDB's rules and messages.
func planVector(snap *table.Snapshot, req Request) (*vectorPlan, error) {
	sch := snap.Schema()
	dim := len(req.Vectors[0])
	name := req.VectorColumn
	if name == "" {
		var candidates []string
		for _, f := range sch.Fields() {
			if d, ok := vectorDim(f.Type); ok && d == dim {
				candidates = append(candidates, f.Name)
			}
		}
		switch len(candidates) {
		case 0:
			return nil, invalid("No vector column found to match with the query vector dimension: %d", dim)
		case 1:
			name = candidates[0]
		default:
			quoted := make([]string, len(candidates))
			for i, c := range candidates {
				quoted[i] = fmt.Sprintf("%q", c)
			}
			return nil, invalid("More than one vector columns found, please specify which column to create index or query: [%s]", strings.Join(quoted, ", "))
		}
	}
	idx := sch.FieldIndices(name)
	if len(idx) == 0 {
		return nil, invalid("vector_column %q does not exist in the table (columns: %s)", name, (&plan{schema: sch}).fieldList())
	}
	typ := sch.Field(idx[0]).Type
	var fsl *arrow.FixedSizeListType
	switch t := typ.(type) {
	case *arrow.FixedSizeListType:
		fsl = t
	case *arrow.ListType:
		if _, ok := t.Elem().(*arrow.FixedSizeListType); ok {
			return nil, notSupported("multivector column %q (a list of vectors) cannot be searched yet", name)
		}
		return nil, invalid("Data type is not a vector (FixedSizeListArray or List<FixedSizeListArray>), but %s (column %q)", typ, name)
	default:
		return nil, invalid("Data type is not a vector (FixedSizeListArray or List<FixedSizeListArray>), but %s (column %q)", typ, name)
	}
	if int(fsl.Len()) != dim {
		return nil, invalid("query dim(%d) doesn't match the column %s vector dim(%d)", dim, name, fsl.Len())
	}
	lf := snap.LanceSchema().FieldByName(name)
	if lf == nil {
		return nil, fmt.Errorf("column %q is in the Arrow schema but not the Lance schema", name)
	}
	vp := &vectorPlan{column: name, fieldID: lf.ID, dim: dim, elem: fsl.Elem()}
	return vp, vp.setQueries(req)
}

// vectorDim reports whether t is a vector type by LanceDB's rule for
// picking a default column (any fixed-size list, or a list of them) and
// returns its dimension.
func vectorDim(t arrow.DataType) (int, bool) {
	switch t := t.(type) {
	case *arrow.FixedSizeListType:
		return int(t.Len()), true
	case *arrow.ListType:
		if inner, ok := t.Elem().(*arrow.FixedSizeListType); ok {
			return int(inner.Len()), true
		}
	}
	return 0, false
}

func (vp *vectorPlan) setQueries(req Request) error {
	switch vp.elem.ID() {
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		vp.metric = req.Metric
		if vp.metric == 0 {
			vp.metric = vector.L2
		}
		if vp.metric == vector.Hamming {
			return invalid("Distance type hamming does not support %s vectors", typeName(vp.elem))
		}
		vp.floats = req.Vectors
		if vp.elem.ID() == arrow.FLOAT16 {
			// LanceDB casts the query to the column's element type first, so
			// against float16 vectors it searches with the rounded query.
			vp.floats = make([][]float32, len(req.Vectors))
			for i, q := range req.Vectors {
				r := make([]float32, len(q))
				for j, v := range q {
					r[j] = vector.HalfToFloat32(vector.Float32ToHalf(v))
				}
				vp.floats[i] = r
			}
		}
	case arrow.UINT8:
		vp.metric = req.Metric
		if vp.metric == 0 {
			// LanceDB searches uint8 (binary) vectors by hamming unless told
			// otherwise, and then refuses every other metric.
			vp.metric = vector.Hamming
		}
		if vp.metric != vector.Hamming {
			return invalid("Distance type %s does not support UInt8 vectors", vp.metric)
		}
		for qi, q := range req.Vectors {
			b := make([]byte, len(q))
			for i, f := range q {
				// LanceDB casts the float query to uint8 and silently reads
				// out-of-range values as 0; an error is kinder.
				if !(f >= 0 && f < 256) {
					return invalid("query vector %d: value %v at position %d is not a byte (0..255), as the uint8 column %q needs", qi, f, i, vp.column)
				}
				b[i] = byte(f)
			}
			vp.bytes = append(vp.bytes, b)
		}
	case arrow.INT8:
		return invalid("Column %s has element type Int8 and the query vector is Float32", vp.column)
	default:
		return invalid("vector element is not expected type (Float16/Float32/Float64 or UInt8): %s (column %q)", typeName(vp.elem), vp.column)
	}
	return nil
}

// typeName spells element types as LanceDB's messages do.
func typeName(t arrow.DataType) string {
	switch t.ID() {
	case arrow.FLOAT16:
		return "Float16"
	case arrow.FLOAT32:
		return "Float32"
	case arrow.FLOAT64:
		return "Float64"
	case arrow.UINT8:
		return "UInt8"
	case arrow.INT8:
		return "Int8"
	}
	return t.String()
}
