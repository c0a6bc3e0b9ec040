package file

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/lance/schema"
	"github.com/sarissa-db/sarissa/internal/testkit/nodejs"
)

// writeTestTable wraps one data file in the smallest table stock Lance
// opens: data/<file> and _versions/1.manifest with one fragment. (The table
// layer proper lives in internal/lance; this is only enough to let LanceDB
// read the file.)
func writeTestTable(t *testing.T, dir string, s *schema.Schema, data []byte, info FileInfo) {
	t.Helper()
	for _, sub := range []string{"data", "_versions"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const name = "0000-sarissa-test.lance"
	if err := os.WriteFile(filepath.Join(dir, "data", name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	fields, md := s.ToProto()
	zero := uint32(0)
	m := &tablepb.Manifest{
		Fields:         fields,
		SchemaMetadata: md,
		Version:        1,
		Timestamp:      timestamppb.New(time.Unix(1700000000, 0)),
		MaxFragmentId:  &zero,
		WriterVersion:  &tablepb.Manifest_WriterVersion{Library: "sarissa-test", Version: "0.0.1"},
		DataFormat:     &tablepb.Manifest_DataStorageFormat{FileFormat: "lance", Version: "2.0"},
		Fragments: []*tablepb.DataFragment{{
			Id:           0,
			PhysicalRows: info.NumRows,
			Files: []*tablepb.DataFile{{
				Path:             name,
				Fields:           info.FieldIDs,
				ColumnIndices:    info.ColumnIndices,
				FileMajorVersion: info.MajorVersion,
				FileMinorVersion: info.MinorVersion,
				FileSizeBytes:    info.SizeBytes,
			}},
		}},
	}
	mb, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	// [u32 len][Manifest][i64 position of len][u16 0][u16 2]["LANC"]
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(mb)))
	out = append(out, mb...)
	out = binary.LittleEndian.AppendUint64(out, 0)
	out = binary.LittleEndian.AppendUint16(out, 0)
	out = binary.LittleEndian.AppendUint16(out, 2)
	out = append(out, "LANC"...)
	if err := os.WriteFile(filepath.Join(dir, "_versions", "1.manifest"), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStockReadsOurFiles writes every supported type with small pages (so
// lists, dictionaries and vectors span many pages), has stock LanceDB
// (Node, testdata/read-stock.mjs) read the table back, and compares what it
// returns with what we wrote.
func TestStockReadsOurFiles(t *testing.T) {
	nodejs.RequireModules(t) // fails (never skips) without node and the LanceDB packages
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ls, err := schema.FromArrow(allTypes(), 0)
	if err != nil {
		t.Fatal(err)
	}
	as, _ := ls.ToArrow()
	recs := []arrow.RecordBatch{makeBatch(11, mem, as, 1500), makeBatch(12, mem, as, 700)}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	data, info := writeFile(t, ls, recs, WriterOptions{Path: "ours.lance", PageSize: 4 << 10})
	dir := t.TempDir()
	writeTestTable(t, filepath.Join(dir, "ours.lance"), ls, data, info)

	out := filepath.Join(dir, "batch")
	ctx, cancel := context.WithTimeout(context.Background(), nodejs.DefaultTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "read-stock.mjs", dir, "ours", out)
	cmd.Dir = "testdata"
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("read-stock.mjs: %v\n%s", err, b)
	}
	var got []arrow.RecordBatch
	defer func() {
		for _, r := range got {
			r.Release()
		}
	}()
	var stockSchema *arrow.Schema
	for i := 0; ; i++ {
		b, err := os.ReadFile(fmt.Sprintf("%s.%d", out, i))
		if errors.Is(err, os.ErrNotExist) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		// LanceDB hands out each batch as an IPC file.
		ir, err := ipc.NewFileReader(bytes.NewReader(b), ipc.WithAllocator(mem))
		if err != nil {
			t.Fatal(err)
		}
		stockSchema = ir.Schema()
		for k := range ir.NumRecords() {
			rec, err := ir.RecordBatch(k)
			if err != nil {
				t.Fatal(err)
			}
			rec.Retain()
			got = append(got, rec)
		}
		ir.Close()
	}
	if len(got) == 0 {
		t.Fatal("stock read returned no batches")
	}
	for i, fld := range as.Fields() {
		j := stockSchema.FieldIndices(fld.Name)
		if len(j) != 1 {
			t.Errorf("stock read has no column %s", fld.Name)
			continue
		}
		want := concatColumn(t, mem, recs, i)
		have := concatColumn(t, mem, got, j[0])
		if have.Len() != want.Len() {
			t.Errorf("%s: stock read %d rows, want %d", fld.Name, have.Len(), want.Len())
		} else if !array.ApproxEqual(have, want, array.WithNaNsEqual(true)) {
			n := want.Len()
			for k := 0; k < n; k++ {
				a, b := array.NewSlice(have, int64(k), int64(k+1)), array.NewSlice(want, int64(k), int64(k+1))
				if !array.ApproxEqual(a, b) {
					t.Errorf("%s row %d: stock read %v, wrote %v", fld.Name, k, a, b)
					a.Release()
					b.Release()
					break
				}
				a.Release()
				b.Release()
			}
		}
		want.Release()
		have.Release()
	}
}
