package filter

import (
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

var numericCols = []string{"i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f16", "f32", "f64"}

var cmpOps = []struct {
	text string
	ok   func(c int) bool
}{
	{"=", func(c int) bool { return c == 0 }},
	{"!=", func(c int) bool { return c != 0 }},
	{"<", func(c int) bool { return c < 0 }},
	{"<=", func(c int) bool { return c <= 0 }},
	{">", func(c int) bool { return c > 0 }},
	{">=", func(c int) bool { return c >= 0 }},
}

// exactNum is a numeric value for the reference: exact, or NaN (which the
// evaluator orders above +Inf and equal to itself).
type exactNum struct {
	v   *big.Float
	nan bool
}

func (a exactNum) cmp(b exactNum) int {
	switch {
	case a.nan && b.nan:
		return 0
	case a.nan:
		return 1
	case b.nan:
		return -1
	}
	return a.v.Cmp(b.v)
}

func exactOf(a arrow.Array, i int) exactNum {
	f := new(big.Float).SetPrec(200)
	var x float64
	switch a := a.(type) {
	case *array.Int8:
		return exactNum{v: f.SetInt64(int64(a.Value(i)))}
	case *array.Int16:
		return exactNum{v: f.SetInt64(int64(a.Value(i)))}
	case *array.Int32:
		return exactNum{v: f.SetInt64(int64(a.Value(i)))}
	case *array.Int64:
		return exactNum{v: f.SetInt64(a.Value(i))}
	case *array.Uint8:
		return exactNum{v: f.SetUint64(uint64(a.Value(i)))}
	case *array.Uint16:
		return exactNum{v: f.SetUint64(uint64(a.Value(i)))}
	case *array.Uint32:
		return exactNum{v: f.SetUint64(uint64(a.Value(i)))}
	case *array.Uint64:
		return exactNum{v: f.SetUint64(a.Value(i))}
	case *array.Float16:
		x = float64(a.Value(i).Float32())
	case *array.Float32:
		x = float64(a.Value(i))
	case *array.Float64:
		x = a.Value(i)
	}
	if math.IsNaN(x) {
		return exactNum{nan: true}
	}
	return exactNum{v: f.SetFloat64(x)}
}

func literalExact(t *testing.T, lit string) exactNum {
	e, err := Parse(lit)
	if err != nil {
		t.Fatal(err)
	}
	f := new(big.Float).SetPrec(200)
	switch v := e.(type) {
	case *IntLit:
		return exactNum{v: f.SetInt64(v.Value)}
	case *UintLit:
		return exactNum{v: f.SetUint64(v.Value)}
	case *FloatLit:
		return exactNum{v: f.SetFloat64(v.Value)}
	}
	t.Fatalf("%s is not a number literal", lit)
	return exactNum{}
}

// TestNumericMatrix compares every pair of numeric column types, and every
// numeric column with literals in and out of its range, under every
// comparison operator against an exact reference.
func TestNumericMatrix(t *testing.T) {
	mem := newChecked(t)
	rec := fixtureRecord(t, mem)
	defer rec.Release()
	col := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
	rows := int(rec.NumRows())
	want := func(l, r func(i int) (exactNum, bool), ok func(int) bool) string {
		var sb strings.Builder
		for i := range rows {
			a, av := l(i)
			b, bv := r(i)
			switch {
			case !av || !bv:
				sb.WriteByte('N')
			case ok(a.cmp(b)):
				sb.WriteByte('T')
			default:
				sb.WriteByte('F')
			}
		}
		return sb.String()
	}
	colVal := func(name string) func(int) (exactNum, bool) {
		a := col(name)
		return func(i int) (exactNum, bool) {
			if a.IsNull(i) {
				return exactNum{}, false
			}
			return exactOf(a, i), true
		}
	}
	literals := []string{"0", "-1", "2.5", "255", "256", "-129", "1e10", "1000.0",
		"9223372036854775807", "-9223372036854775808", "18446744073709551615", "-2.5"}
	for _, a := range numericCols {
		for _, op := range cmpOps {
			for _, b := range numericCols {
				f := fmt.Sprintf("%s %s %s", a, op.text, b)
				if got, w := evalTri(t, mem, rec, f), want(colVal(a), colVal(b), op.ok); got != w {
					t.Errorf("%s: got %s, want %s", f, got, w)
				}
			}
			for _, lit := range literals {
				v := literalExact(t, lit)
				litVal := func(int) (exactNum, bool) { return v, true }
				f := fmt.Sprintf("%s %s %s", a, op.text, lit)
				if got, w := evalTri(t, mem, rec, f), want(colVal(a), litVal, op.ok); got != w {
					t.Errorf("%s: got %s, want %s", f, got, w)
				}
				f = fmt.Sprintf("%s %s %s", lit, op.text, a)
				if got, w := evalTri(t, mem, rec, f), want(litVal, colVal(a), op.ok); got != w {
					t.Errorf("%s: got %s, want %s", f, got, w)
				}
			}
		}
	}
}

// TestInMatrix checks IN and NOT IN over every numeric column type with
// lists that mix in-range, out-of-range and fractional values, small
// enough for the linear scan and large enough for the hash table.
func TestInMatrix(t *testing.T) {
	mem := newChecked(t)
	rec := fixtureRecord(t, mem)
	defer rec.Release()
	lists := [][]string{
		{"1", "2.5", "255", "-2"},
		{"18446744073709551615", "3", "-9223372036854775808"},
		{"0.25", "1.5", "100", "65535", "100000", "4000000000", "9223372036854775807", "1000", "7", "8", "9"},
	}
	for _, name := range numericCols {
		a := rec.Column(rec.Schema().FieldIndices(name)[0])
		for _, list := range lists {
			vals := make([]exactNum, len(list))
			for i, l := range list {
				vals[i] = literalExact(t, l)
			}
			var want, wantNot strings.Builder
			for i := range int(rec.NumRows()) {
				if a.IsNull(i) {
					want.WriteByte('N')
					wantNot.WriteByte('N')
					continue
				}
				x := exactOf(a, i)
				hit := false
				for _, v := range vals {
					hit = hit || x.cmp(v) == 0
				}
				want.WriteByte("FT"[btoi(hit)])
				wantNot.WriteByte("TF"[btoi(hit)])
			}
			f := fmt.Sprintf("%s IN (%s)", name, strings.Join(list, ", "))
			if got := evalTri(t, mem, rec, f); got != want.String() {
				t.Errorf("%s: got %s, want %s", f, got, want.String())
			}
			f = fmt.Sprintf("%s NOT IN (%s)", name, strings.Join(list, ", "))
			if got := evalTri(t, mem, rec, f); got != wantNot.String() {
				t.Errorf("%s: got %s, want %s", f, got, wantNot.String())
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
