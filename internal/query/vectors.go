package query

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"golang.org/x/sync/errgroup"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// loadBatchRows is the batch size of scans that fill the cache: large, since
// the data is copied out at once.
const loadBatchRows = 1 << 16

// vectorBlock is one data file's vector column decoded into a contiguous
// array: row i occupies values [i·dim, (i+1)·dim). It holds either every
// physical row of the fragment (offsets nil) or, when the fragment already
// had deletions when it was loaded, the rows live then (offsets lists their
// physical offsets, ascending). Deleted rows are masked per query.
type vectorBlock struct {
	n, dim  int
	f32     []float32 // float columns, widened to float32
	u8      []byte    // uint8 columns
	offsets []uint32  // physical offset of each row; nil: row i is offset i
	present bitset    // physical offsets held, when offsets != nil
	valid   bitset    // rows whose vector is not null; nil: all
}

func (b *vectorBlock) sizeBytes() int64 {
	return int64(len(b.f32))*4 + int64(len(b.u8)) + int64(len(b.offsets))*4 +
		int64(len(b.present)+len(b.valid))*8 + 128
}

// offset returns the physical offset of row i.
func (b *vectorBlock) offset(i int) uint32 {
	if b.offsets == nil {
		return uint32(i)
	}
	return b.offsets[i]
}

// liveMask is the set of live rows of a fragment with a deletion file.
type liveMask struct {
	bits  bitset
	count int
}

func (m *liveMask) sizeBytes() int64 { return int64(len(m.bits))*8 + 64 }

// fragVectors is what a search needs of one fragment.
type fragVectors struct {
	id    uint64
	frag  *tablepb.DataFragment
	block *vectorBlock // nil when the fragment has no data for the column
	live  bitset       // physical offsets alive in this version; nil: all
	nLive int
	// rowBase is the _rowoffset of the fragment's first live row.
	rowBase uint64
	// allow is the set of block rows eligible for this query (live, not
	// null, passing the prefilter); nil: every row.
	allow bitset
}

// dataFileOf returns the path of the data file holding field id in frag,
// or "" when no file does (the column reads as nulls there).
func dataFileOf(frag *tablepb.DataFragment, id int32) string {
	path := ""
	for _, df := range frag.GetFiles() {
		if slices.Contains(df.GetFields(), id) {
			path = df.GetPath()
		}
	}
	return path
}

// liveRows returns the live-row mask of a fragment (nil when it has no
// deletions) and the number of live rows.
func (x *executor) liveRows(ctx context.Context, frag *tablepb.DataFragment) (bitset, int, error) {
	df := frag.GetDeletionFile()
	physical := int(frag.GetPhysicalRows())
	if df == nil {
		return nil, physical, nil
	}
	key := cacheKey{
		table: x.opts.TableURI,
		file:  fmt.Sprintf("_deletions/%d-%d-%d.%d", frag.GetId(), df.GetReadVersion(), df.GetId(), df.GetFileType()),
		kind:  kindLive,
	}
	v, err := x.opts.Cache.get(ctx, key, func(ctx context.Context) (cacheValue, error) {
		// A scan without columns reads only the deletion file and yields the
		// addresses of the live rows.
		sc, err := x.p.snap.Scan(ctx, table.ScanOptions{Columns: []string{}, WithRowID: true, Fragments: []uint64{frag.GetId()}, BatchRows: loadBatchRows})
		if err != nil {
			return nil, err
		}
		defer sc.Close()
		m := &liveMask{bits: newBitset(physical)}
		for {
			rec, err := sc.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("fragment %d: read deletions: %w", frag.GetId(), err)
			}
			for _, a := range rec.Column(0).(*array.Uint64).Uint64Values() {
				_, off := table.SplitRowAddress(a)
				m.bits.set(int(off))
				m.count++
			}
			rec.Release()
		}
		return m, nil
	})
	if err != nil {
		return nil, 0, err
	}
	m := v.(*liveMask)
	if m.count == physical {
		return nil, physical, nil
	}
	return m.bits, m.count, nil
}

