package file

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/encpb"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/file2pb"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/filepb"
	"github.com/sarissa-db/sarissa/internal/lance/schema"
)

// Field metadata keys the writer honours, as Lance does.
const (
	// CompressionKey asks for general compression of a string/binary
	// field's bytes; the writer supports "zstd" (and "none").
	CompressionKey = "lance-encoding:compression"
	// CompressionLevelKey sets the zstd level.
	CompressionLevelKey = "lance-encoding:compression-level"
)

// WriterOptions tune a Writer. The zero value is usable.
type WriterOptions struct {
	// Path names the file in errors.
	Path string
	// PageSize is how many bytes a column buffers before writing a page
	// (default DefaultPageSize, 8 MiB).
	PageSize int64
	// DictionaryThreshold: a utf8 page with at least this many rows and
	// fewer distinct values is dictionary-encoded, as Lance does (default
	// 100, Lance's LANCE_DICT_ENCODING_THRESHOLD; negative disables). Values
	// above 255 are clamped: dictionary indices are one byte.
	DictionaryThreshold int
}

// FileInfo describes a finished file, with what a manifest DataFile needs.
type FileInfo struct {
	NumRows    uint64
	SizeBytes  uint64
	NumColumns int
	// FieldIDs and ColumnIndices pair every field id (depth-first) with its
	// column, the DataFile.fields and DataFile.column_indices of a manifest.
	FieldIDs      []int32
	ColumnIndices []int32
	// MajorVersion.MinorVersion is the data storage version to record in
	// the manifest (2.0); the footer itself says 0.3.
	MajorVersion, MinorVersion uint32
}

// Writer streams record batches into one Lance 2.0 file. Columns are
// buffered up to PageSize and written as pages as they fill; Finish writes
// the remaining pages and the metadata. A Writer is not safe for concurrent
// use. After an error the writer is unusable.
type Writer struct {
	w      io.Writer
	pos    uint64
	schema *schema.Schema
	arrow  *arrow.Schema
	opts   WriterOptions
	cols   []*file2pb.ColumnMetadata
	roots  []colWriter
	rows   uint64
	err    error
	done   bool
}

// NewWriter prepares a writer for the given schema (field ids must be
// assigned; see schema.FromArrow). Nothing is written until pages fill.
func NewWriter(w io.Writer, s *schema.Schema, opts WriterOptions) (*Writer, error) {
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.DictionaryThreshold == 0 {
		opts.DictionaryThreshold = defaultDictThreshold
	}
	opts.DictionaryThreshold = min(opts.DictionaryThreshold, 255)
	if err := s.Validate(); err != nil {
		return nil, &Error{Path: opts.Path, Kind: ErrInvalidArgument, Err: err}
	}
	as, err := s.ToArrow()
	if err != nil {
		return nil, &Error{Path: opts.Path, Kind: ErrUnsupported, Err: err}
	}
	wr := &Writer{w: w, schema: s, arrow: as, opts: opts}
	for i, f := range s.Fields {
		cw, err := wr.newColWriter(f, as.Field(i).Type)
		if err != nil {
			return nil, withPath(opts.Path, err)
		}
		wr.roots = append(wr.roots, cw)
	}
	return wr, nil
}

// newColumn allocates the next column index.
func (w *Writer) newColumn() int {
	w.cols = append(w.cols, &file2pb.ColumnMetadata{})
	return len(w.cols) - 1
}

// Write appends a record batch whose schema matches the writer's (same
// field names and types, in order). The caller keeps ownership of rec.
func (w *Writer) Write(ctx context.Context, rec arrow.RecordBatch) error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return &Error{Path: w.opts.Path, Kind: ErrInvalidArgument, Err: fmt.Errorf("write after Finish")}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := w.checkBatch(rec); err != nil {
		return err
	}
	if rec.NumRows() == 0 {
		return nil
	}
	for i, cw := range w.roots {
		if err := cw.append(rec.Column(i).Data(), 0, uint64(rec.NumRows())); err != nil {
			w.err = withPath(w.opts.Path, err)
			return w.err
		}
	}
	w.rows += uint64(rec.NumRows())
	return nil
}

