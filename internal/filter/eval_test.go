package filter

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Each case lists the expected value per fixture row: T(rue), F(alse) or
// N(ULL). Row 3 is NULL in most columns (see fixtureRecord).
var evalCases = []struct{ filter, want string }{
	// integers of every width, literals narrowed or out of range
	{"i8 > 1", "FFTNT"},
	{"i8 = -2", "FTFNF"},
	{"i8 < 1000", "TTTNT"},
	{"i8 = 1000", "FFFNF"},
	{"i8 > 127.5", "FFFNF"},
	{"i8 >= 2.5", "FFTNT"},
	{"i16 >= 3", "FFTNT"},
	{"i32 <> 3", "TTFNT"},
	{"i32 != 3", "TTFNT"},
	{"i64 <= 1", "TTFNF"},
	{"i64 = 9223372036854775807", "FFFNT"},
	{"u8 = 255", "FFFNT"},
	{"u8 >= -5", "TTTNT"},
	{"u16 > 2", "FFTNT"},
	{"u32 >= 4000000000", "FFFNT"},
	{"u64 = 18446744073709551615", "FFFNT"},
	{"u64 > -1", "TTTNT"},
	{"5 < i16", "FFFNT"},
	{"u8 = i8", "TFTNF"},
	{"i8 = i64", "TTTNF"},
	// floats: IEEE total order (NaN = NaN, NaN above +Inf), float16 widened
	{"f32 > 1", "TFTNF"},
	{"f64 > 1e308", "FFTNT"},
	{"f16 < 0", "FTFNF"},
	{"f16 = 0.25", "FFFNT"},
	{"f32 = f64", "TTTNF"},
	{"f64 = i8", "FFFNF"},
	// booleans and Kleene logic
	{"b", "TFNFF"},
	{"NOT b", "FTNTT"},
	{"b = true", "TFNFF"},
	{"b < true", "FTNTT"},
	{"b IS TRUE", "TFFFF"},
	{"b IS NOT TRUE", "FTTTT"},
	{"b IS FALSE", "FTFTT"},
	{"b IS NOT FALSE", "TFTFF"},
	{"b IS NULL", "FFTFF"},
	{"b IS NOT NULL", "TTFTT"},
	{"b AND i8 > 0", "TFNFF"},
	{"b OR i8 > 0", "TFTNT"},
	{"NOT (b OR i8 > 0)", "FTFNF"},
	{"b AND NULL", "NFNFF"},
	{"b OR NULL", "TNNNN"},
	{"true", "TTTTT"},
	{"NULL", "NNNNN"},
	{"NOT NULL", "NNNNN"},
	{"1 = 1", "TTTTT"},
	{"1 = 2 OR 3 > 4", "FFFFF"},
	{"i8 = NULL", "NNNNN"},
	// strings
	{"s = 'apple'", "TFFNF"},
	{"s == 'Banana'", "FTFNF"},
	{`s = "apple"`, "TFFNF"},
	{"s > 'b'", "FFTNF"},
	{"ls = s", "TTTNT"},
	{"ls > 'b'", "FFTNF"},
	{"s LIKE 'a%'", "TFFNF"},
	{"s LIKE '%an%'", "FTFNF"},
	{"s LIKE '%rry'", "FFTNF"},
	{"s LIKE '_pple'", "TFFNF"},
	{"s LIKE 'c%r%y'", "FFTNF"},
	{"s LIKE 'a%e'", "TFFNF"},
	{"s LIKE '%'", "TTTNT"},
	{"s LIKE ''", "FFFNT"},
	{"s NOT LIKE '%e%'", "FTFNT"},
	{"s ILIKE 'BANANA'", "FTFNF"},
	{"s ILIKE '%AN%'", "FTFNF"},
	{"s NOT ILIKE 'a%'", "FTTNT"},
	{`s LIKE 'a\%'`, "FFFNF"},
	{"s LIKE 'a!%' ESCAPE '!'", "FFFNF"},
	{"s LIKE s", "TTTNT"},
	{"ls LIKE 'ch%'", "FFTNF"},
	{"s LIKE NULL", "NNNNN"},
	{"s IN ('apple', 'cherry')", "TFTNF"},
	{"s NOT IN ('apple', NULL)", "FNNNN"},
	{"ls IN ('Banana')", "FTFNF"},
	{"lower(s) = 'banana'", "FTFNF"},
	{"upper(s) LIKE 'A%'", "TFFNF"},
	{"length(s) = 6", "FTTNF"},
	{"char_length(ls) > 0", "TTTNF"},
	{"octet_length(s) = 5", "TFFNF"},
	{"starts_with(s, 'ch')", "FFTNF"},
	{"ends_with(s, 'a')", "FTFNF"},
	{"contains(s, 'rr')", "FFTNF"},
	{"regexp_match(s, '^[a-c]')", "TFTNF"},
	{"regexp_like(s, '^b', 'i')", "FTFNF"},
	{"regexp_match(s, s)", "TTTNT"},
	{"s LIKE st.y", "FNFNF"},
	{"coalesce(s, 'none') = 'none'", "FFFTF"},
	// binary
	{"bin = X'0102'", "TFFNF"},
	{"bin = 'abc'", "FFTNF"},
	{"bin <> 0xff", "TTTNF"},
	{"bin IN (X'', X'FF')", "FTFNT"},
	// dates
	{"d = '2020-01-01'", "TFFNF"},
	{"d > date '2021-01-01'", "FTFNT"},
	{"d < '1970-01-01'", "FFTNF"},
	{"d BETWEEN '2020-01-01' AND '2021-12-31'", "TTFNF"},
	{"d = timestamp '2020-01-01 00:00:00'", "TFFNF"},
	{"d < timestamp '2020-01-01 00:00:01'", "TFTNF"},
	{"d + INTERVAL '1 day' = '2020-01-02'", "TFFNF"},
	{"d - INTERVAL '1 month' = '2024-01-29'", "FFFNT"},
	{"d IN ('2020-01-01', '2024-02-29')", "TFFNT"},
	{"cast(d as string) = '2021-06-15'", "FTFNF"},
	// timestamps of every unit, with and without zone
	{"ts_s = '2020-01-01 00:00:00'", "TFFNF"},
	{"ts_ms > timestamp '2021-06-15 12:30:00'", "FTFNT"},
	{"ts_s > timestamp '2021-06-15 12:30:00.2'", "FFFNT"},
	{"ts_s >= timestamp '2021-06-15 12:30:00.2'", "FFFNT"},
	{"ts_us = '2024-02-29 23:59:59.999999'", "FFFNT"},
	{"ts_ns < '1970-01-01'", "FFTNF"},
	{"ts_us > ts_s", "FTFNT"},
	{"ts_us = '2020-01-01T01:00:00+01:00'", "TFFNF"},
	{"ts_ms + INTERVAL '12 hours 30 minutes' = '2020-01-01 12:30:00'", "TFFNF"},
	{"ts_s - INTERVAL '1 month' < '2020-01-01'", "TFTNF"},
	{"ts_ns > d", "FTTNT"},
	{"cast(ts_s as date) = d", "TTTNT"},
	{"ts_ms IN ('2020-01-01', '2021-06-15 12:30:00.5')", "TTFNF"},
	// lists
	{"array_has(tags, 'a')", "TFFNT"},
	{"array_contains(tags, 'z')", "FFFNF"},
	{"array_has_any(tags, ['b', 'c'])", "TFTNF"},
	{"array_has_all(tags, ['a', 'b'])", "TFFNF"},
	{"array_has_all(tags, [])", "TTTNT"},
	{"array_has_any(tags, [])", "FFFNF"},
	{"array_length(tags) = 2", "TFTNF"},
	{"array_length(tags) = 0", "FTFNF"},
	{"tags[1] = 'a'", "TNFNT"},
	{"tags[-1] = 'b'", "TNNNF"},
	{"tags[2] IS NULL", "FTTTT"},
	{"tags[0] IS NULL", "TTTTT"},
	{"array_has(nums, 5)", "FFFNT"},
	{"array_has(nums, 2)", "TFFNF"},
	{"array_has_any(nums, [4, 5])", "FTFNT"},
	{"array_has_all(nums, [1, 3])", "TFFNF"},
	{"array_length(nums) > 1", "TFFNT"},
	{"nums[3] = 3", "TNNNN"},
	{"array_length(vec) = 2", "TTTNT"},
	{"array_has(vec, -1)", "FTFNF"},
	{"vec[2] < -1", "FFTNT"},
	// structs, nested paths, quoting
	{"st.x = 10", "FTFNF"},
	{"st.x >= 0", "TTTNT"},
	{"st.y IS NULL", "FTFTF"},
	{"st.inner.z", "TFTNT"},
	{"st['x'] > 15", "FFTNT"},
	{"st.y = 'yy'", "FNTNF"},
	{"`st`.`x` = 40", "FFFNT"},
	{"ST.X = 40", "FFFNT"},
	// dictionary-encoded strings
	{"color = 'red'", "TFNTF"},
	{"color IN ('green', 'blue')", "FTNFT"},
	{"color LIKE 'r%'", "TFNTF"},
	// column name lookup
	{"`my col` = 20", "FTFFF"},
	{"mixed = 30", "FFTFF"},
	{"dup = 10 AND DUP = 10", "TFFFF"},
	// arithmetic
	{"i8 + i16 = 2", "TFFNF"},
	{"i32 * 2 - 1 > 4", "FFTNT"},
	{"i64 % 2 = 1", "TFTNT"},
	{"i8 / 2 = 1", "FFTNF"},
	{"i64 + 1 < 0", "FTFNT"},
	{"f64 / 0 > 0", "TFTNT"},
	{"f32 % 1 = 0.5", "TFFNF"},
	{"-i8 = 2", "FTFNF"},
	{"-f64 < 0", "TFFNT"},
	{"abs(i8) = 2", "FTFNF"},
	{"abs(f32) > 2", "FTTNF"},
	{"abs(u8) = 2", "FTFNF"},
	{"2 * 3 = 6", "TTTTT"},
	// BETWEEN and IN
	{"i8 BETWEEN -2 AND 1", "TTFNF"},
	{"i8 NOT BETWEEN -2 AND 1", "FFTNT"},
	{"i8 IN (1, 3, 1000)", "TFTNF"},
	{"i8 NOT IN (1, 3)", "FTFNT"},
	{"i8 IN (1, NULL)", "TNNNN"},
	{"i64 IN (i32, 100)", "TTTNF"},
	{"f64 IN (1.5, 'NaN'::double)", "TFTNF"},
	{"u64 IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)", "TTTNF"},
	{"b IN (true)", "TFNFF"},
	// casts, coalesce, is_valid
	{"coalesce(i8, 0) = 0", "FFFTF"},
	{"coalesce(NULL, i8, 7) = 7", "FFFTF"},
	{"is_valid(i8)", "TTTFT"},
	{"cast(i8 as string) = '-2'", "FTFNF"},
	{"try_cast(s as bigint) IS NULL", "TTTTT"},
	{"i32::float > 2.5", "FFTNT"},
	{"cast(i8 as boolean)", "TTTNT"},
	{"cast(b as int) = 1", "TFNFF"},
	{"cast(f16 as double) = 1.5", "TFFNF"},
	{"cast(u64 as tinyint unsigned) = 1", ""}, // fails at row 4: see evalErrorCases
}

