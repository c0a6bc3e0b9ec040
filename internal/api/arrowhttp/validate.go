package arrowhttp

import (
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// validateSchema refuses types whose buffers validateData cannot check.
// Lance has no storage for them either, so nothing useful is lost.
func validateSchema(s *arrow.Schema, maxDepth int) error {
	for _, f := range s.Fields() {
		if err := checkType(f.Name, f.Type, maxDepth); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return nil
}

func checkType(path string, dt arrow.DataType, depth int) error {
	if depth <= 0 {
		return fmt.Errorf("column %q: types nested too deeply", path)
	}
	if ext, ok := dt.(arrow.ExtensionType); ok {
		dt = ext.StorageType()
	}
	switch t := dt.(type) {
	case *arrow.NullType, *arrow.BooleanType, *arrow.BinaryType, *arrow.StringType,
		*arrow.LargeBinaryType, *arrow.LargeStringType:
		return nil
	case *arrow.ListType:
		return checkType(path+".item", t.Elem(), depth-1)
	case *arrow.LargeListType:
		return checkType(path+".item", t.Elem(), depth-1)
	case *arrow.FixedSizeListType:
		return checkType(path+".item", t.Elem(), depth-1)
	case *arrow.StructType:
		for _, f := range t.Fields() {
			if err := checkType(path+"."+f.Name, f.Type, depth-1); err != nil {
				return err
			}
		}
		return nil
	case *arrow.DictionaryType:
		if _, ok := t.IndexType.(arrow.FixedWidthDataType); !ok {
			return fmt.Errorf("column %q: dictionary index type %s", path, t.IndexType)
		}
		return checkType(path, t.ValueType, depth-1)
	case *arrow.MapType:
		return fmt.Errorf("column %q has type %s, which is not supported", path, dt)
	case arrow.FixedWidthDataType:
		if t.BitWidth() <= 0 || (t.BitWidth()%8 != 0 && t.ID() != arrow.BOOL) {
			return fmt.Errorf("column %q has type %s, which is not supported", path, dt)
		}
		return nil
	}
	return fmt.Errorf("column %q has type %s, which is not supported in request bodies", path, dt)
}

// setLayouts records, from the schema arrow-go decoded, how many field nodes
// and buffers batches must carry (see guard.dictIDs).
func (g *guard) setLayouts(s *arrow.Schema) error {
	var l layout
	var dicts []arrow.DataType
	for _, f := range s.Fields() {
		typeLayout(f.Type, &l)
		dictionaryValues(f.Type, &dicts)
	}
	if len(dicts) != len(g.dictIDs) {
		return fmt.Errorf("%w: schema has %d dictionary-encoded fields but %d dictionary ids", ErrInvalid, len(dicts), len(g.dictIDs))
	}
	g.batchLayout = &l
	g.dictLayouts = make(map[int64]layout, len(dicts))
	for i, vt := range dicts {
		var dl layout
		typeLayout(vt, &dl)
		if prev, dup := g.dictLayouts[g.dictIDs[i]]; dup && prev != dl {
			return fmt.Errorf("%w: dictionary id %d is used for different value types", ErrInvalid, g.dictIDs[i])
		}
		g.dictLayouts[g.dictIDs[i]] = dl
	}
	return nil
}

// typeLayout adds the field nodes and buffers arrow-go reads for one value
// of type dt (file_reader.go loadArray; only the types checkType admits).
func typeLayout(dt arrow.DataType, l *layout) {
	if ext, ok := dt.(arrow.ExtensionType); ok {
		dt = ext.StorageType()
	}
	l.nodes++
	switch t := dt.(type) {
	case *arrow.NullType:
	case *arrow.BinaryType, *arrow.StringType, *arrow.LargeBinaryType, *arrow.LargeStringType:
		l.buffers += 3
	case *arrow.ListType:
		l.buffers += 2
		typeLayout(t.Elem(), l)
	case *arrow.LargeListType:
		l.buffers += 2
		typeLayout(t.Elem(), l)
	case *arrow.FixedSizeListType:
		l.buffers++
		typeLayout(t.Elem(), l)
	case *arrow.StructType:
		l.buffers++
		for _, f := range t.Fields() {
			typeLayout(f.Type, l)
		}
	default: // fixed width, booleans, dictionary indices
		l.buffers += 2
	}
}

// dictionaryValues lists the value types of dictionary-encoded types within
// dt in the depth-first order of the schema's flatbuffer fields.
func dictionaryValues(dt arrow.DataType, out *[]arrow.DataType) {
	if ext, ok := dt.(arrow.ExtensionType); ok {
		dt = ext.StorageType()
	}
	if d, ok := dt.(*arrow.DictionaryType); ok {
		*out = append(*out, d.ValueType)
		dt = d.ValueType
	}
	switch t := dt.(type) {
	case *arrow.ListType:
		dictionaryValues(t.Elem(), out)
	case *arrow.LargeListType:
		dictionaryValues(t.Elem(), out)
	case *arrow.FixedSizeListType:
		dictionaryValues(t.Elem(), out)
	case *arrow.StructType:
		for _, f := range t.Fields() {
			dictionaryValues(f.Type, out)
		}
	}
}

// validateRecord checks that every buffer of every column is large enough
// for the lengths and offsets the batch claims, so that later reads cannot
// go out of bounds. arrow-go does not check this when decoding IPC.
func validateRecord(rec arrow.RecordBatch) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed batch: %v", p)
		}
	}()
	for i, c := range rec.Columns() {
		if int64(c.Len()) != rec.NumRows() {
			return fmt.Errorf("column %q has %d rows, the batch %d", rec.ColumnName(i), c.Len(), rec.NumRows())
		}
		if err := validateData(rec.ColumnName(i), c.Data()); err != nil {
			return err
		}
	}
	return nil
}

