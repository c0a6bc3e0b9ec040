package filter

import (
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The printer emits parentheses only where the parser's binding powers need
// them, so String() output stays readable and parses back to an Equal tree.

func (e *Column) String() string       { return render(e) }
func (e *NullLit) String() string      { return render(e) }
func (e *BoolLit) String() string      { return render(e) }
func (e *IntLit) String() string       { return render(e) }
func (e *UintLit) String() string      { return render(e) }
func (e *FloatLit) String() string     { return render(e) }
func (e *StringLit) String() string    { return render(e) }
func (e *BinaryLit) String() string    { return render(e) }
func (e *DateLit) String() string      { return render(e) }
func (e *TimestampLit) String() string { return render(e) }
func (e *IntervalLit) String() string  { return render(e) }
func (e *ArrayLit) String() string     { return render(e) }
func (e *Unary) String() string        { return render(e) }
func (e *Binary) String() string       { return render(e) }
func (e *Is) String() string           { return render(e) }
func (e *In) String() string           { return render(e) }
func (e *Between) String() string      { return render(e) }
func (e *Like) String() string         { return render(e) }
func (e *Cast) String() string         { return render(e) }
func (e *Call) String() string         { return render(e) }
func (e *Index) String() string        { return render(e) }
func (e *Field) String() string        { return render(e) }

func render(e Expr) string {
	var b strings.Builder
	write(&b, e, 0)
	return b.String()
}

// precOf is the binding power of the printed form of e.
func precOf(e Expr) int {
	switch n := e.(type) {
	case *Binary:
		switch {
		case n.Op == OpOr:
			return precOr
		case n.Op == OpAnd:
			return precAnd
		case n.Op.IsComparison():
			return precCmp
		case n.Op == OpAdd || n.Op == OpSub:
			return precAdd
		}
		return precMul
	case *Unary:
		if n.Op == OpNot {
			return precNot
		}
		return precMul
	case *Is:
		return precIs
	case *In, *Between:
		return precCmp
	case *Like:
		return precLike
	case *Index, *Field:
		return precPostfix
	case *IntLit:
		if n.Value < 0 {
			return precMul
		}
	case *FloatLit:
		if math.Signbit(n.Value) {
			return precMul
		}
	}
	return precAtom
}

// write prints e, parenthesised if its binding power is below need.
func write(b *strings.Builder, e Expr, need int) {
	if e == nil {
		b.WriteString("NULL")
		return
	}
	paren := precOf(e) < need
	if paren {
		b.WriteByte('(')
	}
	writeNode(b, e)
	if paren {
		b.WriteByte(')')
	}
}

func writeNode(b *strings.Builder, e Expr) {
	switch n := e.(type) {
	case *Column:
		for i, part := range n.Path {
			if i > 0 {
				b.WriteByte('.')
			}
			writeIdent(b, part)
		}
	case *NullLit:
		b.WriteString("NULL")
	case *BoolLit:
		if n.Value {
			b.WriteString("TRUE")
		} else {
			b.WriteString("FALSE")
		}
	case *IntLit:
		b.WriteString(strconv.FormatInt(n.Value, 10))
	case *UintLit:
		b.WriteString(strconv.FormatUint(n.Value, 10))
	case *FloatLit:
		writeFloat(b, n.Value)
	case *StringLit:
		writeString(b, n.Value)
	case *BinaryLit:
		b.WriteString("X'")
		b.WriteString(strings.ToUpper(hex.EncodeToString(n.Value)))
		b.WriteByte('\'')
	case *DateLit:
		b.WriteString("DATE ")
		writeString(b, formatDate(n.Days))
	case *TimestampLit:
		b.WriteString("TIMESTAMP ")
		writeString(b, formatTimestamp(n.Nanos))
	case *IntervalLit:
		b.WriteString("INTERVAL ")
		writeString(b, formatInterval(n.Months, n.Days, n.Nanos))
	case *ArrayLit:
		b.WriteByte('[')
		writeList(b, n.Elems)
		b.WriteByte(']')
	case *Unary:
		if n.Op == OpNot {
			// NOT NOT x needs no parentheses: the inner NOT binds exactly
			// as tightly as the operand slot of the outer one.
			b.WriteString("NOT ")
			write(b, n.X, precNot)
		} else {
			b.WriteByte('-')
			write(b, n.X, precMul+1)
		}
	case *Binary:
		p := precOf(n)
		write(b, n.L, p)
		b.WriteByte(' ')
		b.WriteString(n.Op.String())
		b.WriteByte(' ')
		write(b, n.R, p+1)
	case *Is:
		write(b, n.X, precIs)
		b.WriteString(" IS ")
		if n.Not {
			b.WriteString("NOT ")
		}
		b.WriteString([...]string{IsNull: "NULL", IsTrue: "TRUE", IsFalse: "FALSE"}[n.What])
	case *In:
		write(b, n.X, precCmp)
		b.WriteString(notPrefix(n.Not) + "IN (")
		writeList(b, n.List)
		b.WriteByte(')')
	case *Between:
		write(b, n.X, precCmp)
		b.WriteString(notPrefix(n.Not) + "BETWEEN ")
		write(b, n.Lo, precCmp+1)
		b.WriteString(" AND ")
		write(b, n.Hi, precCmp+1)
	case *Like:
		write(b, n.X, precLike)
		kw := "LIKE "
		if n.CaseInsensitive {
			kw = "ILIKE "
		}
		b.WriteString(notPrefix(n.Not) + kw)
		write(b, n.Pattern, precLike+1)
		if n.HasEscape {
			b.WriteString(" ESCAPE ")
			writeString(b, string(n.Escape))
		}
	case *Cast:
		if n.Try {
			b.WriteString("TRY_CAST(")
		} else {
			b.WriteString("CAST(")
		}
		write(b, n.X, 0)
		b.WriteString(" AS ")
		b.WriteString(n.To.String())
		b.WriteByte(')')
	case *Call:
		b.WriteString(n.Name)
		b.WriteByte('(')
		writeList(b, n.Args)
		b.WriteByte(')')
	case *Index:
		write(b, n.X, precPostfix)
		b.WriteByte('[')
		write(b, n.Index, 0)
		b.WriteByte(']')
	case *Field:
		// A bare column or number before the dot would lex differently
		// ("a.b" is a path, "5.b" a number), so only postfix forms and calls
		// go without parentheses.
		switch n.X.(type) {
		case *Index, *Field, *Call:
			write(b, n.X, precPostfix)
		default:
			b.WriteByte('(')
			write(b, n.X, 0)
			b.WriteByte(')')
		}
		b.WriteByte('.')
		writeIdent(b, n.Name)
	}
}

func notPrefix(not bool) string {
	if not {
		return " NOT "
	}
	return " "
}

func writeList(b *strings.Builder, es []Expr) {
	for i, e := range es {
		if i > 0 {
			b.WriteString(", ")
		}
		write(b, e, 0)
	}
}

func writeString(b *strings.Builder, s string) {
	b.WriteByte('\'')
	b.WriteString(strings.ReplaceAll(s, "'", "''"))
	b.WriteByte('\'')
}

func writeFloat(b *strings.Builder, v float64) {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		// Not reachable from parsed text; keep the output valid anyway.
		b.WriteString("CAST(")
		writeString(b, strconv.FormatFloat(v, 'g', -1, 64))
		b.WriteString(" AS DOUBLE)")
		return
	}
	s := strconv.FormatFloat(v, 'g', -1, 64)
	b.WriteString(s)
	if !strings.ContainsAny(s, ".e") {
		b.WriteString(".0") // keep it a float literal when re-lexed
	}
}

// writeIdent prints an identifier bare when the lexer would read it back as
// the same non-keyword identifier, else backtick-quoted.
func writeIdent(b *strings.Builder, s string) {
	if isBareIdent(s) {
		b.WriteString(s)
		return
	}
	b.WriteByte('`')
	b.WriteString(strings.ReplaceAll(s, "`", "``"))
	b.WriteByte('`')
}

func isBareIdent(s string) bool {
	if s == "" || keywords[keywordOf(s)] || !utf8.ValidString(s) {
		return false
	}
	for i, r := range s {
		if r == '_' || unicode.IsLetter(r) {
			continue
		}
		if i > 0 && (r == '$' || unicode.IsDigit(r)) {
			continue
		}
		return false
	}
	// X'..' would start a hex string, but an identifier is never followed
	// directly by a quote in printed output.
	return true
}
