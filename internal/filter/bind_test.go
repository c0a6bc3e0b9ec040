package filter

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestBindErrors(t *testing.T) {
	sc := fixtureSchema()
	cases := []struct {
		filter, msg string
		unknown     bool
	}{
		{"foo = 1", `filter: unknown column "foo" (at position 0)`, true},
		{"i8 > 0 AND bar.baz IS NULL", `filter: unknown column "bar" (at position 11)`, true},
		{"st.nope = 1", `filter: unknown column "st.nope" (at position 0)`, true},
		{"st.inner.q", `filter: unknown column "st.inner.q" (at position 0)`, true},
		{"i8.x = 1", `filter: column "i8" is int8, not a struct, so it has no field "x" (at position 0)`, false},
		{"Dup = 1", `filter: column "Dup" is ambiguous: it matches dup, DUP; quote it with backticks in the exact case (at position 0)`, false},
		{"s = 5", "filter: cannot compare utf8 with int64 (at position 2)", false},
		{"i8 < 'x'", "filter: cannot compare int8 with utf8 (at position 3)", false},
		{"b = 1", "filter: cannot compare bool with int64 (at position 2)", false},
		{"d = 5", "filter: cannot compare date32 with int64 (at position 2)", false},
		{"tags = 'a'", "filter: cannot compare list<item: utf8, nullable> with utf8 (at position 5)", false},
		{"d = 'notadate'", "filter: cannot cast 'notadate' to date32 (at position 4)", false},
		{"ts_ms > '2020-01-01 99:00'", "filter: cannot cast '2020-01-01 99:00' to timestamp[ms] (at position 8)", false},
		{"d IN ('2020-01-01', 'x')", "filter: cannot cast 'x' to date32 (at position 20)", false},
		{"i8 IN (1, 'x')", "filter: cannot compare int8 with utf8 (at position 10)", false},
		{"i8 + s > 1", "filter: cannot apply '+' to int8 and utf8 (at position 3)", false},
		{"NOT i8", "filter: NOT needs a boolean operand, not int8 (at position 0)", false},
		{"i8 AND b", "filter: AND needs boolean operands, not int8 (at position 0)", false},
		{"-u8 > 0", "filter: cannot negate uint8 (at position 0)", false},
		{"-s = 'a'", "filter: cannot negate utf8 (at position 0)", false},
		{"i8 IS TRUE", "filter: IS TRUE/FALSE needs a boolean operand, not int8 (at position 3)", false},
		{"i8", "filter: filter must be boolean, not int8 (at position 0)", false},
		{"s || 'x'", "", false},
		{"nosuch(i8)", "", false},
		{"lower(i8) = 'a'", "filter: lower() needs a string, not int8 (at position 6)", false},
		{"lower(s, s) = 'a'", "filter: lower() takes 1 argument, got 2 (at position 0)", false},
		{"starts_with(s) ", "filter: starts_with() takes 2 arguments, got 1 (at position 0)", false},
		{"regexp_match(s)", "filter: regexp_match() takes between 2 and 3 arguments, got 1 (at position 0)", false},
		{"regexp_match(s, '(')", "filter: invalid regular expression: error parsing regexp: missing closing ): `(` (at position 16)", false},
		{"regexp_match(s, 'a', 'x')", "filter: regexp_match() flags may only hold i, m, s, U (at position 21)", false},
		{"array_has(s, 'a')", "filter: array_has() needs a list, not utf8 (at position 10)", false},
		{"array_has(tags, 1)", "filter: int64 value cannot be compared with elements of type utf8 (at position 16)", false},
		{"array_has(nums, 1.5)", "filter: float64 value cannot be compared with elements of type int32 (at position 16)", false},
		{"array_has_any(tags, 'a')", "filter: array_has_any() needs a list as second argument, not utf8 (at position 20)", false},
		{"array_has_any(tags, [1])", "filter: int64 value cannot be compared with elements of type utf8 (at position 20)", false},
		{"array_has_any(tags, nums)", "filter: array_has_any() compares list<utf8> with list<int32> (at position 20)", false},
		{"array_has(st, 1)", "filter: array_has() needs a list, not struct<x: int64 nullable, y: utf8 nullable, inner: struct<z: bool nullable> nullable> (at position 10)", false},
		{"s LIKE 5", "filter: LIKE needs strings, not int64 (at position 7)", false},
		{"i8 LIKE 'a'", "filter: LIKE needs strings, not int8 (at position 0)", false},
		{"cast(tags as int) = 1", "filter: cannot cast list<item: utf8, nullable> to int32 (at position 0)", false},
		{"cast(b as date) IS NULL", "filter: cannot cast bool to date32 (at position 0)", false},
		{"i8[1] = 1", "filter: cannot index int8 (at position 2)", false},
		{"tags['a'] = 'a'", "filter: list index must be an integer, not utf8 (at position 5)", false},
		{"st[1] = 1", "filter: a struct is indexed by a field name string (at position 2)", false},
		{"(i8).x = 1", `filter: column "i8" is int8, not a struct, so it has no field "x" (at position 1)`, false},
		{"tags[1].x = 1", `filter: cannot read field "x" of utf8 (at position 7)`, false},
		{"1 / 0 = 1", "filter: Divide by zero error (at position 2)", false},
		{"[1, 'a'] IS NULL", "filter: array literal mixes int64 and utf8 (at position 4)", false},
		{"[i8] IS NULL", "filter: array literal elements must be constants (at position 1)", false},
		{"d + INTERVAL '1 hour' > d", "filter: cannot add an interval with a time part to a date; cast the date to TIMESTAMP (at position 2)", false},
		{"d + i8 > d", "filter: cannot apply '+' to date32 and int8 (at position 2)", false},
		{"coalesce(i8, s) IS NULL", "filter: coalesce() mixes int8 and utf8 (at position 13)", false},
		{"abs(s) > 0", "filter: abs() needs a number, not utf8 (at position 4)", false},
	}
	for _, c := range cases {
		_, err := Compile(c.filter, sc)
		if err == nil {
			t.Errorf("Compile(%q): no error", c.filter)
			continue
		}
		if c.msg == "" {
			continue
		}
		if err.Error() != c.msg {
			t.Errorf("Compile(%q):\n got %q\nwant %q", c.filter, err.Error(), c.msg)
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Compile(%q): %v does not wrap ErrInvalid", c.filter, err)
		}
		if errors.Is(err, ErrUnknownColumn) != c.unknown {
			t.Errorf("Compile(%q): errors.Is(ErrUnknownColumn) = %v", c.filter, !c.unknown)
		}
	}
}

