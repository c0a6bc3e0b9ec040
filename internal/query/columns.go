package query

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/table"
)

// Hot scalar columns (the ones filters and results read) are cached next to
// the vectors, so that a warm vector search does no storage I/O at all: on
// object storage every read costs tens of milliseconds. Only fixed-width
// columns are cached, because their size is known before loading them; a
// string column could be far larger than what the query needs, which is a
// handful of rows, and is read from storage instead.

// maxColumnShare bounds one cached column (per data file) to this fraction
// of the cache budget, so a few wide columns cannot flush the vectors.
const maxColumnShare = 8

// columnBlock is one data file's column for the rows live when it was
// loaded, with the same offset bookkeeping as vectorBlock.
type columnBlock struct {
	arr     arrow.Array // Go-allocated: the cache never has to release it
	offsets []uint32    // physical offset of each row; nil: row i is offset i
	present bitset
}

func (b *columnBlock) sizeBytes() int64 {
	var n int64
	var walk func(d arrow.ArrayData)
	walk = func(d arrow.ArrayData) {
		for _, buf := range d.Buffers() {
			if buf != nil {
				n += int64(buf.Len())
			}
		}
		for _, c := range d.Children() {
			walk(c)
		}
	}
	walk(b.arr.Data())
	return n + int64(len(b.offsets))*4 + int64(len(b.present))*8 + 128
}

// position returns the row of physical offset off, if the block holds it.
func (b *columnBlock) position(off uint32) (int, bool) {
	if b.offsets == nil {
		return int(off), int(off) < b.arr.Len()
	}
	i := sort.Search(len(b.offsets), func(i int) bool { return b.offsets[i] >= off })
	return i, i < len(b.offsets) && b.offsets[i] == off
}

// cacheableColumn reports whether column name may be cached for a fragment
// of the given physical size.
func (x *executor) cacheableColumn(name string, physical uint64) bool {
	if x.opts.Cache == nil || x.opts.TableURI == "" {
		return false
	}
	idx := x.p.schema.FieldIndices(name)
	if len(idx) == 0 {
		return false
	}
	fw, ok := x.p.schema.Field(idx[0]).Type.(arrow.FixedWidthDataType)
	if !ok || fw.BitWidth() <= 0 {
		return false
	}
	size := int64(physical) * int64(fw.BitWidth()) / 8
	return size <= x.opts.Cache.budget()/maxColumnShare
}

// fragmentColumn returns the cached column of a fragment covering the rows
// live now, loading it if needed. nil means the fragment has no data file
// for the column (it reads as nulls).
func (x *executor) fragmentColumn(ctx context.Context, frag *tablepb.DataFragment, name string, live bitset) (*columnBlock, error) {
	lf := x.p.snap.LanceSchema().FieldByName(name)
	if lf == nil {
		return nil, fmt.Errorf("column %q is in the Arrow schema but not the Lance schema", name)
	}
	path := dataFileOf(frag, lf.ID)
	if path == "" {
		return nil, nil
	}
	key := cacheKey{table: x.opts.TableURI, file: path, field: lf.ID, kind: kindColumn}
	load := func(ctx context.Context) (cacheValue, error) { return x.loadColumn(ctx, frag, name) }
	v, err := x.opts.Cache.get(ctx, key, load)
	if err != nil {
		return nil, err
	}
	b := v.(*columnBlock)
	if b.offsets != nil && (live == nil || !live.subsetOf(b.present)) {
		if v, err = load(ctx); err != nil {
			return nil, err
		}
		b = v.(*columnBlock)
		x.opts.Cache.replace(key, b)
	}
	return b, nil
}

