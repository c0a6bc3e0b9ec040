package blockcache

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
)

// The benchmarks read 64 KiB ranges of a 4 MiB object with 1 MiB blocks,
// the shape of a Lance page read. The inner bucket is in memory, so "cold"
// measures the cache's own work on a miss (a Stat, a whole-block read and
// copy, the tier inserts), not storage latency.
const (
	benchObject = 4 << 20
	benchRange  = 64 << 10
)

func benchRead(b *testing.B, bk objstore.Bucket, off int64, buf []byte) {
	rc, err := bk.GetRange(context.Background(), dataKey, off, int64(len(buf)))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadFull(rc, buf); err != nil {
		b.Fatal(err)
	}
	rc.Close()
}

// BenchmarkGetRange/inner is the baseline: the memory bucket on its own.
func BenchmarkGetRange(b *testing.B) {
	data := content(1, benchObject)
	offsets := func(i int) int64 { return int64(i*7919*4096) % (benchObject - benchRange) }

	b.Run("inner", func(b *testing.B) {
		inner := memory.New()
		mustPut(b, inner, dataKey, data)
		buf := make([]byte, benchRange)
		b.SetBytes(benchRange)
		i := 0
		for b.Loop() {
			benchRead(b, inner, offsets(i), buf)
			i++
		}
	})

	b.Run("warm-memory", func(b *testing.B) {
		inner := memory.New()
		mustPut(b, inner, dataKey, data)
		c := newCache(b, inner, Config{}, Deps{Memory: newMemTier(b, 64<<20)})
		wantRange(b, c, dataKey, 0, -1, data)
		buf := make([]byte, benchRange)
		b.SetBytes(benchRange)
		i := 0
		for b.Loop() {
			benchRead(b, c, offsets(i), buf)
			i++
		}
		if c.Stats().Inner.Reads != 1 { // the warming read: one window
			b.Fatalf("warm reads reached the inner bucket: %+v", c.Stats().Inner)
		}
	})

	b.Run("warm-disk", func(b *testing.B) {
		inner := memory.New()
		mustPut(b, inner, dataKey, data)
		disk := openDisk(b, DiskConfig{Dir: b.TempDir(), Budget: 64 << 20})
		c := newCache(b, inner, Config{}, Deps{Memory: newMemTier(b, 0), Disk: disk})
		wantRange(b, c, dataKey, 0, -1, data)
		buf := make([]byte, benchRange)
		b.SetBytes(benchRange)
		i := 0
		for b.Loop() {
			benchRead(b, c, offsets(i), buf)
			i++
		}
	})

	// Cold: every read misses every tier. The object is rewritten through
	// the decorator before each read (untimed), which gives it a new ETag.
	for _, withDisk := range []bool{false, true} {
		name := "cold-memory"
		if withDisk {
			name = "cold-memory+disk"
		}
		b.Run(name, func(b *testing.B) {
			inner := memory.New()
			deps := Deps{Memory: newMemTier(b, 64<<20)}
			if withDisk {
				deps.Disk = openDisk(b, DiskConfig{Dir: b.TempDir(), Budget: 64 << 20})
			}
			c := newCache(b, inner, Config{}, deps)
			buf := make([]byte, benchRange)
			b.SetBytes(benchRange)
			i := 0
			for b.Loop() {
				b.StopTimer()
				if err := c.Put(context.Background(), dataKey, bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				benchRead(b, c, offsets(i), buf)
				i++
			}
		})
	}
}
