package ivf

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sarissa-db/sarissa/internal/index/pq"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
	"github.com/sarissa-db/sarissa/internal/vector"
)

func smallFlat(t testing.TB) *Flat {
	t.Helper()
	f := clustered(t)
	ix, err := BuildFlat(context.Background(), f.addrs[:3000], f.data[:3000*f.dim], f.dim, Params{Metric: vector.Cosine, NumPartitions: 8, Rand: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func smallPQ(t testing.TB) *PQIndex {
	t.Helper()
	f := clustered(t)
	ix, err := BuildPQ(context.Background(), f.addrs[:3000], f.data[:3000*f.dim], f.dim, PQParams{
		IVF: Params{Metric: vector.L2, NumPartitions: 8, Rand: rand.New(rand.NewPCG(1, 1))},
		PQ:  pq.Params{SubVectors: 4, SampleRate: 8, MaxIterations: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	fl, pqx := smallFlat(t), smallPQ(t)
	kf, kp := FileKey("vec_idx", "u1"), FileKey("vec_idx", "u2")
	if kf != "_sarissa_indices/vec_idx/u1/index.ivf" {
		t.Fatalf("key %q", kf)
	}
	if err := WriteFlat(ctx, b, kf, fl); err != nil {
		t.Fatal(err)
	}
	if err := WritePQ(ctx, b, kp, pqx); err != nil {
		t.Fatal(err)
	}
	ff, err := Open(ctx, b, kf)
	if err != nil {
		t.Fatal(err)
	}
	if ff.Kind != KindFlat || ff.Metric != vector.Cosine || ff.Major != FormatMajor {
		t.Fatalf("header %+v", ff.Header)
	}
	// One partition alone, without reading the rest.
	p3, err := ff.LoadFlatPartition(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p3.Addrs, fl.Parts[3].Addrs) || !slices.Equal(p3.Vectors, fl.Parts[3].Vectors) {
		t.Fatal("partition 3 differs after round trip")
	}
	lf, err := ff.LoadFlat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := Open(ctx, b, kp)
	if err != nil {
		t.Fatal(err)
	}
	lp, err := fp.LoadPQ(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !lp.Residual || lp.Codebook.M != 4 || !slices.Equal(lp.Codebook.Centroids, pqx.Codebook.Centroids) {
		t.Fatal("PQ header differs after round trip")
	}
	q := clustered(t).queries[:32]
	a, _ := fl.Search(ctx, q, SearchParams{K: 10, NProbes: 3})
	c, _ := lf.Search(ctx, q, SearchParams{K: 10, NProbes: 3})
	if !slices.Equal(a, c) {
		t.Fatal("flat search differs after round trip")
	}
	a, _ = pqx.Search(ctx, q, SearchParams{K: 10, NProbes: 3}, Refine{})
	c, _ = lp.Search(ctx, q, SearchParams{K: 10, NProbes: 3}, Refine{})
	if !slices.Equal(a, c) {
		t.Fatal("pq search differs after round trip")
	}
	if _, err := fp.LoadFlatPartition(ctx, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("flat partition from PQ file: %v", err)
	}
	if _, err := ff.LoadFlatPartition(ctx, 99); !errors.Is(err, ErrInvalid) {
		t.Errorf("partition 99: %v", err)
	}
}

func put(t *testing.T, b objstore.Bucket, key string, data []byte) {
	t.Helper()
	if err := b.Put(context.Background(), key, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

// reseal recomputes the header checksum so a test can reach checks behind it.
func reseal(buf []byte) {
	size := binary.LittleEndian.Uint64(buf[32:])
	if size <= uint64(len(buf)) && size >= 4 {
		binary.LittleEndian.PutUint32(buf[size-4:], crc32.Checksum(buf[:size-4], castagnoli))
	}
}

func TestStoreCorruption(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	key := FileKey("i", "u")
	if err := WritePQ(ctx, b, key, smallPQ(t)); err != nil {
		t.Fatal(err)
	}
	good, err := objstore.ReadAll(ctx, b, key)
	if err != nil {
		t.Fatal(err)
	}
	hdr := binary.LittleEndian.Uint64(good[32:])
	cases := []struct {
		name   string
		mutate func([]byte) []byte
		want   error
	}{
		{"magic", func(x []byte) []byte { x[0] = 'X'; return x }, ErrCorrupt},
		{"major", func(x []byte) []byte { x[8] = 2; return x }, ErrUnsupportedVersion},
		{"header crc", func(x []byte) []byte { x[fixedHeaderSize+1] ^= 1; return x }, ErrCorrupt},
		{"truncated", func(x []byte) []byte { return x[:len(x)-1] }, ErrCorrupt},
		{"short", func(x []byte) []byte { return x[:10] }, ErrCorrupt},
		{"huge dim", func(x []byte) []byte { binary.LittleEndian.PutUint32(x[16:], 1<<30); return x }, ErrCorrupt},
		{"metric", func(x []byte) []byte { x[13] = 9; reseal(x); return x }, ErrCorrupt},
		{"rows", func(x []byte) []byte {
			binary.LittleEndian.PutUint64(x[hdr-4-16+8:], 1<<40)
			reseal(x)
			return x
		}, ErrCorrupt},
	}
	for _, c := range cases {
		k := "bad/" + strings.ReplaceAll(c.name, " ", "_")
		put(t, b, k, c.mutate(slices.Clone(good)))
		_, err := Open(ctx, b, k)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), k) {
			t.Errorf("%s: %v, want %v naming %s", c.name, err, c.want, k)
		}
	}
	// Block damage surfaces when the partition is loaded.
	bad := slices.Clone(good)
	bad[hdr+2] ^= 0xff
	put(t, b, "bad/block", bad)
	f, err := Open(ctx, b, "bad/block")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.LoadPQPartition(ctx, 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("block corruption: %v", err)
	}
	if _, err := Open(ctx, b, "missing"); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func FuzzDecodeHeader(f *testing.F) {
	ctx := context.Background()
	b := memory.New()
	// Tiny seeds (dim 4, 2 partitions, 4-bit PQ) keep the fuzzer fast.
	const n, dim = 64, 4
	data := make([]float32, n*dim)
	addrs := make([]uint64, n)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range data {
		data[i] = r.Float32()
	}
	for i := range addrs {
		addrs[i] = uint64(i)
	}
	fl, err := BuildFlat(ctx, addrs, data, dim, Params{Metric: vector.L2, NumPartitions: 2, Rand: r})
	if err != nil {
		f.Fatal(err)
	}
	px, err := BuildPQ(ctx, addrs, data, dim, PQParams{IVF: Params{Metric: vector.L2, NumPartitions: 2, Rand: r}, PQ: pq.Params{SubVectors: 2, Bits: 4, SampleRate: 2}})
	if err != nil {
		f.Fatal(err)
	}
	if err := WriteFlat(ctx, b, "f", fl); err != nil {
		f.Fatal(err)
	}
	if err := WritePQ(ctx, b, "p", px); err != nil {
		f.Fatal(err)
	}
	for _, k := range []string{"f", "p"} {
		data, err := objstore.ReadAll(ctx, b, k)
		if err != nil {
			f.Fatal(err)
		}
		size := binary.LittleEndian.Uint64(data[32:])
		f.Add(data[:size], int64(len(data)))
	}
	f.Fuzz(func(t *testing.T, buf []byte, fileSize int64) {
		if len(buf) >= fixedHeaderSize+4 {
			reseal(buf) // let mutations reach the checks behind the checksum
		}
		h, err := DecodeHeader(buf, fileSize)
		if err != nil {
			return
		}
		var total int64 = h.Size
		for p := range h.Partitions {
			total += h.BlockSize(p)
		}
		if total != fileSize {
			t.Fatalf("accepted header covers %d bytes of a %d-byte file", total, fileSize)
		}
	})
}
