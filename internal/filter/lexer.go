package filter

import (
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tQuotedIdent // `...`
	tString      // '...' or "..."
	tNumber
	tHex // X'..' or 0x..
	tEq  // = or ==
	tNe  // != or <>
	tLt
	tLe
	tGt
	tGe
	tPlus
	tMinus
	tStar
	tSlash
	tPercent
	tLParen
	tRParen
	tLBracket
	tRBracket
	tComma
	tDot
	tDoubleColon
)

type token struct {
	kind tokKind
	pos  int    // 0-based byte offset of the first byte
	text string // source text, for error messages
	val  string // unescaped value for identifiers, strings, numbers; raw bytes for tHex
}

// describe renders a token for "expected X but found Y" messages.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of input"
	case tString:
		return "string " + t.text
	}
	return "'" + t.text + "'"
}

// keywords are the words that cannot be used as bare identifiers; String()
// backtick-quotes identifiers that collide with them.
var keywords = map[string]bool{
	"AND": true, "OR": true, "NOT": true, "IS": true, "NULL": true, "TRUE": true,
	"FALSE": true, "IN": true, "BETWEEN": true, "LIKE": true, "ILIKE": true,
	"ESCAPE": true, "CAST": true, "TRY_CAST": true, "AS": true, "INTERVAL": true,
	"DATE": true, "TIMESTAMP": true, "DATETIME": true,
}

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for {
		i = skipSpaceAndComments(src, i)
		if i < 0 {
			return nil, &ParseError{Pos: -i - 1, Msg: "unterminated /* comment"}
		}
		if i >= len(src) {
			toks = append(toks, token{kind: tEOF, pos: len(src)})
			return toks, nil
		}
		tok, next, err := lexOne(src, i, toks)
		if err != nil {
			return nil, err
		}
		toks = append(toks, tok)
		i = next
	}
}

// skipSpaceAndComments returns the offset of the next token, or -(start+1)
// when a block comment starting at start is not closed.
func skipSpaceAndComments(src string, i int) int {
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case strings.HasPrefix(src[i:], "--"):
			end := strings.IndexByte(src[i:], '\n')
			if end < 0 {
				return len(src)
			}
			i += end + 1
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return -(i + 1)
			}
			i += end + 4
		default:
			if c >= utf8.RuneSelf {
				r, size := utf8.DecodeRuneInString(src[i:])
				if unicode.IsSpace(r) {
					i += size
					continue
				}
			}
			return i
		}
	}
	return i
}

func lexOne(src string, i int, prev []token) (token, int, error) {
	c := src[i]
	op := func(k tokKind, n int) (token, int, error) {
		return token{kind: k, pos: i, text: src[i : i+n]}, i + n, nil
	}
	switch c {
	case '\'', '"':
		return lexString(src, i, c)
	case '`':
		return lexQuotedIdent(src, i)
	case '=':
		if strings.HasPrefix(src[i:], "==") {
			return op(tEq, 2)
		}
		return op(tEq, 1)
	case '!':
		if strings.HasPrefix(src[i:], "!=") {
			return op(tNe, 2)
		}
	case '<':
		switch {
		case strings.HasPrefix(src[i:], "<="):
			return op(tLe, 2)
		case strings.HasPrefix(src[i:], "<>"):
			return op(tNe, 2)
		}
		return op(tLt, 1)
	case '>':
		if strings.HasPrefix(src[i:], ">=") {
			return op(tGe, 2)
		}
		return op(tGt, 1)
	case '+':
		return op(tPlus, 1)
	case '-':
		return op(tMinus, 1)
	case '*':
		return op(tStar, 1)
	case '/':
		return op(tSlash, 1)
	case '%':
		return op(tPercent, 1)
	case '(':
		return op(tLParen, 1)
	case ')':
		return op(tRParen, 1)
	case '[':
		return op(tLBracket, 1)
	case ']':
		return op(tRBracket, 1)
	case ',':
		return op(tComma, 1)
	case ':':
		if strings.HasPrefix(src[i:], "::") {
			return op(tDoubleColon, 2)
		}
	case '.':
		// ".5" is a number unless it follows something a field access can
		// hang off ("a.b", "f(x).y", "t[1].z").
		if i+1 < len(src) && isDigit(src[i+1]) && !afterOperand(prev) {
			return lexNumber(src, i)
		}
		return op(tDot, 1)
	default:
		if isDigit(c) {
			if c == '0' && i+1 < len(src) && (src[i+1] == 'x' || src[i+1] == 'X') {
				return lexHexNumber(src, i)
			}
			return lexNumber(src, i)
		}
		if (c == 'x' || c == 'X') && i+1 < len(src) && src[i+1] == '\'' {
			return lexHexString(src, i)
		}
		r, size := utf8.DecodeRuneInString(src[i:])
		if r == '_' || unicode.IsLetter(r) {
			j := i + size
			for j < len(src) {
				r, size := utf8.DecodeRuneInString(src[j:])
				if r != '_' && r != '$' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
					break
				}
				j += size
			}
			return token{kind: tIdent, pos: i, text: src[i:j], val: src[i:j]}, j, nil
		}
		if r == utf8.RuneError && size <= 1 {
			return token{}, 0, &ParseError{Pos: i, Msg: "invalid UTF-8 in filter text"}
		}
		return token{}, 0, &ParseError{Pos: i, Msg: "unexpected character " + quoteRune(r)}
	}
	return token{}, 0, &ParseError{Pos: i, Msg: "unexpected character " + quoteRune(rune(c))}
}

