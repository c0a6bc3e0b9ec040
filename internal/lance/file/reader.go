package file

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/proto"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/encpb"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/file2pb"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/filepb"
	"github.com/sarissa-db/sarissa/internal/lance/schema"
)

// ReaderOptions tune a Reader. The zero value is usable.
type ReaderOptions struct {
	// Path names the file in errors (e.g. "data/abc.lance").
	Path string
	// Allocator allocates the returned Arrow buffers (default
	// memory.DefaultAllocator). Buffers that alias bytes read from the
	// source are not allocated through it.
	Allocator memory.Allocator
	// TailSize is how much of the end of the file Open reads in its first
	// request, hoping to get footer and all metadata at once (default 64 KiB).
	TailSize int64
	// CoalesceGap merges reads whose gap is at most this many bytes into one
	// request (default 64 KiB).
	CoalesceGap int64
	// MaxReadSize caps one merged request (default 16 MiB).
	MaxReadSize int64
	// Concurrency bounds parallel requests of one Read/Take (default 4).
	Concurrency int
	// DirectReadMin: with a RangeReaderAt source, fixed-width reads of at
	// least this many bytes go straight into the output buffer (default 64 KiB).
	DirectReadMin int64
	// MaxDecodeBytes bounds the memory one Read/Take may allocate, so that a
	// corrupt row count fails cleanly instead of exhausting memory
	// (default 4 GiB).
	MaxDecodeBytes int64
}

func (o *ReaderOptions) setDefaults() {
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	if o.TailSize <= 0 {
		o.TailSize = 64 << 10
	}
	if o.CoalesceGap <= 0 {
		o.CoalesceGap = 64 << 10
	}
	if o.MaxReadSize <= 0 {
		o.MaxReadSize = 16 << 20
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.DirectReadMin <= 0 {
		o.DirectReadMin = 64 << 10
	}
	if o.MaxDecodeBytes <= 0 {
		o.MaxDecodeBytes = 4 << 30
	}
}

// Reader reads one Lance 2.0 file. It is immutable after Open and safe for
// concurrent use.
type Reader struct {
	src     RangeReader
	ra      RangeReaderAt // nil unless src can read into caller memory
	size    uint64
	opts    ReaderOptions
	footer  footer
	numRows uint64
	schema  *schema.Schema
	arrow   *arrow.Schema
	globals []bufLoc
	columns []*column
	nodes   []*fieldNode // one per top-level field
	codecs  codecs
}

// bufLoc is a buffer position and size in the file.
type bufLoc struct{ off, size uint64 }

// column is one column's metadata, checked against the file size.
type column struct {
	index int
	bufs  []bufLoc // column-level buffers
	pages []*page
	rows  uint64 // sum of page lengths
}

type page struct {
	col   *column
	index int
	start uint64 // first row of the page within the column
	rows  uint64
	bufs  []bufLoc
	enc   *encpb.ArrayEncoding
	where string // "column 3 page 0", for errors
}

// Open reads the footer, schema and column metadata of a file of the given
// size: one read of the last TailSize bytes, and more only if the metadata
// does not fit in it.
func Open(ctx context.Context, src RangeReader, size int64, opts ReaderOptions) (*Reader, error) {
	opts.setDefaults()
	r := &Reader{src: src, size: uint64(size), opts: opts}
	r.codecs.maxBytes = uint64(opts.MaxDecodeBytes)
	if ra, ok := src.(RangeReaderAt); ok {
		r.ra = ra
	}
	if size < 0 {
		return nil, &Error{Path: opts.Path, Kind: ErrInvalidArgument, Err: fmt.Errorf("negative file size %d", size)}
	}
	if err := guard(func() error { return r.open(ctx) }); err != nil {
		return nil, withPath(opts.Path, err)
	}
	return r, nil
}

// guard turns a panic inside decoding into an error. Every offset and size
// read from a file is checked before use, so a panic here is a bug in this
// package; recovering keeps one bad file from taking the process down, and
// the message says where to look.
func guard(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = corruptf("decode", "internal error (please report): %v", p)
		}
	}()
	return f()
}

