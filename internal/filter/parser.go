package filter

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Binding powers, as in sqlparser-rs's default precedences, so that a filter
// groups exactly the way Lance groups it.
const (
	precOr      = 5
	precAnd     = 10
	precNot     = 15
	precIs      = 17
	precLike    = 19
	precCmp     = 20 // also IN and BETWEEN
	precAdd     = 30
	precMul     = 40 // also the operand of unary minus
	precPostfix = 50 // ::, [i], .name
	precAtom    = 100
)

// maxDepth bounds recursion so hostile input cannot exhaust the stack.
const maxDepth = 500

// Parse parses a filter into an expression tree. Errors are *ParseError.
func Parse(src string) (Expr, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.peek().kind == tEOF {
		return nil, &ParseError{Pos: 0, Msg: "empty filter"}
	}
	e, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.unexpected("end of input")
	}
	return e, nil
}

type parser struct {
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) peekAt(k int) token {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// isWord reports whether t is the unquoted keyword kw (upper case).
func isWord(t token, kw string) bool {
	return t.kind == tIdent && keywordOf(t.val) == kw
}

// keywordOf upper-cases an ASCII word; other words can never be keywords,
// which keeps Unicode case folding (the Kelvin sign folds to K) out of the
// grammar.
func keywordOf(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return ""
		}
	}
	return strings.ToUpper(s)
}

func (p *parser) unexpected(want string) *ParseError {
	t := p.peek()
	return &ParseError{Pos: t.pos, Msg: fmt.Sprintf("expected %s but found %s", want, t.describe())}
}

func (p *parser) expect(k tokKind, want string) (token, error) {
	if p.peek().kind != k {
		return token{}, p.unexpected(want)
	}
	return p.next(), nil
}

func (p *parser) expectWord(kw string) error {
	if !isWord(p.peek(), kw) {
		return p.unexpected(kw)
	}
	p.next()
	return nil
}

// infixPrec is the binding power of the token after an operand, 0 if it
// cannot continue an expression.
func (p *parser) infixPrec() int {
	t := p.peek()
	switch t.kind {
	case tEq, tNe, tLt, tLe, tGt, tGe:
		return precCmp
	case tPlus, tMinus:
		return precAdd
	case tStar, tSlash, tPercent:
		return precMul
	case tDoubleColon, tLBracket, tDot:
		return precPostfix
	case tIdent:
		switch keywordOf(t.val) {
		case "OR":
			return precOr
		case "AND":
			return precAnd
		case "IS":
			return precIs
		case "IN", "BETWEEN":
			return precCmp
		case "LIKE", "ILIKE":
			return precLike
		case "NOT":
			n := p.peekAt(1)
			switch {
			case isWord(n, "IN"), isWord(n, "BETWEEN"):
				return precCmp
			case isWord(n, "LIKE"), isWord(n, "ILIKE"):
				return precLike
			}
		}
	}
	return 0
}

func (p *parser) expr(minPrec int) (Expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, &ParseError{Pos: p.peek().pos, Msg: "expression nested too deeply"}
	}
	left, err := p.prefix()
	if err != nil {
		return nil, err
	}
	for {
		prec := p.infixPrec()
		if prec <= minPrec {
			return left, nil
		}
		if left, err = p.infix(left, prec); err != nil {
			return nil, err
		}
	}
}

func (p *parser) prefix() (Expr, error) {
	t := p.peek()
	switch t.kind {
	case tNumber:
		p.next()
		return numberLit(t)
	case tString:
		p.next()
		return &StringLit{At: t.pos, Value: t.val}, nil
	case tHex:
		p.next()
		return &BinaryLit{At: t.pos, Value: []byte(t.val)}, nil
	case tLParen:
		p.next()
		e, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, "')'"); err != nil {
			return nil, err
		}
		return e, nil
	case tLBracket:
		p.next()
		elems, err := p.list(tRBracket, "']'", true)
		if err != nil {
			return nil, err
		}
		return &ArrayLit{At: t.pos, Elems: elems}, nil
	case tMinus:
		p.next()
		x, err := p.expr(precMul)
		if err != nil {
			return nil, err
		}
		return negate(t.pos, x), nil
	case tPlus:
		p.next()
		return p.expr(precMul)
	case tQuotedIdent:
		p.next()
		return &Column{At: t.pos, Path: []string{t.val}}, nil
	case tIdent:
		return p.word()
	}
	return nil, p.unexpected("an expression")
}

