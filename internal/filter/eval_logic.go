package filter

import (
	"encoding/binary"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// triBits is a boolean operand as two bitmaps at offset 0: t marks TRUE
// rows and f marks FALSE rows; rows in neither are NULL. A scalar operand
// has constant words instead.
type triBits struct {
	t, f   []byte
	ct, cf uint64 // used when scalar
	scalar bool
	bufs   []*memory.Buffer
}

func (b *triBits) release() {
	for _, x := range b.bufs {
		x.Release()
	}
}

func (b *triBits) words(i int) (t, f uint64) {
	if b.scalar {
		return b.ct, b.cf
	}
	return loadWord(b.t, i), loadWord(b.f, i)
}

func loadWord(x []byte, i int) uint64 {
	if i+8 <= len(x) {
		return binary.LittleEndian.Uint64(x[i:])
	}
	var buf [8]byte
	copy(buf[:], x[i:])
	return binary.LittleEndian.Uint64(buf[:])
}

func storeWord(x []byte, i int, w uint64) {
	if i+8 <= len(x) {
		binary.LittleEndian.PutUint64(x[i:], w)
		return
	}
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], w)
	copy(x[i:], buf[:])
}

func toTri(mem memory.Allocator, d datum) *triBits {
	if d.scalar {
		tb := &triBits{scalar: true}
		if b, ok := d.arr.(*array.Boolean); ok && b.IsValid(0) {
			if b.Value(0) {
				tb.ct = math.MaxUint64
			} else {
				tb.cf = math.MaxUint64
			}
		}
		return tb
	}
	vals, valid := boolBits(mem, d.arr)
	tb := &triBits{bufs: []*memory.Buffer{vals}}
	n := d.arr.Len()
	f := newBitmap(mem, n)
	tb.bufs = append(tb.bufs, f)
	v, fb := vals.Bytes(), f.Bytes()
	if valid == nil {
		for i := 0; i < len(fb); i += 8 {
			storeWord(fb, i, ^loadWord(v, i))
		}
		tb.t, tb.f = v, fb
		return tb
	}
	tb.bufs = append(tb.bufs, valid)
	t := newBitmap(mem, n)
	tb.bufs = append(tb.bufs, t)
	vb, tbb := valid.Bytes(), t.Bytes()
	for i := 0; i < len(fb); i += 8 {
		w, ok := loadWord(v, i), loadWord(vb, i)
		storeWord(tbb, i, w&ok)
		storeWord(fb, i, ^w&ok)
	}
	tb.t, tb.f = tbb, fb
	return tb
}

// fromTri builds a boolean array from TRUE and FALSE masks.
func fromTri(mem memory.Allocator, n int, fn func(i int) (t, f uint64)) arrow.Array {
	vals := newBitmap(mem, n)
	valid := newBitmap(mem, n)
	v, vb := vals.Bytes(), valid.Bytes()
	for i := 0; i < len(v); i += 8 {
		t, f := fn(i)
		storeWord(v, i, t)
		storeWord(vb, i, t|f)
	}
	// Trailing bits past n may be anything; only the covered rows count.
	if bitutil.CountSetBits(vb, 0, n) == n {
		valid.Release()
		return makeArray(boolType(), n, nil, vals)
	}
	return makeArray(boolType(), n, valid, vals)
}

// andNode and orNode implement Kleene logic: FALSE AND NULL is FALSE,
// TRUE OR NULL is TRUE. When the left side alone decides every row, the
// right side is not evaluated (so `b <> 0 AND a / b > 1` cannot fail on a
// batch where b is always 0), as DataFusion short-circuits whole batches.
type andNode struct{ l, r node }

type orNode struct{ l, r node }

func (n *andNode) dtype() arrow.DataType { return boolType() }
func (n *orNode) dtype() arrow.DataType  { return boolType() }