// loadColumn reads one column of a fragment's live rows into Go memory.
func (x *executor) loadColumn(ctx context.Context, frag *tablepb.DataFragment, name string) (*columnBlock, error) {
	sc, err := x.p.snap.Scan(ctx, table.ScanOptions{Columns: []string{name}, WithRowID: true, Fragments: []uint64{frag.GetId()}, BatchRows: loadBatchRows})
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	var parts []arrow.Array
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	var offsets []uint32
	for {
		rec, err := sc.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("fragment %d: read column %q: %w", frag.GetId(), name, err)
		}
		c := rec.Column(0)
		c.Retain()
		parts = append(parts, c)
		for _, a := range rec.Column(1).(*array.Uint64).Uint64Values() {
			_, off := table.SplitRowAddress(a)
			offsets = append(offsets, off)
		}
		rec.Release()
	}
	b := &columnBlock{}
	goMem := memory.NewGoAllocator()
	if len(parts) == 0 {
		b.arr = array.MakeArrayOfNull(goMem, x.p.schema.Field(x.p.schema.FieldIndices(name)[0]).Type, 0)
	} else if b.arr, err = array.Concatenate(parts, goMem); err != nil {
		return nil, fmt.Errorf("fragment %d: column %q: %w", frag.GetId(), name, err)
	}
	b.offsets, b.present = sparseRows(offsets, frag.GetPhysicalRows())
	return b, nil
}

// takeCached builds the values of column name at the given row addresses
// (in order) from cached blocks.
func (x *executor) takeCached(ctx context.Context, name string, addrs []uint64, frags map[uint64]*fragVectors) (arrow.Array, error) {
	mem := x.opts.Allocator
	typ := x.p.schema.Field(x.p.schema.FieldIndices(name)[0]).Type
	type group struct {
		offs []uint32
		hits []int // indices into addrs
	}
	groups := map[uint64]*group{}
	var order []uint64
	for i, a := range addrs {
		fid, off := table.SplitRowAddress(a)
		g := groups[fid]
		if g == nil {
			g = &group{}
			groups[fid] = g
			order = append(order, fid)
		}
		g.offs = append(g.offs, off)
		g.hits = append(g.hits, i)
	}
	var parts []arrow.Array
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	gather := make([]int32, len(addrs))
	var at int32
	for _, fid := range order {
		g := groups[fid]
		f, ok := frags[fid]
		if !ok {
			return nil, fmt.Errorf("row address of fragment %d is not in version %d", fid, x.p.snap.Version())
		}
		b, err := x.fragmentColumn(ctx, f.frag, name, f.live)
		if err != nil {
			return nil, err
		}
		var part arrow.Array
		if b == nil {
			part = array.MakeArrayOfNull(mem, typ, len(g.offs))
		} else {
			pos := make([]int32, len(g.offs))
			for i, off := range g.offs {
				p, ok := b.position(off)
				if !ok {
					return nil, fmt.Errorf("fragment %d: cached column %q lacks live row %d", fid, name, off)
				}
				pos[i] = int32(p)
			}
			if part, err = takeInt32(ctx, mem, b.arr, pos); err != nil {
				return nil, fmt.Errorf("take column %q: %w", name, err)
			}
		}
		parts = append(parts, part)
		for _, h := range g.hits {
			gather[h] = at
			at++
		}
	}
	if len(parts) == 0 {
		return array.MakeArrayOfNull(mem, typ, 0), nil
	}
	whole, err := array.Concatenate(parts, mem)
	if err != nil {
		return nil, fmt.Errorf("take column %q: %w", name, err)
	}
	defer whole.Release()
	return takeInt32(ctx, mem, whole, gather)
}

// takeInt32 is compute.TakeArray with Go indices.
func takeInt32(ctx context.Context, mem memory.Allocator, arr arrow.Array, idx []int32) (arrow.Array, error) {
	ib := array.NewInt32Builder(mem)
	ib.AppendValues(idx, nil)
	ia := ib.NewArray()
	ib.Release()
	defer ia.Release()
	return compute.TakeArray(compute.WithAllocator(ctx, mem), arr, ia)
}