// negate folds a minus into a numeric literal, as Lance does, so that "-5"
// is the literal -5 and not a negation node.
func negate(pos int, x Expr) Expr {
	switch v := x.(type) {
	case *IntLit:
		if v.Value == math.MinInt64 {
			return &UintLit{At: pos, Value: 1 << 63}
		}
		return &IntLit{At: pos, Value: -v.Value}
	case *UintLit:
		if v.Value == 1<<63 {
			return &IntLit{At: pos, Value: math.MinInt64}
		}
		return &FloatLit{At: pos, Value: -float64(v.Value)}
	case *FloatLit:
		return &FloatLit{At: pos, Value: -v.Value}
	}
	return &Unary{At: pos, Op: OpNeg, X: x}
}

func numberLit(t token) (Expr, error) {
	s := t.val
	if !strings.ContainsAny(s, ".eE") {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			return &IntLit{At: t.pos, Value: v}, nil
		}
		if v, err := strconv.ParseUint(s, 10, 64); err == nil {
			return &UintLit{At: t.pos, Value: v}, nil
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return nil, &ParseError{Pos: t.pos, Msg: fmt.Sprintf("number %s is out of range", s)}
	}
	return &FloatLit{At: t.pos, Value: v}, nil
}

// word parses an expression starting with an unquoted identifier: a keyword
// form, a function call or a column.
func (p *parser) word() (Expr, error) {
	t := p.next()
	up := keywordOf(t.val)
	switch up {
	case "NULL":
		return &NullLit{At: t.pos}, nil
	case "TRUE", "FALSE":
		return &BoolLit{At: t.pos, Value: up == "TRUE"}, nil
	case "NOT":
		x, err := p.expr(precNot)
		if err != nil {
			return nil, err
		}
		return &Unary{At: t.pos, Op: OpNot, X: x}, nil
	case "CAST", "TRY_CAST":
		return p.castCall(t, up == "TRY_CAST")
	case "DATE", "TIMESTAMP", "DATETIME", "INTERVAL":
		if p.peek().kind == tString {
			return p.typedLiteral(t, up)
		}
	}
	if keywords[up] && !typedLiteralWords[up] {
		p.i--
		return nil, p.unexpected("an expression")
	}
	if p.peek().kind == tLParen {
		p.next()
		args, err := p.list(tRParen, "')'", true)
		if err != nil {
			return nil, err
		}
		return &Call{At: t.pos, Name: strings.ToLower(t.val), Args: args}, nil
	}
	return &Column{At: t.pos, Path: []string{t.val}}, nil
}

// list parses comma-separated expressions up to the closing token.
func (p *parser) list(closing tokKind, want string, allowEmpty bool) ([]Expr, error) {
	var out []Expr
	if p.peek().kind == closing {
		if !allowEmpty {
			return nil, p.unexpected("an expression")
		}
		p.next()
		return out, nil
	}
	for {
		e, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		if p.peek().kind == tComma {
			p.next()
			continue
		}
		if _, err := p.expect(closing, "',' or "+want); err != nil {
			return nil, err
		}
		return out, nil
	}
}

func (p *parser) castCall(kw token, try bool) (Expr, error) {
	if _, err := p.expect(tLParen, "'(' after "+strings.ToUpper(kw.val)); err != nil {
		return nil, err
	}
	x, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if err := p.expectWord("AS"); err != nil {
		return nil, err
	}
	typ, err := p.typeName()
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(tRParen, "')'"); err != nil {
		return nil, err
	}
	return &Cast{At: kw.pos, X: x, To: typ, Try: try}, nil
}

