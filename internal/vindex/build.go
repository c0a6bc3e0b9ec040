package vindex

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/sarissa-db/sarissa/internal/index/ivf"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/table"
)

// BuildStats reports what a build did, for logs, tests and benchmarks.
type BuildStats struct {
	Rows         int64 // rows encoded into the segment
	SampleRows   int   // rows k-means trained on (0 when the model was reused)
	BufferPeak   int64 // largest memory the partition buffers held
	Spilled      bool  // whether partitions spilled to SpillDir
	SegmentBytes int64
}

// sampleVectors draws a uniform sample of at most want usable rows of the
// given fragments with reservoir sampling (one pass, memory bounded by the
// sample), and counts the usable rows.
func sampleVectors(ctx context.Context, snap *table.Snapshot, vc vectorColumn, fragments []uint64,
	want int, rng *rand.Rand) (sample []float32, rows int64, err error) {
	dim := vc.dim
	sample = make([]float32, 0, want*dim)
	err = scanVectors(ctx, snap, vc, fragments, func(addrs []uint64, vecs []float32) error {
		for i := range addrs {
			row := vecs[i*dim : (i+1)*dim]
			switch {
			case rows < int64(want):
				sample = append(sample, row...)
			default:
				if j := rng.Int64N(rows + 1); j < int64(want) {
					copy(sample[j*int64(dim):], row)
				}
			}
			rows++
		}
		return ctx.Err()
	})
	return sample, rows, err
}

// encodeSegment encodes the usable rows of the given fragments with model
// and writes them as one index file at key (a bucket key). Encoded rows are
// buffered per partition within budget bytes, spilling to spillDir beyond it.
func encodeSegment(ctx context.Context, bucket objstore.Bucket, snap *table.Snapshot, vc vectorColumn, fragments []uint64,
	model *ivf.Model, key string, budget int64, spillDir string) (BuildStats, error) {
	var st BuildStats
	rb := model.RowBytes()
	buf := newPartitionBuffer(model.NumPartitions(), rb, budget, spillDir)
	defer buf.close()
	var parts []int32
	var payload []byte
	err := scanVectors(ctx, snap, vc, fragments, func(addrs []uint64, vecs []float32) error {
		n := len(addrs)
		parts = slices.Grow(parts[:0], n)[:n]
		payload = slices.Grow(payload[:0], n*rb)[:n*rb]
		model.Encode(vecs, parts, payload)
		if err := buf.add(parts, addrs, payload); err != nil {
			return err
		}
		return ctx.Err()
	})
	if err != nil {
		return st, err
	}
	st.Rows = buf.rows
	st.BufferPeak = buf.peak
	st.Spilled = buf.spilled()
	size, err := model.Write(ctx, bucket, key, func(p int) ([]uint64, []byte, error) {
		return buf.partition(p)
	})
	if err != nil {
		return st, fmt.Errorf("write index file %s: %w", key, err)
	}
	st.SegmentBytes = size
	return st, nil
}