// tail holds the bytes [start, size) of the file.
type tail struct {
	start uint64
	b     []byte
}

func (t *tail) slice(off, n uint64) []byte {
	return t.b[off-t.start : off-t.start+n]
}

// extend makes the tail start at or before off, reading what is missing.
func (r *Reader) extend(ctx context.Context, t *tail, off uint64) error {
	if off >= t.start {
		return nil
	}
	b, err := r.src.ReadRange(ctx, int64(off), int64(t.start-off))
	if err != nil {
		return fmt.Errorf("read metadata [%d,%d): %w", off, t.start, err)
	}
	if uint64(len(b)) != t.start-off {
		return corruptf("metadata", "read [%d,%d) returned %d bytes", off, t.start, len(b))
	}
	t.b = append(b, t.b...)
	t.start = off
	return nil
}

func (r *Reader) open(ctx context.Context) error {
	if r.size < footerLen {
		return corruptf("footer", "file has %d bytes, shorter than the %d-byte footer", r.size, footerLen)
	}
	n := min(r.size, uint64(r.opts.TailSize))
	n = max(n, footerLen)
	b, err := r.src.ReadRange(ctx, int64(r.size-n), int64(n))
	if err != nil {
		return fmt.Errorf("read tail: %w", err)
	}
	if uint64(len(b)) != n {
		return corruptf("footer", "tail read of %d bytes returned %d", n, len(b))
	}
	t := &tail{start: r.size - n, b: b}
	f, err := parseFooter(b[len(b)-footerLen:], r.size)
	if err != nil {
		return err
	}
	r.footer = f

	// Offset tables first; then everything they point at. Writers put the
	// file descriptor just before the column metadata, so when the tail
	// was too short, read another TailSize before the metadata as well:
	// that usually saves a third request.
	tablesStart := min(f.cmoStart, f.gboStart, f.colMetaStart)
	if tablesStart < t.start {
		tablesStart -= min(tablesStart, uint64(r.opts.TailSize))
	}
	if err := r.extend(ctx, t, tablesStart); err != nil {
		return err
	}
	limit := r.size - footerLen
	r.globals = make([]bufLoc, f.numGlobal)
	for i := range r.globals {
		e := t.slice(f.gboStart+uint64(i)*16, 16)
		r.globals[i] = bufLoc{binary.LittleEndian.Uint64(e), binary.LittleEndian.Uint64(e[8:])}
		if !checkRange(r.globals[i].off, r.globals[i].size, limit) {
			return corruptf("global buffer table", "global buffer %d [%d,+%d) past the metadata end %d",
				i, r.globals[i].off, r.globals[i].size, limit)
		}
	}
	cmo := make([]bufLoc, f.numColumns)
	need := min(f.colMetaStart, r.globals[0].off)
	for i := range cmo {
		e := t.slice(f.cmoStart+uint64(i)*16, 16)
		cmo[i] = bufLoc{binary.LittleEndian.Uint64(e), binary.LittleEndian.Uint64(e[8:])}
		if !checkRange(cmo[i].off, cmo[i].size, limit) {
			return corruptf(fmt.Sprintf("column %d", i), "metadata [%d,+%d) past the metadata end %d",
				cmo[i].off, cmo[i].size, limit)
		}
		need = min(need, cmo[i].off)
	}
	if err := r.extend(ctx, t, need); err != nil {
		return err
	}

	var fd filepb.FileDescriptor
	if err := proto.Unmarshal(t.slice(r.globals[0].off, r.globals[0].size), &fd); err != nil {
		return corruptf("file descriptor", "decode: %v", err)
	}
	if fd.GetSchema() == nil {
		return corruptf("file descriptor", "no schema")
	}
	r.numRows = fd.GetLength()
	r.schema, err = schema.FromProto(fd.GetSchema().GetFields(), fd.GetSchema().GetMetadata())
	if err != nil {
		return corruptf("file descriptor", "%v", err)
	}

	r.columns = make([]*column, len(cmo))
	for i, loc := range cmo {
		var cm file2pb.ColumnMetadata
		if err := proto.Unmarshal(t.slice(loc.off, loc.size), &cm); err != nil {
			return corruptf(fmt.Sprintf("column %d", i), "decode metadata: %v", err)
		}
		c, err := r.parseColumn(i, &cm)
		if err != nil {
			return err
		}
		r.columns[i] = c
	}
	return r.buildLayout()
}

