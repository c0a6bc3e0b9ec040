package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/sarissa-db/sarissa/internal/testkit/arrowjson"
	"github.com/sarissa-db/sarissa/internal/testkit/datagen"
)

// readAll opens path and returns every batch (the caller releases them) and
// the reader. It fails the test on an error.
func readAll(t *testing.T, mem memory.Allocator, path string, opts Options) (*arrow.Schema, []arrow.RecordBatch, *Reader) {
	t.Helper()
	opts.Allocator = mem
	r, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	var recs []arrow.RecordBatch
	for r.Next() {
		rec := r.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return r.Schema(), recs, r
}

// readErr opens path and reads to the end, returning the first error.
func readErr(t *testing.T, path string, opts Options) error {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	return readErrWith(mem, path, opts)
}

// readErrWith is readErr with the caller's allocator.
func readErrWith(mem memory.Allocator, path string, opts Options) error {
	opts.Allocator = mem
	r, err := Open(context.Background(), path, opts)
	if err != nil {
		return err
	}
	defer r.Release()
	for r.Next() {
	}
	return r.Err()
}

func canonical(t *testing.T, sch *arrow.Schema, recs []arrow.RecordBatch) []byte {
	t.Helper()
	doc, err := arrowjson.Canonical(sch, recs)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// allTypesBatches returns n rows of every column type in batches of size,
// without the columns named in drop.
func allTypesBatches(mem memory.Allocator, n, size int, drop ...string) []arrow.RecordBatch {
	var recs []arrow.RecordBatch
	for first := 0; first < n; first += size {
		rec := datagen.AllTypes(mem, 7, first, min(size, n-first))
		var fields []arrow.Field
		var cols []arrow.Array
		for i, f := range rec.Schema().Fields() {
			if !slices.Contains(drop, f.Name) {
				fields = append(fields, f)
				cols = append(cols, rec.Column(i))
			}
		}
		recs = append(recs, array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rec.NumRows()))
		rec.Release()
	}
	return recs
}

// parquetUnsupported are the datagen columns arrow-go's Parquet writer
// refuses: null list entries there have a non-zero length.
// Parquet has no timestamp in seconds, so ts_s would come back in
// milliseconds.
var parquetUnsupported = []string{"tags", "nums", "vec", "vec16", "code", "qvec", "ts_s"}

// withVectors appends a non-null "vector" column (FixedSizeList<Float32, 4>)
// to each batch, standing in for the datagen vectors Parquet cannot take.
func withVectors(mem memory.Allocator, recs []arrow.RecordBatch) []arrow.RecordBatch {
	out := make([]arrow.RecordBatch, len(recs))
	for i, rec := range recs {
		b := array.NewFixedSizeListBuilder(mem, 4, arrow.PrimitiveTypes.Float32)
		vb := b.ValueBuilder().(*array.Float32Builder)
		for r := range rec.NumRows() {
			b.Append(true)
			for j := range 4 {
				vb.Append(float32(i)*1000 + float32(r) + float32(j)/8)
			}
		}
		vec := b.NewArray()
		b.Release()
		fields := append(slices.Clone(rec.Schema().Fields()), arrow.Field{Name: "vector", Type: vec.DataType(), Nullable: true})
		out[i] = array.NewRecordBatch(arrow.NewSchema(fields, nil), append(slices.Clone(rec.Columns()), vec), rec.NumRows())
		vec.Release()
		rec.Release()
	}
	return out
}

func release(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

func TestParquetRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := withVectors(mem, allTypesBatches(mem, 1000, 250, parquetUnsupported...))
	defer release(src)
	sch := src[0].Schema()
	path := filepath.Join(t.TempDir(), "data.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Small row groups so that the reader crosses several of them.
	props := parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(300), parquet.WithCompression(compress.Codecs.Zstd))
	w, err := pqarrow.NewFileWriter(sch, f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range src {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	gotSch, got, r := readAll(t, mem, path, Options{BatchRows: 128})
	defer release(got)
	defer r.Release()
	if r.Format() != Parquet {
		t.Errorf("format %q, want parquet", r.Format())
	}
	if r.Rows() != 1000 {
		t.Errorf("rows %d, want 1000", r.Rows())
	}
	if len(got) < 8 {
		t.Errorf("%d batches; want batches of at most 128 rows", len(got))
	}
	for _, rec := range got {
		if rec.NumRows() > 128 {
			t.Errorf("batch of %d rows, more than BatchRows", rec.NumRows())
		}
	}
	if d := arrowjson.Diff(canonical(t, gotSch, got), canonical(t, sch, src)); d != "" {
		t.Fatalf("parquet round trip: %s", d)
	}
	if r.BytesRead() == 0 || r.BytesRead() > r.Size() {
		t.Errorf("BytesRead %d of %d", r.BytesRead(), r.Size())
	}
}

func writeIPC(t *testing.T, path string, stream bool, recs []arrow.RecordBatch) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sch := recs[0].Schema()
	type writer interface {
		Write(arrow.RecordBatch) error
		Close() error
	}
	var w writer
	if stream {
		w = ipc.NewWriter(f, ipc.WithSchema(sch))
	} else {
		fw, err := ipc.NewFileWriter(f, ipc.WithSchema(sch))
		if err != nil {
			t.Fatal(err)
		}
		w = fw
	}
	for _, rec := range recs {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestArrowIPCRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   string
		stream bool
	}{
		{"file", "data.arrow", false},
		{"stream", "data.arrows", true},
		{"stream with file extension", "data.arrow", true},
		{"file under unknown extension", "data.bin", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			src := allTypesBatches(mem, 300, 100)
			defer release(src)
			path := filepath.Join(t.TempDir(), tc.file)
			writeIPC(t, path, tc.stream, src)
			sch, got, r := readAll(t, mem, path, Options{})
			defer release(got)
			defer r.Release()
			if r.Format() != ArrowIPC || len(got) != 3 {
				t.Errorf("format %q with %d batches, want arrow with 3", r.Format(), len(got))
			}
			if d := arrowjson.Diff(canonical(t, sch, got), canonical(t, src[0].Schema(), src)); d != "" {
				t.Fatal(d)
			}
			if r.BytesRead() != r.Size() {
				t.Errorf("BytesRead %d, want the whole file (%d)", r.BytesRead(), r.Size())
			}
		})
	}
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, content string
		opts          Options
		want          error
		msg           string
	}{
		{"x.parquet", "a,b\n1,2\n", Options{}, ErrInput, "not a Parquet file"},
		{"x.arrow", "{\"a\":1}\n", Options{}, ErrInput, "not an Arrow IPC file"},
		{"x.csv", "PAR1....", Options{}, ErrInput, "binary Parquet or Arrow"},
		{"x.dat", "a,b\n1,2\n", Options{}, ErrFormat, "pass --format"},
		{"x.dat", "a,b\n1,2\n", Options{Format: Parquet}, ErrInput, "not a Parquet file"},
		{"empty.parquet", "", Options{}, ErrInput, "not a Parquet file"},
		{"empty.csv", "", Options{}, ErrInput, "empty file"},
		{"empty.jsonl", "\n\n", Options{}, ErrInput, "no columns"},
	} {
		err := readErr(t, write(tc.name, tc.content), tc.opts)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: error %v; want %v naming the file and saying %q", tc.name, err, tc.want, tc.msg)
		}
	}
	if err := readErr(t, dir, Options{}); !errors.Is(err, ErrInput) {
		t.Errorf("directory: %v", err)
	}
	if err := readErr(t, filepath.Join(dir, "missing.csv"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// Sniffing without an extension.
	p := write("rows", "{\"a\": 1}\n")
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	_, got, r := readAll(t, mem, p, Options{})
	if r.Format() != JSONLines {
		t.Errorf("sniffed %q, want jsonl", r.Format())
	}
	release(got)
	r.Release()
	mem.AssertSize(t, 0)
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"": "", "auto": "", "PARQUET": Parquet, "ipc": ArrowIPC, "tsv": CSV, "ndjson": JSONLines} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseFormat("xlsx"); !errors.Is(err, ErrFormat) {
		t.Errorf("xlsx: %v", err)
	}
}