func (n *andNode) eval(ec *evalCtx) (datum, error) { return evalLogic(ec, n.l, n.r, true) }
func (n *orNode) eval(ec *evalCtx) (datum, error)  { return evalLogic(ec, n.l, n.r, false) }

func evalLogic(ec *evalCtx, ln, rn node, and bool) (datum, error) {
	l, err := ln.eval(ec)
	if err != nil {
		return datum{}, err
	}
	if decided(l, and) {
		return l, nil
	}
	defer l.release()
	r, err := rn.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer r.release()
	n, scalar := ec.rows(l, r)
	if !l.scalar && !r.scalar && l.arr.NullN() == 0 && r.arr.NullN() == 0 {
		// No NULLs: plain bitwise AND/OR of the value bitmaps.
		ld, rd := l.arr.Data(), r.arr.Data()
		vals := newBitmap(ec.mem, n)
		op := bitutil.BitmapAnd
		if !and {
			op = bitutil.BitmapOr
		}
		op(ld.Buffers()[1].Bytes(), rd.Buffers()[1].Bytes(), int64(ld.Offset()), int64(rd.Offset()),
			vals.Bytes(), 0, int64(n))
		return datum{arr: makeArray(boolType(), n, nil, vals)}, nil
	}
	lt, rt := toTri(ec.mem, l), toTri(ec.mem, r)
	defer lt.release()
	defer rt.release()
	out := fromTri(ec.mem, n, func(i int) (uint64, uint64) {
		a, af := lt.words(i)
		b, bf := rt.words(i)
		if and {
			return a & b, af | bf
		}
		return a | b, af & bf
	})
	return datum{arr: out, scalar: scalar}, nil
}

// decided reports whether every row of l is FALSE (for AND) or TRUE (for
// OR), making the right operand irrelevant.
func decided(l datum, and bool) bool {
	b, ok := l.arr.(*array.Boolean)
	if !ok || b.NullN() != 0 {
		return false
	}
	d := b.Data()
	set := bitutil.CountSetBits(d.Buffers()[1].Bytes(), d.Offset(), d.Len())
	if and {
		return set == 0
	}
	return set == d.Len()
}

type notNode struct{ x node }

func (n *notNode) dtype() arrow.DataType { return boolType() }

func (n *notNode) eval(ec *evalCtx) (datum, error) {
	x, err := n.x.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer x.release()
	nrows := x.arr.Len()
	if isNull(x.arr.DataType()) {
		return nullDatum(ec.mem, boolType(), nrows, x.scalar), nil
	}
	t := toTri(ec.mem, x)
	defer t.release()
	out := fromTri(ec.mem, nrows, func(i int) (uint64, uint64) {
		a, f := t.words(i)
		return f, a
	})
	return datum{arr: out, scalar: x.scalar}, nil
}

// isNode is IS [NOT] NULL / TRUE / FALSE; its result is never NULL.
type isNode struct {
	x    node
	what IsWhat
	not  bool
}

func (n *isNode) dtype() arrow.DataType { return boolType() }

func (n *isNode) eval(ec *evalCtx) (datum, error) {
	x, err := n.x.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer x.release()
	nrows := x.arr.Len()
	vals := newBitmap(ec.mem, nrows)
	out := vals.Bytes()
	switch {
	case n.what == IsNull:
		if isNull(x.arr.DataType()) {
			bitutil.SetBitsTo(out, 0, int64(nrows), true)
		} else if x.arr.NullN() > 0 {
			d := x.arr.Data()
			bitutil.InvertBitmap(d.Buffers()[0].Bytes(), d.Offset(), nrows, out, 0)
		}
	case isNull(x.arr.DataType()):
	default:
		t := toTri(ec.mem, x)
		src := t.t
		if n.what == IsFalse {
			src = t.f
		}
		copy(out, src)
		t.release()
	}
	if n.not {
		bitutil.InvertBitmap(out, 0, nrows, out, 0)
	}
	return datum{arr: makeArray(boolType(), nrows, nil, vals), scalar: x.scalar}, nil
}
