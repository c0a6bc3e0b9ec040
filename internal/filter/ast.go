// Package filter implements the SQL `where` dialect that LanceDB accepts:
// a lexer and Pratt parser producing an exported AST, String() rendering that
// re-parses to the same tree, binding against an Arrow schema (column
// resolution, type checking, literal coercion, constant folding), and
// vectorised evaluation over Arrow record batches with SQL three-valued logic.
//
// The grammar follows what Lance hands to sqlparser-rs (GenericDialect, only
// backticks delimit identifiers, `==` folded to `=`, double-quoted text is a
// string literal) and the semantics follow DataFusion where they differ from
// textbook SQL (1-based list indexing, `\` as default LIKE escape, wrapping
// integer + - *, "Divide by zero" errors for integer / and %).
//
// Every position reported by this package is a 0-based byte offset into the
// filter text.
//
// Where this package knowingly differs from Lance/DataFusion:
//   - regexp_match returns a boolean (Lance rewrites it to "IS NOT NULL" in
//     filters anyway) and patterns use Go's RE2 syntax;
//   - timestamp text without a zone is read as UTC, also against columns
//     with a time zone (arrow-rs would read it in the column's zone), and
//     TIMESTAMP literals must lie in the nanosecond range (1678-2261);
//   - uint64 meets a signed integer exactly in comparisons, but arithmetic
//     between them is done in int64 and fails on overflow (DataFusion
//     widens to decimal); DECIMAL is not supported;
//   - 0x.. and X'..' are binary literals, as sqlparser reads them.
package filter

import (
	"bytes"
	"math"
	"slices"
)

// Expr is a node of a parsed filter. Pos is the 0-based byte offset of the
// token that introduced the node (the operator for infix nodes).
type Expr interface {
	Pos() int
	// String renders the node as filter text that parses back to an equal
	// tree (see Equal).
	String() string
	exprNode()
}

// UnaryOp is a prefix operator.
type UnaryOp uint8

// Prefix operators.
const (
	OpNeg UnaryOp = iota + 1 // arithmetic negation
	OpNot                    // logical NOT
)

// BinaryOp is an infix operator.
type BinaryOp uint8

// Infix operators. `==` and `<>` are parsed as OpEq and OpNe.
const (
	OpOr BinaryOp = iota + 1
	OpAnd
	OpEq
	OpNe
	OpLt
	OpLe
	OpGt
	OpGe
	OpAdd
	OpSub
	OpMul
	OpDiv
	OpMod
)

var binaryOpText = [...]string{
	OpOr: "OR", OpAnd: "AND", OpEq: "=", OpNe: "!=", OpLt: "<", OpLe: "<=",
	OpGt: ">", OpGe: ">=", OpAdd: "+", OpSub: "-", OpMul: "*", OpDiv: "/", OpMod: "%",
}

func (op BinaryOp) String() string {
	if int(op) < len(binaryOpText) && binaryOpText[op] != "" {
		return binaryOpText[op]
	}
	return "?"
}

// IsComparison reports whether op is one of = != < <= > >=.
func (op BinaryOp) IsComparison() bool { return op >= OpEq && op <= OpGe }

// IsArithmetic reports whether op is one of + - * / %.
func (op BinaryOp) IsArithmetic() bool { return op >= OpAdd && op <= OpMod }

// IsWhat is the right-hand side of an IS test.
type IsWhat uint8

// IS tests.
const (
	IsNull IsWhat = iota + 1
	IsTrue
	IsFalse
)