// TestCorruptBinaryFiles damages valid files in ways a decoder could take as
// a reason to panic or to allocate absurd amounts, and checks for a clean
// error naming the file.
func TestCorruptBinaryFiles(t *testing.T) {
	mem := memory.NewGoAllocator()
	src := allTypesBatches(mem, 200, 100, parquetUnsupported...)
	defer release(src)
	dir := t.TempDir()

	stream := filepath.Join(dir, "s.arrows")
	writeIPC(t, stream, true, src)
	file := filepath.Join(dir, "f.arrow")
	writeIPC(t, file, false, src)
	pq := filepath.Join(dir, "p.parquet")
	{
		f, _ := os.Create(pq)
		w, err := pqarrow.NewFileWriter(src[0].Schema(), f, nil, pqarrow.DefaultWriterProps())
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range src {
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
	}

	damage := func(name string, orig string, edit func([]byte) []byte) string {
		data, err := os.ReadFile(orig)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, edit(append([]byte(nil), data...)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []string{
		damage("trunc.arrows", stream, func(b []byte) []byte { return b[:len(b)/2] }),
		damage("trunc.arrow", file, func(b []byte) []byte { return b[:len(b)-20] }),
		damage("trunc.parquet", pq, func(b []byte) []byte { return b[:len(b)/2] }),
		// The second message's metadata length claims 2 GiB.
		damage("hugemeta.arrows", stream, func(b []byte) []byte {
			n := int(uint32(b[4]) | uint32(b[5])<<8 | uint32(b[6])<<16 | uint32(b[7])<<24)
			off := 8 + n
			for off%8 != 0 {
				off++
			}
			b[off+4], b[off+5], b[off+6], b[off+7] = 0xf0, 0xff, 0xff, 0x7f
			return b
		}),
		damage("zeroed.parquet", pq, func(b []byte) []byte {
			for i := 4; i < len(b)/2; i++ {
				b[i] = 0xff
			}
			return b
		}),
	}
	// Flipping bytes across the body of a stream must never panic.
	data, _ := os.ReadFile(stream)
	for i := 8; i < len(data); i += len(data) / 23 {
		cases = append(cases, damage(fmt.Sprintf("flip%02d.arrows", len(cases)), stream, func(b []byte) []byte {
			b[i] ^= 0xa5
			b[i+1] ^= 0x5a
			return b
		}))
	}
	for _, p := range cases {
		base := filepath.Base(p)
		if strings.HasPrefix(base, "flip") {
			// arrow-go leaks the message body when it recovers from a
			// corrupt batch; the Go allocator's GC reclaims it, so only the
			// error is checked here.
			err := readErrWith(memory.NewGoAllocator(), p, Options{})
			// A flip in padding or in values can leave a valid file.
			if err != nil && !strings.Contains(err.Error(), base) {
				t.Errorf("%s: error does not name the file: %v", base, err)
			}
			continue
		}
		err := readErr(t, p, Options{})
		if err == nil || !strings.Contains(err.Error(), base) {
			t.Errorf("%s: got %v, want an error naming the file", base, err)
		}
	}
}

func TestBytesReadIsSafeDuringReads(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,v\n")
	for i := range 20000 {
		b.WriteString(strings.Repeat("1", 1+i%5))
		b.WriteString(",x\n")
	}
	path := writeFile(t, "big.csv", b.String())
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r, err := Open(context.Background(), path, Options{Allocator: mem, BatchRows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	stop := make(chan struct{})
	done := make(chan int64)
	go func() {
		var last int64
		for {
			select {
			case <-stop:
				done <- last
				return
			default:
				n := r.BytesRead()
				if n < last {
					t.Errorf("BytesRead went back from %d to %d", last, n)
				}
				last = n
				_ = r.Rows()
			}
		}
	}()
	for r.Next() {
	}
	close(stop)
	<-done
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if r.Rows() != 20000 || r.BytesRead() != r.Size() {
		t.Errorf("rows %d bytes %d of %d", r.Rows(), r.BytesRead(), r.Size())
	}
}
