package filter

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// inSetNode is `x IN (constants)` over a prebuilt set of x's type. A row is
// TRUE if x is in the set, NULL if x is NULL or the list held a NULL and x
// matched nothing, else FALSE. NOT IN wraps this in notNode.
type inSetNode struct {
	x       node
	hasNull bool
	set     any // *intSet[T] for fixed-width and float keys, *valueSet[string] for bytes, [2]bool for bool
}

func (n *inSetNode) dtype() arrow.DataType { return boolType() }

// valueSet is a small slice scan or, past smallSet entries, a hash set.
type valueSet[T comparable] struct {
	small []T
	m     map[T]struct{}
}

const smallSet = 8

func (s *valueSet[T]) add(v T) {
	if s.m != nil {
		s.m[v] = struct{}{}
		return
	}
	for _, x := range s.small {
		if x == v {
			return
		}
	}
	s.small = append(s.small, v)
	if len(s.small) > smallSet {
		s.m = make(map[T]struct{}, len(s.small))
		for _, x := range s.small {
			s.m[x] = struct{}{}
		}
		s.small = nil
	}
}

// intSet is valueSet for integer keys (floats use their order keys): past
// smallSet entries it probes an open-addressing table with a multiplicative
// hash, which is several times faster than a Go map for this use.
type intSet[T integer] struct {
	small []T
	slots []uint64
	used  []bool
	shift uint
}

func (s *intSet[T]) add(v T) {
	if s.slots == nil {
		for _, x := range s.small {
			if x == v {
				return
			}
		}
		s.small = append(s.small, v)
		return
	}
	s.insert(uint64(v))
}

func (s *intSet[T]) insert(k uint64) {
	mask := uint64(len(s.slots) - 1)
	for h := (k * 0x9E3779B97F4A7C15) >> s.shift; ; h = (h + 1) & mask {
		if !s.used[h] {
			s.used[h], s.slots[h] = true, k
			return
		}
		if s.slots[h] == k {
			return
		}
	}
}

// seal switches to the hash table once the set is large.
func (s *intSet[T]) seal() {
	if len(s.small) <= smallSet {
		return
	}
	size, bits := 16, uint(4)
	for size < 2*len(s.small) {
		size, bits = size*2, bits+1
	}
	s.slots, s.used, s.shift = make([]uint64, size), make([]bool, size), 64-bits
	for _, x := range s.small {
		s.insert(uint64(x))
	}
	s.small = nil
}

func (s *intSet[T]) has(v T) bool {
	if s.slots == nil {
		for _, x := range s.small {
			if x == v {
				return true
			}
		}
		return false
	}
	k := uint64(v)
	mask := uint64(len(s.slots) - 1)
	for h := (k * 0x9E3779B97F4A7C15) >> s.shift; s.used[h]; h = (h + 1) & mask {
		if s.slots[h] == k {
			return true
		}
	}
	return false
}

func buildIntSet[T integer](vals []arrow.Array, get func(arrow.Array) T) *intSet[T] {
	s := &intSet[T]{}
	for _, v := range vals {
		s.add(get(v))
	}
	s.seal()
	return s
}

func buildSet[T comparable](vals []arrow.Array, get func(arrow.Array) T) *valueSet[T] {
	s := &valueSet[T]{}
	for _, v := range vals {
		s.add(get(v))
	}
	return s
}

func first[T arrow.FixedWidthType](a arrow.Array) T { return fixedValues[T](a)[0] }

func (n *inSetNode) build(dt arrow.DataType, vals []arrow.Array) error {
	switch dt.ID() {
	case arrow.INT8:
		n.set = buildIntSet(vals, first[int8])
	case arrow.INT16:
		n.set = buildIntSet(vals, first[int16])
	case arrow.INT32, arrow.DATE32:
		n.set = buildIntSet(vals, first[int32])
	case arrow.INT64, arrow.TIMESTAMP:
		n.set = buildIntSet(vals, first[int64])
	case arrow.UINT8:
		n.set = buildIntSet(vals, first[uint8])
	case arrow.UINT16:
		n.set = buildIntSet(vals, first[uint16])
	case arrow.UINT32:
		n.set = buildIntSet(vals, first[uint32])
	case arrow.UINT64:
		n.set = buildIntSet(vals, first[uint64])
	case arrow.FLOAT32:
		n.set = buildIntSet(vals, func(a arrow.Array) int32 { return floatKey32(first[float32](a)) })
	case arrow.FLOAT64:
		n.set = buildIntSet(vals, func(a arrow.Array) int64 { return floatKey(first[float64](a)) })
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		n.set = buildSet(vals, func(a arrow.Array) string { return string(bytesAt(a, 0)) })
	case arrow.BOOL:
		var has [2]bool
		for _, v := range vals {
			if v.(*array.Boolean).Value(0) {
				has[1] = true
			} else {
				has[0] = true
			}
		}
		n.set = has
	default:
		return fmt.Errorf("IN is not supported for %s", typeName(dt))
	}
	return nil
}