func (r *Reader) parseColumn(idx int, cm *file2pb.ColumnMetadata) (*column, error) {
	where := fmt.Sprintf("column %d", idx)
	c := &column{index: idx}
	bufs, err := r.bufLocs(where, cm.GetBufferOffsets(), cm.GetBufferSizes())
	if err != nil {
		return nil, err
	}
	c.bufs = bufs
	if cm.GetEncoding() != nil {
		raw, err := directEncoding(where, cm.GetEncoding())
		if err != nil {
			return nil, err
		}
		var ce encpb.ColumnEncoding
		if err := unmarshalAny(raw, columnEncodingURL, &ce); err != nil {
			return nil, corruptf(where, "column encoding: %v", err)
		}
		switch ce.GetColumnEncoding().(type) {
		case *encpb.ColumnEncoding_Values:
		case *encpb.ColumnEncoding_ZoneIndex:
			return nil, unsupportedf(where, "column encoding zone_index is not supported")
		case *encpb.ColumnEncoding_Blob:
			return nil, unsupportedf(where, "column encoding blob is not supported")
		default:
			return nil, unsupportedf(where, "unknown column encoding")
		}
	}
	for j, pp := range cm.GetPages() {
		pw := fmt.Sprintf("column %d page %d", idx, j)
		pg := &page{col: c, index: j, start: c.rows, rows: pp.GetLength(), where: pw}
		if c.rows+pg.rows < c.rows {
			return nil, corruptf(pw, "row count overflows")
		}
		c.rows += pg.rows
		if pg.bufs, err = r.bufLocs(pw, pp.GetBufferOffsets(), pp.GetBufferSizes()); err != nil {
			return nil, err
		}
		if pp.GetEncoding() == nil {
			return nil, corruptf(pw, "page has no encoding")
		}
		raw, err := directEncoding(pw, pp.GetEncoding())
		if err != nil {
			return nil, err
		}
		pg.enc = &encpb.ArrayEncoding{}
		if err := unmarshalAny(raw, arrayEncodingURL, pg.enc); err != nil {
			return nil, corruptf(pw, "page encoding: %v", err)
		}
		c.pages = append(c.pages, pg)
	}
	return c, nil
}

func directEncoding(where string, e *file2pb.Encoding) ([]byte, error) {
	switch loc := e.GetLocation().(type) {
	case *file2pb.Encoding_Direct:
		return loc.Direct.GetEncoding(), nil
	case *file2pb.Encoding_Indirect:
		return nil, unsupportedf(where, "indirect (deferred) encodings are not supported")
	default:
		return nil, corruptf(where, "encoding is missing")
	}
}

func (r *Reader) bufLocs(where string, offs, sizes []uint64) ([]bufLoc, error) {
	if len(offs) != len(sizes) {
		return nil, corruptf(where, "%d buffer offsets but %d sizes", len(offs), len(sizes))
	}
	out := make([]bufLoc, len(offs))
	for i := range offs {
		if !checkRange(offs[i], sizes[i], r.size) {
			return nil, corruptf(where, "buffer %d range [%d,%d) past end of file (size %d)",
				i, offs[i], offs[i]+sizes[i], r.size)
		}
		out[i] = bufLoc{offs[i], sizes[i]}
	}
	return out, nil
}

// Schema returns the file's Lance schema (from its file descriptor).
func (r *Reader) Schema() *schema.Schema { return r.schema }

// ArrowSchema returns the file's schema as Arrow.
func (r *Reader) ArrowSchema() *arrow.Schema { return r.arrow }

// NumRows returns the number of rows in the file.
func (r *Reader) NumRows() int64 { return int64(r.numRows) }

