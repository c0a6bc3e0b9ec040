package lance

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/objstore"
)

// bitmapThreshold is the deletion count from which Lance stores a roaring
// bitmap (.bin) instead of an Arrow array (.arrow)
// (rust/lance-core/src/utils/deletion.rs).
const bitmapThreshold = 5000

// deletionColumn is the single column of an Arrow deletion file. Lance
// compares the whole schema, so name, type and nullability must match.
const deletionColumn = "row_id"

var deletionSchema = arrow.NewSchema([]arrow.Field{{Name: deletionColumn, Type: arrow.PrimitiveTypes.Uint32}}, nil)

// DeletionVector is the set of deleted row offsets of one fragment. Offsets
// are physical: they count deleted rows too.
type DeletionVector struct {
	bm *roaring.Bitmap
}

// NewDeletionVector returns a vector holding rows.
func NewDeletionVector(rows ...uint32) *DeletionVector {
	return &DeletionVector{bm: roaring.BitmapOf(rows...)}
}

// Add marks row as deleted.
func (d *DeletionVector) Add(row uint32) { d.bm.Add(row) }

// Contains reports whether row is deleted.
func (d *DeletionVector) Contains(row uint32) bool { return d.bm.Contains(row) }

// Len returns the number of deleted rows.
func (d *DeletionVector) Len() uint64 { return d.bm.GetCardinality() }

// Rows returns the deleted offsets in ascending order.
func (d *DeletionVector) Rows() []uint32 { return d.bm.ToArray() }

// Clone returns an independent copy.
func (d *DeletionVector) Clone() *DeletionVector { return &DeletionVector{bm: d.bm.Clone()} }

// Union adds every row of o.
func (d *DeletionVector) Union(o *DeletionVector) { d.bm.Or(o.bm) }

// Intersects reports whether d and o share a row.
func (d *DeletionVector) Intersects(o *DeletionVector) bool { return d.bm.Intersects(o.bm) }

// Bitmap returns a copy of the underlying roaring bitmap.
func (d *DeletionVector) Bitmap() *roaring.Bitmap { return d.bm.Clone() }

// ReadDeletionVector loads the deletion file of a fragment. A nil df means
// the fragment has no deletions and yields an empty vector.
func (t *Table) ReadDeletionVector(ctx context.Context, fragmentID uint64, df *tablepb.DeletionFile) (*DeletionVector, error) {
	if df == nil {
		return NewDeletionVector(), nil
	}
	if df.BaseId != nil {
		return nil, fmt.Errorf("deletion file of fragment %d lives in base path %d: %w", fragmentID, df.GetBaseId(), ErrUnsupportedFeature)
	}
	key := t.key(deletionFileName(fragmentID, df))
	data, err := objstore.ReadAll(ctx, t.bucket, key)
	if err != nil {
		return nil, fmt.Errorf("read deletion file of fragment %d: %w", fragmentID, err)
	}
	var dv *DeletionVector
	switch df.GetFileType() {
	case tablepb.DeletionFile_ARROW_ARRAY:
		dv, err = decodeDeletionArrow(key, data)
	case tablepb.DeletionFile_BITMAP:
		dv, err = decodeDeletionBitmap(key, data)
	default:
		err = corruptf(key, "unknown deletion file type %d", df.GetFileType())
	}
	if err != nil {
		return nil, err
	}
	if n := df.GetNumDeletedRows(); n != 0 && n != dv.Len() {
		return nil, corruptf(key, "holds %d rows, manifest says %d", dv.Len(), n)
	}
	return dv, nil
}

// WriteDeletionFile stores dv as the deletion file of a fragment, written
// while reading version readVersion, and returns its manifest entry. An
// empty vector writes nothing and returns nil.
func (t *Table) WriteDeletionFile(ctx context.Context, fragmentID, readVersion uint64, dv *DeletionVector) (*tablepb.DeletionFile, error) {
	n := dv.Len()
	if n == 0 {
		return nil, nil
	}
	id, err := randomUint64(t.opts.Entropy)
	if err != nil {
		return nil, err
	}
	df := &tablepb.DeletionFile{ReadVersion: readVersion, Id: id, NumDeletedRows: n}
	var data []byte
	if n < bitmapThreshold {
		df.FileType = tablepb.DeletionFile_ARROW_ARRAY
		data, err = encodeDeletionArrow(dv, t.opts.Allocator)
	} else {
		df.FileType = tablepb.DeletionFile_BITMAP
		data, err = encodeDeletionBitmap(dv)
	}
	if err != nil {
		return nil, fmt.Errorf("encode deletion file of fragment %d: %w", fragmentID, err)
	}
	key := t.key(deletionFileName(fragmentID, df))
	if err := t.bucket.Put(ctx, key, bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("write deletion file of fragment %d: %w", fragmentID, err)
	}
	return df, nil
}

// encodeDeletionArrow writes an Arrow IPC file with one batch of one
// non-nullable UInt32 column, ZSTD-compressed, as Lance writes it.
func encodeDeletionArrow(dv *DeletionVector, mem memory.Allocator) ([]byte, error) {
	b := array.NewUint32Builder(mem)
	defer b.Release()
	b.AppendValues(dv.Rows(), nil)
	col := b.NewArray()
	defer col.Release()
	rec := array.NewRecordBatch(deletionSchema, []arrow.Array{col}, int64(col.Len()))
	defer rec.Release()

	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(deletionSchema), ipc.WithAllocator(mem), ipc.WithZstd())
	if err != nil {
		return nil, err
	}
	if err := w.Write(rec); err != nil {
		return nil, errors.Join(err, w.Close())
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// encodeDeletionBitmap writes the portable 32-bit roaring format. Run
// containers are converted away first: the Rust roaring crate Lance uses
// reads array and bitmap containers, and nothing else is needed here.
func encodeDeletionBitmap(dv *DeletionVector) ([]byte, error) {
	bm := dv.bm
	if bm.HasRunCompression() {
		bm = roaring.New()
		bm.AddMany(dv.bm.ToArray())
	}
	var buf bytes.Buffer
	if _, err := bm.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func decodeDeletionBitmap(key string, data []byte) (*DeletionVector, error) {
	bm, err := decodeRoaring(data)
	if err != nil {
		return nil, corruptf(key, "decode roaring deletion bitmap: %v", err)
	}
	return &DeletionVector{bm: bm}, nil
}

// decodeRoaring decodes a portable roaring bitmap from untrusted bytes.
func decodeRoaring(data []byte) (bm *roaring.Bitmap, err error) {
	defer func() {
		if r := recover(); r != nil {
			bm, err = nil, fmt.Errorf("malformed bitmap: %v", r)
		}
	}()
	bm = roaring.New()
	n, err := bm.ReadFrom(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if n != int64(len(data)) {
		return nil, fmt.Errorf("%d trailing bytes after bitmap", int64(len(data))-n)
	}
	if err := bm.Validate(); err != nil {
		return nil, err
	}
	return bm, nil
}

// encodeRoaring serializes a bitmap for manifest fields such as index
// fragment bitmaps, without run containers (see encodeDeletionBitmap).
func encodeRoaring(bm *roaring.Bitmap) ([]byte, error) {
	return encodeDeletionBitmap(&DeletionVector{bm: bm})
}
