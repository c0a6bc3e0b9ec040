package query

import "math/bits"

// bitset is a fixed-size set of row numbers. A nil bitset is used by callers
// to mean "every row", so the common case (no deletions, no filter, no nulls)
// costs nothing.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) set(i int)      { b[i>>6] |= 1 << (uint(i) & 63) }
func (b bitset) has(i int) bool { return b[i>>6]&(1<<(uint(i)&63)) != 0 }

// countRange counts the set bits in [start, end).
func (b bitset) countRange(start, end int) int {
	n := 0
	for i := start; i < end; {
		w := b[i>>6] >> (uint(i) & 63)
		take := min(64-(i&63), end-i)
		if take < 64 {
			w &= 1<<uint(take) - 1
		}
		n += bits.OnesCount64(w)
		i += take
	}
	return n
}

// rank counts the set bits below i.
func (b bitset) rank(i int) int {
	n := 0
	for _, w := range b[:i>>6] {
		n += bits.OnesCount64(w)
	}
	if r := uint(i) & 63; r != 0 {
		n += bits.OnesCount64(b[i>>6] & (1<<r - 1))
	}
	return n
}

// and returns a ∩ b, treating nil as the full set.
func and(a, b bitset) bitset {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	// Sets over the same rows may differ in capacity; bits past the end of
	// the shorter one are unset.
	out := make(bitset, max(len(a), len(b)))
	for i := range min(len(a), len(b)) {
		out[i] = a[i] & b[i]
	}
	return out
}

// subsetOf reports whether every bit of a is set in b (nil b: full set).
func (b bitset) subsetOf(of bitset) bool {
	if of == nil {
		return true
	}
	for i, w := range b {
		if w&^of[i] != 0 {
			return false
		}
	}
	return true
}

// sparseRows describes which physical rows a cached block holds: nil, nil
// when offsets are exactly 0..physical-1 (every row), else the offsets and a
// bitset of them.
func sparseRows(offsets []uint32, physical uint64) ([]uint32, bitset) {
	full := uint64(len(offsets)) == physical
	for i, o := range offsets {
		if !full {
			break
		}
		full = int(o) == i
	}
	if full {
		return nil, nil
	}
	present := newBitset(int(physical))
	for _, o := range offsets {
		present.set(int(o))
	}
	return offsets, present
}
