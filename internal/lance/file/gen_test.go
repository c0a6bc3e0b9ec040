package file

import (
	"fmt"
	"math/rand/v2"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// gen builds random Arrow arrays for tests. nullPct is the chance (in %)
// that a slot is null; struct slots are never null (Lance 2.0 cannot store
// struct validity) and lowCard makes strings repeat a few values so that
// dictionary pages appear.
type gen struct {
	rnd     *rand.Rand
	mem     memory.Allocator
	nullPct int
	lowCard bool
}

func newGen(seed uint64, mem memory.Allocator) *gen {
	return &gen{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), mem: mem, nullPct: 15}
}

func (g *gen) array(dt arrow.DataType, n int) arrow.Array {
	b := array.NewBuilder(g.mem, dt)
	defer b.Release()
	for range n {
		g.appendValue(b, dt, true)
	}
	return b.NewArray()
}

func (g *gen) str() string {
	if g.lowCard {
		return []string{"alpha", "beta", "gamma", "", "δέλτα"}[g.rnd.IntN(5)]
	}
	b := make([]byte, g.rnd.IntN(24))
	for i := range b {
		b[i] = byte('a' + g.rnd.IntN(26))
	}
	return string(b)
}

func (g *gen) appendValue(b array.Builder, dt arrow.DataType, nullable bool) {
	if nullable && dt.ID() != arrow.STRUCT && g.rnd.IntN(100) < g.nullPct {
		b.AppendNull()
		return
	}
	r := g.rnd
	switch bb := b.(type) {
	case *array.Int8Builder:
		bb.Append(int8(r.Uint32()))
	case *array.Int16Builder:
		bb.Append(int16(r.Uint32()))
	case *array.Int32Builder:
		bb.Append(int32(r.Uint32()))
	case *array.Int64Builder:
		bb.Append(int64(r.Uint64()))
	case *array.Uint8Builder:
		bb.Append(uint8(r.Uint32()))
	case *array.Uint16Builder:
		bb.Append(uint16(r.Uint32()))
	case *array.Uint32Builder:
		bb.Append(r.Uint32())
	case *array.Uint64Builder:
		bb.Append(r.Uint64())
	case *array.Float16Builder:
		bb.Append(float16.New(float32(r.NormFloat64())))
	case *array.Float32Builder:
		bb.Append(float32(r.NormFloat64()))
	case *array.Float64Builder:
		bb.Append(r.NormFloat64() * 1e6)
	case *array.BooleanBuilder:
		bb.Append(r.IntN(2) == 1)
	case *array.StringBuilder:
		bb.Append(g.str())
	case *array.LargeStringBuilder:
		bb.Append(g.str())
	case *array.BinaryBuilder:
		bb.Append([]byte(g.str()))
	case *array.Date32Builder:
		bb.Append(arrow.Date32(r.Int32N(40000)))
	case *array.Date64Builder:
		bb.Append(arrow.Date64(r.Int64N(1 << 42)))
	case *array.Time32Builder:
		bb.Append(arrow.Time32(r.Int32N(86400)))
	case *array.Time64Builder:
		bb.Append(arrow.Time64(r.Int64N(86400e9)))
	case *array.DurationBuilder:
		bb.Append(arrow.Duration(r.Int64()))
	case *array.TimestampBuilder:
		bb.Append(arrow.Timestamp(r.Int64()))
	case *array.Decimal128Builder:
		bb.Append(decimal128.New(r.Int64(), r.Uint64()))
	case *array.FixedSizeBinaryBuilder:
		v := make([]byte, dt.(*arrow.FixedSizeBinaryType).ByteWidth)
		for i := range v {
			v[i] = byte(r.Uint32())
		}
		bb.Append(v)
	case *array.FixedSizeListBuilder:
		bb.Append(true)
		t := dt.(*arrow.FixedSizeListType)
		for range t.Len() {
			g.appendValue(bb.ValueBuilder(), t.Elem(), t.ElemField().Nullable)
		}
	case *array.ListBuilder:
		bb.Append(true)
		t := dt.(*arrow.ListType)
		for range r.IntN(5) {
			g.appendValue(bb.ValueBuilder(), t.Elem(), t.ElemField().Nullable)
		}
	case *array.LargeListBuilder:
		bb.Append(true)
		t := dt.(*arrow.LargeListType)
		for range r.IntN(5) {
			g.appendValue(bb.ValueBuilder(), t.Elem(), t.ElemField().Nullable)
		}
	case *array.StructBuilder:
		bb.Append(true)
		t := dt.(*arrow.StructType)
		for i, f := range t.Fields() {
			g.appendValue(bb.FieldBuilder(i), f.Type, f.Nullable)
		}
	case *array.NullBuilder:
		bb.AppendNull()
	default:
		// LargeBinaryBuilder is a *BinaryBuilder in arrow-go.
		panic(fmt.Sprintf("gen: no generator for %T (%s)", b, dt))
	}
}
