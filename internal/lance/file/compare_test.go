package file

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// expectedFile is what testdata/write-stock.mjs writes next to the table:
// the exact values LanceDB was given, per column. 64-bit integers are
// strings, float16 values are their raw bits, binary values are hex.
type expectedFile struct {
	Rows    int                          `json:"rows"`
	Files   []string                     `json:"files"`
	Columns map[string][]json.RawMessage `json:"columns"`
}

func loadExpected(t *testing.T, path string) *expectedFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var e expectedFile
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &e
}

func decodeJSON(raw json.RawMessage) (any, error) {
	var v any
	d := json.NewDecoder(bytesReader(raw))
	d.UseNumber()
	err := d.Decode(&v)
	return v, err
}

// checkValue compares row i of arr with an expected JSON value and returns
// a description of the first difference, or "".
func checkValue(arr arrow.Array, i int, want any) string {
	if want == nil {
		if arr.IsValid(i) {
			return fmt.Sprintf("got %v, want null", valueString(arr, i))
		}
		return ""
	}
	if arr.IsNull(i) {
		return fmt.Sprintf("got null, want %v", want)
	}
	num := func() string {
		n, ok := want.(json.Number)
		if ok {
			return n.String()
		}
		s, _ := want.(string)
		return s
	}
	eqNum := func(got string) string {
		if got != num() {
			return fmt.Sprintf("got %s, want %s", got, num())
		}
		return ""
	}
	eqFloat := func(got float64) string {
		w, err := strconv.ParseFloat(num(), 64)
		if err != nil || (w != got && !(math.IsNaN(w) && math.IsNaN(got))) {
			return fmt.Sprintf("got %v, want %v", got, want)
		}
		return ""
	}
	switch a := arr.(type) {
	case *array.Int8:
		return eqNum(strconv.FormatInt(int64(a.Value(i)), 10))
	case *array.Int16:
		return eqNum(strconv.FormatInt(int64(a.Value(i)), 10))
	case *array.Int32:
		return eqNum(strconv.FormatInt(int64(a.Value(i)), 10))
	case *array.Int64:
		return eqNum(strconv.FormatInt(a.Value(i), 10))
	case *array.Uint8:
		return eqNum(strconv.FormatUint(uint64(a.Value(i)), 10))
	case *array.Uint16:
		return eqNum(strconv.FormatUint(uint64(a.Value(i)), 10))
	case *array.Uint32:
		return eqNum(strconv.FormatUint(uint64(a.Value(i)), 10))
	case *array.Uint64:
		return eqNum(strconv.FormatUint(a.Value(i), 10))
	case *array.Float16:
		return eqNum(strconv.FormatUint(uint64(a.Value(i).Uint16()), 10))
	case *array.Float32:
		return eqFloat(float64(a.Value(i)))
	case *array.Float64:
		return eqFloat(a.Value(i))
	case *array.Date32:
		return eqNum(strconv.FormatInt(int64(a.Value(i)), 10))
	case *array.Timestamp:
		return eqNum(strconv.FormatInt(int64(a.Value(i)), 10))
	case *array.Boolean:
		if w, _ := want.(bool); w != a.Value(i) {
			return fmt.Sprintf("got %v, want %v", a.Value(i), want)
		}
		return ""
	case *array.String:
		if w, _ := want.(string); w != a.Value(i) {
			return fmt.Sprintf("got %q, want %q", a.Value(i), want)
		}
		return ""
	case *array.LargeString:
		if w, _ := want.(string); w != a.Value(i) {
			return fmt.Sprintf("got %q, want %q", a.Value(i), want)
		}
		return ""
	case *array.Binary:
		if w, _ := want.(string); w != hex.EncodeToString(a.Value(i)) {
			return fmt.Sprintf("got %x, want %s", a.Value(i), want)
		}
		return ""
	case *array.LargeBinary:
		if w, _ := want.(string); w != hex.EncodeToString(a.Value(i)) {
			return fmt.Sprintf("got %x, want %s", a.Value(i), want)
		}
		return ""
	case *array.FixedSizeList:
		w, ok := want.([]any)
		n := int(a.DataType().(*arrow.FixedSizeListType).Len())
		if !ok || len(w) != n {
			return fmt.Sprintf("want %v, got a list of %d", want, n)
		}
		for j := range n {
			if d := checkValue(a.ListValues(), (a.Offset()+i)*n+j, w[j]); d != "" {
				return fmt.Sprintf("item %d: %s", j, d)
			}
		}
		return ""
	case *array.List:
		w, ok := want.([]any)
		start, end := a.ValueOffsets(i)
		if !ok || len(w) != int(end-start) {
			return fmt.Sprintf("want %v, got a list of %d", want, end-start)
		}
		for j := range w {
			if d := checkValue(a.ListValues(), int(start)+j, w[j]); d != "" {
				return fmt.Sprintf("item %d: %s", j, d)
			}
		}
		return ""
	case *array.Struct:
		w, ok := want.(map[string]any)
		st := a.DataType().(*arrow.StructType)
		if !ok || len(w) != st.NumFields() {
			return fmt.Sprintf("want %v, got a struct of %d fields", want, st.NumFields())
		}
		for j, f := range st.Fields() {
			if d := checkValue(a.Field(j), i, w[f.Name]); d != "" {
				return fmt.Sprintf("member %s: %s", f.Name, d)
			}
		}
		return ""
	}
	return fmt.Sprintf("no comparison for %s", arr.DataType())
}

func valueString(arr arrow.Array, i int) string {
	return arr.ValueStr(i)
}

// checkColumn compares rows [0, arr.Len()) of arr with want[rows[k]].
func checkColumn(t *testing.T, name string, arr arrow.Array, want []json.RawMessage, rows []int) {
	t.Helper()
	bad := 0
	for k, row := range rows {
		w, err := decodeJSON(want[row])
		if err != nil {
			t.Fatal(err)
		}
		if d := checkValue(arr, k, w); d != "" {
			t.Errorf("column %s row %d: %s", name, row, d)
			if bad++; bad > 5 {
				return
			}
		}
	}
}
