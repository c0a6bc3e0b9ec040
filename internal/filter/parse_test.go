package filter

import (
	"errors"
	"math"
	"testing"
)

// parseCases maps filter text to its canonical String() form. Every case is
// also checked to re-parse to an Equal tree.
var parseCases = []struct{ in, want string }{
	// literals
	{"1", "1"},
	{"-1", "-1"},
	{"- 1", "-1"},
	{"-(1)", "-1"},
	{"--1 is a comment\n2", "2"},
	{"/* c */ 3 /* d */", "3"},
	{"9223372036854775807", "9223372036854775807"},
	{"-9223372036854775808", "-9223372036854775808"},
	{"9223372036854775808", "9223372036854775808"},
	{"18446744073709551615", "18446744073709551615"},
	{"18446744073709551616", "1.8446744073709552e+19"},
	{"1.5", "1.5"},
	{".5", "0.5"},
	{"1.", "1.0"},
	{"1e3", "1000.0"},
	{"2.5E-3", "0.0025"},
	{"-0.0", "-0.0"},
	{"1e21", "1e+21"},
	{"0x1F", "X'1F'"},
	{"x'0a1b'", "X'0A1B'"},
	{"X'abc'", "X'0ABC'"},
	{"'it''s'", "'it''s'"},
	{`"double"`, "'double'"},
	{`"say ""hi"""`, `'say "hi"'`},
	{`'back\slash'`, `'back\slash'`},
	{"''", "''"},
	{"TRUE", "TRUE"},
	{"false", "FALSE"},
	{"null", "NULL"},
	{"date '2020-01-02'", "DATE '2020-01-02'"},
	{"DATE '2020-1-2'", "DATE '2020-01-02'"},
	{"timestamp '2021-01-01'", "TIMESTAMP '2021-01-01 00:00:00'"},
	{"TIMESTAMP '2021-01-01T10:00:00.5+02:00'", "TIMESTAMP '2021-01-01 08:00:00.5'"},
	{"timestamp '2021-01-01 10:00:00.123456789Z'", "TIMESTAMP '2021-01-01 10:00:00.123456789'"},
	{"timestamp '2021-01-01 10:00 -0130'", "TIMESTAMP '2021-01-01 11:30:00'"},
	{"datetime '1999-12-31 23:59:59'", "TIMESTAMP '1999-12-31 23:59:59'"},
	{"INTERVAL '1 day'", "INTERVAL '1 days'"},
	{"interval '2 hours 30 minutes'", "INTERVAL '2 hours 30 minutes'"},
	{"INTERVAL '-90 minutes 1 nanosecond'", "INTERVAL '-1 hours -29 minutes -59 seconds -999 milliseconds -999 microseconds -999 nanoseconds'"},
	{"INTERVAL '1 year 2 months 3 weeks'", "INTERVAL '14 months 21 days'"},
	{"INTERVAL '5' DAY", "INTERVAL '5 days'"},
	{"INTERVAL '-1 second'", "INTERVAL '-1 seconds'"},
	{"[1, 2, 3]", "[1, 2, 3]"},
	{"[]", "[]"},
	{"['a', NULL]", "['a', NULL]"},
	// columns and quoting
	{"a", "a"},
	{"MyCol", "MyCol"},
	{"_x$1", "_x$1"},
	{"`my col`", "`my col`"},
	{"`a``b`", "`a``b`"},
	{"`and`", "`and`"},
	{"`date`", "`date`"},
	{"date", "`date`"},
	{"timestamp > 1", "`timestamp` > 1"},
	{"a.b.c", "a.b.c"},
	{"`my col`.`x y`.z", "`my col`.`x y`.z"},
	{"`a.b`", "`a.b`"},
	{"(a).b", "a.b"},
	{"a . b", "a.b"},
	{"`1abc`", "`1abc`"},
	{"été", "été"},
	// operators and precedence
	{"a = 1", "a = 1"},
	{"a == 1", "a = 1"},
	{"a <> 1", "a != 1"},
	{"a != 1 AND b < 2 OR c >= 3", "a != 1 AND b < 2 OR c >= 3"},
	{"a OR b AND c", "a OR b AND c"},
	{"(a OR b) AND c", "(a OR b) AND c"},
	{"a AND (b AND c)", "a AND (b AND c)"},
	{"a - (b - c)", "a - (b - c)"},
	{"(a - b) - c", "a - b - c"},
	{"a + b * c", "a + b * c"},
	{"(a + b) * c", "(a + b) * c"},
	{"a * b % c / d", "a * b % c / d"},
	{"-a * b", "-a * b"},
	{"-(a * b)", "-(a * b)"},
	{"- -a", "-(-a)"},
	{"-(-5)", "5"},
	{"a - -5", "a - -5"},
	{"a * (-5)", "a * (-5)"},
	{"NOT a", "NOT a"},
	{"NOT NOT a", "NOT NOT a"},
	{"NOT a = b", "NOT a = b"},
	{"NOT a AND b", "NOT a AND b"},
	{"NOT (a AND b)", "NOT (a AND b)"},
	{"a = NOT b", "a = (NOT b)"},
	{"(NOT a) = b", "(NOT a) = b"},
	{"a = b = c", "a = b = c"},
	{"a = (b = c)", "a = (b = c)"},
	{"+a", "a"},
	// IS, IN, BETWEEN, LIKE
	{"a IS NULL", "a IS NULL"},
	{"a is not null", "a IS NOT NULL"},
	{"a IS TRUE AND b IS NOT FALSE", "a IS TRUE AND b IS NOT FALSE"},
	{"a = b IS NULL", "a = b IS NULL"},
	{"NOT a IS NULL", "NOT a IS NULL"},
	{"(NOT a) IS NULL", "(NOT a) IS NULL"},
	{"a IN (1, 2, 3)", "a IN (1, 2, 3)"},
	{"a not in ('x')", "a NOT IN ('x')"},
	{"a IN (b + 1, NULL)", "a IN (b + 1, NULL)"},
	{"a BETWEEN 1 AND 2", "a BETWEEN 1 AND 2"},
	{"a NOT BETWEEN 1 AND 2 + 3", "a NOT BETWEEN 1 AND 2 + 3"},
	{"a BETWEEN 1 AND 2 AND b", "a BETWEEN 1 AND 2 AND b"},
	{"a BETWEEN (1 AND 2) AND 3", "a BETWEEN (1 AND 2) AND 3"},
	{"a LIKE 'x%'", "a LIKE 'x%'"},
	{"a NOT ILIKE '%x'", "a NOT ILIKE '%x'"},
	{`a LIKE 'x\%' ESCAPE '\'`, `a LIKE 'x\%' ESCAPE '\'`},
	{"a LIKE b || c", ""},
	{"a LIKE 'x' = TRUE", "a LIKE 'x' = TRUE"},
	{"(a LIKE 'x') = TRUE", "(a LIKE 'x') = TRUE"},
	// casts, calls, indexing
	{"CAST(a AS BIGINT)", "CAST(a AS BIGINT)"},
	{"cast(a as int unsigned)", "CAST(a AS INT UNSIGNED)"},
	{"a::double", "CAST(a AS DOUBLE)"},
	{"a::double precision", "CAST(a AS DOUBLE)"},
	{"a::varchar(10)", "CAST(a AS STRING)"},
	{"a::text::int", "CAST(CAST(a AS STRING) AS INT)"},
	{"TRY_CAST(a AS timestamp(3))", "TRY_CAST(a AS TIMESTAMP(3))"},
	{"CAST(a AS TIMESTAMP)", "CAST(a AS TIMESTAMP(6))"},
	{"CAST(a AS timestamp without time zone)", "CAST(a AS TIMESTAMP(6))"},
	{"CAST(a AS datetime(9))", "CAST(a AS TIMESTAMP(9))"},
	{"a::real > 1", "CAST(a AS FLOAT) > 1"},
	{"-5::int", "-CAST(5 AS INT)"},
	{"(-5)::int", "CAST(-5 AS INT)"},
	{"array_has(tags, 'a')", "array_has(tags, 'a')"},
	{"ARRAY_HAS_ANY(tags, ['a', 'b'])", "array_has_any(tags, ['a', 'b'])"},
	{"f()", "f()"},
	{"tags[1]", "tags[1]"},
	{"tags[1][2]", "tags[1][2]"},
	{"s['x']", "s['x']"},
	{"tags[1].name", "tags[1].name"},
	{"f(x).y", "f(x).y"},
	{"(5).y", "(5).y"},
	{"(a + b)[1]", "(a + b)[1]"},
	{"-a[1]", "-a[1]"},
	{"a = 1 AND b LIKE 'a%' OR c IN (1, 2) AND d IS NOT NULL", "a = 1 AND b LIKE 'a%' OR c IN (1, 2) AND d IS NOT NULL"},
	{"_rowid IN (0, 1)", "_rowid IN (0, 1)"},
}

