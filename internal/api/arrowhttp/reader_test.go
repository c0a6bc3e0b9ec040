package arrowhttp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var mixedSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "vec", Type: arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float32), Nullable: true},
	{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.LargeString), Nullable: true},
	{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.FixedWidthTypes.Boolean, Nullable: true}), Nullable: true},
	{Name: "cat", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}, Nullable: true},
}, func() *arrow.Metadata {
	m := arrow.NewMetadata([]string{"embedding_functions"}, []string{"[]"})
	return &m
}())

// mixedBatch builds n rows of mixedSchema starting at id first.
func mixedBatch(t testing.TB, mem memory.Allocator, first, n int) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(mem, mixedSchema)
	defer b.Release()
	for i := first; i < first+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%3 == 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(strings.Repeat("x", i%7))
		}
		vb := b.Field(2).(*array.FixedSizeListBuilder)
		vb.Append(true)
		for k := range 3 {
			vb.ValueBuilder().(*array.Float32Builder).Append(float32(i*3 + k))
		}
		lb := b.Field(3).(*array.ListBuilder)
		lb.Append(true)
		for k := range i % 3 {
			lb.ValueBuilder().(*array.LargeStringBuilder).Append(string(rune('a' + k)))
		}
		sb := b.Field(4).(*array.StructBuilder)
		sb.Append(true)
		sb.FieldBuilder(0).(*array.BooleanBuilder).Append(i%2 == 0)
		db := b.Field(5).(*array.BinaryDictionaryBuilder)
		if err := db.AppendString([]string{"red", "green", "blue"}[i%3]); err != nil {
			t.Fatal(err)
		}
	}
	return b.NewRecordBatch()
}

// stream encodes batches as an IPC stream, LZ4-compressed like the LanceDB
// client sends them.
func stream(t testing.TB, batches ...arrow.RecordBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(mixedSchema), ipc.WithLZ4())
	for _, b := range batches {
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func testStream(t testing.TB) []byte {
	mem := memory.NewGoAllocator()
	b1, b2 := mixedBatch(t, mem, 0, 10), mixedBatch(t, mem, 10, 5)
	defer b1.Release()
	defer b2.Release()
	return stream(t, b1, b2)
}

// readAll decodes body and returns the total row count.
func readAll(body io.Reader, lim Limits, mem memory.Allocator) (int64, error) {
	r, err := NewStreamReader(body, lim, mem)
	if err != nil {
		return 0, err
	}
	defer r.Release()
	var n int64
	for r.Next() {
		n += r.RecordBatch().NumRows()
	}
	return n, r.Err()
}

func TestRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	want := []arrow.RecordBatch{mixedBatch(t, mem, 0, 10), mixedBatch(t, mem, 10, 5)}
	defer want[0].Release()
	defer want[1].Release()
	r, err := NewStreamReader(bytes.NewReader(stream(t, want...)), Limits{}, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if !r.Schema().Equal(mixedSchema) || r.Schema().Metadata().FindKey("embedding_functions") < 0 {
		t.Fatalf("schema %v", r.Schema())
	}
	i := 0
	for r.Next() {
		if i >= len(want) || !array.RecordEqual(r.RecordBatch(), want[i]) {
			t.Fatalf("batch %d differs: %v", i, r.RecordBatch())
		}
		i++
	}
	if r.Err() != nil || i != 2 || r.Rows() != 15 {
		t.Fatalf("err %v after %d batches, %d rows", r.Err(), i, r.Rows())
	}
}

func TestEmptyStreams(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	// Schema and end-of-stream only (Python), and one zero-row batch (Node).
	empty := mixedBatch(t, mem, 0, 0)
	defer empty.Release()
	for name, body := range map[string][]byte{"no batches": stream(t), "zero-row batch": stream(t, empty)} {
		n, err := readAll(bytes.NewReader(body), Limits{}, mem)
		if err != nil || n != 0 {
			t.Errorf("%s: %d rows, %v", name, n, err)
		}
	}
}

func TestBadBodies(t *testing.T) {
	good := testStream(t)
	cases := map[string]struct {
		body []byte
		lim  Limits
		want string
	}{
		"empty":          {nil, Limits{}, "the body is empty"},
		"json":           {[]byte(`{"a": 1}`), Limits{}, "does not start with an Arrow IPC stream"},
		"no eos":         {good[:len(good)-8], Limits{}, "without the end-of-stream marker"},
		"cut mid-body":   {good[:len(good)-40], Limits{}, "truncated body"},
		"decoded limit":  {good, Limits{MaxDecodedBytes: 100}, "decodes to more than 100 bytes"},
		"metadata limit": {good, Limits{MaxMetadataBytes: 64}, "metadata length"},
		"message limit":  {good, Limits{MaxMessageBytes: 16}, "body length"},
		"deep schema":    {good, Limits{MaxNestingDepth: 1}, "nested more than 1 levels"},
	}
	for name, tc := range cases {
		_, err := readAll(bytes.NewReader(tc.body), tc.lim, memory.NewGoAllocator())
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want ErrInvalid containing %q", name, err, tc.want)
		}
	}
}

