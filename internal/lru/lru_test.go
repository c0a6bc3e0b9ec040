package lru

import (
	"context"
	"errors"
	"testing"
)

func TestEvictsLeastRecentlyUsedByBytes(t *testing.T) {
	c := New[string, int](10)
	c.Put("a", 1, 4)
	c.Put("b", 2, 4)
	if _, ok := c.Peek("a"); !ok { // a is now the most recently used
		t.Fatal("a missing")
	}
	c.Put("c", 3, 4) // evicts b
	if _, ok := c.Peek("b"); ok {
		t.Fatal("b kept past the budget")
	}
	c.Put("huge", 9, 11) // larger than the budget: not kept, nothing evicted
	if st := c.Stats(); st.Entries != 2 || st.Bytes != 8 || st.Evictions != 1 {
		t.Fatalf("stats %+v", st)
	}
	c.RemoveIf(func(k string) bool { return k == "a" })
	if _, ok := c.Peek("a"); ok || c.Stats().Bytes != 4 {
		t.Fatal("RemoveIf")
	}
}

func TestGetLoadsOnceAndDoesNotCacheErrors(t *testing.T) {
	c := New[int, string](100)
	loads := 0
	load := func(context.Context) (string, int64, error) { loads++; return "v", 1, nil }
	for range 3 {
		if v, err := c.Get(context.Background(), 1, load); err != nil || v != "v" {
			t.Fatal(v, err)
		}
	}
	boom := errors.New("boom")
	for range 2 {
		if _, err := c.Get(context.Background(), 2, func(context.Context) (string, int64, error) { loads++; return "", 0, boom }); !errors.Is(err, boom) {
			t.Fatal(err)
		}
	}
	if loads != 3 {
		t.Fatalf("%d loads, want 1 + 2 failed", loads)
	}
}

func TestRemoveDropsOneEntry(t *testing.T) {
	c := New[string, int](10)
	c.Put("a", 1, 3)
	c.Put("b", 2, 4)
	if !c.Remove("a") || c.Remove("a") || c.Remove("missing") {
		t.Fatal("Remove reported the wrong presence")
	}
	if _, ok := c.Peek("a"); ok {
		t.Fatal("a still cached after Remove")
	}
	if v, ok := c.Peek("b"); !ok || v != 2 {
		t.Fatal("Remove dropped another entry")
	}
	// Removal is not an eviction, and the bytes are released.
	if st := c.Stats(); st.Entries != 1 || st.Bytes != 4 || st.Evictions != 0 {
		t.Fatalf("stats %+v", st)
	}
}