type (
	// Column references a column, or a nested struct field by its path
	// (`a.b.c`). Each element is one unquoted or backtick-quoted identifier,
	// with its case kept.
	Column struct {
		At   int
		Path []string
	}
	// NullLit is the NULL literal.
	NullLit struct{ At int }
	// BoolLit is TRUE or FALSE.
	BoolLit struct {
		At    int
		Value bool
	}
	// IntLit is an integer literal that fits int64 (negative literals are
	// folded in by the parser, as Lance does).
	IntLit struct {
		At    int
		Value int64
	}
	// UintLit is an integer literal above math.MaxInt64 that fits uint64.
	UintLit struct {
		At    int
		Value uint64
	}
	// FloatLit is a literal with a fraction or exponent, or an integer too
	// large for uint64.
	FloatLit struct {
		At    int
		Value float64
	}
	// StringLit is a single- or double-quoted string.
	StringLit struct {
		At    int
		Value string
	}
	// BinaryLit is X'0A1B' or 0x0A1B (sqlparser reads both as hex bytes).
	BinaryLit struct {
		At    int
		Value []byte
	}
	// DateLit is DATE 'YYYY-MM-DD', held as days since the Unix epoch.
	DateLit struct {
		At   int
		Days int32
	}
	// TimestampLit is TIMESTAMP '...', held as UTC nanoseconds since the
	// epoch. Text without a zone is read as UTC.
	TimestampLit struct {
		At    int
		Nanos int64
	}
	// IntervalLit is INTERVAL '...', split like Arrow's MonthDayNano.
	IntervalLit struct {
		At     int
		Months int32
		Days   int32
		Nanos  int64
	}
	// ArrayLit is `[a, b, ...]`.
	ArrayLit struct {
		At    int
		Elems []Expr
	}
	// Unary is `-x` or `NOT x`.
	Unary struct {
		At int
		Op UnaryOp
		X  Expr
	}
	// Binary is an arithmetic, comparison or logical infix expression.
	Binary struct {
		At   int
		Op   BinaryOp
		L, R Expr
	}
	// Is is `x IS [NOT] NULL|TRUE|FALSE`.
	Is struct {
		At   int
		X    Expr
		Not  bool
		What IsWhat
	}
	// In is `x [NOT] IN (a, b, ...)`.
	In struct {
		At   int
		X    Expr
		List []Expr
		Not  bool
	}
	// Between is `x [NOT] BETWEEN lo AND hi`.
	Between struct {
		At     int
		X      Expr
		Lo, Hi Expr
		Not    bool
	}
	// Like is `x [NOT] LIKE|ILIKE pattern [ESCAPE 'c']`. Without ESCAPE the
	// escape character is a backslash, as in DataFusion.
	Like struct {
		At              int
		X, Pattern      Expr
		Escape          rune
		HasEscape       bool
		Not             bool
		CaseInsensitive bool
	}
	// Cast is `CAST(x AS t)`, `TRY_CAST(x AS t)` or `x::t`.
	Cast struct {
		At  int
		X   Expr
		To  Type
		Try bool
	}
	// Call is a function call; Name is lower-cased.
	Call struct {
		At   int
		Name string
		Args []Expr
	}
	// Index is `x[i]`: a 1-based list element, or a struct field when i is
	// a string literal.
	Index struct {
		At       int
		X, Index Expr
	}
	// Field is `x.name` where x is not a plain column path (for example
	// `tags[1].name`); dots after a column extend Column.Path instead.
	Field struct {
		At   int
		X    Expr
		Name string
	}
)

func (e *Column) Pos() int       { return e.At }
func (e *NullLit) Pos() int      { return e.At }
func (e *BoolLit) Pos() int      { return e.At }
func (e *IntLit) Pos() int       { return e.At }
func (e *UintLit) Pos() int      { return e.At }
func (e *FloatLit) Pos() int     { return e.At }
func (e *StringLit) Pos() int    { return e.At }
func (e *BinaryLit) Pos() int    { return e.At }
func (e *DateLit) Pos() int      { return e.At }
func (e *TimestampLit) Pos() int { return e.At }
func (e *IntervalLit) Pos() int  { return e.At }
func (e *ArrayLit) Pos() int     { return e.At }
func (e *Unary) Pos() int        { return e.At }
func (e *Binary) Pos() int       { return e.At }
func (e *Is) Pos() int           { return e.At }
func (e *In) Pos() int           { return e.At }
func (e *Between) Pos() int      { return e.At }
func (e *Like) Pos() int         { return e.At }
func (e *Cast) Pos() int         { return e.At }
func (e *Call) Pos() int         { return e.At }
func (e *Index) Pos() int        { return e.At }
func (e *Field) Pos() int        { return e.At }

func (*Column) exprNode()       {}
func (*NullLit) exprNode()      {}
func (*BoolLit) exprNode()      {}
func (*IntLit) exprNode()       {}
func (*UintLit) exprNode()      {}
func (*FloatLit) exprNode()     {}
func (*StringLit) exprNode()    {}
func (*BinaryLit) exprNode()    {}
func (*DateLit) exprNode()      {}
func (*TimestampLit) exprNode() {}
func (*IntervalLit) exprNode()  {}
func (*ArrayLit) exprNode()     {}
func (*Unary) exprNode()        {}
func (*Binary) exprNode()       {}
func (*Is) exprNode()           {}
func (*In) exprNode()           {}
func (*Between) exprNode()      {}
func (*Like) exprNode()         {}
func (*Cast) exprNode()         {}
func (*Call) exprNode()         {}
func (*Index) exprNode()        {}
func (*Field) exprNode()        {}

