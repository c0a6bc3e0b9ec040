package table

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// conformer checks incoming batches against a table's schema and returns them
// with the table's column order and exact types. Writers need this because
// clients send columns in any order, name list items differently ("item" vs
// "element") and mark fields nullable even when they carry no nulls.
type conformer struct {
	target *arrow.Schema
	source []int // source[i] = input column index of target field i
}

// ErrSchemaMismatch reports input data whose schema cannot be written to a table.
var ErrSchemaMismatch = fmt.Errorf("schema mismatch")

func newConformer(target, input *arrow.Schema) (*conformer, error) {
	byName := make(map[string]int, input.NumFields())
	for i, f := range input.Fields() {
		if _, dup := byName[f.Name]; dup {
			return nil, fmt.Errorf("%w: input has column %q twice", ErrSchemaMismatch, f.Name)
		}
		byName[f.Name] = i
	}
	c := &conformer{target: target, source: make([]int, target.NumFields())}
	var missing []string
	for i, tf := range target.Fields() {
		j, ok := byName[tf.Name]
		if !ok {
			missing = append(missing, tf.Name)
			continue
		}
		if err := compatibleType(tf.Name, tf.Type, input.Field(j).Type); err != nil {
			return nil, err
		}
		c.source[i] = j
		delete(byName, tf.Name)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: input lacks column(s) %s of the table schema", ErrSchemaMismatch, quoteList(missing))
	}
	if len(byName) > 0 {
		extra := make([]string, 0, len(byName))
		for _, f := range input.Fields() {
			if _, ok := byName[f.Name]; ok {
				extra = append(extra, f.Name)
			}
		}
		return nil, fmt.Errorf("%w: input has column(s) %s that the table does not have", ErrSchemaMismatch, quoteList(extra))
	}
	return c, nil
}

// apply returns rec conformed to the target schema. The caller owns the
// returned batch (and still owns rec).
func (c *conformer) apply(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, len(c.source))
	defer func() {
		for _, col := range cols {
			if col != nil {
				col.Release()
			}
		}
	}()
	for i, j := range c.source {
		tf := c.target.Field(i)
		in := rec.Column(j)
		if err := checkNulls(tf.Name, tf, in.Data()); err != nil {
			return nil, err
		}
		data := retype(in.Data(), tf.Type)
		cols[i] = array.MakeFromData(data)
		data.Release()
	}
	return array.NewRecordBatch(c.target, cols, rec.NumRows()), nil
}

// compatibleType accepts input types equal to the table's type up to child
// field names and nullability of nested fields.
func compatibleType(path string, want, got arrow.DataType) error {
	mismatch := func() error {
		return fmt.Errorf("%w: column %q has type %s but the table has %s", ErrSchemaMismatch, path, got, want)
	}
	if want.ID() != got.ID() {
		return mismatch()
	}
	switch w := want.(type) {
	case *arrow.ListType:
		return compatibleType(path+".item", w.Elem(), got.(*arrow.ListType).Elem())
	case *arrow.LargeListType:
		return compatibleType(path+".item", w.Elem(), got.(*arrow.LargeListType).Elem())
	case *arrow.FixedSizeListType:
		g := got.(*arrow.FixedSizeListType)
		if w.Len() != g.Len() {
			return mismatch()
		}
		return compatibleType(path+".item", w.Elem(), g.Elem())
	case *arrow.StructType:
		g := got.(*arrow.StructType)
		if w.NumFields() != g.NumFields() {
			return mismatch()
		}
		for i, wf := range w.Fields() {
			gf := g.Field(i)
			if wf.Name != gf.Name {
				return fmt.Errorf("%w: struct column %q has field %q where the table has %q", ErrSchemaMismatch, path, gf.Name, wf.Name)
			}
			if err := compatibleType(path+"."+wf.Name, wf.Type, gf.Type); err != nil {
				return err
			}
		}
		return nil
	case *arrow.DictionaryType:
		g := got.(*arrow.DictionaryType)
		if !arrow.TypeEqual(w.IndexType, g.IndexType) {
			return mismatch()
		}
		return compatibleType(path, w.ValueType, g.ValueType)
	default:
		if !arrow.TypeEqual(want, got) {
			return mismatch()
		}
		return nil
	}
}

// checkNulls rejects nulls in fields the table declares non-nullable.
func checkNulls(path string, f arrow.Field, data arrow.ArrayData) error {
	if !f.Nullable && data.NullN() > 0 {
		return fmt.Errorf("%w: column %q is not nullable but the input has %d null value(s)", ErrSchemaMismatch, path, data.NullN())
	}
	switch t := f.Type.(type) {
	case *arrow.ListType:
		return checkNulls(path+".item", t.ElemField(), data.Children()[0])
	case *arrow.LargeListType:
		return checkNulls(path+".item", t.ElemField(), data.Children()[0])
	case *arrow.FixedSizeListType:
		return checkNulls(path+".item", t.ElemField(), data.Children()[0])
	case *arrow.StructType:
		for i, cf := range t.Fields() {
			if err := checkNulls(path+"."+cf.Name, cf, data.Children()[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// retype returns data re-labelled with typ (which compatibleType accepted),
// sharing the buffers. The caller releases the result.
func retype(data arrow.ArrayData, typ arrow.DataType) arrow.ArrayData {
	if arrow.TypeEqual(data.DataType(), typ) {
		data.Retain()
		return data
	}
	var childTypes []arrow.DataType
	switch t := typ.(type) {
	case *arrow.ListType:
		childTypes = []arrow.DataType{t.Elem()}
	case *arrow.LargeListType:
		childTypes = []arrow.DataType{t.Elem()}
	case *arrow.FixedSizeListType:
		childTypes = []arrow.DataType{t.Elem()}
	case *arrow.StructType:
		for _, f := range t.Fields() {
			childTypes = append(childTypes, f.Type)
		}
	}
	children := make([]arrow.ArrayData, len(data.Children()))
	for i, ch := range data.Children() {
		if i < len(childTypes) {
			children[i] = retype(ch, childTypes[i])
		} else {
			ch.Retain()
			children[i] = ch
		}
	}
	out := array.NewData(typ, data.Len(), data.Buffers(), children, data.NullN(), data.Offset())
	if d := data.Dictionary(); d != nil {
		out.SetDictionary(d)
	}
	for _, ch := range children {
		ch.Release()
	}
	return out
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
