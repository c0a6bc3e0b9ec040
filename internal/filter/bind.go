package filter

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Compile parses filter and binds it to schema, requiring a boolean result.
func Compile(filter string, schema *arrow.Schema) (*Bound, error) {
	e, err := Parse(filter)
	if err != nil {
		return nil, err
	}
	b, err := Bind(e, schema)
	if err != nil {
		return nil, err
	}
	if dt := b.Type(); dt.ID() != arrow.BOOL && dt.ID() != arrow.NULL {
		return nil, &BindError{Pos: e.Pos(), Msg: fmt.Sprintf("filter must be boolean, not %s", typeName(dt))}
	}
	return b, nil
}

// Bind resolves the columns of e in schema, checks and coerces operand
// types, and folds constant sub-expressions. Errors are *BindError.
//
// Columns are looked up by exact name first, then case-insensitively if
// that matches exactly one column; dotted paths descend into struct fields
// the same way. String literals compared with date or timestamp operands are
// parsed at bind time; integer and float operands meet at a common type,
// with literals narrowed to the column's type when that is lossless.
func Bind(e Expr, schema *arrow.Schema) (*Bound, error) {
	if e == nil {
		return nil, &BindError{Msg: "empty expression"}
	}
	b := &binder{schema: schema, mem: memory.NewGoAllocator(), used: map[int]bool{}}
	root, err := b.bind(e)
	if err != nil {
		return nil, err
	}
	idx := make([]int, 0, len(b.used))
	for i := range b.used {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	cols := make([]string, len(idx))
	for k, i := range idx {
		cols[k] = schema.Field(i).Name
	}
	return &Bound{expr: e, root: root, cols: cols}, nil
}

type binder struct {
	schema *arrow.Schema
	mem    memory.Allocator // constants live on the Go heap, owned by the Bound
	used   map[int]bool     // top-level columns referenced
}

func (b *binder) bind(e Expr) (node, error) {
	switch n := e.(type) {
	case *Column:
		return b.column(n)
	case *NullLit, *BoolLit, *IntLit, *UintLit, *FloatLit, *StringLit, *BinaryLit,
		*DateLit, *TimestampLit, *IntervalLit:
		return b.literal(e), nil
	case *ArrayLit:
		return b.arrayLit(n)
	case *Unary:
		return b.unary(n)
	case *Binary:
		return b.binary(n)
	case *Is:
		x, err := b.bind(n.X)
		if err != nil {
			return nil, err
		}
		if n.What != IsNull && !isBoolish(x.dtype()) {
			return nil, bindErrorf(n.At, "IS TRUE/FALSE needs a boolean operand, not %s", typeName(x.dtype()))
		}
		return b.fold(&isNode{x: x, what: n.What, not: n.Not}, x)
	case *In:
		return b.in(n)
	case *Between:
		return b.between(n)
	case *Like:
		return b.like(n)
	case *Cast:
		x, err := b.bind(n.X)
		if err != nil {
			return nil, err
		}
		return b.cast(n.At, x, n.To.Arrow(), n.Try)
	case *Call:
		return b.call(n)
	case *Index:
		return b.index(n)
	case *Field:
		x, err := b.bind(n.X)
		if err != nil {
			return nil, err
		}
		return b.field(n.At, x, n.Name)
	}
	return nil, bindErrorf(e.Pos(), "unsupported expression %T", e)
}

func isBoolish(dt arrow.DataType) bool { return dt.ID() == arrow.BOOL || dt.ID() == arrow.NULL }

// fold replaces n by its value when every input is a constant.
func (b *binder) fold(n node, kids ...node) (node, error) {
	for _, k := range kids {
		if _, ok := k.(*constNode); !ok {
			return n, nil
		}
	}
	ec := &evalCtx{ctx: context.Background(), mem: b.mem, n: 1}
	d, err := n.eval(ec)
	if err != nil {
		if ee, ok := err.(*EvalError); ok {
			return nil, &BindError{Pos: ee.Pos, Msg: ee.Msg, kind: ee.kind}
		}
		return nil, err
	}
	if !d.scalar || d.arr.Len() != 1 {
		d.release()
		return n, nil
	}
	return &constNode{val: d.arr}, nil
}

func (b *binder) column(c *Column) (node, error) {
	fields := b.schema.Fields()
	top, err := lookupField(fields, c.Path[0])
	if err != nil {
		// A flat column may itself be called "a.b".
		if len(c.Path) > 1 {
			if i, err2 := lookupField(fields, strings.Join(c.Path, ".")); err2 == nil {
				return b.columnNode(c, i, nil)
			}
		}
		return nil, b.columnErr(c, c.Path[0], err)
	}
	var path []int
	dt := fields[top].Type
	for k, name := range c.Path[1:] {
		st, ok := dt.(*arrow.StructType)
		if !ok {
			return nil, bindErrorf(c.At, "column %q is %s, not a struct, so it has no field %q",
				strings.Join(c.Path[:k+1], "."), typeName(dt), name)
		}
		i, err := lookupField(st.Fields(), name)
		if err != nil {
			return nil, b.columnErr(c, strings.Join(c.Path[:k+2], "."), err)
		}
		path = append(path, i)
		dt = st.Field(i).Type
	}
	return b.columnNode(c, top, path)
}

func (b *binder) columnErr(c *Column, name string, err error) error {
	if err == errNoField {
		return &BindError{Pos: c.At, Msg: fmt.Sprintf("unknown column %q", name), kind: ErrUnknownColumn}
	}
	return bindErrorf(c.At, "column %q %v", name, err)
}

func (b *binder) columnNode(c *Column, top int, path []int) (node, error) {
	f := b.schema.Field(top)
	dt := f.Type
	for _, i := range path {
		dt = dt.(*arrow.StructType).Field(i).Type
	}
	b.used[top] = true
	var n node = &colNode{pos: c.At, name: f.Name, top: top, topTyp: f.Type, fields: path, typ: dt}
	if d, ok := dt.(*arrow.DictionaryType); ok {
		if !supportedDictValue(d.ValueType) {
			return nil, bindErrorf(c.At, "column %q: dictionary of %s is not supported", f.Name, typeName(d.ValueType))
		}
		n = &decodeNode{x: n, pos: c.At, typ: d.ValueType}
		dt = d.ValueType
	}
	if dt.ID() == arrow.FLOAT16 {
		return &castNode{x: n, to: arrow.PrimitiveTypes.Float32, pos: c.At}, nil
	}
	return n, nil
}

var errNoField = fmt.Errorf("not found")

// lookupField finds name exactly, else case-insensitively if unambiguous.
func lookupField(fields []arrow.Field, name string) (int, error) {
	for i, f := range fields {
		if f.Name == name {
			return i, nil
		}
	}
	found := -1
	var names []string
	for i, f := range fields {
		if strings.EqualFold(f.Name, name) {
			if found < 0 {
				found = i
			}
			names = append(names, f.Name)
		}
	}
	switch {
	case len(names) > 1:
		return -1, fmt.Errorf("is ambiguous: it matches %s; quote it with backticks in the exact case",
			strings.Join(names, ", "))
	case found < 0:
		return -1, errNoField
	}
	return found, nil
}

func (b *binder) unary(n *Unary) (node, error) {
	x, err := b.bind(n.X)
	if err != nil {
		return nil, err
	}
	dt := x.dtype()
	if n.Op == OpNot {
		if !isBoolish(dt) {
			return nil, bindErrorf(n.At, "NOT needs a boolean operand, not %s", typeName(dt))
		}
		return b.fold(&notNode{x: b.nullAs(x, boolType())}, x)
	}
	if !isSignedInt(dt) && !isFloat(dt) && !isNull(dt) {
		return nil, bindErrorf(n.At, "cannot negate %s", typeName(dt))
	}
	return b.fold(&negNode{x: x, pos: n.At}, x)
}

// nullAs gives an untyped NULL (a literal, or a column of Arrow's Null
// type) the type dt; other nodes pass unchanged.
func (b *binder) nullAs(x node, dt arrow.DataType) node {
	if isNull(x.dtype()) && !isNull(dt) {
		if _, ok := x.(*constNode); ok {
			return b.nullConst(dt)
		}
		return &castNode{x: x, to: dt}
	}
	return x
}

func (b *binder) binary(n *Binary) (node, error) {
	l, err := b.bind(n.L)
	if err != nil {
		return nil, err
	}
	r, err := b.bind(n.R)
	if err != nil {
		return nil, err
	}
	switch {
	case n.Op == OpAnd || n.Op == OpOr:
		for _, x := range []struct {
			n node
			e Expr
		}{{l, n.L}, {r, n.R}} {
			if !isBoolish(x.n.dtype()) {
				return nil, bindErrorf(x.e.Pos(), "%s needs boolean operands, not %s", n.Op, typeName(x.n.dtype()))
			}
		}
		l, r = b.nullAs(l, boolType()), b.nullAs(r, boolType())
		if n.Op == OpAnd {
			return b.fold(&andNode{l: l, r: r}, l, r)
		}
		return b.fold(&orNode{l: l, r: r}, l, r)
	case n.Op.IsComparison():
		return b.compare(n.At, n.Op, n.L, n.R, l, r)
	}
	return b.arith(n, l, r)
}

// compare binds l op r after coercing both sides to one type.
func (b *binder) compare(pos int, op BinaryOp, le, re Expr, l, r node) (node, error) {
	if n, ok := b.outOfRange(op, l, r); ok {
		return n, nil
	}
	if n, ok, err := b.mixedSign(pos, op, l, r); ok {
		return n, err
	}
	l, r, err := b.coercePair(pos, le, re, l, r)
	if err != nil {
		return nil, err
	}
	dt := l.dtype()
	if !orderable(dt) {
		return nil, bindErrorf(pos, "cannot compare values of type %s", typeName(dt))
	}
	return b.fold(&cmpNode{op: op, l: l, r: r}, l, r)
}

func orderable(dt arrow.DataType) bool {
	return isNumeric(dt) || isString(dt) || isBinary(dt) || isTemporal(dt) ||
		dt.ID() == arrow.BOOL || isNull(dt)
}

func (b *binder) between(n *Between) (node, error) {
	x, err := b.bind(n.X)
	if err != nil {
		return nil, err
	}
	lo, err := b.bind(n.Lo)
	if err != nil {
		return nil, err
	}
	hi, err := b.bind(n.Hi)
	if err != nil {
		return nil, err
	}
	ge, err := b.compare(n.At, OpGe, n.X, n.Lo, x, lo)
	if err != nil {
		return nil, err
	}
	le, err := b.compare(n.At, OpLe, n.X, n.Hi, x, hi)
	if err != nil {
		return nil, err
	}
	out, err := b.fold(&andNode{l: ge, r: le}, ge, le)
	if err != nil || !n.Not {
		return out, err
	}
	return b.fold(&notNode{x: out}, out)
}

func (b *binder) in(n *In) (node, error) {
	x, err := b.bind(n.X)
	if err != nil {
		return nil, err
	}
	items := make([]node, len(n.List))
	allConst := true
	for i, e := range n.List {
		if items[i], err = b.bind(e); err != nil {
			return nil, err
		}
		if _, ok := items[i].(*constNode); !ok {
			allConst = false
		}
	}
	var out node
	if _, xConst := x.(*constNode); allConst && !xConst && orderable(x.dtype()) && !isNull(x.dtype()) {
		out, err = b.inSet(n, x, items)
	} else {
		// Non-constant lists are an OR of equalities, which has exactly
		// the three-valued semantics of IN.
		for i, it := range items {
			eq, err := b.compare(n.At, OpEq, n.X, n.List[i], x, it)
			if err != nil {
				return nil, err
			}
			if out == nil {
				out = eq
			} else if out, err = b.fold(&orNode{l: out, r: eq}, out, eq); err != nil {
				return nil, err
			}
		}
	}
	if err != nil || !n.Not {
		return out, err
	}
	return b.fold(&notNode{x: out}, out)
}

func (b *binder) arith(n *Binary, l, r node) (node, error) {
	lt, rt := l.dtype(), r.dtype()
	if isNull(lt) && isNull(rt) {
		return b.nullConst(arrow.Null), nil
	}
	if isNull(lt) {
		l, lt = b.nullConst(rt), rt
	}
	if isNull(rt) {
		r, rt = b.nullConst(lt), lt
	}
	if isTemporal(lt) && rt.ID() == arrow.INTERVAL_MONTH_DAY_NANO && (n.Op == OpAdd || n.Op == OpSub) {
		return b.temporalArith(n, l, r)
	}
	if isTemporal(rt) && lt.ID() == arrow.INTERVAL_MONTH_DAY_NANO && n.Op == OpAdd {
		return b.temporalArith(n, r, l)
	}
	if !isNumeric(lt) || !isNumeric(rt) {
		return nil, bindErrorf(n.At, "cannot apply '%s' to %s and %s", n.Op, typeName(lt), typeName(rt))
	}
	ct := commonNumeric(lt, rt)
	var err error
	if l, err = b.cast(n.At, l, ct, false); err != nil {
		return nil, err
	}
	if r, err = b.cast(n.At, r, ct, false); err != nil {
		return nil, err
	}
	return b.fold(&arithNode{op: n.Op, l: l, r: r, pos: n.At}, l, r)
}

func (b *binder) temporalArith(n *Binary, t, iv node) (node, error) {
	c, ok := iv.(*constNode)
	if !ok {
		return nil, bindErrorf(n.At, "only a constant INTERVAL can be added to a date or timestamp")
	}
	v, ok := intervalOf(c)
	if !ok {
		return b.nullConst(t.dtype()), nil
	}
	if n.Op == OpSub {
		v.Months, v.Days, v.Nanoseconds = -v.Months, -v.Days, -v.Nanoseconds
	}
	if t.dtype().ID() == arrow.DATE32 && v.Nanoseconds != 0 {
		return nil, bindErrorf(n.At, "cannot add an interval with a time part to a date; cast the date to TIMESTAMP")
	}
	return b.fold(&temporalAddNode{x: t, iv: v, pos: n.At}, t)
}

func (b *binder) cast(pos int, x node, to arrow.DataType, try bool) (node, error) {
	from := x.dtype()
	if arrow.TypeEqual(from, to) {
		return x, nil
	}
	if !canCast(from, to) {
		return nil, bindErrorf(pos, "cannot cast %s to %s", typeName(from), typeName(to))
	}
	return b.fold(&castNode{x: x, to: to, try: try, pos: pos}, x)
}

func (b *binder) field(pos int, x node, name string) (node, error) {
	st, ok := x.dtype().(*arrow.StructType)
	if !ok {
		return nil, bindErrorf(pos, "cannot read field %q of %s", name, typeName(x.dtype()))
	}
	i, err := lookupField(st.Fields(), name)
	if err == errNoField {
		return nil, &BindError{Pos: pos, Msg: fmt.Sprintf("unknown field %q", name), kind: ErrUnknownColumn}
	}
	if err != nil {
		return nil, bindErrorf(pos, "field %q %v", name, err)
	}
	return b.fold(&fieldNode{x: x, idx: i, typ: st.Field(i).Type}, x)
}

func (b *binder) index(n *Index) (node, error) {
	x, err := b.bind(n.X)
	if err != nil {
		return nil, err
	}
	idx, err := b.bind(n.Index)
	if err != nil {
		return nil, err
	}
	if _, ok := x.dtype().(*arrow.StructType); ok {
		if s, ok := n.Index.(*StringLit); ok {
			return b.field(n.At, x, s.Value)
		}
		return nil, bindErrorf(n.At, "a struct is indexed by a field name string")
	}
	if !isList(x.dtype()) {
		return nil, bindErrorf(n.At, "cannot index %s", typeName(x.dtype()))
	}
	if !isInteger(idx.dtype()) && !isNull(idx.dtype()) {
		return nil, bindErrorf(n.Index.Pos(), "list index must be an integer, not %s", typeName(idx.dtype()))
	}
	if idx, err = b.cast(n.At, b.nullAs(idx, arrow.PrimitiveTypes.Int64), arrow.PrimitiveTypes.Int64, false); err != nil {
		return nil, err
	}
	elem := listElem(x.dtype())
	if !takeable(elem) {
		return nil, bindErrorf(n.At, "indexing a list of %s is not supported", typeName(elem))
	}
	return b.fold(&listIndexNode{x: x, idx: idx, typ: elem}, x, idx)
}

// outOfRange settles `intcol op constant` when the constant lies outside
// the column type's range (`u64col > -1`, `i8col = 1000`): the answer is
// the same for every non-NULL row, and casting the column to a wider type
// would be wasted work or, for uint64 against int64, an overflow.
func (b *binder) outOfRange(op BinaryOp, l, r node) (node, bool) {
	x, c := l, r
	if _, ok := l.(*constNode); ok {
		x, c, op = r, l, flip(op)
	}
	cn, ok := c.(*constNode)
	if _, xConst := x.(*constNode); !ok || xConst || !isInteger(x.dtype()) || !isInteger(cn.dtype()) || nullAt(cn.val, 0) {
		return nil, false
	}
	v := constBig(cn.val)
	lo, hi := intTypeRange(x.dtype())
	var truth bool
	switch {
	case v.Cmp(hi) > 0:
		truth = op == OpLt || op == OpLe || op == OpNe
	case v.Cmp(lo) < 0:
		truth = op == OpGt || op == OpGe || op == OpNe
	default:
		return nil, false
	}
	// TRUE/FALSE where x is valid, NULL where it is NULL.
	null := b.nullConst(boolType())
	if truth {
		return &orNode{l: &isNode{x: x, what: IsNull, not: true}, r: null}, true
	}
	return &andNode{l: &isNode{x: x, what: IsNull}, r: null}, true
}

func constBig(a arrow.Array) *big.Int {
	switch a := a.(type) {
	case *array.Uint64:
		return new(big.Int).SetUint64(a.Value(0))
	case *array.Uint32:
		return big.NewInt(int64(a.Value(0)))
	case *array.Uint16:
		return big.NewInt(int64(a.Value(0)))
	case *array.Uint8:
		return big.NewInt(int64(a.Value(0)))
	case *array.Int32:
		return big.NewInt(int64(a.Value(0)))
	case *array.Int16:
		return big.NewInt(int64(a.Value(0)))
	case *array.Int8:
		return big.NewInt(int64(a.Value(0)))
	case *array.Int64:
		return big.NewInt(a.Value(0))
	}
	return new(big.Int)
}

func intTypeRange(dt arrow.DataType) (lo, hi *big.Int) {
	bits := uint(intBits(dt))
	one := big.NewInt(1)
	if isUnsignedInt(dt) {
		return new(big.Int), new(big.Int).Sub(new(big.Int).Lsh(one, bits), one)
	}
	half := new(big.Int).Lsh(one, bits-1)
	return new(big.Int).Neg(half), new(big.Int).Sub(half, one)
}

// mixedSign binds a comparison between a uint64 and a signed integer,
// which have no common integer type, to a kernel that compares them
// exactly; a constant that fits the other side's type is narrowed instead.
func (b *binder) mixedSign(pos int, op BinaryOp, l, r node) (node, bool, error) {
	su := func(s, u arrow.DataType) bool { return isSignedInt(s) && u.ID() == arrow.UINT64 }
	lt, rt := l.dtype(), r.dtype()
	if !su(lt, rt) && !su(rt, lt) {
		return nil, false, nil
	}
	if c, ok := l.(*constNode); ok {
		if _, ok := b.exactConst(c, rt); ok {
			return nil, false, nil
		}
	}
	if c, ok := r.(*constNode); ok {
		if _, ok := b.exactConst(c, lt); ok {
			return nil, false, nil
		}
	}
	sn, un := l, r
	if su(rt, lt) {
		sn, un, op = r, l, flip(op)
	}
	sn, err := b.cast(pos, sn, arrow.PrimitiveTypes.Int64, false)
	if err != nil {
		return nil, true, err
	}
	n, err := b.fold(&mixedCmpNode{op: op, s: sn, u: un}, sn, un)
	return n, true, err
}