func bufLen(d arrow.ArrayData, i int) int64 {
	bufs := d.Buffers()
	if i >= len(bufs) || bufs[i] == nil {
		return 0
	}
	return int64(bufs[i].Len())
}

func bufBytes(d arrow.ArrayData, i int) []byte {
	bufs := d.Buffers()
	if i >= len(bufs) || bufs[i] == nil {
		return nil
	}
	return bufs[i].Bytes()
}

func validateData(path string, d arrow.ArrayData) error {
	off, n := int64(d.Offset()), int64(d.Len())
	if off < 0 || n < 0 {
		return fmt.Errorf("column %q: negative offset or length", path)
	}
	end := off + n
	short := func(what string, have, need int64) error {
		return fmt.Errorf("column %q: %s buffer has %d bytes, %d rows need %d", path, what, have, n, need)
	}
	if nulls := int64(d.NullN()); nulls > 0 {
		need := bitutil.BytesForBits(end)
		if have := bufLen(d, 0); have < need {
			return short("validity", have, need)
		}
		if set := int64(bitutil.CountSetBits(bufBytes(d, 0), int(off), int(n))); n-set != nulls {
			return fmt.Errorf("column %q: claims %d nulls, its validity bitmap has %d", path, nulls, n-set)
		}
	}
	dt := d.DataType()
	if ext, ok := dt.(arrow.ExtensionType); ok {
		dt = ext.StorageType()
	}
	switch t := dt.(type) {
	case *arrow.NullType:
		return nil
	case *arrow.BooleanType:
		if need, have := bitutil.BytesForBits(end), bufLen(d, 1); have < need {
			return short("value", have, need)
		}
		return nil
	case *arrow.BinaryType, *arrow.StringType:
		_, err := checkOffsets(path, d, 4, bufLen(d, 2))
		return err
	case *arrow.LargeBinaryType, *arrow.LargeStringType:
		_, err := checkOffsets(path, d, 8, bufLen(d, 2))
		return err
	case *arrow.ListType:
		return checkList(path, d, 4)
	case *arrow.LargeListType:
		return checkList(path, d, 8)
	case *arrow.FixedSizeListType:
		child := d.Children()[0]
		if need := end * int64(t.Len()); int64(child.Len()) < need {
			return fmt.Errorf("column %q: list items have %d values, %d rows of %d need %d", path, child.Len(), n, t.Len(), need)
		}
		return validateData(path+".item", child)
	case *arrow.StructType:
		for i, child := range d.Children() {
			name := path + "." + t.Field(i).Name
			if int64(child.Len()) < end {
				return fmt.Errorf("column %q has %d values, the struct needs %d", name, child.Len(), end)
			}
			if err := validateData(name, child); err != nil {
				return err
			}
		}
		return nil
	case *arrow.DictionaryType:
		return checkDictionary(path, d, t)
	case arrow.FixedWidthDataType:
		width := int64(t.BitWidth() / 8)
		if need, have := end*width, bufLen(d, 1); have < need {
			return short("value", have, need)
		}
		return nil
	}
	return fmt.Errorf("column %q has type %s, which is not supported in request bodies", path, d.DataType())
}

