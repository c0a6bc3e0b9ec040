package executor

import (
	"fmt"
	"slices"
	"testing"
)

func TestOwnersStableAndBalanced(t *testing.T) {
	nodes := []string{"e0:7000", "e1:7000", "e2:7000", "e3:7000"}
	count := map[string]int{}
	const keys = 20000
	for i := range keys {
		key := fmt.Sprintf("az://acct/c/db/t.lance\x00f%d", i)
		o := Owners(nodes, key)
		if len(o) != len(nodes) {
			t.Fatalf("owners %v", o)
		}
		count[o[0]]++
		// Same inputs, same answer, whatever the member order.
		rev := slices.Clone(nodes)
		slices.Reverse(rev)
		if got := Owners(rev, key); !slices.Equal(got, o) {
			t.Fatalf("owners depend on member order: %v vs %v", got, o)
		}
	}
	for n, c := range count {
		if c < keys/4*9/10 || c > keys/4*11/10 {
			t.Errorf("node %s is primary for %d of %d keys, want about a quarter", n, c, keys)
		}
	}
}

// Removing a node moves only the keys it owned; adding one moves only the
// keys it takes.
func TestOwnersMinimalMovement(t *testing.T) {
	all := []string{"a", "b", "c", "d", "e"}
	less := []string{"a", "b", "c", "d"}
	moved := 0
	for i := range 5000 {
		key := fmt.Sprint("k", i)
		before, after := Owners(all, key)[0], Owners(less, key)[0]
		if before != after {
			if before != "e" {
				t.Fatalf("key %s moved from %s to %s though %s stayed", key, before, after, before)
			}
			moved++
		}
	}
	if moved < 800 || moved > 1200 {
		t.Errorf("%d of 5000 keys moved when one of five nodes left, want about 1000", moved)
	}
}

func TestPick(t *testing.T) {
	owners := []string{"a", "b", "c", "d"}
	none := func(string) bool { return false }
	down := func(ds ...string) func(string) bool {
		return func(n string) bool { return slices.Contains(ds, n) }
	}
	for _, tc := range []struct {
		r, turn  int
		excluded func(string) bool
		want     string
	}{
		{2, 0, none, "a"},
		{2, 1, none, "b"},
		{2, 2, none, "a"},
		{1, 1, none, "a"},
		{2, 0, down("a"), "b"},
		{2, 1, down("b"), "a"},
		{2, 0, down("a", "b"), "c"},
		{2, 0, down("a", "b", "c"), "d"},
		{2, 0, down("a", "b", "c", "d"), ""},
		{9, 3, none, "d"},
	} {
		if got := pick(owners, tc.r, tc.turn, tc.excluded); got != tc.want {
			t.Errorf("pick(r=%d, turn=%d) = %q, want %q", tc.r, tc.turn, got, tc.want)
		}
	}
}
