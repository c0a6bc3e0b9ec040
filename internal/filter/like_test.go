package filter

import (
	"context"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// likeToRegexp is an independent reference translation of a LIKE pattern.
func likeToRegexp(pattern string, esc rune, ci bool) *regexp.Regexp {
	var sb strings.Builder
	sb.WriteString("^(?s)")
	if ci {
		sb.WriteString("(?i)")
	}
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == esc && i+1 < len(rs):
			i++
			sb.WriteString(regexp.QuoteMeta(string(rs[i])))
		case r == '%':
			sb.WriteString(".*")
		case r == '_':
			sb.WriteString(".")
		default:
			sb.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	sb.WriteString("$")
	return regexp.MustCompile(sb.String())
}

func TestLikeFixed(t *testing.T) {
	cases := []struct {
		pattern string
		esc     rune
		ci      bool
		in      string
		want    bool
	}{
		{"abc", '\\', false, "abc", true},
		{"abc", '\\', false, "abcd", false},
		{"a%", '\\', false, "a", true},
		{"%c", '\\', false, "abc", true},
		{"%b%", '\\', false, "abc", true},
		{"a%c", '\\', false, "ac", true},
		{"a%c", '\\', false, "c", false},
		{"ab%bc", '\\', false, "abc", false}, // prefix and suffix must not overlap
		{"_", '\\', false, "é", true},        // '_' is one character, not one byte
		{"__", '\\', false, "é", false},
		{"a_c", '\\', false, "a€c", true},
		{`100\%`, '\\', false, "100%", true},
		{`100\%`, '\\', false, "1000", false},
		{`a\_b`, '\\', false, "a_b", true},
		{`a\_b`, '\\', false, "axb", false},
		{`a\`, '\\', false, `a\`, true}, // trailing escape is literal
		{`a\\b`, '\\', false, `a\b`, true},
		{"a!%", '!', false, "a%", true},
		{`a\%`, '!', false, `a\xyz`, true}, // backslash is literal with another escape
		{"%%%", '\\', false, "", true},
		{"", '\\', false, "", true},
		{"", '\\', false, "x", false},
		{"%a%b%c%", '\\', false, "xaxbxcx", true},
		{"%a%b%c%", '\\', false, "xcxbxax", false},
		{"ÉTÉ", '\\', true, "été", true},
		{"A%", '\\', true, "abc", true},
		{"%B_", '\\', true, "xbz", true},
	}
	for _, c := range cases {
		m := compileLike(c.pattern, c.esc, c.ci)
		var scratch []byte
		if got := m.match([]byte(c.in), &scratch); got != c.want {
			t.Errorf("%q LIKE %q (escape %q, ci %v) = %v, want %v", c.in, c.pattern, c.esc, c.ci, got, c.want)
		}
	}
}

// TestLikeRandom compares the matcher and the batch kernel (with its
// prefix, suffix and cross-row substring fast paths) with the regexp
// reference on random strings and patterns.
func TestLikeRandom(t *testing.T) {
	mem := newChecked(t)
	rng := rand.New(rand.NewPCG(1, 2))
	alpha := []string{"a", "b", "%", "_", `\`, "é", "ab"}
	gen := func(n int) string {
		var sb strings.Builder
		for range rng.IntN(n) {
			sb.WriteString(alpha[rng.IntN(len(alpha))])
		}
		return sb.String()
	}
	values := make([]string, 300)
	for i := range values {
		values[i] = gen(10)
	}
	sb := array.NewStringBuilder(mem)
	sb.AppendValues(values, nil)
	arr := sb.NewArray()
	sb.Release()
	defer arr.Release()
	sc := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	rec := array.NewRecordBatch(sc, []arrow.Array{arr}, int64(arr.Len()))
	defer rec.Release()
	for range 400 {
		p := gen(6)
		re := likeToRegexp(p, '\\', false)
		m := compileLike(p, '\\', false)
		var scratch []byte
		for _, v := range values {
			if got, want := m.match([]byte(v), &scratch), re.MatchString(v); got != want {
				t.Fatalf("%q LIKE %q = %v, want %v", v, p, got, want)
			}
		}
		bd, err := Compile("s LIKE '"+strings.ReplaceAll(p, "'", "''")+"'", sc)
		if err != nil {
			t.Fatal(err)
		}
		mask, err := bd.EvalPredicate(context.Background(), rec, mem)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range values {
			if mask.Value(i) != re.MatchString(v) {
				t.Fatalf("kernel: %q LIKE %q = %v", v, p, mask.Value(i))
			}
		}
		mask.Release()
	}
}