func (p *parser) typedLiteral(kw token, up string) (Expr, error) {
	s := p.next()
	switch up {
	case "DATE":
		d, err := parseDateText(s.val)
		if err != nil {
			return nil, &ParseError{Pos: s.pos, Msg: fmt.Sprintf("invalid DATE literal %s: %v", s.text, err)}
		}
		return &DateLit{At: kw.pos, Days: d}, nil
	case "INTERVAL":
		text := s.val
		if u := p.peek(); u.kind == tIdent {
			if _, ok := intervalUnits[strings.TrimSuffix(strings.ToLower(u.val), "s")]; ok {
				p.next() // INTERVAL '5' DAY
				text += " " + u.val
			}
		}
		m, d, ns, err := parseIntervalText(text)
		if err != nil {
			return nil, &ParseError{Pos: s.pos, Msg: fmt.Sprintf("invalid INTERVAL literal %s: %v", s.text, err)}
		}
		return &IntervalLit{At: kw.pos, Months: m, Days: d, Nanos: ns}, nil
	}
	ns, err := parseTimestampText(s.val)
	if err != nil {
		return nil, &ParseError{Pos: s.pos, Msg: fmt.Sprintf("invalid TIMESTAMP literal %s: %v", s.text, err)}
	}
	return &TimestampLit{At: kw.pos, Nanos: ns}, nil
}

func (p *parser) typeName() (Type, error) {
	t := p.peek()
	if t.kind != tIdent {
		return Type{}, p.unexpected("a type name")
	}
	up := keywordOf(t.val)
	kind, ok := typeWords[up]
	if !ok {
		if up == "DECIMAL" || up == "NUMERIC" {
			return Type{}, &ParseError{Pos: t.pos, Msg: "type " + up + " is not supported"}
		}
		return Type{}, &ParseError{Pos: t.pos, Msg: fmt.Sprintf("unknown type '%s'", t.val)}
	}
	p.next()
	typ := Type{Kind: kind}
	switch {
	case up == "DOUBLE":
		if isWord(p.peek(), "PRECISION") {
			p.next()
		}
	case up == "VARCHAR" && p.peek().kind == tLParen:
		// VARCHAR(n): the length does not change the Arrow type.
		p.next()
		if _, err := p.expect(tNumber, "a length"); err != nil {
			return Type{}, err
		}
		if _, err := p.expect(tRParen, "')'"); err != nil {
			return Type{}, err
		}
	case kind == TypeTimestamp:
		return p.timestampType()
	}
	if u, ok := unsignedOf(kind); ok && isWord(p.peek(), "UNSIGNED") {
		p.next()
		typ.Kind = u
	}
	return typ, nil
}

func (p *parser) timestampType() (Type, error) {
	typ := Type{Kind: TypeTimestamp, Precision: 6} // Lance defaults to microseconds
	if p.peek().kind == tLParen {
		p.next()
		n, err := p.expect(tNumber, "a precision")
		if err != nil {
			return Type{}, err
		}
		switch n.val {
		case "0", "3", "6", "9":
			typ.Precision = int(n.val[0] - '0')
		default:
			return Type{}, &ParseError{Pos: n.pos, Msg: "timestamp precision must be 0, 3, 6 or 9"}
		}
		if _, err := p.expect(tRParen, "')'"); err != nil {
			return Type{}, err
		}
	}
	if w := p.peek(); isWord(w, "WITH") || isWord(w, "WITHOUT") {
		p.next()
		if err := p.expectWord("TIME"); err != nil {
			return Type{}, err
		}
		if err := p.expectWord("ZONE"); err != nil {
			return Type{}, err
		}
		if isWord(w, "WITH") {
			return Type{}, &ParseError{Pos: w.pos, Msg: "timestamps with a time zone are not supported in CAST"}
		}
	}
	return typ, nil
}

