package filter

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Bound is an expression resolved against a schema, ready to evaluate over
// record batches of that schema. It is immutable and safe for concurrent use.
type Bound struct {
	expr Expr
	root node
	cols []string
}

// Type is the Arrow type Eval returns.
func (b *Bound) Type() arrow.DataType { return b.root.dtype() }

// Expr is the parsed expression this was bound from.
func (b *Bound) Expr() Expr { return b.expr }

// String renders the parsed expression.
func (b *Bound) String() string { return b.expr.String() }

// Columns lists the top-level columns the expression reads, in schema
// order, for projection pushdown. The slice is a copy.
func (b *Bound) Columns() []string { return slices.Clone(b.cols) }

// Eval computes the expression for every row of rec. The returned array has
// rec.NumRows() rows and is owned by the caller, who must Release it; it may
// share buffers with rec's columns. rec is located by column name, so it may
// hold more or other-ordered columns than the bound schema, but the columns
// the expression reads must have the bound types.
func (b *Bound) Eval(ctx context.Context, rec arrow.RecordBatch, mem memory.Allocator) (out arrow.Array, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	defer recoverEval(&err)
	ec := &evalCtx{ctx: ctx, rec: rec, mem: mem, n: int(rec.NumRows())}
	d, err := b.root.eval(ec)
	if err != nil {
		return nil, err
	}
	defer d.release()
	return broadcast(mem, d, ec.n)
}

// EvalPredicate evaluates a boolean expression and returns a selection mask
// without nulls: a row is selected only when the expression is TRUE (NULL
// counts as not selected, as in a SQL WHERE). The caller releases the mask.
func (b *Bound) EvalPredicate(ctx context.Context, rec arrow.RecordBatch, mem memory.Allocator) (mask *array.Boolean, err error) {
	if dt := b.root.dtype(); dt.ID() != arrow.BOOL && dt.ID() != arrow.NULL {
		return nil, &BindError{Pos: b.expr.Pos(), Msg: fmt.Sprintf("filter must be boolean, not %s", typeName(dt))}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	defer recoverEval(&err)
	ec := &evalCtx{ctx: ctx, rec: rec, mem: mem, n: int(rec.NumRows())}
	d, err := b.root.eval(ec)
	if err != nil {
		return nil, err
	}
	defer d.release()
	n := ec.n
	if d.scalar || isNull(d.arr.DataType()) {
		vals := newBitmap(mem, n)
		if bl, ok := d.arr.(*array.Boolean); ok && bl.IsValid(0) && bl.Value(0) {
			bitutil.SetBitsTo(vals.Bytes(), 0, int64(n), true)
		}
		return makeArray(boolType(), n, nil, vals).(*array.Boolean), nil
	}
	if d.arr.NullN() == 0 && d.arr.Data().Offset() == 0 {
		d.arr.Retain()
		return d.arr.(*array.Boolean), nil
	}
	vals, valid := boolBits(mem, d.arr)
	if valid != nil {
		bitutil.BitmapAnd(vals.Bytes(), valid.Bytes(), 0, 0, vals.Bytes(), 0, int64(n))
		valid.Release()
	}
	return makeArray(boolType(), n, nil, vals).(*array.Boolean), nil
}

// recoverEval turns a panic from malformed Arrow input (a buffer shorter
// than its length claims) into an error: a query must fail, not the server.
func recoverEval(err *error) {
	if r := recover(); r != nil {
		*err = evalErrorf(0, "malformed input batch: %v", r)
	}
}

// constNode is a literal or a folded constant sub-expression.
type constNode struct{ val arrow.Array }

func (n *constNode) dtype() arrow.DataType { return n.val.DataType() }

func (n *constNode) eval(*evalCtx) (datum, error) {
	n.val.Retain()
	return datum{arr: n.val, scalar: true}, nil
}

// colNode reads a top-level column and descends into struct fields.
type colNode struct {
	pos    int
	name   string // top-level column name
	top    int    // index in the bound schema
	topTyp arrow.DataType
	fields []int // struct child indices below the top-level column
	typ    arrow.DataType
}

func (n *colNode) dtype() arrow.DataType { return n.typ }

func (n *colNode) eval(ec *evalCtx) (datum, error) {
	arr, err := n.column(ec.rec)
	if err != nil {
		return datum{}, err
	}
	arr.Retain()
	for _, fi := range n.fields {
		st, ok := arr.(*array.Struct)
		if !ok || fi >= st.NumField() {
			arr.Release()
			return datum{}, evalErrorf(n.pos, "column %q: batch does not match the bound struct type", n.name)
		}
		child := withParentNulls(ec.mem, st.Field(fi), st)
		arr.Release()
		arr = child
	}
	return datum{arr: arr}, nil
}

func (n *colNode) column(rec arrow.RecordBatch) (arrow.Array, error) {
	if rec == nil {
		return nil, evalErrorf(n.pos, "column %q read without a batch", n.name)
	}
	sc := rec.Schema()
	idx := n.top
	if idx >= sc.NumFields() || sc.Field(idx).Name != n.name {
		idx = -1
		if ids := sc.FieldIndices(n.name); len(ids) > 0 {
			idx = ids[0]
		}
	}
	if idx < 0 {
		return nil, evalErrorf(n.pos, "column %q is missing from the batch", n.name)
	}
	col := rec.Column(idx)
	if !arrow.TypeEqual(col.DataType(), n.topTyp) {
		return nil, evalErrorf(n.pos, "column %q has type %s in the batch but %s when bound",
			n.name, typeName(col.DataType()), typeName(n.topTyp))
	}
	return col, nil
}

// withParentNulls returns child with the struct's nulls folded into its
// validity, so that `s.x IS NULL` holds where s itself is NULL.
func withParentNulls(mem memory.Allocator, child arrow.Array, parent *array.Struct) arrow.Array {
	if parent.NullN() == 0 {
		child.Retain()
		return child
	}
	cd, pd := child.Data(), parent.Data()
	n, off := cd.Len(), cd.Offset()
	valid := newBitmap(mem, off+n)
	bitutil.CopyBitmap(pd.Buffers()[0].Bytes(), pd.Offset(), n, valid.Bytes(), off)
	if child.NullN() > 0 {
		cv := cd.Buffers()[0].Bytes()
		bitutil.BitmapAnd(valid.Bytes(), cv, int64(off), int64(off), valid.Bytes(), int64(off), int64(n))
	}
	bufs := slices.Clone(cd.Buffers())
	bufs[0] = valid
	data := array.NewData(cd.DataType(), n, bufs, cd.Children(), array.UnknownNullCount, off)
	if cd.Dictionary() != nil {
		data.SetDictionary(cd.Dictionary())
	}
	valid.Release()
	out := array.MakeFromData(data)
	data.Release()
	return out
}
