package vector

import (
	"math"
	"slices"
)

// Hit is one search result: a distance and the row address it belongs to.
type Hit struct {
	Dist float32
	Addr uint64
}

// orderKey maps a float32 to an integer with the same order as IEEE 754
// totalOrder (what DataFusion's sort uses): -0 sorts before +0, and NaNs
// with the sign bit clear sort after +Inf. Comparing keys is cheaper and
// unambiguous, unlike float comparisons involving NaN.
func orderKey(f float32) uint32 {
	b := math.Float32bits(f)
	if b&0x8000_0000 != 0 {
		return ^b
	}
	return b | 0x8000_0000
}

// Less orders hits by distance (IEEE total order), then by row address, the
// order LanceDB's flat search returns (it sorts by _distance, then _rowid).
func Less(a, b Hit) bool {
	ka, kb := orderKey(a.Dist), orderKey(b.Dist)
	if ka != kb {
		return ka < kb
	}
	return a.Addr < b.Addr
}

// Compare is Less as a three-way comparison, for slices.SortFunc.
func Compare(a, b Hit) int {
	switch {
	case Less(a, b):
		return -1
	case Less(b, a):
		return 1
	}
	return 0
}

// TopK keeps the k smallest hits pushed into it, in a bounded max-heap.
// NaN distances are not kept: LanceDB drops rows whose distance is NaN (for
// example a zero vector under cosine). A TopK is not safe for concurrent
// use; give each worker its own and Merge the results.
type TopK struct {
	k    int
	heap []Hit // max-heap under Less: heap[0] is the worst hit kept
}

// NewTopK returns an empty selection of at most k hits (k ≤ 0 keeps none).
func NewTopK(k int) *TopK {
	return &TopK{k: max(k, 0), heap: make([]Hit, 0, min(max(k, 0), 4096))}
}

// Len is the number of hits kept.
func (t *TopK) Len() int { return len(t.heap) }

// Full reports whether k hits are kept, so a new hit must beat the worst.
func (t *TopK) Full() bool { return len(t.heap) >= t.k }

// Worst returns the largest distance kept; meaningful only when Full. A
// distance strictly greater than Worst can never enter, which lets a scan
// skip most Push calls with one float comparison.
func (t *TopK) Worst() float32 {
	if len(t.heap) == 0 {
		return float32(math.Inf(1))
	}
	return t.heap[0].Dist
}

// Push offers a hit; it is kept if it is among the k smallest so far.
func (t *TopK) Push(dist float32, addr uint64) {
	if dist != dist || t.k == 0 {
		return
	}
	h := Hit{Dist: dist, Addr: addr}
	if len(t.heap) < t.k {
		t.heap = append(t.heap, h)
		t.up(len(t.heap) - 1)
		return
	}
	if !Less(h, t.heap[0]) {
		return
	}
	t.heap[0] = h
	t.down(0)
}

func (t *TopK) up(i int) {
	h := t.heap
	for i > 0 {
		p := (i - 1) / 2
		if !Less(h[p], h[i]) {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func (t *TopK) down(i int) {
	h := t.heap
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		big := l
		if r := l + 1; r < n && Less(h[l], h[r]) {
			big = r
		}
		if !Less(h[i], h[big]) {
			return
		}
		h[i], h[big] = h[big], h[i]
		i = big
	}
}

// Sorted returns the kept hits in ascending order (a new slice).
func (t *TopK) Sorted() []Hit {
	out := slices.Clone(t.heap)
	slices.SortFunc(out, Compare)
	return out
}

// Merge combines sorted partial top-k lists (one per worker or shard) into
// the k smallest hits overall, in ascending order. Inputs must each be sorted
// by Less; a hit present in several lists is kept once.
func Merge(k int, lists ...[]Hit) []Hit {
	if k <= 0 {
		return nil
	}
	total := 0
	for _, l := range lists {
		total += len(l)
	}
	out := make([]Hit, 0, min(k, total))
	pos := make([]int, len(lists))
	for len(out) < k {
		best := -1
		for i, l := range lists {
			if pos[i] < len(l) && (best < 0 || Less(l[pos[i]], lists[best][pos[best]])) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		h := lists[best][pos[best]]
		pos[best]++
		if n := len(out); n > 0 && out[n-1] == h {
			continue
		}
		out = append(out, h)
	}
	return out
}