// Every prefix of a valid stream is a truncated body and must be refused.
func TestEveryTruncation(t *testing.T) {
	good := testStream(t)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for cut := range len(good) {
		if _, err := readAll(bytes.NewReader(good[:cut]), Limits{}, mem); !errors.Is(err, ErrInvalid) {
			t.Fatalf("body cut at %d of %d: error %v, want ErrInvalid", cut, len(good), err)
		}
	}
	if n, err := readAll(bytes.NewReader(good), Limits{}, mem); err != nil || n != 15 {
		t.Fatalf("whole body: %d rows, %v", n, err)
	}
}

type message struct {
	start, meta, body int // offsets of the frame, metadata and body
	metaLen, bodyLen  int
}

// messages splits an IPC stream into its messages.
func messages(t *testing.T, s []byte) []message {
	t.Helper()
	var out []message
	for p := 0; ; {
		if binary.LittleEndian.Uint32(s[p:]) != continuation {
			t.Fatalf("no continuation at %d", p)
		}
		ml := int(binary.LittleEndian.Uint32(s[p+4:]))
		if ml == 0 {
			return out
		}
		m, err := fbRoot(s[p+8 : p+8+ml])
		if err != nil {
			t.Fatal(err)
		}
		bl, _ := m.int64(msgBodyLength, 0)
		out = append(out, message{start: p, meta: p + 8, body: p + 8 + ml, metaLen: ml, bodyLen: int(bl)})
		p += 8 + ml + int(bl)
	}
}

// Lengths a hostile body claims are refused before anything is allocated
// for them.
func TestHostileLengths(t *testing.T) {
	good := testStream(t)
	msgs := messages(t, good)
	batch := msgs[2] // schema, dictionary, batch
	patch := func(f func(s []byte)) []byte {
		s := bytes.Clone(good)
		f(s)
		return s
	}
	fieldPos := func(s []byte, m message, field int) int {
		root, err := fbRoot(s[m.meta : m.meta+m.metaLen])
		if err != nil {
			t.Fatal(err)
		}
		if field < 0 {
			return m.meta
		}
		p, ok, err := root.field(field, 8)
		if err != nil || !ok {
			t.Fatalf("field %d: %v", field, err)
		}
		return m.meta + p
	}
	// Position of the first compressed buffer's length prefix.
	firstBuffer := func(s []byte) int {
		root, _ := fbRoot(s[batch.meta : batch.meta+batch.metaLen])
		rb, _, _ := root.table(msgHeader)
		start, n, err := rb.vector(rbBuffers, structElemSize)
		if err != nil {
			t.Fatal(err)
		}
		for k := range n {
			if l := rb.int64At(start + k*16 + 8); l >= 8 {
				return batch.body + int(rb.int64At(start+k*16))
			}
		}
		t.Fatal("no compressed buffer")
		return 0
	}
	cases := map[string][]byte{
		"huge decompressed length": patch(func(s []byte) {
			binary.LittleEndian.PutUint64(s[firstBuffer(s):], 1<<40)
		}),
		"negative decompressed length": patch(func(s []byte) {
			binary.LittleEndian.PutUint64(s[firstBuffer(s):], uint64(1<<63))
		}),
		"huge body length": patch(func(s []byte) {
			binary.LittleEndian.PutUint64(s[fieldPos(s, batch, msgBodyLength):], 1<<50)
		}),
		"huge metadata length": patch(func(s []byte) {
			binary.LittleEndian.PutUint32(s[batch.start+4:], 1<<30)
		}),
		"huge row count": patch(func(s []byte) {
			root, _ := fbRoot(s[batch.meta : batch.meta+batch.metaLen])
			rb, _, _ := root.table(msgHeader)
			p, _, _ := rb.field(rbLength, 8)
			binary.LittleEndian.PutUint64(s[batch.meta+p:], 1<<50)
		}),
		"buffer beyond body": patch(func(s []byte) {
			root, _ := fbRoot(s[batch.meta : batch.meta+batch.metaLen])
			rb, _, _ := root.table(msgHeader)
			start, _, _ := rb.vector(rbBuffers, structElemSize)
			binary.LittleEndian.PutUint64(s[batch.meta+start+8:], uint64(batch.bodyLen+1))
		}),
		"garbage metadata": patch(func(s []byte) {
			for i := batch.meta; i < batch.meta+batch.metaLen; i++ {
				s[i] = 0xff
			}
		}),
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for name, body := range cases {
		if _, err := readAll(bytes.NewReader(body), Limits{}, mem); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", name, err)
		}
	}
}

