package vindex

import (
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

func TestPartitionBufferSpillKeepsOrder(t *testing.T) {
	const parts, rowBytes, n = 7, 5, 5000
	rng := rand.New(rand.NewPCG(1, 2))
	pids := make([]int32, n)
	addrs := make([]uint64, n)
	payload := make([]byte, n*rowBytes)
	for i := range n {
		pids[i] = int32(rng.IntN(parts))
		addrs[i] = rng.Uint64()
		for j := range rowBytes {
			payload[i*rowBytes+j] = byte(rng.Uint32())
		}
	}
	fill := func(budget int64) *partitionBuffer {
		b := newPartitionBuffer(parts, rowBytes, budget, t.TempDir())
		t.Cleanup(b.close)
		for off := 0; off < n; off += 333 {
			end := min(off+333, n)
			if err := b.add(pids[off:end], addrs[off:end], payload[off*rowBytes:end*rowBytes]); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	mem := fill(1 << 30)
	small := fill(2000)
	if mem.spilled() || !small.spilled() || len(small.runs) < 5 {
		t.Fatalf("spilled: big budget %v, small budget %v (%d runs)", mem.spilled(), small.spilled(), len(small.runs))
	}
	if small.peak > 2000+2*(8+rowBytes)*parts*333 {
		t.Fatalf("small budget peaked at %d bytes", small.peak)
	}
	for p := range parts {
		a1, p1, err := mem.partition(p)
		if err != nil {
			t.Fatal(err)
		}
		a2, p2, err := small.partition(p)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a1, a2) || !slices.Equal(p1, p2) {
			t.Fatalf("partition %d differs after spilling", p)
		}
		var want []uint64
		for i := range n {
			if int(pids[i]) == p {
				want = append(want, addrs[i])
			}
		}
		if !slices.Equal(a1, want) {
			t.Fatalf("partition %d: rows out of order", p)
		}
	}
	name := small.file.Name()
	small.close()
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Fatalf("spill file %s left behind: %v", name, err)
	}
}

func TestPartitionBufferRejectsBadPartition(t *testing.T) {
	b := newPartitionBuffer(2, 1, 100, t.TempDir())
	if err := b.add([]int32{2}, []uint64{1}, []byte{0}); err == nil {
		t.Fatal("partition out of range accepted")
	}
}