func quoteRune(r rune) string { return "'" + string(r) + "'" }

func afterOperand(prev []token) bool {
	if len(prev) == 0 {
		return false
	}
	switch prev[len(prev)-1].kind {
	case tIdent, tQuotedIdent, tRParen, tRBracket:
		return true
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHexDigit(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// lexString reads a quoted string; a doubled quote stands for one quote.
// Backslashes are literal (GenericDialect has no backslash escapes).
func lexString(src string, start int, q byte) (token, int, error) {
	var b strings.Builder
	i := start + 1
	for {
		j := strings.IndexByte(src[i:], q)
		if j < 0 {
			return token{}, 0, &ParseError{Pos: start, Msg: "unterminated string literal"}
		}
		b.WriteString(src[i : i+j])
		i += j + 1
		if i < len(src) && src[i] == q {
			b.WriteByte(q)
			i++
			continue
		}
		return token{kind: tString, pos: start, text: src[start:i], val: b.String()}, i, nil
	}
}

func lexQuotedIdent(src string, start int) (token, int, error) {
	tok, next, err := lexString(src, start, '`')
	if err != nil {
		return token{}, 0, &ParseError{Pos: start, Msg: "unterminated quoted identifier"}
	}
	if tok.val == "" {
		return token{}, 0, &ParseError{Pos: start, Msg: "empty quoted identifier"}
	}
	tok.kind = tQuotedIdent
	return tok, next, nil
}

func lexNumber(src string, start int) (token, int, error) {
	i := start
	for i < len(src) && isDigit(src[i]) {
		i++
	}
	if i < len(src) && src[i] == '.' {
		i++
		for i < len(src) && isDigit(src[i]) {
			i++
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		j := i + 1
		if j < len(src) && (src[j] == '+' || src[j] == '-') {
			j++
		}
		if j < len(src) && isDigit(src[j]) {
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			i = j
		}
	}
	return token{kind: tNumber, pos: start, text: src[start:i], val: src[start:i]}, i, nil
}

func lexHexNumber(src string, start int) (token, int, error) {
	i := start + 2
	for i < len(src) && isHexDigit(src[i]) {
		i++
	}
	if i == start+2 {
		return token{}, 0, &ParseError{Pos: start, Msg: "hex literal 0x needs at least one hex digit"}
	}
	b, err := decodeHex(src[start+2 : i])
	if err != nil {
		return token{}, 0, &ParseError{Pos: start, Msg: err.Error()}
	}
	return token{kind: tHex, pos: start, text: src[start:i], val: string(b)}, i, nil
}

func lexHexString(src string, start int) (token, int, error) {
	tok, next, err := lexString(src, start+1, '\'')
	if err != nil {
		return token{}, 0, &ParseError{Pos: start, Msg: "unterminated hex string literal"}
	}
	for k := 0; k < len(tok.val); k++ {
		if !isHexDigit(tok.val[k]) {
			return token{}, 0, &ParseError{Pos: start, Msg: "hex string literal holds a non-hex character"}
		}
	}
	b, err := decodeHex(tok.val)
	if err != nil {
		return token{}, 0, &ParseError{Pos: start, Msg: err.Error()}
	}
	return token{kind: tHex, pos: start, text: src[start:next], val: string(b)}, next, nil
}

// decodeHex accepts an odd number of digits by reading the first one as a
// lone low nibble, as sqlparser/DataFusion do.
func decodeHex(s string) ([]byte, error) {
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return hex.DecodeString(s)
}
