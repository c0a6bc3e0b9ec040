package query

import (
	"math/rand/v2"
	"testing"
)

func TestBitset(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const n = 1000
	b := newBitset(n)
	ref := make([]bool, n)
	for range 300 {
		i := rng.IntN(n)
		b.set(i)
		ref[i] = true
	}
	count := func(lo, hi int) int {
		c := 0
		for i := lo; i < hi; i++ {
			if ref[i] {
				c++
			}
		}
		return c
	}
	for range 2000 {
		lo := rng.IntN(n + 1)
		hi := lo + rng.IntN(n+1-lo)
		if got, want := b.countRange(lo, hi), count(lo, hi); got != want {
			t.Fatalf("countRange(%d, %d) = %d, want %d", lo, hi, got, want)
		}
		if got, want := b.rank(lo), count(0, lo); got != want {
			t.Fatalf("rank(%d) = %d, want %d", lo, got, want)
		}
	}
	for i := range n {
		if b.has(i) != ref[i] {
			t.Fatalf("has(%d) = %v", i, b.has(i))
		}
	}
	c := newBitset(n)
	c.set(5)
	if !c.subsetOf(b) == ref[5] || !c.subsetOf(nil) || and(nil, c)[0] != c[0] || and(b, nil)[0] != b[0] {
		t.Fatal("subsetOf/and with nil (full) sets")
	}
}