func TestUnknownFunctionListsSupported(t *testing.T) {
	_, err := Compile("nosuch(i8)", fixtureSchema())
	want := "filter: unknown function nosuch(); supported: abs, array_contains, array_has, array_has_all, " +
		"array_has_any, array_length, arrays_overlap, char_length, character_length, coalesce, contains, " +
		"ends_with, is_valid, length, list_has, list_has_all, list_has_any, list_length, lower, octet_length, " +
		"regexp_like, regexp_match, starts_with, upper (at position 0)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v", err)
	}
}

func TestColumns(t *testing.T) {
	sc := fixtureSchema()
	cases := []struct {
		filter string
		want   []string
	}{
		{"i8 > 1", []string{"i8"}},
		{"s = 'a' AND i8 > 1 OR s IS NULL", []string{"i8", "s"}},
		{"st.inner.z AND st.x > 1", []string{"st"}},
		{"`my col` = 1 AND mixed = 2", []string{"my col", "Mixed"}},
		{"1 = 1", []string{}},
		{"array_has(tags, 'a') AND color = 'red'", []string{"tags", "color"}},
	}
	for _, c := range cases {
		bd, err := Compile(c.filter, sc)
		if err != nil {
			t.Fatalf("%s: %v", c.filter, err)
		}
		if got := bd.Columns(); !slices.Equal(got, c.want) {
			t.Errorf("%s: Columns() = %q, want %q", c.filter, got, c.want)
		}
	}
}

// TestFolding checks that constant sub-expressions are evaluated once at
// bind time and that literals take the column's type when that is exact.
func TestFolding(t *testing.T) {
	sc := fixtureSchema()
	bind := func(f string) node {
		t.Helper()
		bd, err := Compile(f, sc)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		return bd.root
	}
	if c, ok := bind("1 + 2 * 3 = 7 AND 'a' < 'b'").(*constNode); !ok || c.val.String() != "[true]" {
		t.Errorf("constant filter not folded: %#v", bind("1 + 2 * 3 = 7"))
	}
	cmp, ok := bind("i8 > 2 + 3").(*cmpNode)
	if !ok {
		t.Fatalf("not a comparison: %T", bind("i8 > 2 + 3"))
	}
	if _, ok := cmp.l.(*colNode); !ok {
		t.Errorf("column side was cast: %T", cmp.l)
	}
	if c, ok := cmp.r.(*constNode); !ok || c.dtype().ID() != arrow.INT8 || c.val.String() != "[5]" {
		t.Errorf("literal not narrowed to int8: %T %v", cmp.r, cmp.r.dtype())
	}
	cmp = bind("ts_ms > TIMESTAMP '2020-01-01 00:00:00.5'").(*cmpNode)
	if c, ok := cmp.r.(*constNode); !ok || !arrow.TypeEqual(c.dtype(), cmp.l.dtype()) {
		t.Errorf("timestamp literal not converted to the column's unit: %v", cmp.r.dtype())
	}
	cmp = bind("d = '2020-01-01'").(*cmpNode)
	if c, ok := cmp.r.(*constNode); !ok || c.dtype().ID() != arrow.DATE32 {
		t.Errorf("date string not parsed at bind time: %T", cmp.r)
	}
	// A literal that does not fit widens the column instead.
	cmp = bind("i8 > 2.5").(*cmpNode)
	if cmp.l.dtype().ID() != arrow.FLOAT64 {
		t.Errorf("i8 > 2.5 compares as %v", cmp.l.dtype())
	}
}

// TestConcurrentEval runs one Bound on several goroutines (go test -race).
func TestConcurrentEval(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := fixtureRecord(t, mem)
	defer rec.Release()
	bd, err := Compile("s ILIKE '%an%' OR color LIKE 'r%' OR array_has(tags, 'a') OR regexp_match(s, 'e')", rec.Schema())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				m, err := bd.EvalPredicate(context.Background(), rec, mem)
				if err != nil {
					t.Error(err)
					return
				}
				if got := m.String(); got != "[true true true true true]" {
					t.Errorf("got %s", got)
				}
				m.Release()
			}
		})
	}
	wg.Wait()
}
