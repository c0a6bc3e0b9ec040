package file

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/encpb"
	"github.com/sarissa-db/sarissa/internal/lance/schema"
)

type nodeKind int

const (
	kindLeaf    nodeKind = iota // one column of values
	kindStruct                  // header column (SimpleStruct pages), then the members
	kindList                    // offsets column, then the item field
	kindStrList                 // string stored as list<uint8> (early 2.0 writers): offsets + bytes column
)

// fieldNode ties a schema field to the columns that store it.
type fieldNode struct {
	field    *schema.Field
	dt       arrow.DataType
	kind     nodeKind
	col      *column
	children []*fieldNode
	// for lists: where each offsets page's items start in the item column
	itemBase []uint64
	items    uint64 // total items referenced by the offsets column
}

// rng is a half-open row range.
type rng struct{ start, end uint64 }

func (r *Reader) buildLayout() error {
	as, err := r.schema.ToArrow()
	if err != nil {
		return unsupportedf("schema", "%v", err)
	}
	r.arrow = as
	next := 0
	for i, f := range r.schema.Fields {
		n, err := r.buildNode(f, as.Field(i).Type, &next)
		if err != nil {
			return err
		}
		if n.rows() != r.numRows {
			return corruptf(fmt.Sprintf("field %q", f.Name), "column %d has %d rows, the file has %d",
				n.col.index, n.rows(), r.numRows)
		}
		r.nodes = append(r.nodes, n)
	}
	if next != len(r.columns) {
		return corruptf("schema", "schema needs %d columns, the file has %d", next, len(r.columns))
	}
	return nil
}

func (n *fieldNode) rows() uint64 { return n.col.rows }

func (r *Reader) takeColumn(f *schema.Field, next *int) (*column, error) {
	if *next >= len(r.columns) {
		return nil, corruptf(fmt.Sprintf("field %q", f.Name), "schema needs column %d, the file has %d columns", *next, len(r.columns))
	}
	c := r.columns[*next]
	*next++
	return c, nil
}

func (r *Reader) buildNode(f *schema.Field, dt arrow.DataType, next *int) (*fieldNode, error) {
	where := fmt.Sprintf("field %q", f.Name)
	col, err := r.takeColumn(f, next)
	if err != nil {
		return nil, err
	}
	n := &fieldNode{field: f, dt: dt, col: col, kind: kindLeaf}
	switch t := dt.(type) {
	case *arrow.StructType:
		n.kind = kindStruct
		for _, pg := range col.pages {
			if _, ok := pg.enc.GetArrayEncoding().(*encpb.ArrayEncoding_Struct); !ok {
				return nil, unsupportedf(pg.where, "struct field %q: page encoding %s, want a struct header", f.Name, encName(pg.enc))
			}
		}
		for i, cf := range f.Children {
			c, err := r.buildNode(cf, t.Field(i).Type, next)
			if err != nil {
				return nil, err
			}
			if c.rows() != col.rows {
				return nil, corruptf(fmt.Sprintf("field %q", cf.Name), "column %d has %d rows, its struct has %d",
					c.col.index, c.rows(), col.rows)
			}
			n.children = append(n.children, c)
		}
		return n, nil
	case *arrow.ListType, *arrow.LargeListType:
		n.kind = kindList
		if err := n.indexOffsets(); err != nil {
			return nil, err
		}
		itemType := dt.(arrow.ListLikeType).Elem()
		c, err := r.buildNode(f.Children[0], itemType, next)
		if err != nil {
			return nil, err
		}
		if c.rows() != n.items {
			return nil, corruptf(fmt.Sprintf("field %q", f.Children[0].Name), "column %d has %d rows, its list references %d items",
				c.col.index, c.rows(), n.items)
		}
		n.children = []*fieldNode{c}
		return n, nil
	case *arrow.StringType, *arrow.LargeStringType, *arrow.BinaryType, *arrow.LargeBinaryType:
		if len(col.pages) > 0 {
			if _, ok := col.pages[0].enc.GetArrayEncoding().(*encpb.ArrayEncoding_List); ok {
				// Early 2.0 writers stored strings as list<uint8> over two columns.
				n.kind = kindStrList
				if err := n.indexOffsets(); err != nil {
					return nil, err
				}
				bytesField := &schema.Field{Name: f.Name + ".bytes", LogicalType: "uint8"}
				c, err := r.buildNode(bytesField, arrow.PrimitiveTypes.Uint8, next)
				if err != nil {
					return nil, err
				}
				if c.rows() != n.items {
					return nil, corruptf(where, "byte column %d has %d rows, the offsets reference %d", c.col.index, c.rows(), n.items)
				}
				n.children = []*fieldNode{c}
			}
		}
		return n, nil
	case *arrow.DictionaryType:
		return nil, unsupportedf(where, "reading Arrow dictionary fields (%s) is not supported", f.LogicalType)
	case *arrow.FixedSizeListType:
		if !fixedWidthItems(t) {
			return nil, unsupportedf(where, "fixed_size_list of %s is not supported (Lance 2.0 only stores fixed-width items)", t.Elem())
		}
	}
	return n, nil
}

