package file

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/lance/schema"
)

// Early 2.0 writers stored strings as list<uint8> over two columns. Build
// such a file by writing a list<uint8> and relabelling its field "string"
// without a child, then check the reader turns it back into strings.
func TestLegacyStringAsList(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dt := arrow.ListOf(arrow.PrimitiveTypes.Uint8)
	as := arrow.NewSchema([]arrow.Field{nullable("s", dt), nullable("n", arrow.PrimitiveTypes.Int16)}, nil)
	ls, _ := schema.FromArrow(as, 0)
	lb := array.NewListBuilder(mem, arrow.PrimitiveTypes.Uint8)
	vb := lb.ValueBuilder().(*array.Uint8Builder)
	want := []*string{ptr("hello"), nil, ptr(""), ptr("wörld"), ptr("x")}
	for _, s := range want {
		if s == nil {
			lb.AppendNull()
			continue
		}
		lb.Append(true)
		for _, c := range []byte(*s) {
			vb.Append(c)
		}
	}
	col := lb.NewArray()
	lb.Release()
	nb := array.NewInt16Builder(mem)
	for i := range want {
		nb.Append(int16(i))
	}
	ncol := nb.NewArray()
	nb.Release()
	rec := array.NewRecordBatch(as, []arrow.Array{col, ncol}, int64(len(want)))
	col.Release()
	ncol.Release()
	defer rec.Release()
	data, _ := writeFile(t, ls, []arrow.RecordBatch{rec}, WriterOptions{})

	p := parseFile(t, data)
	fields := p.fd.Schema.Fields
	fields[0].LogicalType = "string"
	p.fd.Schema.Fields = append(fields[:1:1], fields[2:]...) // drop the uint8 item field
	b := p.bytes(t)

	r, err := Open(context.Background(), ReaderAtSource{bytesReader(b)}, int64(len(b)), ReaderOptions{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	for _, take := range []bool{false, true} {
		var got arrow.RecordBatch
		if take {
			got, err = r.Take(context.Background(), nil, []uint64{0, 1, 2, 3, 4})
		} else {
			got, err = r.Read(context.Background(), nil, 0, 5)
		}
		if err != nil {
			t.Fatal(err)
		}
		s := got.Column(0).(*array.String)
		for i, w := range want {
			if (w == nil) != s.IsNull(i) || (w != nil && s.Value(i) != *w) {
				t.Errorf("row %d: got %q (null %v), want %v", i, s.Value(i), s.IsNull(i), w)
			}
		}
		if got.Column(1).(*array.Int16).Value(4) != 4 {
			t.Error("the column after the legacy string is misplaced")
		}
		got.Release()
	}
}

func ptr(s string) *string { return &s }