// Walk calls fn for e and, while fn returns true, for its children in
// source order.
func Walk(e Expr, fn func(Expr) bool) {
	if e == nil || !fn(e) {
		return
	}
	for _, c := range children(e) {
		Walk(c, fn)
	}
}

func children(e Expr) []Expr {
	switch n := e.(type) {
	case *ArrayLit:
		return n.Elems
	case *Unary:
		return []Expr{n.X}
	case *Binary:
		return []Expr{n.L, n.R}
	case *Is:
		return []Expr{n.X}
	case *In:
		return append([]Expr{n.X}, n.List...)
	case *Between:
		return []Expr{n.X, n.Lo, n.Hi}
	case *Like:
		return []Expr{n.X, n.Pattern}
	case *Cast:
		return []Expr{n.X}
	case *Call:
		return n.Args
	case *Index:
		return []Expr{n.X, n.Index}
	case *Field:
		return []Expr{n.X}
	}
	return nil
}

// Equal reports whether a and b are the same tree, ignoring positions.
// Floats compare by bit pattern so that NaN equals NaN and -0 differs from 0.
func Equal(a, b Expr) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch x := a.(type) {
	case *Column:
		y, ok := b.(*Column)
		return ok && slices.Equal(x.Path, y.Path)
	case *NullLit:
		_, ok := b.(*NullLit)
		return ok
	case *BoolLit:
		y, ok := b.(*BoolLit)
		return ok && x.Value == y.Value
	case *IntLit:
		y, ok := b.(*IntLit)
		return ok && x.Value == y.Value
	case *UintLit:
		y, ok := b.(*UintLit)
		return ok && x.Value == y.Value
	case *FloatLit:
		y, ok := b.(*FloatLit)
		return ok && math.Float64bits(x.Value) == math.Float64bits(y.Value)
	case *StringLit:
		y, ok := b.(*StringLit)
		return ok && x.Value == y.Value
	case *BinaryLit:
		y, ok := b.(*BinaryLit)
		return ok && bytes.Equal(x.Value, y.Value)
	case *DateLit:
		y, ok := b.(*DateLit)
		return ok && x.Days == y.Days
	case *TimestampLit:
		y, ok := b.(*TimestampLit)
		return ok && x.Nanos == y.Nanos
	case *IntervalLit:
		y, ok := b.(*IntervalLit)
		return ok && x.Months == y.Months && x.Days == y.Days && x.Nanos == y.Nanos
	case *ArrayLit:
		y, ok := b.(*ArrayLit)
		return ok && equalList(x.Elems, y.Elems)
	case *Unary:
		y, ok := b.(*Unary)
		return ok && x.Op == y.Op && Equal(x.X, y.X)
	case *Binary:
		y, ok := b.(*Binary)
		return ok && x.Op == y.Op && Equal(x.L, y.L) && Equal(x.R, y.R)
	case *Is:
		y, ok := b.(*Is)
		return ok && x.Not == y.Not && x.What == y.What && Equal(x.X, y.X)
	case *In:
		y, ok := b.(*In)
		return ok && x.Not == y.Not && Equal(x.X, y.X) && equalList(x.List, y.List)
	case *Between:
		y, ok := b.(*Between)
		return ok && x.Not == y.Not && Equal(x.X, y.X) && Equal(x.Lo, y.Lo) && Equal(x.Hi, y.Hi)
	case *Like:
		y, ok := b.(*Like)
		return ok && x.Not == y.Not && x.CaseInsensitive == y.CaseInsensitive &&
			x.HasEscape == y.HasEscape && (!x.HasEscape || x.Escape == y.Escape) &&
			Equal(x.X, y.X) && Equal(x.Pattern, y.Pattern)
	case *Cast:
		y, ok := b.(*Cast)
		return ok && x.Try == y.Try && x.To == y.To && Equal(x.X, y.X)
	case *Call:
		y, ok := b.(*Call)
		return ok && x.Name == y.Name && equalList(x.Args, y.Args)
	case *Index:
		y, ok := b.(*Index)
		return ok && Equal(x.X, y.X) && Equal(x.Index, y.Index)
	case *Field:
		y, ok := b.(*Field)
		return ok && x.Name == y.Name && Equal(x.X, y.X)
	}
	return false
}

func equalList(a, b []Expr) bool {
	return slices.EqualFunc(a, b, Equal)
}