// checkOffsets checks the offsets buffer (buffer 1) of a variable-size
// array: large enough, non-decreasing, and within limit (the data buffer or
// the child's length). It returns the last offset.
func checkOffsets(path string, d arrow.ArrayData, width, limit int64) (int64, error) {
	off, n := int64(d.Offset()), int64(d.Len())
	if n == 0 {
		return 0, nil
	}
	raw := bufBytes(d, 1)
	if need := (off + n + 1) * width; int64(len(raw)) < need {
		return 0, fmt.Errorf("column %q: offsets buffer has %d bytes, %d rows need %d", path, len(raw), n, need)
	}
	at := func(i int64) int64 {
		if width == 4 {
			return int64(int32(binary.LittleEndian.Uint32(raw[i*4:])))
		}
		return int64(binary.LittleEndian.Uint64(raw[i*8:]))
	}
	prev := at(off)
	if prev < 0 {
		return 0, fmt.Errorf("column %q: negative offset %d at row 0", path, prev)
	}
	for i := off + 1; i <= off+n; i++ {
		cur := at(i)
		if cur < prev {
			return 0, fmt.Errorf("column %q: offsets decrease at row %d (%d after %d)", path, i-off, cur, prev)
		}
		prev = cur
	}
	if prev > limit {
		return 0, fmt.Errorf("column %q: offsets reach %d, beyond the %d available", path, prev, limit)
	}
	return prev, nil
}

func checkList(path string, d arrow.ArrayData, width int64) error {
	child := d.Children()[0]
	if _, err := checkOffsets(path, d, width, int64(child.Len())); err != nil {
		return err
	}
	return validateData(path+".item", child)
}

// checkDictionary validates the indices and the dictionary, and that every
// valid index points into the dictionary.
func checkDictionary(path string, d arrow.ArrayData, t *arrow.DictionaryType) error {
	off, n := int64(d.Offset()), int64(d.Len())
	width := int64(t.IndexType.(arrow.FixedWidthDataType).BitWidth() / 8)
	raw := bufBytes(d, 1)
	if need := (off + n) * width; int64(len(raw)) < need {
		return fmt.Errorf("column %q: index buffer has %d bytes, %d rows need %d", path, len(raw), n, need)
	}
	dict := d.Dictionary()
	if dict == nil {
		if n == 0 {
			return nil
		}
		return fmt.Errorf("column %q: dictionary missing", path)
	}
	if err := validateData(path+" (dictionary)", dict); err != nil {
		return err
	}
	size := int64(dict.Len())
	valid := bufBytes(d, 0)
	signed := t.IndexType.ID() == arrow.INT8 || t.IndexType.ID() == arrow.INT16 || t.IndexType.ID() == arrow.INT32 || t.IndexType.ID() == arrow.INT64
	for i := off; i < off+n; i++ {
		if d.NullN() > 0 && !bitutil.BitIsSet(valid, int(i)) {
			continue
		}
		var v int64
		switch width {
		case 1:
			v = int64(raw[i])
			if signed {
				v = int64(int8(raw[i]))
			}
		case 2:
			u := binary.LittleEndian.Uint16(raw[i*2:])
			v = int64(u)
			if signed {
				v = int64(int16(u))
			}
		case 4:
			u := binary.LittleEndian.Uint32(raw[i*4:])
			v = int64(u)
			if signed {
				v = int64(int32(u))
			}
		default:
			v = int64(binary.LittleEndian.Uint64(raw[i*8:]))
		}
		if v < 0 || v >= size {
			return fmt.Errorf("column %q: dictionary index %d at row %d outside the %d-entry dictionary", path, v, i-off, size)
		}
	}
	return nil
}
