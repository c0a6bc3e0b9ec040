package filter

import (
	"bytes"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

type funcBinder func(b *binder, c *Call, args []node) (node, error)

// functions maps lower-case names (with DataFusion's aliases) to binders.
var functions = map[string]funcBinder{
	"array_has": bindArrayHas, "array_contains": bindArrayHas, "list_has": bindArrayHas,
	"array_has_any": bindArrayHasAny, "list_has_any": bindArrayHasAny, "arrays_overlap": bindArrayHasAny,
	"array_has_all": bindArrayHasAll, "list_has_all": bindArrayHasAll,
	"array_length": bindArrayLength, "list_length": bindArrayLength,
	"lower": bindCaseMap(false), "upper": bindCaseMap(true),
	"length": bindLength(true), "char_length": bindLength(true), "character_length": bindLength(true),
	"octet_length": bindLength(false),
	"starts_with":  bindStrPred(strStartsWith), "ends_with": bindStrPred(strEndsWith),
	"contains":     bindStrPred(strContains),
	"regexp_match": bindRegexp, "regexp_like": bindRegexp,
	"abs":      bindAbs,
	"coalesce": bindCoalesce,
	"is_valid": bindIsValid,
}

func functionNames() string {
	names := make([]string, 0, len(functions))
	for k := range functions {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (b *binder) call(c *Call) (node, error) {
	fb, ok := functions[c.Name]
	if !ok {
		return nil, bindErrorf(c.At, "unknown function %s(); supported: %s", c.Name, functionNames())
	}
	args := make([]node, len(c.Args))
	for i, a := range c.Args {
		var err error
		if args[i], err = b.bind(a); err != nil {
			return nil, err
		}
	}
	return fb(b, c, args)
}

func wantArgs(c *Call, args []node, lo, hi int) error {
	if len(args) < lo || len(args) > hi {
		want := "1 argument"
		switch {
		case lo != hi:
			want = "between " + itoa(lo) + " and " + itoa(hi) + " arguments"
		case lo != 1:
			want = itoa(lo) + " arguments"
		}
		return bindErrorf(c.At, "%s() takes %s, got %d", c.Name, want, len(args))
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }

// stringArg checks that argument i is a string (a NULL literal becomes a
// NULL utf8 constant).
func (b *binder) stringArg(c *Call, args []node, i int) (node, error) {
	x := b.nullAs(args[i], arrow.BinaryTypes.String)
	if !isString(x.dtype()) {
		return nil, bindErrorf(c.Args[i].Pos(), "%s() needs a string, not %s", c.Name, typeName(x.dtype()))
	}
	return x, nil
}

func bindCaseMap(upper bool) funcBinder {
	return func(b *binder, c *Call, args []node) (node, error) {
		if err := wantArgs(c, args, 1, 1); err != nil {
			return nil, err
		}
		x, err := b.stringArg(c, args, 0)
		if err != nil {
			return nil, err
		}
		return b.fold(&caseMapNode{x: x, upper: upper}, x)
	}
}

func bindLength(chars bool) funcBinder {
	return func(b *binder, c *Call, args []node) (node, error) {
		if err := wantArgs(c, args, 1, 1); err != nil {
			return nil, err
		}
		x, err := b.stringArg(c, args, 0)
		if err != nil {
			return nil, err
		}
		return b.fold(&lengthNode{x: x, chars: chars}, x)
	}
}

type strPredKind uint8

const (
	strStartsWith strPredKind = iota
	strEndsWith
	strContains
)

func bindStrPred(kind strPredKind) funcBinder {
	return func(b *binder, c *Call, args []node) (node, error) {
		if err := wantArgs(c, args, 2, 2); err != nil {
			return nil, err
		}
		x, err := b.stringArg(c, args, 0)
		if err != nil {
			return nil, err
		}
		y, err := b.stringArg(c, args, 1)
		if err != nil {
			return nil, err
		}
		return b.fold(&strPredNode{x: x, y: y, kind: kind}, x, y)
	}
}

// bindRegexp binds regexp_match/regexp_like. Lance coerces regexp_match to
// "has a match" in filters, so both return a boolean here. Patterns use Go's
// RE2 syntax, which matches Rust's regex crate for common patterns.
func bindRegexp(b *binder, c *Call, args []node) (node, error) {
	if err := wantArgs(c, args, 2, 3); err != nil {
		return nil, err
	}
	x, err := b.stringArg(c, args, 0)
	if err != nil {
		return nil, err
	}
	p, err := b.stringArg(c, args, 1)
	if err != nil {
		return nil, err
	}
	n := &regexpNode{x: x, pat: p, pos: c.At}
	if len(args) == 3 {
		fc, ok := args[2].(*constNode)
		if !ok || !isString(fc.dtype()) || nullAt(fc.val, 0) {
			return nil, bindErrorf(c.Args[2].Pos(), "%s() flags must be a constant string", c.Name)
		}
		n.flags = string(bytesAt(fc.val, 0))
		if strings.Trim(n.flags, "imsU") != "" {
			return nil, bindErrorf(c.Args[2].Pos(), "%s() flags may only hold i, m, s, U", c.Name)
		}
	}
	if pc, ok := p.(*constNode); ok && !nullAt(pc.val, 0) {
		re, err := compileRegexp(string(bytesAt(pc.val, 0)), n.flags)
		if err != nil {
			return nil, bindErrorf(c.Args[1].Pos(), "invalid regular expression: %v", err)
		}
		n.re = re
	}
	return b.fold(n, x, p)
}

func compileRegexp(pat, flags string) (*regexp.Regexp, error) {
	if flags != "" {
		pat = "(?" + flags + ")" + pat
	}
	return regexp.Compile(pat)
}

func bindAbs(b *binder, c *Call, args []node) (node, error) {
	if err := wantArgs(c, args, 1, 1); err != nil {
		return nil, err
	}
	x := args[0]
	if isNull(x.dtype()) {
		return x, nil
	}
	if !isNumeric(x.dtype()) {
		return nil, bindErrorf(c.Args[0].Pos(), "abs() needs a number, not %s", typeName(x.dtype()))
	}
	if isUnsignedInt(x.dtype()) {
		return x, nil
	}
	return b.fold(&absNode{x: x, pos: c.At}, x)
}

func bindIsValid(b *binder, c *Call, args []node) (node, error) {
	if err := wantArgs(c, args, 1, 1); err != nil {
		return nil, err
	}
	return b.fold(&isNode{x: args[0], what: IsNull, not: true}, args[0])
}

func bindCoalesce(b *binder, c *Call, args []node) (node, error) {
	if len(args) == 0 {
		return nil, bindErrorf(c.At, "coalesce() needs at least one argument")
	}
	var et arrow.DataType = arrow.Null
	for i, a := range args {
		dt := a.dtype()
		switch {
		case isNull(dt) || arrow.TypeEqual(dt, et):
		case isNull(et):
			et = dt
		case isNumeric(et) && isNumeric(dt):
			et = commonNumeric(et, dt)
		case isTemporal(et) && isTemporal(dt):
			et = commonTemporal(et, dt)
		case isString(et) && isString(dt):
			et = arrow.BinaryTypes.LargeString
		case isBinary(et) && isBinary(dt):
			et = arrow.BinaryTypes.LargeBinary
		default:
			return nil, bindErrorf(c.Args[i].Pos(), "coalesce() mixes %s and %s", typeName(et), typeName(dt))
		}
	}
	if !takeable(et) && !isNull(et) {
		return nil, bindErrorf(c.At, "coalesce() does not support %s", typeName(et))
	}
	cast := make([]node, len(args))
	for i, a := range args {
		var err error
		if cast[i], err = b.cast(c.Args[i].Pos(), b.nullAs(a, et), et, false); err != nil {
			return nil, err
		}
	}
	return b.fold(&coalesceNode{args: cast, typ: et}, cast...)
}

// like binds LIKE/ILIKE; a constant pattern is compiled once.
func (b *binder) like(n *Like) (node, error) {
	x, err := b.bind(n.X)
	if err != nil {
		return nil, err
	}
	p, err := b.bind(n.Pattern)
	if err != nil {
		return nil, err
	}
	x, p = b.nullAs(x, arrow.BinaryTypes.String), b.nullAs(p, arrow.BinaryTypes.String)
	for _, o := range []struct {
		n node
		e Expr
	}{{x, n.X}, {p, n.Pattern}} {
		if !isString(o.n.dtype()) {
			return nil, bindErrorf(o.e.Pos(), "LIKE needs strings, not %s", typeName(o.n.dtype()))
		}
	}
	esc := '\\'
	if n.HasEscape {
		esc = n.Escape
	}
	if pc, ok := p.(*constNode); ok {
		if nullAt(pc.val, 0) {
			return b.nullConst(boolType()), nil
		}
		ln := &likeNode{x: x, m: compileLike(string(bytesAt(pc.val, 0)), esc, n.CaseInsensitive), not: n.Not}
		return b.fold(ln, x)
	}
	return b.fold(&likeDynNode{x: x, pat: p, esc: esc, ci: n.CaseInsensitive, not: n.Not}, x, p)
}

// forEachBytes calls fn for each valid row of a string or binary array.
func forEachBytes(a arrow.Array, fn func(i int, v []byte)) {
	if isLargeOffsets(a.DataType()) {
		v := newStrView[int64](a)
		for i := 0; i < a.Len(); i++ {
			if !nullAt(a, i) {
				fn(i, v.at(i))
			}
		}
		return
	}
	v := newStrView[int32](a)
	for i := 0; i < a.Len(); i++ {
		if !nullAt(a, i) {
			fn(i, v.at(i))
		}
	}
}

// caseMapNode is lower()/upper() with an ASCII fast path.
type caseMapNode struct {
	x     node
	upper bool
}

func (n *caseMapNode) dtype() arrow.DataType { return n.x.dtype() }

func (n *caseMapNode) eval(ec *evalCtx) (datum, error) {
	x, err := n.x.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer x.release()
	sb := newStringBuilder(ec.mem, x.arr.DataType())
	defer sb.Release()
	var scratch []byte
	next := 0
	forEachBytes(x.arr, func(i int, v []byte) {
		for ; next < i; next++ {
			sb.AppendNull()
		}
		next = i + 1
		scratch = mapCase(scratch[:0], v, n.upper)
		sb.Append(string(scratch))
	})
	for ; next < x.arr.Len(); next++ {
		sb.AppendNull()
	}
	return datum{arr: sb.NewArray(), scalar: x.scalar}, nil
}

func mapCase(dst, v []byte, upper bool) []byte {
	for _, c := range v {
		if c >= utf8.RuneSelf {
			if upper {
				return append(dst, bytes.ToUpper(v)...)
			}
			return append(dst, bytes.ToLower(v)...)
		}
	}
	for _, c := range v {
		switch {
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// lengthNode is character_length (chars) or octet_length; like DataFusion
// it returns int32 for utf8 and int64 for large_utf8.
type lengthNode struct {
	x     node
	chars bool
}

func (n *lengthNode) dtype() arrow.DataType {
	if isLargeOffsets(n.x.dtype()) {
		return arrow.PrimitiveTypes.Int64
	}
	return arrow.PrimitiveTypes.Int32
}

func (n *lengthNode) eval(ec *evalCtx) (datum, error) {
	x, err := n.x.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer x.release()
	rows := x.arr.Len()
	lens := make([]int64, rows)
	forEachBytes(x.arr, func(i int, v []byte) {
		if n.chars {
			lens[i] = int64(utf8.RuneCount(v))
		} else {
			lens[i] = int64(len(v))
		}
	})
	valid, _ := validityOf(ec.mem, rows, x)
	if n.dtype().ID() == arrow.INT64 {
		buf, out := newFixed[int64](ec.mem, rows)
		copy(out, lens)
		return datum{arr: makeArray(n.dtype(), rows, valid, buf), scalar: x.scalar}, nil
	}
	buf, out := newFixed[int32](ec.mem, rows)
	for i, l := range lens {
		out[i] = int32(l)
	}
	return datum{arr: makeArray(n.dtype(), rows, valid, buf), scalar: x.scalar}, nil
}

// strPredNode is starts_with/ends_with/contains.
type strPredNode struct {
	x, y node
	kind strPredKind
}

func (n *strPredNode) dtype() arrow.DataType { return boolType() }

func (n *strPredNode) eval(ec *evalCtx) (datum, error) {
	x, err := n.x.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer x.release()
	y, err := n.y.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer y.release()
	rows, scalar := ec.rows(x, y)
	valid, allNull := validityOf(ec.mem, rows, x, y)
	if allNull {
		return nullDatum(ec.mem, boolType(), rows, scalar), nil
	}
	match := make([]bool, rows)
	for i := range match {
		xi, yi := i, i
		if x.scalar {
			xi = 0
		}
		if y.scalar {
			yi = 0
		}
		a, b := bytesAt(x.arr, xi), bytesAt(y.arr, yi)
		switch n.kind {
		case strStartsWith:
			match[i] = bytes.HasPrefix(a, b)
		case strEndsWith:
			match[i] = bytes.HasSuffix(a, b)
		default:
			match[i] = bytes.Contains(a, b)
		}
	}
	return datum{arr: boolsToArray(ec.mem, match, valid), scalar: scalar}, nil
}

func boolsToArray(mem memory.Allocator, match []bool, valid *memory.Buffer) arrow.Array {
	vals := newBitmap(mem, len(match))
	for i := 0; i < len(match); i += chunkLen {
		packBools(match[i:min(i+chunkLen, len(match))], vals.Bytes()[i/8:])
	}
	return makeArray(boolType(), len(match), valid, vals)
}

// regexpNode reports whether the pattern matches anywhere in the string.
type regexpNode struct {
	x, pat node
	re     *regexp.Regexp // set when the pattern is constant
	flags  string
	pos    int
}

func (n *regexpNode) dtype() arrow.DataType { return boolType() }

func (n *regexpNode) eval(ec *evalCtx) (datum, error) {
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
	cache := map[string]*regexp.Regexp{}
	match := make([]bool, rows)
	for i := range match {
		if !validAt(bufBytes(valid), i) {
			continue
		}
		re := n.re
		if re == nil {
			pi := i
			if p.scalar {
				pi = 0
			}
			pat := string(bytesAt(p.arr, pi))
			if re = cache[pat]; re == nil {
				if re, err = compileRegexp(pat, n.flags); err != nil {
					if valid != nil {
						valid.Release()
					}
					return datum{}, evalErrorf(n.pos, "invalid regular expression %q: %v", clip(pat), err)
				}
				cache[pat] = re
			}
		}
		xi := i
		if x.scalar {
			xi = 0
		}
		match[i] = re.Match(bytesAt(x.arr, xi))
	}
	return datum{arr: boolsToArray(ec.mem, match, valid), scalar: scalar}, nil
}