func (w *Writer) checkBatch(rec arrow.RecordBatch) error {
	bad := func(format string, args ...any) error {
		return &Error{Path: w.opts.Path, Kind: ErrInvalidArgument, Err: fmt.Errorf(format, args...)}
	}
	if int(rec.NumCols()) != len(w.schema.Fields) {
		return bad("record batch has %d columns, the schema %d", rec.NumCols(), len(w.schema.Fields))
	}
	for i, f := range w.arrow.Fields() {
		got := rec.Schema().Field(i)
		if got.Name != f.Name {
			return bad("column %d is %q, the schema says %q", i, got.Name, f.Name)
		}
		col := rec.Column(i)
		if !sameType(col.DataType(), f.Type) {
			return bad("column %q has type %s, the schema says %s", f.Name, col.DataType(), f.Type)
		}
		if err := checkNulls(f, col.Data()); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}

// sameType compares types ignoring child field names, nullability and
// metadata (Lance does not store a fixed-size list's item field, for one).
func sameType(a, b arrow.DataType) bool {
	if ea, ok := a.(arrow.ExtensionType); ok {
		a = ea.StorageType()
	}
	if a.ID() != b.ID() {
		return false
	}
	switch ta := a.(type) {
	case *arrow.FixedSizeListType:
		tb := b.(*arrow.FixedSizeListType)
		return ta.Len() == tb.Len() && sameType(ta.Elem(), tb.Elem())
	case *arrow.ListType:
		return sameType(ta.Elem(), b.(*arrow.ListType).Elem())
	case *arrow.LargeListType:
		return sameType(ta.Elem(), b.(*arrow.LargeListType).Elem())
	case *arrow.StructType:
		tb := b.(*arrow.StructType)
		if ta.NumFields() != tb.NumFields() {
			return false
		}
		for i := range ta.NumFields() {
			if ta.Field(i).Name != tb.Field(i).Name || !sameType(ta.Field(i).Type, tb.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return arrow.TypeEqual(a, b)
}

// checkNulls rejects nulls in non-nullable fields, as Lance does.
func checkNulls(f arrow.Field, d arrow.ArrayData) error {
	if !f.Nullable && d.NullN() > 0 && f.Type.ID() != arrow.NULL {
		return fmt.Errorf("field %q is not nullable but has %d nulls", f.Name, d.NullN())
	}
	switch t := f.Type.(type) {
	case *arrow.StructType:
		for i, c := range d.Children() {
			if err := checkNulls(t.Field(i), c); err != nil {
				return err
			}
		}
	case arrow.ListLikeType:
		if len(d.Children()) == 1 {
			return checkNulls(t.ElemField(), d.Children()[0])
		}
	}
	return nil
}

// writeBuf writes one data buffer, padded to 64 bytes, and returns where it went.
func (w *Writer) writeBuf(b []byte) (uint64, error) {
	off := w.pos
	if _, err := w.w.Write(b); err != nil {
		return 0, fmt.Errorf("write buffer at %d: %w", off, err)
	}
	w.pos += uint64(len(b))
	if p := padLen(uint64(len(b))); p > 0 {
		var pad [alignment]byte
		for i := range pad[:p] {
			pad[i] = padByte
		}
		if _, err := w.w.Write(pad[:p]); err != nil {
			return 0, fmt.Errorf("write padding at %d: %w", w.pos, err)
		}
		w.pos += p
	}
	return off, nil
}

// writePage writes a page's buffers and records it in its column.
func (w *Writer) writePage(col int, rows uint64, bufs [][]byte, enc *encpb.ArrayEncoding) error {
	pg := &file2pb.ColumnMetadata_Page{Length: rows}
	for _, b := range bufs {
		off, err := w.writeBuf(b)
		if err != nil {
			return err
		}
		pg.BufferOffsets = append(pg.BufferOffsets, off)
		pg.BufferSizes = append(pg.BufferSizes, uint64(len(b)))
	}
	raw, err := marshalAny(arrayEncodingURL, enc)
	if err != nil {
		return fmt.Errorf("column %d: encode page encoding: %w", col, err)
	}
	// Lance 2.0 writers leave priority at 0; readers use cumulative lengths.
	pg.Encoding = &file2pb.Encoding{Location: &file2pb.Encoding_Direct{Direct: &file2pb.DirectEncoding{Encoding: raw}}}
	w.cols[col].Pages = append(w.cols[col].Pages, pg)
	return nil
}

// Finish writes the remaining pages, the file descriptor, the column
// metadata and the footer. It does not close the underlying writer.
func (w *Writer) Finish() (FileInfo, error) {
	if w.err != nil {
		return FileInfo{}, w.err
	}
	if w.done {
		return FileInfo{}, &Error{Path: w.opts.Path, Kind: ErrInvalidArgument, Err: fmt.Errorf("Finish called twice")}
	}
	w.done = true
	info, err := w.finish()
	if err != nil {
		w.err = withPath(w.opts.Path, err)
		return FileInfo{}, w.err
	}
	return info, nil
}

func (w *Writer) finish() (FileInfo, error) {
	for _, cw := range w.roots {
		if err := cw.flush(); err != nil {
			return FileInfo{}, err
		}
	}
	for _, cw := range w.roots {
		if err := cw.finish(w.rows); err != nil {
			return FileInfo{}, err
		}
	}
	fields, md := w.schema.ToProto()
	fd := &filepb.FileDescriptor{Schema: &filepb.Schema{Fields: fields, Metadata: md}, Length: w.rows}
	opts := proto.MarshalOptions{Deterministic: true}
	var tail bytes.Buffer
	fdBytes, err := opts.Marshal(fd)
	if err != nil {
		return FileInfo{}, fmt.Errorf("encode file descriptor: %w", err)
	}
	// Global buffer 0 and the column metadata follow the last (padded) data
	// buffer without further padding, as in Lance.
	gb0 := w.pos
	tail.Write(fdBytes)
	colEnc, err := marshalAny(columnEncodingURL, &encpb.ColumnEncoding{
		ColumnEncoding: &encpb.ColumnEncoding_Values{Values: &emptypb.Empty{}}})
	if err != nil {
		return FileInfo{}, err
	}
	cmStart := gb0 + uint64(tail.Len())
	cmo := make([]uint64, 0, 2*len(w.cols))
	for i, cm := range w.cols {
		cm.Encoding = &file2pb.Encoding{Location: &file2pb.Encoding_Direct{Direct: &file2pb.DirectEncoding{Encoding: colEnc}}}
		b, err := opts.Marshal(cm)
		if err != nil {
			return FileInfo{}, fmt.Errorf("encode column %d metadata: %w", i, err)
		}
		cmo = append(cmo, gb0+uint64(tail.Len()), uint64(len(b)))
		tail.Write(b)
	}
	cmoStart := gb0 + uint64(tail.Len())
	for _, v := range cmo {
		tail.Write(binary.LittleEndian.AppendUint64(nil, v))
	}
	gboStart := gb0 + uint64(tail.Len())
	tail.Write(binary.LittleEndian.AppendUint64(nil, gb0))
	tail.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(fdBytes))))
	tail.Write(footer{colMetaStart: cmStart, cmoStart: cmoStart, gboStart: gboStart, numGlobal: 1,
		numColumns: uint32(len(w.cols)), major: major20, minor: minor20}.marshal())
	if _, err := w.w.Write(tail.Bytes()); err != nil {
		return FileInfo{}, fmt.Errorf("write metadata at %d: %w", w.pos, err)
	}
	w.pos += uint64(tail.Len())

	info := FileInfo{NumRows: w.rows, SizeBytes: w.pos, NumColumns: len(w.cols), MajorVersion: 2, MinorVersion: 0}
	for i, f := range w.schema.Flatten() {
		info.FieldIDs = append(info.FieldIDs, f.ID)
		info.ColumnIndices = append(info.ColumnIndices, int32(i))
	}
	return info, nil
}

// fieldCompression reads Lance's compression request from field metadata.
func fieldCompression(f *schema.Field) (*encpb.Compression, error) {
	scheme, ok := f.Metadata[CompressionKey]
	if !ok || scheme == "none" {
		return nil, nil
	}
	if scheme != "zstd" {
		return nil, unsupportedf(fmt.Sprintf("field %q", f.Name), "compression %q is not supported by the writer (only zstd)", scheme)
	}
	c := &encpb.Compression{Scheme: scheme}
	if lv, ok := f.Metadata[CompressionLevelKey]; ok {
		n, err := strconv.ParseInt(lv, 10, 32)
		if err != nil {
			return nil, &locErr{where: fmt.Sprintf("field %q", f.Name), kind: ErrInvalidArgument, err: fmt.Errorf("compression level %q: %v", lv, err)}
		}
		l := int32(n)
		c.Level = &l
	}
	return c, nil
}