func TestEvalCases(t *testing.T) {
	mem := newChecked(t)
	rec := fixtureRecord(t, mem)
	defer rec.Release()
	for _, c := range evalCases {
		if c.want == "" {
			continue
		}
		t.Run(c.filter, func(t *testing.T) {
			if got := evalTri(t, mem, rec, c.filter); got != c.want {
				t.Errorf("%s: got %s, want %s", c.filter, got, c.want)
			}
		})
	}
}

// TestEvalValues checks non-boolean results of Eval.
func TestEvalValues(t *testing.T) {
	mem := newChecked(t)
	rec := fixtureRecord(t, mem)
	defer rec.Release()
	cases := []struct {
		expr string
		typ  arrow.DataType
		want string
	}{
		{"i8 + 1", arrow.PrimitiveTypes.Int64, "[2 -1 4 (null) 101]"},
		{"i8 + i8", arrow.PrimitiveTypes.Int8, "[2 -4 6 (null) -56]"}, // int8 wraps
		{"u8 * 2", arrow.PrimitiveTypes.Int64, "[2 4 6 (null) 510]"},
		{"f32 * 2", arrow.PrimitiveTypes.Float64, "[3 -5 NaN (null) 0.5]"},
		{"lower(s)", arrow.BinaryTypes.String, `["apple" "banana" "cherry" (null) ""]`},
		{"upper(ls)", arrow.BinaryTypes.LargeString, `["APPLE" "BANANA" "CHERRY" (null) ""]`},
		{"length(s)", arrow.PrimitiveTypes.Int32, "[5 6 6 (null) 0]"},
		{"array_length(nums)", arrow.PrimitiveTypes.Uint64, "[3 1 0 (null) 2]"},
		{"tags[1]", arrow.BinaryTypes.String, `["a" (null) "c" (null) "a"]`},
		{"st.x", arrow.PrimitiveTypes.Int64, "[0 10 20 (null) 40]"},
		{"color", arrow.BinaryTypes.String, `["red" "green" (null) "red" "blue"]`},
		{"coalesce(i16, -1)", arrow.PrimitiveTypes.Int64, "[1 -2 3 -1 1000]"},
		{"cast(u8 as string)", arrow.BinaryTypes.String, `["1" "2" "3" (null) "255"]`},
		{"cast(f64 as string)", arrow.BinaryTypes.String, `["1.5" "-2.5" "NaN" (null) "+Inf"]`},
		{"cast(b as string)", arrow.BinaryTypes.String, `["true" "false" (null) "false" "false"]`},
		{"cast(ts_ms as string)", arrow.BinaryTypes.String,
			`["2020-01-01T00:00:00" "2021-06-15T12:30:00.5" "1969-12-31T23:59:59" (null) "2024-02-29T23:59:59.999"]`},
		{"cast(d as timestamp(0))", &arrow.TimestampType{Unit: arrow.Second},
			"[1577836800 1623715200 -86400 (null) 1709164800]"},
		{"1 + 2", arrow.PrimitiveTypes.Int64, "[3 3 3 3 3]"},
		{"'x'", arrow.BinaryTypes.String, `["x" "x" "x" "x" "x"]`},
		{"[1, 2]", arrow.ListOf(arrow.PrimitiveTypes.Int64), "[[1 2] [1 2] [1 2] [1 2] [1 2]]"},
		{"NULL", arrow.Null, "[(null) (null) (null) (null) (null)]"},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			e, err := Parse(c.expr)
			if err != nil {
				t.Fatal(err)
			}
			bd, err := Bind(e, rec.Schema())
			if err != nil {
				t.Fatal(err)
			}
			if !arrow.TypeEqual(bd.Type(), c.typ) {
				t.Errorf("type %s, want %s", bd.Type(), c.typ)
			}
			out, err := bd.Eval(context.Background(), rec, mem)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Release()
			if !arrow.TypeEqual(out.DataType(), c.typ) {
				t.Errorf("array type %s, want %s", out.DataType(), c.typ)
			}
			if got := out.String(); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	mem := newChecked(t)
	rec := fixtureRecord(t, mem)
	defer rec.Release()
	cases := []struct {
		filter, msg string
		sentinel    error
	}{
		{"i8 / (i8 - 1) > 0", "filter: evaluate at position 3: Divide by zero error", ErrDivideByZero},
		{"i64 % (i8 - 1) = 0", "filter: evaluate at position 4: Divide by zero error", ErrDivideByZero},
		{"cast(s as int) = 1", "filter: evaluate at position 0: cannot cast 'apple' to int32", ErrEval},
		{"cast(u64 as tinyint unsigned) = 1", "filter: evaluate at position 0: cannot cast 18446744073709551615 to uint8: value out of range", ErrEval},
		{"i64 / -1 = 0 AND i8 > 0", "", nil},
		{"abs(i64 + 1) > 0", "filter: evaluate at position 0: int64 overflow on abs(-9223372036854775808)", ErrEval},
	}
	for _, c := range cases {
		bd, err := Compile(c.filter, rec.Schema())
		if c.msg == "" {
			// Must evaluate or fail to bind, never panic.
			if err == nil {
				if m, err := bd.EvalPredicate(context.Background(), rec, mem); err == nil {
					m.Release()
				}
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: bind: %v", c.filter, err)
		}
		m, err := bd.EvalPredicate(context.Background(), rec, mem)
		if err == nil {
			m.Release()
			t.Fatalf("%s: no error", c.filter)
		}
		if err.Error() != c.msg {
			t.Errorf("%s:\n got %q\nwant %q", c.filter, err, c.msg)
		}
		if !errors.Is(err, c.sentinel) || !errors.Is(err, ErrEval) {
			t.Errorf("%s: %v does not wrap %v and ErrEval", c.filter, err, c.sentinel)
		}
	}
}

// TestShortCircuit: when the left side of AND is FALSE for the whole batch
// the right side is not evaluated, so its division by zero cannot fire.
func TestShortCircuit(t *testing.T) {
	mem := newChecked(t)
	rec := fixtureRecord(t, mem)
	defer rec.Release()
	if got := evalTri(t, mem, rec, "`my col` > 100 AND i8 / 0 = 1"); got != "FFFFF" {
		t.Errorf("AND: got %s", got)
	}
	if got := evalTri(t, mem, rec, "`my col` > 0 OR i8 / 0 = 1"); got != "TTTTT" {
		t.Errorf("OR: got %s", got)
	}
}

// TestEvalSliced evaluates over a sliced record, whose arrays carry a
// non-zero offset, and compares with the unsliced result.
func TestEvalSliced(t *testing.T) {
	mem := newChecked(t)
	rec := fixtureRecord(t, mem)
	defer rec.Release()
	sub := rec.NewSlice(1, 5)
	defer sub.Release()
	empty := rec.NewSlice(2, 2)
	defer empty.Release()
	for _, c := range evalCases {
		if c.want == "" {
			continue
		}
		if got := evalTri(t, mem, sub, c.filter); got != c.want[1:] {
			t.Errorf("%s over rows 1..4: got %s, want %s", c.filter, got, c.want[1:])
		}
		if got := evalTri(t, mem, empty, c.filter); got != "" {
			t.Errorf("%s over no rows: got %s", c.filter, got)
		}
	}
}

// TestEvalBatchSchema: a batch may hold the columns in another order, or
// with other columns around them; a changed type is an error.
func TestEvalBatchSchema(t *testing.T) {
	mem := newChecked(t)
	sc := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}}, nil)
	bd, err := Compile("a > 1", sc)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(fields []arrow.Field, cols ...arrow.Array) arrow.RecordBatch {
		return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(cols[0].Len()))
	}
	ib := array.NewInt64Builder(mem)
	ib.AppendValues([]int64{1, 2}, nil)
	ints := ib.NewArray()
	defer ints.Release()
	sb := array.NewStringBuilder(mem)
	sb.AppendValues([]string{"x", "y"}, nil)
	strs := sb.NewArray()
	defer strs.Release()
	rec := mk([]arrow.Field{{Name: "z", Type: arrow.BinaryTypes.String}, {Name: "a", Type: arrow.PrimitiveTypes.Int64}}, strs, ints)
	defer rec.Release()
	m, err := bd.EvalPredicate(context.Background(), rec, mem)
	if err != nil {
		t.Fatal(err)
	}
	if m.String() != "[false true]" {
		t.Errorf("got %s", m)
	}
	m.Release()
	bad := mk([]arrow.Field{{Name: "a", Type: arrow.BinaryTypes.String}}, strs)
	defer bad.Release()
	_, err = bd.EvalPredicate(context.Background(), bad, mem)
	if err == nil || !strings.Contains(err.Error(), `column "a" has type utf8 in the batch but int64 when bound`) {
		t.Errorf("got %v", err)
	}
	missing := mk([]arrow.Field{{Name: "b", Type: arrow.PrimitiveTypes.Int64}}, ints)
	defer missing.Release()
	_, err = bd.EvalPredicate(context.Background(), missing, mem)
	if err == nil || !strings.Contains(err.Error(), `column "a" is missing from the batch`) {
		t.Errorf("got %v", err)
	}
}

