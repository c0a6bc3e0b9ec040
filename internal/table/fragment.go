package table

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/lance/file"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/lance/schema"
)

// RowAddress is Lance's address of a physical row: fragment id in the high 32
// bits, row offset within the fragment in the low 32 bits. Indexes and
// _rowid (without stable row ids) use it.
func RowAddress(fragment uint64, offset uint32) uint64 { return fragment<<32 | uint64(offset) }

// SplitRowAddress is the inverse of RowAddress.
func SplitRowAddress(addr uint64) (fragment uint64, offset uint32) {
	return addr >> 32, uint32(addr)
}

// fragmentReader reads columns of one fragment. A fragment may keep its
// columns in several data files (added columns get files of their own); a
// field found in no file reads as nulls.
type fragmentReader struct {
	s       *Snapshot
	frag    *tablepb.DataFragment
	readers []*file.Reader // by data file index, opened on first use
	dv      *lance.DeletionVector
	dvDone  bool
}

func newFragmentReader(s *Snapshot, frag *tablepb.DataFragment) *fragmentReader {
	return &fragmentReader{s: s, frag: frag, readers: make([]*file.Reader, len(frag.GetFiles()))}
}

func (fr *fragmentReader) rows() int64 { return int64(fr.frag.GetPhysicalRows()) }

// deletions loads the fragment's deletion vector (nil when it has none).
func (fr *fragmentReader) deletions(ctx context.Context) (*lance.DeletionVector, error) {
	if fr.dvDone {
		return fr.dv, nil
	}
	if df := fr.frag.GetDeletionFile(); df != nil {
		dv, err := fr.s.t.lt.ReadDeletionVector(ctx, fr.frag.GetId(), df)
		if err != nil {
			return nil, fmt.Errorf("fragment %d: %w", fr.frag.GetId(), err)
		}
		if dv.Len() > 0 {
			fr.dv = dv
		}
	}
	fr.dvDone = true
	return fr.dv, nil
}

func (fr *fragmentReader) reader(ctx context.Context, i int) (*file.Reader, error) {
	if r := fr.readers[i]; r != nil {
		return r, nil
	}
	df := fr.frag.GetFiles()[i]
	if df.BaseId != nil {
		return nil, fmt.Errorf("fragment %d: data file %s lives in another base path, which is not supported", fr.frag.GetId(), df.GetPath())
	}
	key := fr.s.t.lt.Key(lance.DataFilePath(df.GetPath()))
	src := bucketSource{bucket: fr.s.t.lt.Bucket(), key: key}
	size := int64(df.GetFileSizeBytes())
	if size == 0 {
		a, err := src.bucket.Stat(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("fragment %d: stat data file: %w", fr.frag.GetId(), err)
		}
		size = a.Size
	}
	r, err := file.Open(ctx, src, size, file.ReaderOptions{Path: key, Allocator: fr.s.t.opts.Allocator})
	if err != nil {
		return nil, fmt.Errorf("fragment %d: %w", fr.frag.GetId(), err)
	}
	fr.readers[i] = r
	return r, nil
}

// colSource locates a top-level field: data file index and top-level column
// position in that file; file < 0 means the fragment has no data for it.
type colSource struct{ file, pos int }

// plan finds where each field lives in this fragment.
func (fr *fragmentReader) plan(ctx context.Context, fields []*schema.Field) ([]colSource, error) {
	out := make([]colSource, len(fields))
	for i, f := range fields {
		out[i] = colSource{file: -1}
		for fi, df := range fr.frag.GetFiles() {
			if !slices.Contains(df.GetFields(), f.ID) {
				continue
			}
			r, err := fr.reader(ctx, fi)
			if err != nil {
				return nil, err
			}
			pos := -1
			for p, ff := range r.Schema().Fields {
				if ff.ID == f.ID {
					pos = p
					break
				}
			}
			if pos < 0 {
				return nil, fmt.Errorf("fragment %d: data file %s lists field %d (%q) but its schema has no such top-level column: %w",
					fr.frag.GetId(), df.GetPath(), f.ID, f.Name, lance.ErrCorrupt)
			}
			out[i] = colSource{file: fi, pos: pos}
		}
	}
	return out, nil
}

// read returns the given fields for physical rows [start, end) in field order.
// The caller releases the arrays.
func (fr *fragmentReader) read(ctx context.Context, fields []*schema.Field, types []arrow.DataType, plan []colSource, start, end int64) ([]arrow.Array, error) {
	return fr.fetch(ctx, fields, types, plan, int(end-start), func(r *file.Reader, proj []int) (arrow.RecordBatch, error) {
		return r.Read(ctx, proj, start, end)
	})
}

// take returns the given fields for the physical row offsets (ascending).
func (fr *fragmentReader) take(ctx context.Context, fields []*schema.Field, types []arrow.DataType, plan []colSource, offsets []uint64) ([]arrow.Array, error) {
	return fr.fetch(ctx, fields, types, plan, len(offsets), func(r *file.Reader, proj []int) (arrow.RecordBatch, error) {
		return r.Take(ctx, proj, offsets)
	})
}

func (fr *fragmentReader) fetch(ctx context.Context, fields []*schema.Field, types []arrow.DataType, plan []colSource, n int,
	get func(*file.Reader, []int) (arrow.RecordBatch, error)) (cols []arrow.Array, err error) {
	cols = make([]arrow.Array, len(fields))
	defer func() {
		if err != nil {
			releaseAll(cols)
			cols = nil
		}
	}()
	// One request per data file, covering all its needed columns.
	byFile := map[int][]int{}
	for i, src := range plan {
		if src.file >= 0 {
			byFile[src.file] = append(byFile[src.file], i)
		}
	}
	for fi, idxs := range byFile {
		r := fr.readers[fi]
		proj := make([]int, len(idxs))
		for k, i := range idxs {
			proj[k] = plan[i].pos
		}
		rec, err := get(r, proj)
		if err != nil {
			return cols, fmt.Errorf("fragment %d: %w", fr.frag.GetId(), err)
		}
		if int(rec.NumRows()) != n {
			rec.Release()
			return cols, fmt.Errorf("fragment %d: data file %s returned %d rows, want %d: %w",
				fr.frag.GetId(), fr.frag.GetFiles()[fi].GetPath(), rec.NumRows(), n, lance.ErrCorrupt)
		}
		for k, i := range idxs {
			col, err := asType(rec.Column(k), types[i])
			if err != nil {
				rec.Release()
				return cols, fmt.Errorf("fragment %d: column %q: %w", fr.frag.GetId(), fields[i].Name, err)
			}
			cols[i] = col
		}
		rec.Release()
	}
	for i := range cols {
		if cols[i] == nil {
			cols[i] = array.MakeArrayOfNull(fr.s.t.opts.Allocator, types[i], n)
		}
	}
	return cols, nil
}

// asType returns a new reference to col labelled with the table's type.
func asType(col arrow.Array, typ arrow.DataType) (arrow.Array, error) {
	if arrow.TypeEqual(col.DataType(), typ) {
		col.Retain()
		return col, nil
	}
	if err := compatibleType("", typ, col.DataType()); err != nil {
		return nil, fmt.Errorf("data file has type %s but the table schema says %s: %w", col.DataType(), typ, lance.ErrCorrupt)
	}
	d := retype(col.Data(), typ)
	defer d.Release()
	return array.MakeFromData(d), nil
}

func releaseAll(arrs []arrow.Array) {
	for _, a := range arrs {
		if a != nil {
			a.Release()
		}
	}
}