func TestParseRoundTrip(t *testing.T) {
	for _, c := range parseCases {
		e, err := Parse(c.in)
		if c.want == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %s, want an error", c.in, e)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		got := e.String()
		if got != c.want {
			t.Errorf("Parse(%q).String() = %q, want %q", c.in, got, c.want)
		}
		e2, err := Parse(got)
		if err != nil {
			t.Errorf("re-parse %q: %v", got, err)
			continue
		}
		if !Equal(e, e2) {
			t.Errorf("re-parse of %q differs: %s", got, e2)
		}
	}
}

// TestParseTree pins the grouping of a few expressions by building the
// expected trees by hand.
func TestParseTree(t *testing.T) {
	col := func(p ...string) *Column { return &Column{Path: p} }
	i := func(v int64) *IntLit { return &IntLit{Value: v} }
	bin := func(op BinaryOp, l, r Expr) *Binary { return &Binary{Op: op, L: l, R: r} }
	cases := []struct {
		in   string
		want Expr
	}{
		{"a OR b AND NOT c", bin(OpOr, col("a"), bin(OpAnd, col("b"), &Unary{Op: OpNot, X: col("c")}))},
		{"a + 2 * -3 >= 4", bin(OpGe, bin(OpAdd, col("a"), bin(OpMul, i(2), i(-3))), i(4))},
		{"x BETWEEN 1 AND 2 OR y", bin(OpOr, &Between{X: col("x"), Lo: i(1), Hi: i(2)}, col("y"))},
		{"NOT x IN (1)", &Unary{Op: OpNot, X: &In{X: col("x"), List: []Expr{i(1)}}}},
		{"s.t[2]", &Index{X: col("s", "t"), Index: i(2)}},
		{"x::int = 1", bin(OpEq, &Cast{X: col("x"), To: Type{Kind: TypeInt32}}, i(1))},
		{"-9223372036854775808", i(math.MinInt64)},
		{"a LIKE 'x' ESCAPE '!'", &Like{X: col("a"), Pattern: &StringLit{Value: "x"}, Escape: '!', HasEscape: true}},
		{"[1, 'a']", &ArrayLit{Elems: []Expr{i(1), &StringLit{Value: "a"}}}},
	}
	for _, c := range cases {
		e, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if !Equal(e, c.want) {
			t.Errorf("Parse(%q) = %s, want %s", c.in, e, c.want)
		}
	}
}

