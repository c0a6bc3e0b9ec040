// Package dump reads the side-by-side benchmark's data — the dump of
// ../shared/bench/lancedb-peer (`--dump 1 --indexes none`): <prefix>.json
// (n, dim, queries, gtk), <prefix>.base.f32, <prefix>.queries.f32 and
// <prefix>.gt.i32 as raw little-endian arrays — and writes it into a local
// Sarissa table (id int32, vector fixed_size_list<float32>), as the Go
// benchmarks beside LanceDB need.
package dump

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/table"
)

// Dump is one dataset: rows, queries and the exact top-GTK ground truth.
type Dump struct {
	N, Dim, Queries, GTK int
	Base                 []float32 // N × Dim
	QueryVecs            []float32 // Queries × Dim
	GT                   []int32   // Queries × GTK row ids, nearest first
}

// Load reads the dump at prefix.
func Load(prefix string) (*Dump, error) {
	var d Dump
	raw, err := os.ReadFile(prefix + ".json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%s.json: %w", prefix, err)
	}
	if d.Base, err = readF32(prefix+".base.f32", d.N*d.Dim); err != nil {
		return nil, err
	}
	if d.QueryVecs, err = readF32(prefix+".queries.f32", d.Queries*d.Dim); err != nil {
		return nil, err
	}
	raw, err = readExact(prefix+".gt.i32", 4*d.Queries*d.GTK)
	if err != nil {
		return nil, err
	}
	d.GT = make([]int32, d.Queries*d.GTK)
	for i := range d.GT {
		d.GT[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return &d, nil
}

// Query returns query vector i.
func (d *Dump) Query(i int) []float32 { return d.QueryVecs[i*d.Dim : (i+1)*d.Dim] }

// Truth returns the ids of query i's k nearest rows.
func (d *Dump) Truth(i, k int) []int32 { return d.GT[i*d.GTK : i*d.GTK+k] }

// WriteTable creates the table at root in bucket and appends the rows in
// batches of batch rows, one commit each.
func (d *Dump) WriteTable(ctx context.Context, bucket objstore.Bucket, root string, batch int) (*table.Table, error) {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int32},
		{Name: "vector", Type: arrow.FixedSizeListOf(int32(d.Dim), arrow.PrimitiveTypes.Float32)},
	}, nil)
	tb, _, err := table.Create(ctx, bucket, root, sch, nil, table.Options{})
	if err != nil {
		return nil, err
	}
	for off := 0; off < d.N; off += batch {
		rec := d.batch(sch, off, min(batch, d.N-off))
		rr, _ := array.NewRecordReader(sch, []arrow.RecordBatch{rec})
		rec.Release()
		_, _, err := tb.Append(ctx, rr)
		rr.Release()
		if err != nil {
			return nil, err
		}
	}
	return tb, nil
}

func (d *Dump) batch(sch *arrow.Schema, off, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	ids := b.Field(0).(*array.Int32Builder)
	vb := b.Field(1).(*array.FixedSizeListBuilder)
	fb := vb.ValueBuilder().(*array.Float32Builder)
	for i := range n {
		ids.Append(int32(off + i))
		vb.Append(true)
	}
	fb.AppendValues(d.Base[off*d.Dim:(off+n)*d.Dim], nil)
	return b.NewRecordBatch()
}

func readExact(path string, n int) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw) != n {
		return nil, fmt.Errorf("%s: %d bytes, want %d", path, len(raw), n)
	}
	return raw, nil
}

func readF32(path string, n int) ([]float32, error) {
	raw, err := readExact(path, 4*n)
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

// VectorJSON renders q as a JSON array, as a query body carries it.
func VectorJSON(q []float32) string {
	var sb strings.Builder
	sb.WriteByte('[')
	for i, v := range q {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 64))
	}
	sb.WriteByte(']')
	return sb.String()
}