func (n *inSetNode) eval(ec *evalCtx) (datum, error) {
	x, err := n.x.eval(ec)
	if err != nil {
		return datum{}, err
	}
	defer x.release()
	rows := x.arr.Len()
	match := make([]bool, rows)
	switch s := n.set.(type) {
	case *intSet[int8]:
		probe(s, fixedValues[int8](x.arr), match)
	case *intSet[int16]:
		probe(s, fixedValues[int16](x.arr), match)
	case *intSet[int32]:
		if x.arr.DataType().ID() == arrow.FLOAT32 {
			for i, v := range fixedValues[float32](x.arr) {
				match[i] = s.has(floatKey32(v))
			}
		} else {
			probe(s, fixedValues[int32](x.arr), match)
		}
	case *intSet[int64]:
		if x.arr.DataType().ID() == arrow.FLOAT64 {
			for i, v := range fixedValues[float64](x.arr) {
				match[i] = s.has(floatKey(v))
			}
		} else {
			probe(s, fixedValues[int64](x.arr), match)
		}
	case *intSet[uint8]:
		probe(s, fixedValues[uint8](x.arr), match)
	case *intSet[uint16]:
		probe(s, fixedValues[uint16](x.arr), match)
	case *intSet[uint32]:
		probe(s, fixedValues[uint32](x.arr), match)
	case *intSet[uint64]:
		probe(s, fixedValues[uint64](x.arr), match)
	case *valueSet[string]:
		if isLargeOffsets(x.arr.DataType()) {
			probeBytes(s, newStrView[int64](x.arr), match)
		} else {
			probeBytes(s, newStrView[int32](x.arr), match)
		}
	case [2]bool:
		b := x.arr.(*array.Boolean)
		for i := range match {
			v := b.Value(i)
			match[i] = (v && s[1]) || (!v && s[0])
		}
	}
	return datum{arr: matchesToBool(ec.mem, x, match, n.hasNull), scalar: x.scalar}, nil
}

func isLargeOffsets(dt arrow.DataType) bool {
	return dt.ID() == arrow.LARGE_STRING || dt.ID() == arrow.LARGE_BINARY
}

func probe[T integer](s *intSet[T], vals []T, match []bool) {
	for i, v := range vals {
		match[i] = s.has(v)
	}
}

func probeBytes[O int32 | int64](s *valueSet[string], v strView[O], match []bool) {
	if s.m != nil {
		for i := range match {
			_, match[i] = s.m[string(v.at(i))] // no allocation for map lookups
		}
		return
	}
	for i := range match {
		b := v.at(i)
		for _, c := range s.small {
			if string(b) == c {
				match[i] = true
				break
			}
		}
	}
}

// matchesToBool applies IN's three-valued rule to per-row matches.
func matchesToBool(mem memory.Allocator, x datum, match []bool, hasNull bool) arrow.Array {
	rows := len(match)
	vals := newBitmap(mem, rows)
	for i := 0; i < rows; i += chunkLen {
		packBools(match[i:min(i+chunkLen, rows)], vals.Bytes()[i/8:])
	}
	valid, _ := validityOf(mem, rows, x)
	if hasNull {
		if valid == nil {
			valid = newBitmap(mem, rows)
			for i := range rows {
				if match[i] {
					valid.Bytes()[i/8] |= 1 << (i % 8)
				}
			}
		} else {
			vb := valid.Bytes()
			fresh := newBitmap(mem, rows)
			fb := fresh.Bytes()
			for i := range rows {
				if match[i] && validAt(vb, i) {
					fb[i/8] |= 1 << (i % 8)
				}
			}
			valid.Release()
			valid = fresh
		}
	}
	return makeArray(boolType(), rows, valid, vals)
}