// NumColumns returns the number of physical columns in the file.
func (r *Reader) NumColumns() int { return len(r.columns) }

// Version returns the footer version (0.3 for Lance 2.0 files).
func (r *Reader) Version() (major, minor uint16) { return r.footer.major, r.footer.minor }

// Read decodes rows [start, end) of the given top-level fields (positions in
// Schema().Fields; nil means all). Only the pages and byte ranges holding
// those rows are read. The caller releases the returned batch.
func (r *Reader) Read(ctx context.Context, projection []int, start, end int64) (arrow.RecordBatch, error) {
	if start < 0 || end < start || uint64(end) > r.numRows {
		return nil, &Error{Path: r.opts.Path, Kind: ErrInvalidArgument,
			Err: fmt.Errorf("read rows [%d,%d) of a file with %d rows", start, end, r.numRows)}
	}
	var rs []rng
	if end > start {
		rs = []rng{{uint64(start), uint64(end)}}
	}
	return r.decode(ctx, projection, rs, uint64(end-start))
}

// Take decodes the given rows (sorted ascending; repeats allowed) of the
// given top-level fields. Only the pages holding those rows are touched, and
// within them only the byte ranges of the rows (for variable-width data, the
// offsets of the rows first, then their bytes). The caller releases the
// returned batch.
func (r *Reader) Take(ctx context.Context, projection []int, rows []uint64) (arrow.RecordBatch, error) {
	var rs []rng
	for i, row := range rows {
		if row >= r.numRows || (i > 0 && row < rows[i-1]) {
			return nil, &Error{Path: r.opts.Path, Kind: ErrInvalidArgument,
				Err: fmt.Errorf("take: row %d at position %d is out of range (%d rows) or not sorted", row, i, r.numRows)}
		}
		if n := len(rs); n > 0 && rs[n-1].end == row {
			rs[n-1].end++
			continue
		}
		rs = append(rs, rng{row, row + 1})
	}
	return r.decode(ctx, projection, rs, uint64(len(rows)))
}

func (r *Reader) decode(ctx context.Context, projection []int, rs []rng, total uint64) (rec arrow.RecordBatch, err error) {
	err = guard(func() error {
		rec, err = r.doDecode(ctx, projection, rs, total)
		return err
	})
	return rec, withPath(r.opts.Path, err)
}

func (r *Reader) doDecode(ctx context.Context, projection []int, rs []rng, total uint64) (arrow.RecordBatch, error) {
	if projection == nil {
		projection = make([]int, len(r.nodes))
		for i := range projection {
			projection[i] = i
		}
	}
	fields := make([]arrow.Field, len(projection))
	for i, p := range projection {
		if p < 0 || p >= len(r.nodes) {
			return nil, &Error{Path: r.opts.Path, Kind: ErrInvalidArgument,
				Err: fmt.Errorf("projection: no top-level field %d (file has %d)", p, len(r.nodes))}
		}
		fields[i] = r.arrow.Field(p)
	}
	s := &sched{ctx: ctx, r: r, budget: r.opts.MaxDecodeBytes}
	asms := make([]assembler, 0, len(projection))
	releaseAll := func() {
		for _, a := range asms {
			a.release()
		}
	}
	for _, p := range projection {
		a, err := s.planField(r.nodes[p], rs, total)
		if err != nil {
			releaseAll()
			return nil, withPath(r.opts.Path, err)
		}
		asms = append(asms, a)
	}
	if err := s.run(); err != nil {
		releaseAll()
		return nil, withPath(r.opts.Path, err)
	}
	cols := make([]arrow.Array, 0, len(asms))
	for i, a := range asms {
		arr, err := a.finish()
		if err != nil {
			for _, c := range cols {
				c.Release()
			}
			for _, rest := range asms[i+1:] {
				rest.release()
			}
			return nil, withPath(r.opts.Path, err)
		}
		cols = append(cols, arr)
	}
	md := r.arrow.Metadata()
	rec := array.NewRecordBatch(arrow.NewSchema(fields, &md), cols, int64(total))
	for _, c := range cols {
		c.Release()
	}
	return rec, nil
}
