package lance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/objstore"
	memstore "github.com/sarissa-db/sarissa/internal/objstore/memory"
)

func TestDeletionFileRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		n        uint32
		stride   uint32
		wantType tablepb.DeletionFile_DeletionFileType
		wantExt  string
	}{
		{1, 1, tablepb.DeletionFile_ARROW_ARRAY, "arrow"},
		{4999, 3, tablepb.DeletionFile_ARROW_ARRAY, "arrow"},
		{5000, 3, tablepb.DeletionFile_BITMAP, "bin"},
		{70000, 1, tablepb.DeletionFile_BITMAP, "bin"}, // dense: bitmap containers
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			opts := testOptions(5)
			opts.Allocator = mem
			b := memstore.New()
			tbl, err := newTable(b, "db/t.lance", opts)
			if err != nil {
				t.Fatal(err)
			}
			dv := NewDeletionVector()
			var want []uint32
			for i := range tc.n {
				dv.Add(i * tc.stride)
				want = append(want, i*tc.stride)
			}
			df, err := tbl.WriteDeletionFile(ctx, 7, 3, dv)
			if err != nil {
				t.Fatal(err)
			}
			if df.GetFileType() != tc.wantType || df.GetNumDeletedRows() != uint64(tc.n) || df.GetReadVersion() != 3 {
				t.Fatalf("deletion file %v", df)
			}
			key := fmt.Sprintf("db/t.lance/_deletions/7-3-%d.%s", df.GetId(), tc.wantExt)
			if _, err := b.Stat(ctx, key); err != nil {
				t.Fatalf("no file at %s: %v", key, err)
			}
			got, err := tbl.ReadDeletionVector(ctx, 7, df)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Rows(), want) {
				t.Fatalf("read back %d rows, want %d", got.Len(), len(want))
			}
		})
	}
}

// TestDeletionArrowLayout checks the bytes against what Lance's reader
// requires: an IPC file, one batch, schema exactly {row_id: uint32 not null}
// without metadata, ZSTD-compressed body.
func TestDeletionArrowLayout(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	data, err := encodeDeletionArrow(NewDeletionVector(5, 1, 3), mem)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("ARROW1")) {
		t.Fatal("not an Arrow IPC file")
	}
	r, err := ipc.NewFileReader(bytes.NewReader(data), ipc.WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := arrow.NewSchema([]arrow.Field{{Name: "row_id", Type: arrow.PrimitiveTypes.Uint32, Nullable: false}}, nil)
	if !r.Schema().Equal(want) || r.Schema().HasMetadata() || r.NumRecords() != 1 {
		t.Fatalf("schema %v with %d batches", r.Schema(), r.NumRecords())
	}
	rec, err := r.RecordBatch(0)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Column(0).(*array.Uint32).Uint32Values(); !slices.Equal(got, []uint32{1, 3, 5}) {
		t.Fatalf("values %v", got)
	}
	// The ZSTD frame magic appears in the compressed body.
	if !bytes.Contains(data, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		t.Fatal("body is not ZSTD-compressed")
	}
}

func TestDeletionArrowInt32Accepted(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "row_id", Type: arrow.PrimitiveTypes.Int32}}, nil)
	bld := array.NewInt32Builder(mem)
	bld.AppendValues([]int32{2, 4}, nil)
	col := bld.NewArray()
	bld.Release()
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, 2)
	col.Release()
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	dv, err := decodeDeletionArrow("k", buf.Bytes())
	if err != nil || !slices.Equal(dv.Rows(), []uint32{2, 4}) {
		t.Fatalf("int32 deletion file: %v %v", dv, err)
	}
}

func TestDeletionFileCorrupt(t *testing.T) {
	ctx := context.Background()
	b := memstore.New()
	opts := testOptions(6)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	opts.Allocator = mem
	tbl, err := newTable(b, "t", opts)
	if err != nil {
		t.Fatal(err)
	}
	good, err := encodeDeletionArrow(NewDeletionVector(1, 2, 3), mem)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		typ  tablepb.DeletionFile_DeletionFileType
		data []byte
		n    uint64
	}{
		{"arrow garbage", tablepb.DeletionFile_ARROW_ARRAY, []byte("not arrow at all"), 0},
		{"arrow truncated", tablepb.DeletionFile_ARROW_ARRAY, good[:len(good)-9], 0},
		{"arrow wrong count", tablepb.DeletionFile_ARROW_ARRAY, good, 4},
		{"bitmap garbage", tablepb.DeletionFile_BITMAP, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, 0},
		{"bitmap empty", tablepb.DeletionFile_BITMAP, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			df := &tablepb.DeletionFile{FileType: tc.typ, ReadVersion: 1, Id: 2, NumDeletedRows: tc.n}
			key := tbl.key(deletionFileName(3, df))
			if err := b.Put(ctx, key, bytes.NewReader(tc.data)); err != nil {
				t.Fatal(err)
			}
			_, err := tbl.ReadDeletionVector(ctx, 3, df)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), key) {
				t.Fatalf("got %v, want ErrCorrupt naming %s", err, key)
			}
		})
	}
	// A missing file is an I/O condition, not corruption.
	_, err = tbl.ReadDeletionVector(ctx, 9, &tablepb.DeletionFile{Id: 1})
	if !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("missing deletion file: %v", err)
	}
}

func FuzzDecodeDeletionFile(f *testing.F) {
	mem := memory.NewGoAllocator()
	good, err := encodeDeletionArrow(NewDeletionVector(1, 7, 9), mem)
	if err != nil {
		f.Fatal(err)
	}
	bin, err := encodeDeletionBitmap(NewDeletionVector(1, 7, 9))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(bin)
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := decodeDeletionArrow("fuzz", data); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("arrow: %v", err)
		}
		if _, err := decodeDeletionBitmap("fuzz", data); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bitmap: %v", err)
		}
	})
}