func TestEvalCancelled(t *testing.T) {
	mem := newChecked(t)
	rec := fixtureRecord(t, mem)
	defer rec.Release()
	bd, err := Compile("i8 > 0", rec.Schema())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := bd.EvalPredicate(ctx, rec, mem); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
}

// TestEvalLarge crosses chunk and word boundaries and compares with a
// row-by-row computation.
func TestEvalLarge(t *testing.T) {
	mem := newChecked(t)
	const n = 1000
	rec := benchRecord(mem, n)
	defer rec.Release()
	bd, err := Compile("id % 7 < 3 AND name LIKE 'ab%' OR id IN (998, 999)", rec.Schema())
	if err != nil {
		t.Fatal(err)
	}
	m, err := bd.EvalPredicate(context.Background(), rec, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	names := rec.Column(1).(*array.String)
	for i := range n {
		want := (i%7 < 3 && strings.HasPrefix(names.Value(i), "ab")) || i >= 998
		if m.Value(i) != want {
			t.Fatalf("row %d: got %v want %v", i, m.Value(i), want)
		}
	}
}

func TestEvalPredicateNeedsBool(t *testing.T) {
	mem := newChecked(t)
	rec := fixtureRecord(t, mem)
	defer rec.Release()
	e, _ := Parse("i8 + 1")
	bd, err := Bind(e, rec.Schema())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bd.EvalPredicate(context.Background(), rec, memory.DefaultAllocator); err == nil ||
		err.Error() != "filter: filter must be boolean, not int64 (at position 3)" {
		t.Errorf("got %v", err)
	}
}
