package filter

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

type likeKind uint8

const (
	likeExact        likeKind = iota // no wildcard
	likeAll                          // only '%': any non-NULL value
	likePrefix                       // abc%
	likeSuffix                       // %abc
	likeContains                     // %abc%
	likePrefixSuffix                 // abc%xyz
	likeGeneral                      // anything else, incl. '_'
)

type segKind uint8

const (
	segLit  segKind = iota
	segOne          // '_': exactly one character
	segStar         // '%': any run of characters
)

type likeSeg struct {
	kind segKind
	lit  []byte
}

// likeMatcher is a LIKE pattern compiled once, at bind time for constant
// patterns. It is immutable, so one matcher serves concurrent evaluations.
// Common shapes run as a single prefix/suffix/substring test; the rest use
// an iterative matcher that backtracks only to the last '%'.
type likeMatcher struct {
	kind likeKind
	a, b []byte // literals for the fast paths
	segs []likeSeg
	ci   bool // ILIKE: pattern literals are lower-cased, values lowered before matching
}

// compileLike parses pattern. esc is the escape character: with it, the
// next character is literal; a trailing escape stands for itself.
func compileLike(pattern string, esc rune, ci bool) *likeMatcher {
	if ci {
		pattern = strings.ToLower(pattern)
		esc = []rune(strings.ToLower(string(esc)))[0]
	}
	var segs []likeSeg
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			segs = append(segs, likeSeg{kind: segLit, lit: lit})
			lit = nil
		}
	}
	for i := 0; i < len(pattern); {
		r, size := utf8.DecodeRuneInString(pattern[i:])
		switch {
		case r == esc && i+size < len(pattern):
			_, s2 := utf8.DecodeRuneInString(pattern[i+size:])
			lit = append(lit, pattern[i+size:i+size+s2]...)
			i += size + s2
			continue
		case r == '%':
			flush()
			if len(segs) == 0 || segs[len(segs)-1].kind != segStar {
				segs = append(segs, likeSeg{kind: segStar})
			}
		case r == '_':
			flush()
			segs = append(segs, likeSeg{kind: segOne})
		default:
			lit = append(lit, pattern[i:i+size]...)
		}
		i += size
	}
	flush()
	m := &likeMatcher{ci: ci, segs: segs}
	m.classify()
	return m
}

func (m *likeMatcher) classify() {
	s := m.segs
	shape := make([]byte, len(s))
	for i, g := range s {
		shape[i] = "L_%"[g.kind]
	}
	switch string(shape) {
	case "":
		m.kind, m.a = likeExact, nil
	case "L":
		m.kind, m.a = likeExact, s[0].lit
	case "%":
		m.kind = likeAll
	case "L%":
		m.kind, m.a = likePrefix, s[0].lit
	case "%L":
		m.kind, m.a = likeSuffix, s[1].lit
	case "%L%":
		m.kind, m.a = likeContains, s[1].lit
	case "L%L":
		m.kind, m.a, m.b = likePrefixSuffix, s[0].lit, s[2].lit
	default:
		m.kind = likeGeneral
	}
}

// match reports whether v matches. scratch is caller-owned working memory
// for ILIKE, so the matcher itself stays read-only.
func (m *likeMatcher) match(v []byte, scratch *[]byte) bool {
	if m.ci {
		v = lowerInto(scratch, v)
	}
	switch m.kind {
	case likeExact:
		return bytes.Equal(v, m.a)
	case likeAll:
		return true
	case likePrefix:
		return bytes.HasPrefix(v, m.a)
	case likeSuffix:
		return bytes.HasSuffix(v, m.a)
	case likeContains:
		return bytes.Contains(v, m.a)
	case likePrefixSuffix:
		return len(v) >= len(m.a)+len(m.b) && bytes.HasPrefix(v, m.a) && bytes.HasSuffix(v, m.b)
	}
	return matchSegs(m.segs, v)
}

// lowerInto lower-cases v, reusing *scratch for ASCII text.
func lowerInto(scratch *[]byte, v []byte) []byte {
	for _, c := range v {
		if c >= utf8.RuneSelf {
			return bytes.ToLower(v)
		}
	}
	s := append((*scratch)[:0], v...)
	for i, c := range s {
		if 'A' <= c && c <= 'Z' {
			s[i] = c + 'a' - 'A'
		}
	}
	*scratch = s
	return s
}

func matchSegs(segs []likeSeg, s []byte) bool {
	p, i := 0, 0
	starP, starI := -1, 0
	for {
		if p < len(segs) {
			switch g := segs[p]; g.kind {
			case segStar:
				starP, starI = p, i
				p++
				continue
			case segOne:
				if i < len(s) {
					_, size := utf8.DecodeRune(s[i:])
					i += size
					p++
					continue
				}
			case segLit:
				if bytes.HasPrefix(s[i:], g.lit) {
					i += len(g.lit)
					p++
					continue
				}
			}
		} else if i == len(s) {
			return true
		}
		// Mismatch: let the last '%' swallow one more character.
		if starP < 0 || starI >= len(s) {
			return false
		}
		_, size := utf8.DecodeRune(s[starI:])
		starI += size
		p, i = starP+1, starI
	}
}

// likeNode is x [NOT] LIKE/ILIKE 'constant pattern'.
type likeNode struct {
	x   node
	m   *likeMatcher
	not bool
}

func (n *likeNode) dtype() arrow.DataType { return boolType() }