func (p *parser) infix(left Expr, prec int) (Expr, error) {
	t := p.next()
	switch t.kind {
	case tEq, tNe, tLt, tLe, tGt, tGe, tPlus, tMinus, tStar, tSlash, tPercent:
		right, err := p.expr(prec)
		if err != nil {
			return nil, err
		}
		return &Binary{At: t.pos, Op: tokenOps[t.kind], L: left, R: right}, nil
	case tDoubleColon:
		typ, err := p.typeName()
		if err != nil {
			return nil, err
		}
		return &Cast{At: t.pos, X: left, To: typ}, nil
	case tLBracket:
		idx, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRBracket, "']'"); err != nil {
			return nil, err
		}
		return &Index{At: t.pos, X: left, Index: idx}, nil
	case tDot:
		n := p.peek()
		if n.kind != tIdent && n.kind != tQuotedIdent {
			return nil, p.unexpected("a field name after '.'")
		}
		p.next()
		if c, ok := left.(*Column); ok {
			return &Column{At: c.At, Path: append(c.Path[:len(c.Path):len(c.Path)], n.val)}, nil
		}
		return &Field{At: t.pos, X: left, Name: n.val}, nil
	}
	up := keywordOf(t.val)
	switch up {
	case "OR", "AND":
		right, err := p.expr(prec)
		if err != nil {
			return nil, err
		}
		op := OpAnd
		if up == "OR" {
			op = OpOr
		}
		return &Binary{At: t.pos, Op: op, L: left, R: right}, nil
	case "IS":
		return p.isTest(t, left)
	}
	not := false
	if up == "NOT" {
		not = true
		t = p.next()
		up = keywordOf(t.val)
	}
	switch up {
	case "IN":
		if _, err := p.expect(tLParen, "'(' after IN"); err != nil {
			return nil, err
		}
		list, err := p.list(tRParen, "')'", false)
		if err != nil {
			return nil, err
		}
		return &In{At: t.pos, X: left, List: list, Not: not}, nil
	case "BETWEEN":
		lo, err := p.expr(precCmp)
		if err != nil {
			return nil, err
		}
		if err := p.expectWord("AND"); err != nil {
			return nil, err
		}
		hi, err := p.expr(precCmp)
		if err != nil {
			return nil, err
		}
		return &Between{At: t.pos, X: left, Lo: lo, Hi: hi, Not: not}, nil
	case "LIKE", "ILIKE":
		return p.like(t, left, not, up == "ILIKE")
	}
	return nil, &ParseError{Pos: t.pos, Msg: fmt.Sprintf("unexpected %s", t.describe())}
}

// typedLiteralWords start a typed literal when a string follows and are
// ordinary identifiers otherwise (a column may be called "date").
var typedLiteralWords = map[string]bool{"DATE": true, "TIMESTAMP": true, "DATETIME": true, "INTERVAL": true}

var tokenOps = map[tokKind]BinaryOp{
	tEq: OpEq, tNe: OpNe, tLt: OpLt, tLe: OpLe, tGt: OpGt, tGe: OpGe,
	tPlus: OpAdd, tMinus: OpSub, tStar: OpMul, tSlash: OpDiv, tPercent: OpMod,
}

func (p *parser) isTest(kw token, left Expr) (Expr, error) {
	n := &Is{At: kw.pos, X: left}
	if isWord(p.peek(), "NOT") {
		p.next()
		n.Not = true
	}
	w := p.peek()
	switch {
	case isWord(w, "NULL"):
		n.What = IsNull
	case isWord(w, "TRUE"):
		n.What = IsTrue
	case isWord(w, "FALSE"):
		n.What = IsFalse
	default:
		return nil, p.unexpected("NULL, TRUE or FALSE")
	}
	p.next()
	return n, nil
}

func (p *parser) like(kw token, left Expr, not, ci bool) (Expr, error) {
	pat, err := p.expr(precLike)
	if err != nil {
		return nil, err
	}
	n := &Like{At: kw.pos, X: left, Pattern: pat, Not: not, CaseInsensitive: ci}
	if isWord(p.peek(), "ESCAPE") {
		p.next()
		s := p.peek()
		if s.kind != tString {
			return nil, p.unexpected("a one-character string after ESCAPE")
		}
		p.next()
		r := []rune(s.val)
		if len(r) != 1 {
			return nil, &ParseError{Pos: s.pos, Msg: "ESCAPE needs exactly one character, got " + s.text}
		}
		n.Escape, n.HasEscape = r[0], true
	}
	return n, nil
}