func TestBodyLimitPassesThrough(t *testing.T) {
	good := testStream(t)
	rec := httptest.NewRecorder()
	body := http.MaxBytesReader(rec, io.NopCloser(bytes.NewReader(good)), int64(len(good)/2))
	_, err := readAll(body, Limits{}, memory.NewGoAllocator())
	var tooLarge *http.MaxBytesError
	if !errors.As(err, &tooLarge) || errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v, want *http.MaxBytesError and not ErrInvalid", err)
	}
}

func TestValidateData(t *testing.T) {
	mem := memory.NewGoAllocator()
	buf := func(b []byte) *memory.Buffer { return memory.NewBufferBytes(b) }
	le32 := func(vs ...int32) []byte {
		out := make([]byte, 4*len(vs))
		for i, v := range vs {
			binary.LittleEndian.PutUint32(out[i*4:], uint32(v))
		}
		return out
	}
	dict := array.NewData(arrow.BinaryTypes.String, 1, []*memory.Buffer{nil, buf(le32(0, 1)), buf([]byte("a"))}, nil, 0, 0)
	defer dict.Release()
	badDict := array.NewData(&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, 2, []*memory.Buffer{nil, buf(le32(0, 5))}, nil, 0, 0)
	badDict.SetDictionary(dict)
	defer badDict.Release()
	cases := map[string]struct {
		d    arrow.ArrayData
		want string
	}{
		"short values":      {array.NewData(arrow.PrimitiveTypes.Int64, 3, []*memory.Buffer{nil, buf(make([]byte, 16))}, nil, 0, 0), "value buffer has 16 bytes"},
		"short validity":    {array.NewData(arrow.PrimitiveTypes.Int8, 20, []*memory.Buffer{buf([]byte{0}), buf(make([]byte, 20))}, nil, 1, 0), "validity buffer"},
		"wrong null count":  {array.NewData(arrow.PrimitiveTypes.Int8, 8, []*memory.Buffer{buf([]byte{0xff}), buf(make([]byte, 8))}, nil, 2, 0), "claims 2 nulls"},
		"offsets decrease":  {array.NewData(arrow.BinaryTypes.String, 2, []*memory.Buffer{nil, buf(le32(0, 3, 1)), buf([]byte("abc"))}, nil, 0, 0), "offsets decrease"},
		"offsets past data": {array.NewData(arrow.BinaryTypes.String, 1, []*memory.Buffer{nil, buf(le32(0, 9)), buf([]byte("abc"))}, nil, 0, 0), "beyond the 3 available"},
		"short offsets":     {array.NewData(arrow.BinaryTypes.String, 4, []*memory.Buffer{nil, buf(le32(0, 1)), buf([]byte("abc"))}, nil, 0, 0), "offsets buffer has 8 bytes"},
		"dictionary index":  {badDict, "dictionary index 5"},
		"short bool":        {array.NewData(arrow.FixedWidthTypes.Boolean, 9, []*memory.Buffer{nil, buf([]byte{1})}, nil, 0, 0), "value buffer has 1 bytes"},
	}
	_ = mem
	for name, tc := range cases {
		err := validateData("c", tc.d)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, tc.want)
		}
	}
}

func TestWriteFile(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := mixedBatch(t, mem, 0, 4)
	defer b.Release()
	for _, batches := range [][]arrow.RecordBatch{{b, b}, nil} {
		var out bytes.Buffer
		if err := WriteFile(&out, mixedSchema, batches, mem); err != nil {
			t.Fatal(err)
		}
		fr, err := ipc.NewFileReader(bytes.NewReader(out.Bytes()), ipc.WithAllocator(mem))
		if err != nil {
			t.Fatal(err)
		}
		// An empty result still carries one zero-row batch.
		if fr.NumRecords() != max(len(batches), 1) || !fr.Schema().Equal(mixedSchema) {
			t.Fatalf("file has %d records, schema %v", fr.NumRecords(), fr.Schema())
		}
		fr.Close()
	}
}

func FuzzStreamReader(f *testing.F) {
	good := testStream(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		_, err := readAll(bytes.NewReader(body), Limits{MaxDecodedBytes: 1 << 20}, mem)
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
		// arrow-go drops the buffer it decompresses into when the
		// compressed data is corrupt (ipcSource.buffer panics after
		// allocating it); with the Go allocator the garbage collector
		// reclaims it, so leaks are only asserted for clean decodes.
		if err == nil {
			mem.AssertSize(t, 0)
		}
	})
}
