package filter

import (
	"github.com/apache/arrow-go/v18/arrow"
)

// Nullable reports whether the bound expression may produce NULL, the way
// DataFusion (and so LanceDB) infers a computed column's nullability: NULL
// literals and nullable columns make an expression nullable; literals and
// non-nullable columns combined by operators do not. Expressions that can
// yield NULL from non-null inputs (list indexing, TRY_CAST, regexp and some
// list functions) count as nullable.
func (b *Bound) Nullable(schema *arrow.Schema) bool {
	return mayBeNull(b.expr, schema)
}

func mayBeNull(e Expr, schema *arrow.Schema) bool {
	switch x := e.(type) {
	case *NullLit, *Index, *Field:
		return true
	case *Column:
		return columnNullable(x.Path, schema)
	case *Is:
		return false // IS [NOT] NULL/TRUE/FALSE is never NULL
	case *Cast:
		return x.Try || mayBeNull(x.X, schema)
	case *Call:
		switch x.Name {
		case "coalesce":
			for _, a := range x.Args {
				if !mayBeNull(a, schema) {
					return false
				}
			}
			return true
		case "regexp_match", "array_element", "nullif":
			return true
		}
		for _, a := range x.Args {
			if mayBeNull(a, schema) {
				return true
			}
		}
		return false
	}
	nullable := false
	Walk(e, func(sub Expr) bool {
		if sub == e {
			return true
		}
		if mayBeNull(sub, schema) {
			nullable = true
		}
		return false // children are judged by the recursive call
	})
	return nullable
}

// columnNullable follows a column path through struct fields; a path that
// does not resolve is treated as nullable.
func columnNullable(path []string, schema *arrow.Schema) bool {
	if len(path) == 0 {
		return true
	}
	idx := schema.FieldIndices(path[0])
	if len(idx) != 1 {
		return true
	}
	f := schema.Field(idx[0])
	for _, p := range path[1:] {
		if f.Nullable {
			return true
		}
		st, ok := f.Type.(*arrow.StructType)
		if !ok {
			return true
		}
		i, ok := st.FieldIdx(p)
		if !ok {
			return true
		}
		f = st.Field(i)
	}
	return f.Nullable
}
