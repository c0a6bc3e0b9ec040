package arrowjson

import (
	"bytes"
	"cmp"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// sortKey orders rows for Options.OrderBy; dump.mjs --order-by uses the
// same rule (canonical.mjs sortKey/compareKeys): nulls first, integer-like
// columns numerically, everything else by the bytes of the canonical text.
type sortKey struct {
	kind int // 0 null, 1 signed, 2 unsigned, 3 text
	i    int64
	u    uint64
	text []byte
}

func keyOf(arr arrow.Array, i int, text []byte) sortKey {
	if arr.IsNull(i) {
		return sortKey{kind: 0}
	}
	switch a := arr.(type) {
	case *array.Int8:
		return sortKey{kind: 1, i: int64(a.Value(i))}
	case *array.Int16:
		return sortKey{kind: 1, i: int64(a.Value(i))}
	case *array.Int32:
		return sortKey{kind: 1, i: int64(a.Value(i))}
	case *array.Int64:
		return sortKey{kind: 1, i: a.Value(i)}
	case *array.Uint8:
		return sortKey{kind: 2, u: uint64(a.Value(i))}
	case *array.Uint16:
		return sortKey{kind: 2, u: uint64(a.Value(i))}
	case *array.Uint32:
		return sortKey{kind: 2, u: uint64(a.Value(i))}
	case *array.Uint64:
		return sortKey{kind: 2, u: a.Value(i)}
	case *array.Date32:
		return sortKey{kind: 1, i: int64(a.Value(i))}
	case *array.Date64:
		return sortKey{kind: 1, i: int64(a.Value(i))}
	case *array.Time32:
		return sortKey{kind: 1, i: int64(a.Value(i))}
	case *array.Time64:
		return sortKey{kind: 1, i: int64(a.Value(i))}
	case *array.Timestamp:
		return sortKey{kind: 1, i: int64(a.Value(i))}
	case *array.Duration:
		return sortKey{kind: 1, i: int64(a.Value(i))}
	}
	return sortKey{kind: 3, text: bytes.Clone(text)}
}

func compareKeys(a, b sortKey) int {
	// A column has one type, so signed and unsigned never meet; nulls sort
	// before everything.
	if a.kind != b.kind {
		return cmp.Compare(a.kind, b.kind)
	}
	switch a.kind {
	case 1:
		return cmp.Compare(a.i, b.i)
	case 2:
		return cmp.Compare(a.u, b.u)
	case 3:
		return bytes.Compare(a.text, b.text)
	}
	return 0
}