// liveFragments returns every fragment of the snapshot with its live rows
// (and each one's first _rowoffset), without loading any vectors.
func (x *executor) liveFragments(ctx context.Context) ([]fragVectors, error) {
	src := x.p.snap.Lance().Fragments()
	out := make([]fragVectors, len(src))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(x.opts.Parallelism)
	for i, f := range src {
		g.Go(func() error {
			live, n, err := x.liveRows(gctx, f)
			out[i] = fragVectors{id: f.GetId(), frag: f, live: live, nLive: n}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var base uint64
	for i := range out {
		out[i].rowBase = base
		base += uint64(out[i].nLive)
	}
	return out, nil
}

// loadVectors sets fv.block to the fragment's decoded vectors, from the
// cache when it covers the rows live now.
func (x *executor) loadVectors(ctx context.Context, fv *fragVectors) error {
	vp := x.p.vec
	frag := fv.frag
	path := dataFileOf(frag, vp.fieldID)
	if path == "" || fv.nLive == 0 {
		return nil
	}
	key := cacheKey{table: x.opts.TableURI, file: path, field: vp.fieldID, kind: kindVectors}
	load := func(ctx context.Context) (cacheValue, error) { return x.loadBlock(ctx, frag, fv.nLive) }
	v, err := x.opts.Cache.get(ctx, key, load)
	if err != nil {
		return err
	}
	block := v.(*vectorBlock)
	if block.offsets != nil && (fv.live == nil || !fv.live.subsetOf(block.present)) {
		// Loaded under a version with more deletions than this one (an older
		// version read after a newer one): load this version's rows.
		v, err := load(ctx)
		if err != nil {
			return err
		}
		block = v.(*vectorBlock)
		x.opts.Cache.replace(key, block)
	}
	fv.block = block
	return nil
}

// vectorBytes estimates the decoded size of the searched column over the
// given fragments.
func (x *executor) vectorBytes(frags []fragVectors) int64 {
	width := int64(4)
	if x.p.vec.bytes != nil {
		width = 1
	}
	var n int64
	for _, f := range frags {
		n += int64(f.frag.GetPhysicalRows()) * int64(x.p.vec.dim) * width
	}
	return n
}

// loadBlock reads the vector column of one fragment's live rows.
func (x *executor) loadBlock(ctx context.Context, frag *tablepb.DataFragment, nLive int) (*vectorBlock, error) {
	vp := x.p.vec
	sc, err := x.p.snap.Scan(ctx, table.ScanOptions{
		Columns: []string{vp.column}, WithRowID: true,
		Fragments: []uint64{frag.GetId()}, BatchRows: loadBatchRows,
	})
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	b := &vectorBlock{dim: vp.dim}
	if vp.bytes != nil {
		b.u8 = make([]byte, 0, nLive*vp.dim)
	} else {
		b.f32 = make([]float32, 0, nLive*vp.dim)
	}
	offsets := make([]uint32, 0, nLive)
	var valid bitset
	for {
		rec, err := sc.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("fragment %d: read column %q: %w", frag.GetId(), vp.column, err)
		}
		err = b.appendBatch(rec, &offsets, &valid, nLive)
		rec.Release()
		if err != nil {
			return nil, fmt.Errorf("fragment %d: column %q: %w", frag.GetId(), vp.column, err)
		}
	}
	b.n = len(offsets)
	b.valid = valid
	b.offsets, b.present = sparseRows(offsets, frag.GetPhysicalRows())
	return b, nil
}

// appendBatch copies one scanned batch (vector column, _rowid) into b.
func (b *vectorBlock) appendBatch(rec arrow.RecordBatch, offsets *[]uint32, valid *bitset, capRows int) error {
	fsl, ok := rec.Column(0).(*array.FixedSizeList)
	if !ok {
		return fmt.Errorf("expected a fixed-size list column, read %s", rec.Column(0).DataType())
	}
	addrs := rec.Column(1).(*array.Uint64).Uint64Values()
	dim := b.dim
	n := fsl.Len()
	start := fsl.Data().Offset() * dim
	first := len(*offsets)
	switch child := fsl.ListValues().(type) {
	case *array.Float32:
		b.f32 = append(b.f32, child.Float32Values()[start:start+n*dim]...)
	case *array.Float64:
		for _, v := range child.Float64Values()[start : start+n*dim] {
			b.f32 = append(b.f32, float32(v))
		}
	case *array.Float16:
		vals := child.Values()[start : start+n*dim]
		at := len(b.f32)
		b.f32 = slices.Grow(b.f32, len(vals))[:at+len(vals)]
		for i, h := range vals {
			b.f32[at+i] = vector.HalfToFloat32(h.Uint16())
		}
	case *array.Uint8:
		b.u8 = append(b.u8, child.Uint8Values()[start:start+n*dim]...)
	default:
		return fmt.Errorf("vectors of %s cannot be searched", child.DataType())
	}
	for i := range n {
		_, off := splitAddr(addrs[i])
		*offsets = append(*offsets, off)
		if fsl.IsNull(i) {
			if *valid == nil {
				*valid = newBitset(max(capRows, first+n))
				for r := range first + i {
					valid.set(r)
				}
			}
			continue
		}
		if *valid != nil {
			if first+i >= len(*valid)*64 {
				*valid = append(*valid, make(bitset, (first+n+63)/64-len(*valid))...)
			}
			valid.set(first + i)
		}
	}
	return nil
}

func splitAddr(a uint64) (uint64, uint32) { return table.SplitRowAddress(a) }