func TestParsePositions(t *testing.T) {
	e, err := Parse("a = 1 AND bb LIKE 'x'")
	if err != nil {
		t.Fatal(err)
	}
	and := e.(*Binary)
	like := and.R.(*Like)
	if and.Pos() != 6 || and.L.Pos() != 2 || like.Pos() != 13 || like.X.Pos() != 10 || like.Pattern.Pos() != 18 {
		t.Errorf("positions: and=%d eq=%d like=%d bb=%d pat=%d",
			and.Pos(), and.L.Pos(), like.Pos(), like.X.Pos(), like.Pattern.Pos())
	}
}

var parseErrors = []struct{ in, msg string }{
	{"", "filter: at position 0: empty filter"},
	{"   -- only a comment", "filter: at position 0: empty filter"},
	{"(", "filter: at position 1: expected an expression but found end of input"},
	{"a = 1 AND", "filter: at position 9: expected an expression but found end of input"},
	{"a = 1 AND AND b", "filter: at position 10: expected an expression but found 'AND'"},
	{"(a = 1", "filter: at position 6: expected ')' but found end of input"},
	{"(a = 1 AND b", "filter: at position 12: expected ')' but found end of input"},
	{"f(a b)", "filter: at position 4: expected ',' or ')' but found 'b'"},
	{"a b", "filter: at position 2: expected end of input but found 'b'"},
	{"a = 1)", "filter: at position 5: expected end of input but found ')'"},
	{"a IN ()", "filter: at position 6: expected an expression but found ')'"},
	{"a IN 1", "filter: at position 5: expected '(' after IN but found '1'"},
	{"a IN (1,)", "filter: at position 8: expected an expression but found ')'"},
	{"a BETWEEN 1 OR 2", "filter: at position 12: expected AND but found 'OR'"},
	{"a IS 5", "filter: at position 5: expected NULL, TRUE or FALSE but found '5'"},
	{"a IS NOT", "filter: at position 8: expected NULL, TRUE or FALSE but found end of input"},
	{"a NOT b", "filter: at position 2: expected end of input but found 'NOT'"},
	{"a LIKE 'x' ESCAPE 'ab'", "filter: at position 18: ESCAPE needs exactly one character, got 'ab'"},
	{"a LIKE 'x' ESCAPE 1", "filter: at position 18: expected a one-character string after ESCAPE but found '1'"},
	{"'abc", "filter: at position 0: unterminated string literal"},
	{"a = 'it''s", "filter: at position 4: unterminated string literal"},
	{"`abc", "filter: at position 0: unterminated quoted identifier"},
	{"``", "filter: at position 0: empty quoted identifier"},
	{"a /* b", "filter: at position 2: unterminated /* comment"},
	{"a # b", "filter: at position 2: unexpected character '#'"},
	{"a = 1 ; b", "filter: at position 6: unexpected character ';'"},
	{"a ! b", "filter: at position 2: unexpected character '!'"},
	{"a : b", "filter: at position 2: unexpected character ':'"},
	{"a || b", "filter: at position 2: unexpected character '|'"},
	{"a = \xff", "filter: at position 4: invalid UTF-8 in filter text"},
	{"0x", "filter: at position 0: hex literal 0x needs at least one hex digit"},
	{"X'zz'", "filter: at position 0: hex string literal holds a non-hex character"},
	{"1e999", "filter: at position 0: number 1e999 is out of range"},
	{"CAST(a)", "filter: at position 6: expected AS but found ')'"},
	{"CAST a", "filter: at position 5: expected '(' after CAST but found 'a'"},
	{"CAST(a AS)", "filter: at position 9: expected a type name but found ')'"},
	{"CAST(a AS blob)", "filter: at position 10: unknown type 'blob'"},
	{"CAST(a AS decimal(10, 2))", "filter: at position 10: type DECIMAL is not supported"},
	{"a::timestamp(4)", "filter: at position 13: timestamp precision must be 0, 3, 6 or 9"},
	{"a::timestamp with time zone", "filter: at position 13: timestamps with a time zone are not supported in CAST"},
	{"DATE '2020-13-01'", "filter: at position 5: invalid DATE literal '2020-13-01': \"2020-13-01\" is not a calendar date"},
	{"DATE '2020-02-30'", "filter: at position 5: invalid DATE literal '2020-02-30': \"2020-02-30\" is not a calendar date"},
	{"DATE 'yesterday'", "filter: at position 5: invalid DATE literal 'yesterday': want a date as YYYY-MM-DD"},
	{"TIMESTAMP '2020-01-01 25:00'", "filter: at position 10: invalid TIMESTAMP literal '2020-01-01 25:00': want a timestamp as YYYY-MM-DD[ HH:MM[:SS[.fraction]]][Z|±HH[:MM]]"},
	{"TIMESTAMP '3000-01-01'", "filter: at position 10: invalid TIMESTAMP literal '3000-01-01': timestamp outside the nanosecond range (years 1678-2261)"},
	{"INTERVAL '1 fortnight'", "filter: at position 9: invalid INTERVAL literal '1 fortnight': unknown interval unit \"fortnight\""},
	{"INTERVAL 'x day'", "filter: at position 9: invalid INTERVAL literal 'x day': interval count \"x\" is not an integer"},
	{"a.1", "filter: at position 2: expected a field name after '.' but found '1'"},
	{"a[1", "filter: at position 3: expected ']' but found end of input"},
	{"[1, 2", "filter: at position 5: expected ',' or ']' but found end of input"},
	{"NOT", "filter: at position 3: expected an expression but found end of input"},
	{"AND", "filter: at position 0: expected an expression but found 'AND'"},
	{"a = AS", "filter: at position 4: expected an expression but found 'AS'"},
}

func TestParseErrors(t *testing.T) {
	for _, c := range parseErrors {
		_, err := Parse(c.in)
		if err == nil {
			t.Errorf("Parse(%q): no error, want %q", c.in, c.msg)
			continue
		}
		if err.Error() != c.msg {
			t.Errorf("Parse(%q):\n got %q\nwant %q", c.in, err.Error(), c.msg)
		}
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q): %T is not a *ParseError wrapping ErrInvalid", c.in, err)
		}
	}
}

func TestParseDepthLimit(t *testing.T) {
	deep := ""
	for range 1000 {
		deep += "("
	}
	if _, err := Parse(deep + "1"); err == nil || err.Error() != "filter: at position 500: expression nested too deeply" {
		t.Errorf("got %v", err)
	}
	nots := ""
	for range 1000 {
		nots += "NOT "
	}
	if _, err := Parse(nots + "a"); err == nil {
		t.Error("1000 NOTs parsed")
	}
}
