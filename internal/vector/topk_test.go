package vector

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestTopKMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, k := range []int{0, 1, 2, 5, 10, 100, 1000} {
		for _, n := range []int{0, 1, 3, 10, 999} {
			hits := make([]Hit, n)
			tk := NewTopK(k)
			for i := range hits {
				// Few distinct distances, so ties are common.
				hits[i] = Hit{Dist: float32(rng.IntN(7)) - 3, Addr: rng.Uint64N(1 << 40)}
				tk.Push(hits[i].Dist, hits[i].Addr)
			}
			slices.SortFunc(hits, Compare)
			want := hits[:min(k, n)]
			got := tk.Sorted()
			if !slices.Equal(got, want) {
				t.Fatalf("k=%d n=%d: got %v, want %v", k, n, got, want)
			}
		}
	}
}

func TestTopKTiesByAddress(t *testing.T) {
	tk := NewTopK(2)
	tk.Push(1, 30)
	tk.Push(1, 10)
	tk.Push(1, 20)
	tk.Push(0.5, 99)
	got := tk.Sorted()
	want := []Hit{{0.5, 99}, {1, 10}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestTopKDropsNaNAndOrdersInfAndNegZero(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	negZero := float32(math.Copysign(0, -1))
	tk := NewTopK(10)
	tk.Push(nan, 1)
	tk.Push(inf, 2)
	tk.Push(0, 3)
	tk.Push(negZero, 4)
	tk.Push(float32(math.Inf(-1)), 5)
	got := tk.Sorted()
	if len(got) != 4 {
		t.Fatalf("kept %d hits (%v), want 4 without the NaN", len(got), got)
	}
	wantAddrs := []uint64{5, 4, 3, 2} // -Inf, -0, +0, +Inf
	for i, h := range got {
		if h.Addr != wantAddrs[i] {
			t.Fatalf("order %v, want addresses %v", got, wantAddrs)
		}
	}
}

func TestTopKWorstAndFull(t *testing.T) {
	tk := NewTopK(2)
	if tk.Full() || !math.IsInf(float64(tk.Worst()), 1) {
		t.Fatal("empty selection is full or has a finite worst distance")
	}
	tk.Push(3, 1)
	tk.Push(1, 2)
	if !tk.Full() || tk.Worst() != 3 {
		t.Fatalf("full=%v worst=%v, want true 3", tk.Full(), tk.Worst())
	}
	tk.Push(2, 3)
	if tk.Worst() != 2 || tk.Len() != 2 {
		t.Fatalf("worst=%v len=%d, want 2 2", tk.Worst(), tk.Len())
	}
}

func TestMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var all []Hit
	var lists [][]Hit
	for w := range 4 {
		tk := NewTopK(20)
		for i := range 200 {
			h := Hit{Dist: float32(rng.IntN(50)), Addr: uint64(w)<<32 | uint64(i)}
			all = append(all, h)
			tk.Push(h.Dist, h.Addr)
		}
		lists = append(lists, tk.Sorted())
	}
	slices.SortFunc(all, Compare)
	for _, k := range []int{0, 1, 7, 20, 100} {
		got := Merge(k, lists...)
		want := all[:min(k, 20)]
		if k > 20 {
			// Each list holds only its own 20 best, so the merge of them is the
			// best 80 overall only up to 20 guaranteed; check the prefix.
			want = all[:20]
			got = got[:20]
		}
		if !slices.Equal(got, want) {
			t.Fatalf("k=%d: got %v, want %v", k, got, want)
		}
	}
	dup := []Hit{{1, 1}, {2, 2}}
	if got := Merge(5, dup, dup); !slices.Equal(got, dup) {
		t.Fatalf("merge of identical lists: got %v, want %v", got, dup)
	}
}