func (n *likeNode) eval(ec *evalCtx) (datum, error) {
	x, err := n.x.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer x.release()
	m := n.m
	rows := x.arr.Len()
	if isLargeOffsets(x.arr.DataType()) {
		v := newStrView[int64](x.arr)
		return datum{arr: likeKernel(ec.mem, x, rows, n.not, m, v.offs, v.data), scalar: x.scalar}, nil
	}
	v := newStrView[int32](x.arr)
	return datum{arr: likeKernel(ec.mem, x, rows, n.not, m, v.offs, v.data), scalar: x.scalar}, nil
}

// likeKernel runs the matcher over every row; the fast shapes get their
// own loops so the per-row work is one slice comparison.
func likeKernel[O int32 | int64](mem memory.Allocator, x datum, rows int, not bool, m *likeMatcher, offs []O, data []byte) arrow.Array {
	vals := newBitmap(mem, rows)
	out := vals.Bytes()
	var tmp [chunkLen]bool
	var scratch []byte
	for i := 0; i < rows; i += chunkLen {
		t := tmp[:min(chunkLen, rows-i)]
		o := offs[i : i+len(t)+1]
		switch {
		case m.ci || m.kind == likeGeneral || m.kind == likePrefixSuffix:
			for j := range t {
				t[j] = m.match(data[o[j]:o[j+1]], &scratch)
			}
		case m.kind == likePrefix && len(m.a) <= 8:
			prefix8(t, o, data, m.a)
		case m.kind == likePrefix:
			for j := range t {
				t[j] = bytes.HasPrefix(data[o[j]:o[j+1]], m.a)
			}
		case m.kind == likeSuffix:
			for j := range t {
				t[j] = bytes.HasSuffix(data[o[j]:o[j+1]], m.a)
			}
		case m.kind == likeContains:
			containsRows(t, o, data, m.a)
		case m.kind == likeExact:
			for j := range t {
				t[j] = string(data[o[j]:o[j+1]]) == string(m.a)
			}
		default: // likeAll
			for j := range t {
				t[j] = true
			}
		}
		if not {
			for j := range t {
				t[j] = !t[j]
			}
		}
		packBools(t, out[i/8:])
	}
	valid, _ := validityOf(mem, rows, x)
	return makeArray(boolType(), rows, valid, vals)
}

// likeDynNode is LIKE with a pattern that varies per row; each distinct
// pattern is compiled once per batch.
type likeDynNode struct {
	x, pat  node
	esc     rune
	ci, not bool
}

func (n *likeDynNode) dtype() arrow.DataType { return boolType() }

func (n *likeDynNode) eval(ec *evalCtx) (datum, error) {
	x, err := n.x.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer x.release()
	p, err := n.pat.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer p.release()
	rows, scalar := ec.rows(x, p)
	valid, allNull := validityOf(ec.mem, rows, x, p)
	if allNull {
		return nullDatum(ec.mem, boolType(), rows, scalar), nil
	}
	cache := map[string]*likeMatcher{}
	var scratch []byte
	match := make([]bool, rows)
	for i := range match {
		if !validAt(bufBytes(valid), i) {
			continue
		}
		xi, pi := i, i
		if x.scalar {
			xi = 0
		}
		if p.scalar {
			pi = 0
		}
		pat := string(bytesAt(p.arr, pi))
		m, ok := cache[pat]
		if !ok {
			m = compileLike(pat, n.esc, n.ci)
			cache[pat] = m
		}
		match[i] = m.match(bytesAt(x.arr, xi), &scratch) != n.not
	}
	vals := newBitmap(ec.mem, rows)
	for i := 0; i < rows; i += chunkLen {
		packBools(match[i:min(i+chunkLen, rows)], vals.Bytes()[i/8:])
	}
	return datum{arr: makeArray(boolType(), rows, valid, vals), scalar: scalar}, nil
}

// prefix8 tests a prefix of at most 8 bytes with one masked 64-bit load per
// row instead of a memequal call; rows too close to the end of the data
// buffer for a full load fall back to bytes.HasPrefix.
func prefix8[O int32 | int64](t []bool, o []O, data []byte, p []byte) {
	var pw [8]byte
	copy(pw[:], p)
	want := binary.LittleEndian.Uint64(pw[:])
	mask := uint64(math.MaxUint64)
	if len(p) < 8 {
		mask = 1<<(8*len(p)) - 1
	}
	l := O(len(p))
	limit := O(len(data) - 8)
	for j := range t {
		s, e := o[j], o[j+1]
		switch {
		case e-s < l:
			t[j] = false
		case s <= limit:
			t[j] = binary.LittleEndian.Uint64(data[s:])&mask == want
		default:
			t[j] = bytes.HasPrefix(data[s:e], p)
		}
	}
}

// containsRows searches the chunk's bytes as one run and maps each hit back
// to its row, which beats one bytes.Contains call per short row. A hit that
// straddles two rows is not a match; the search resumes inside it.
func containsRows[O int32 | int64](t []bool, o []O, data []byte, needle []byte) {
	clear(t)
	end := int(o[len(t)])
	pos, r := int(o[0]), 0
	for pos < end {
		k := bytes.Index(data[pos:end], needle)
		if k < 0 {
			return
		}
		at := pos + k
		for int(o[r+1]) <= at {
			r++
		}
		if at+len(needle) <= int(o[r+1]) {
			t[r] = true
			pos = int(o[r+1])
			continue
		}
		pos = at + 1
	}
}
