package lance

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/filepb"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
)

func sampleManifest() *tablepb.Manifest {
	maxID := uint32(7)
	return &tablepb.Manifest{
		Fields:         testFields(),
		SchemaMetadata: map[string][]byte{"k": []byte("v")},
		Version:        42,
		Fragments: []*tablepb.DataFragment{{
			Id: 7, PhysicalRows: 10,
			Files:        []*tablepb.DataFile{{Path: "a.lance", Fields: []int32{0, 1}, ColumnIndices: []int32{0, 1}, FileMajorVersion: 2}},
			DeletionFile: &tablepb.DeletionFile{ReadVersion: 41, Id: 9, NumDeletedRows: 2},
		}},
		Timestamp:          timestamppb.New(testOptions(1).Now()),
		ReaderFeatureFlags: FlagDeletionFiles,
		WriterFeatureFlags: FlagDeletionFiles | FlagTableConfig,
		MaxFragmentId:      &maxID,
		TransactionFile:    "41-abc.txn",
		WriterVersion:      &tablepb.Manifest_WriterVersion{Library: "sarissa", Version: "1.0.0"},
		DataFormat:         &tablepb.Manifest_DataStorageFormat{FileFormat: "lance", Version: "2.0"},
		Config:             map[string]string{"lance.auto_cleanup.interval": "20"},
	}
}

func TestManifestRoundTrip(t *testing.T) {
	index, err := proto.Marshal(&tablepb.IndexSection{Indices: []*tablepb.IndexMetadata{{Name: "idx", Fields: []int32{0}, DatasetVersion: 40}}})
	if err != nil {
		t.Fatal(err)
	}
	txn := NewAppend(&tablepb.DataFragment{PhysicalRows: 3})
	txn.ReadVersion, txn.Uuid = 41, "abc"
	for _, tc := range []struct {
		name  string
		index []byte
		txn   *tablepb.Transaction
	}{
		{"bare", nil, nil},
		{"index", index, nil},
		{"transaction", nil, txn},
		{"both", index, txn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := sampleManifest()
			data, err := encodeManifest(want, tc.index, tc.txn)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(data, []byte("LANC")) {
				t.Fatalf("no magic at the end")
			}
			m, err := DecodeManifest("m", data)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(m.Proto(), want) {
				t.Fatalf("decoded manifest differs:\n got %v\nwant %v", m.Proto(), want)
			}
			gotIndex, err := m.IndexSectionBytes(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gotIndex, tc.index) {
				t.Fatalf("index section %x, want %x (byte for byte)", gotIndex, tc.index)
			}
			gotTxn, err := m.inlineTransaction(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if (tc.txn == nil) != (gotTxn == nil) || (tc.txn != nil && !proto.Equal(gotTxn, tc.txn)) {
				t.Fatalf("inline transaction %v, want %v", gotTxn, tc.txn)
			}
			if got := m.Timestamp(); !got.Equal(want.Timestamp.AsTime()) {
				t.Fatalf("timestamp %v, want %v", got, want.Timestamp.AsTime())
			}
		})
	}
}

// TestReadLargeManifest stores a manifest larger than the 64 KiB prefetch,
// with an index section at the start of the file, so that the reader needs
// a second range read for the manifest and a third for the section.
func TestReadLargeManifest(t *testing.T) {
	ctx := context.Background()
	want := sampleManifest()
	for i := range 3000 {
		want.Fields = append(want.Fields, &filepb.Field{Name: strings.Repeat("x", 20), Id: int32(i + 2), ParentId: -1, LogicalType: "int32"})
	}
	index, err := proto.Marshal(&tablepb.IndexSection{Indices: []*tablepb.IndexMetadata{{Name: strings.Repeat("i", 70000)}}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := encodeManifest(want, index, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(data)-len(index) < manifestPrefetch {
		t.Fatalf("manifest of %d bytes is too small to need a second read", len(data)-len(index))
	}
	b := memory.New()
	if err := b.Put(ctx, "big.manifest", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	m, err := readManifest(ctx, b, "big.manifest", -1)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m.Proto(), want) {
		t.Fatal("large manifest did not round trip")
	}
	got, err := m.IndexSectionBytes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, index) {
		t.Fatal("index section outside the cached tail did not round trip")
	}
}

func TestDecodeManifestCorrupt(t *testing.T) {
	good, err := encodeManifest(sampleManifest(), []byte{0x0a, 0x00}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func([]byte) []byte) []byte { return f(bytes.Clone(good)) }
	footer := len(good) - manifestFooterLen
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "shorter than the 16-byte footer"},
		{"short", []byte("LANC"), "shorter than the 16-byte footer"},
		{"bad magic", mutate(func(b []byte) []byte { copy(b[len(b)-4:], "LANX"); return b }), "bad magic"},
		{"truncated", good[:len(good)-3], "bad magic"},
		{"truncated head", good[10:], "manifest length"},
		{"major version", mutate(func(b []byte) []byte { b[footer+8] = 1; return b }), "unsupported manifest format version 1.2"},
		{"offset past end", mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[footer:], uint64(len(b)))
			return b
		}), "outside file"},
		{"negative offset", mutate(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[footer:], 1<<63)
			return b
		}), "outside file"},
		{"length mismatch", mutate(func(b []byte) []byte {
			pos := binary.LittleEndian.Uint64(b[footer:])
			binary.LittleEndian.PutUint32(b[pos:], 1)
			return b
		}), "manifest length 1"},
		{"garbage protobuf", func() []byte {
			body := []byte{0xff, 0xff, 0xff, 0xff, 0xff}
			var buf bytes.Buffer
			_ = writeLenPrefixed(&buf, body)
			var f [16]byte
			copy(f[12:], "LANC")
			buf.Write(f[:])
			return buf.Bytes()
		}(), "decode manifest protobuf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeManifest("db/t.lance/_versions/x.manifest", tc.data)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), "db/t.lance/_versions/x.manifest") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q should name the file and say %q", err, tc.want)
			}
		})
	}
}

func TestManifestSectionOutOfRange(t *testing.T) {
	m := sampleManifest()
	data, err := encodeManifest(m, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Point the index section at the manifest itself: its length prefix
	// then claims bytes that overlap the manifest.
	dec, err := DecodeManifest("m", data)
	if err != nil {
		t.Fatal(err)
	}
	pos := uint64(dec.manifestPos)
	dec.pb.IndexSection = &pos
	if _, err := dec.IndexSectionBytes(context.Background()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
}

func FuzzDecodeManifest(f *testing.F) {
	good, err := encodeManifest(sampleManifest(), []byte{0x0a, 0x03, 0x1a, 0x01, 0x78}, NewAppend())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("LANC"))
	f.Add(make([]byte, 16))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeManifest("fuzz", data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		ctx := context.Background()
		if _, err := m.Indices(ctx); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("index section error %v is not ErrCorrupt", err)
		}
		if _, err := m.inlineTransaction(ctx); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("transaction section error %v is not ErrCorrupt", err)
		}
		_ = checkReadable("fuzz", m.Proto())
	})
}
