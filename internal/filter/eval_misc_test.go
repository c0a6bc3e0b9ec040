package filter

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// miscRecord holds column-to-column cases for booleans and binaries and
// dictionaries with several index and value types.
func miscRecord(t *testing.T, mem memory.Allocator) arrow.RecordBatch {
	t.Helper()
	valid := []bool{true, true, true, true, false}
	b1 := array.NewBooleanBuilder(mem)
	defer b1.Release()
	b1.AppendValues([]bool{true, true, false, false, true}, valid)
	b2 := array.NewBooleanBuilder(mem)
	defer b2.Release()
	b2.AppendValues([]bool{true, false, true, false, true}, nil)
	bin1 := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	defer bin1.Release()
	bin1.AppendValues([][]byte{{1}, {1, 2}, {}, {9}, nil}, valid)
	lbin := array.NewBinaryBuilder(mem, arrow.BinaryTypes.LargeBinary)
	defer lbin.Release()
	lbin.AppendValues([][]byte{{1}, {1}, {0}, {9, 9}, {}}, nil)
	ints := array.NewInt32Builder(mem)
	defer ints.Release()
	ints.AppendValues([]int32{7, 8, 9}, nil)
	dictI := ints.NewArray()
	defer dictI.Release()
	idx16 := array.NewUint16Builder(mem)
	defer idx16.Release()
	idx16.AppendValues([]uint16{0, 1, 2, 1, 0}, valid)
	i16 := idx16.NewArray()
	defer i16.Release()
	strs := array.NewLargeStringBuilder(mem)
	defer strs.Release()
	strs.AppendValues([]string{"x", "yy", ""}, []bool{true, true, false})
	dictS := strs.NewArray()
	defer dictS.Release()
	idx64 := array.NewUint64Builder(mem)
	defer idx64.Release()
	idx64.AppendValues([]uint64{2, 1, 0, 0, 1}, nil)
	i64 := idx64.NewArray()
	defer i64.Release()
	d1 := array.NewDictionaryArray(&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Uint16, ValueType: arrow.PrimitiveTypes.Int32}, i16, dictI)
	defer d1.Release()
	d2 := array.NewDictionaryArray(&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Uint64, ValueType: arrow.BinaryTypes.LargeString}, i64, dictS)
	defer d2.Release()
	cols := []arrow.Array{b1.NewArray(), b2.NewArray(), bin1.NewArray(), lbin.NewArray(), d1, d2}
	defer func() {
		for _, c := range cols[:4] {
			c.Release()
		}
	}()
	fields := []arrow.Field{{Name: "b1", Type: cols[0].DataType(), Nullable: true}, {Name: "b2", Type: cols[1].DataType()},
		{Name: "bin", Type: cols[2].DataType(), Nullable: true}, {Name: "lbin", Type: cols[3].DataType()},
		{Name: "di", Type: d1.DataType(), Nullable: true}, {Name: "ds", Type: d2.DataType(), Nullable: true}}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, 5)
}

func TestEvalMisc(t *testing.T) {
	mem := newChecked(t)
	rec := miscRecord(t, mem)
	defer rec.Release()
	cases := []struct{ filter, want string }{
		{"b1 = b2", "TFFTN"},
		{"b1 != b2", "FTTFN"},
		{"b1 < b2", "FFTFN"},
		{"b1 <= b2", "TFTTN"},
		{"b1 > b2", "FTFFN"},
		{"b1 >= b2", "TTFTN"},
		{"b1 AND b2", "TFFFN"},
		{"b1 OR b2", "TTTFT"},
		{"b1 IN (false)", "FFTTN"},
		{"b2 IN (true, false)", "TTTTT"},
		{"bin = lbin", "TFFFN"},
		{"bin < lbin", "FFTTN"},
		{"lbin = X'09'", "FFFFF"},
		{"lbin >= X'09'", "FFFTF"},
		{"lbin IN (X'01', X'')", "TTFFT"},
		{"bin IS NULL", "FFFFT"},
		{"di = 8", "FTFTN"},
		{"di IN (7, 9)", "TFTFN"},
		{"di + 1 = 10", "FFTFN"},
		{"ds = 'yy'", "NTFFT"},
		{"ds IS NULL", "TFFFF"},
		{"ds LIKE 'x%'", "NFTTF"},
		{"length(ds) = 2", "NTFFT"},
	}
	for _, c := range cases {
		if got := evalTri(t, mem, rec, c.filter); got != c.want {
			t.Errorf("%s: got %s, want %s", c.filter, got, c.want)
		}
	}
}

// TestNullTypedColumn: a column of Arrow's Null type behaves as all-NULL
// wherever a value is expected.
func TestNullTypedColumn(t *testing.T) {
	mem := newChecked(t)
	ib := array.NewInt64Builder(mem)
	ib.AppendValues([]int64{1, 2}, nil)
	ints := ib.NewArray()
	ib.Release()
	defer ints.Release()
	nulls := array.NewNull(2)
	defer nulls.Release()
	sc := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.Null, Nullable: true}, {Name: "i", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rec := array.NewRecordBatch(sc, []arrow.Array{nulls, ints}, 2)
	defer rec.Release()
	cases := []struct{ filter, want string }{
		{"n", "NN"},
		{"n IS NULL", "TT"},
		{"n AND i > 1", "FN"},
		{"n OR i > 1", "NT"},
		{"NOT n", "NN"},
		{"n = i", "NN"},
		{"n LIKE 'a%'", "NN"},
		{"i + n > 0", "NN"},
		{"coalesce(n, i) = 2", "FT"},
		{"n IN (1, 2)", "NN"},
		{"n IS TRUE", "FF"},
	}
	for _, c := range cases {
		if got := evalTri(t, mem, rec, c.filter); got != c.want {
			t.Errorf("%s: got %s, want %s", c.filter, got, c.want)
		}
	}
}