// indexOffsets checks that every page of a list's offsets column is a List
// page and records where each page's items start.
func (n *fieldNode) indexOffsets() error {
	for _, pg := range n.col.pages {
		l, ok := pg.enc.GetArrayEncoding().(*encpb.ArrayEncoding_List)
		if !ok {
			return unsupportedf(pg.where, "list field %q: page encoding %s, want list offsets", n.field.Name, encName(pg.enc))
		}
		n.itemBase = append(n.itemBase, n.items)
		if n.items+l.List.GetNumItems() < n.items {
			return corruptf(pg.where, "item count overflows")
		}
		n.items += l.List.GetNumItems()
	}
	return nil
}

// fixedWidthItems reports whether a fixed-size list bottoms out in
// fixed-width values, the only kind Lance 2.0 stores in one column.
func fixedWidthItems(t *arrow.FixedSizeListType) bool {
	switch e := t.Elem().(type) {
	case *arrow.FixedSizeListType:
		return fixedWidthItems(e)
	case arrow.FixedWidthDataType:
		return e.ID() != arrow.DICTIONARY
	}
	return false
}

// encName names an encoding for error messages.
func encName(e *encpb.ArrayEncoding) string {
	switch e.GetArrayEncoding().(type) {
	case *encpb.ArrayEncoding_Flat:
		return "flat"
	case *encpb.ArrayEncoding_Nullable:
		return "nullable"
	case *encpb.ArrayEncoding_FixedSizeList:
		return "fixed_size_list"
	case *encpb.ArrayEncoding_List:
		return "list"
	case *encpb.ArrayEncoding_Struct:
		return "struct"
	case *encpb.ArrayEncoding_Binary:
		return "binary"
	case *encpb.ArrayEncoding_Dictionary:
		return "dictionary"
	case *encpb.ArrayEncoding_Fsst:
		return "fsst"
	case *encpb.ArrayEncoding_PackedStruct:
		return "packed_struct"
	case *encpb.ArrayEncoding_Bitpacked:
		return "bitpacked"
	case *encpb.ArrayEncoding_FixedSizeBinary:
		return "fixed_size_binary"
	case *encpb.ArrayEncoding_BitpackedForNonNeg:
		return "bitpacked_for_non_neg"
	case *encpb.ArrayEncoding_Constant:
		return "constant"
	case *encpb.ArrayEncoding_InlineBitpacking:
		return "inline_bitpacking"
	case *encpb.ArrayEncoding_OutOfLineBitpacking:
		return "out_of_line_bitpacking"
	case *encpb.ArrayEncoding_Variable:
		return "variable"
	case *encpb.ArrayEncoding_PackedStructFixedWidthMiniBlock:
		return "packed_struct_fixed_width_mini_block"
	case *encpb.ArrayEncoding_Block:
		return "block"
	case *encpb.ArrayEncoding_Rle:
		return "rle"
	case *encpb.ArrayEncoding_GeneralMiniBlock:
		return "general_mini_block"
	case *encpb.ArrayEncoding_ByteStreamSplit:
		return "byte_stream_split"
	}
	return "empty"
}
