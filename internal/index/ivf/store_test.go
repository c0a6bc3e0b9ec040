package ivf

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// A written file reopens to the same model and partitions for every kind,
// and searching the reopened file equals searching the one just written.
func TestWriteOpenRoundTrip(t *testing.T) {
	f := clustered(t, 3000)
	for _, p := range []BuildParams{
		{Kind: KindFlat, Metric: vector.Cosine, NumPartitions: 4},
		{Kind: KindPQ, Metric: vector.L2, NumPartitions: 4, NumSubVectors: 8},
		{Kind: KindPQ, Metric: vector.Dot, NumPartitions: 4, NumSubVectors: 8, NumBits: 4},
		{Kind: KindSQ, Metric: vector.L2, NumPartitions: 4},
		{Kind: KindHNSWSQ, Metric: vector.L2, NumPartitions: 2, M: 8, EfConstruction: 32},
	} {
		file := build(t, f, p)
		m := file.Model()
		if m.Kind != p.Kind || m.Metric != p.Metric || m.NumPartitions() != p.NumPartitions {
			t.Fatalf("%v: reopened as %v/%v with %d partitions", p.Kind, m.Kind, m.Metric, m.NumPartitions())
		}
		var rows int64
		for i := range file.Partitions() {
			part, err := file.ReadPartition(context.Background(), i)
			if err != nil {
				t.Fatal(err)
			}
			rows += int64(len(part.Addrs))
			if part.SizeBytes() <= 0 {
				t.Fatal("partition without size")
			}
		}
		if rows != 3000 {
			t.Fatalf("%v: %d rows across partitions", p.Kind, rows)
		}
		q := f.queries[:f.dim]
		a, err := file.Search(context.Background(), q, SearchParams{K: 5}, nil)
		if err != nil || len(a) != 5 {
			t.Fatalf("%v: search %v, %d hits", p.Kind, err, len(a))
		}
	}
}

func fileBytes(t *testing.T, p BuildParams) []byte {
	t.Helper()
	f := clustered(t, 1000)
	file := build(t, f, p)
	data, err := objstore.ReadAll(context.Background(), file.bucket, file.key)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func openBytes(data []byte) (*File, error) {
	b := memory.New()
	ctx := context.Background()
	if err := b.Put(ctx, "x", bytes.NewReader(data)); err != nil {
		return nil, err
	}
	f, err := Open(ctx, b, "x")
	if err != nil {
		return nil, err
	}
	for p := range f.Partitions() {
		if _, err := f.ReadPartition(ctx, p); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Damaged files are refused with ErrCorrupt (or the version error), never
// a panic: flipped bytes in a block and in the footer, truncation, a foreign
// file, a future major version.
func TestCorruptFilesAreRefused(t *testing.T) {
	good := fileBytes(t, BuildParams{Kind: KindPQ, Metric: vector.L2, NumPartitions: 2, NumSubVectors: 4})
	if _, err := openBytes(good); err != nil {
		t.Fatalf("intact file: %v", err)
	}
	flip := func(at int) []byte {
		b := append([]byte(nil), good...)
		b[at] ^= 0x40
		return b
	}
	flen := len(good) - trailerSize
	cases := map[string][]byte{
		"block byte":   flip(20),
		"footer byte":  flip(flen - 40),
		"trailer":      flip(len(good) - 2),
		"truncated":    good[:len(good)-7],
		"tail only":    good[len(good)-trailerSize:],
		"foreign file": bytes.Repeat([]byte("lance"), 40),
		"empty":        nil,
	}
	for name, data := range cases {
		if _, err := openBytes(data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	b := append([]byte(nil), good...)
	// The major version sits after the footer's magic.
	footOff := len(good) - trailerSize - int(leU64(good[len(good)-trailerSize:]))
	b[footOff+8] = 9
	if _, err := openBytes(b); !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("future major version: %v", err)
	}
}

func leU64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// A partition source that fails leaves no object behind.
func TestWriteFailureLeavesNothing(t *testing.T) {
	f := clustered(t, 500)
	m, err := Train(context.Background(), f.data, f.dim, 500, BuildParams{Kind: KindFlat, Metric: vector.L2, NumPartitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	b := memory.New()
	boom := errors.New("boom")
	_, err = m.Write(context.Background(), b, "k", func(p int) ([]uint64, []byte, error) { return nil, nil, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("write: %v", err)
	}
	if _, err := b.Stat(context.Background(), "k"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("object after a failed write: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := openBytes(data)
		if err == nil {
			if _, err := file.Search(context.Background(), make([]float32, file.Model().Dim), SearchParams{K: 3, MaxProbes: 4}, nil); err != nil {
				t.Fatalf("search of a file that opened: %v", err)
			}
		}
	})
}