// cachedFilterMask evaluates the prefilter over one fragment's cached
// columns: only its live rows, as a scan would see them. It returns the
// matching physical offsets.
func (x *executor) cachedFilterMask(ctx context.Context, f *fragVectors, rowOffsetBase uint64) (bitset, error) {
	p, mem := x.p, x.opts.Allocator
	physical := int(f.frag.GetPhysicalRows())
	// The live physical offsets, ascending (nil: all of them).
	var liveOffs []uint32
	if f.live != nil {
		liveOffs = make([]uint32, 0, f.nLive)
		for o := range physical {
			if f.live.has(o) {
				liveOffs = append(liveOffs, uint32(o))
			}
		}
	}
	n := f.nLive
	var fields []arrow.Field
	var cols []arrow.Array
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for _, name := range p.filterCols {
		field := p.schema.Field(p.schema.FieldIndices(name)[0])
		b, err := x.fragmentColumn(ctx, f.frag, name, f.live)
		if err != nil {
			return nil, err
		}
		var col arrow.Array
		switch {
		case b == nil:
			col = array.MakeArrayOfNull(mem, field.Type, n)
		case b.offsets == nil && liveOffs == nil:
			col = b.arr
			col.Retain()
		default:
			pos := make([]int32, 0, n)
			if b.offsets == nil {
				for _, o := range liveOffs {
					pos = append(pos, int32(o))
				}
			} else {
				for i, o := range b.offsets {
					if f.live == nil || f.live.has(int(o)) {
						pos = append(pos, int32(i))
					}
				}
			}
			if col, err = takeInt32(ctx, mem, b.arr, pos); err != nil {
				return nil, fmt.Errorf("column %q: %w", name, err)
			}
		}
		fields = append(fields, field)
		cols = append(cols, col)
	}
	offAt := func(i int) uint32 {
		if liveOffs == nil {
			return uint32(i)
		}
		return liveOffs[i]
	}
	if p.needRowID {
		ids := make([]uint64, n)
		for i := range ids {
			ids[i] = table.RowAddress(f.id, offAt(i))
		}
		fields = append(fields, rowIDField())
		cols = append(cols, uint64Array(mem, ids))
	}
	if p.needRowOf {
		ro := make([]uint64, n)
		for i := range ro {
			ro[i] = rowOffsetBase + uint64(i)
		}
		fields = append(fields, rowOffsetField())
		cols = append(cols, uint64Array(mem, ro))
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(n))
	defer rec.Release()
	mask, err := p.filter.EvalPredicate(ctx, rec, mem)
	if err != nil {
		return nil, fmt.Errorf("%w: filter %q: %w", ErrInvalidRequest, p.req.Filter, err)
	}
	defer mask.Release()
	out := newBitset(physical)
	for i := range n {
		if mask.Value(i) {
			out.set(int(offAt(i)))
		}
	}
	return out, nil
}

// vectorsFromBlocks builds the searched vector column at the given row
// addresses from the blocks the search already holds in memory, when they
// hold the stored values exactly (float32 and uint8 columns; float16 and
// float64 were converted). ok is false otherwise.
func (x *executor) vectorsFromBlocks(addrs []uint64, frags map[uint64]*fragVectors) (arrow.Array, bool) {
	vp := x.p.vec
	if vp == nil || (vp.elem.ID() != arrow.FLOAT32 && vp.elem.ID() != arrow.UINT8) {
		return nil, false
	}
	typ := x.p.schema.Field(x.p.schema.FieldIndices(vp.column)[0]).Type
	bld := array.NewBuilder(x.opts.Allocator, typ).(*array.FixedSizeListBuilder)
	defer bld.Release()
	dim := vp.dim
	for _, a := range addrs {
		fid, off := table.SplitRowAddress(a)
		f := frags[fid]
		if f == nil || f.block == nil {
			return nil, false
		}
		b := f.block
		var r int
		if b.offsets == nil {
			r = int(off)
		} else {
			r = sort.Search(len(b.offsets), func(i int) bool { return b.offsets[i] >= off })
			if r >= len(b.offsets) || b.offsets[r] != off {
				return nil, false
			}
		}
		if b.valid != nil && !b.valid.has(r) {
			bld.AppendNull()
			continue
		}
		bld.Append(true)
		switch vb := bld.ValueBuilder().(type) {
		case *array.Float32Builder:
			vb.AppendValues(b.f32[r*dim:(r+1)*dim], nil)
		case *array.Uint8Builder:
			vb.AppendValues(b.u8[r*dim:(r+1)*dim], nil)
		default:
			return nil, false
		}
	}
	return bld.NewArray(), true
}
