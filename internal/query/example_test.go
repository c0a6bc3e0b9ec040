package query_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	memstore "github.com/sarissa-db/sarissa/internal/objstore/memory"
	"github.com/sarissa-db/sarissa/internal/query"
	"github.com/sarissa-db/sarissa/internal/table"
)

// Example shows what the REST layer does with a query body: parse, run
// against a snapshot with the shared cache, and write the result as one
// Arrow IPC file.
func Example() {
	ctx := context.Background()
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "vector", Type: arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float32)},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	for i := range int64(5) {
		b.Field(0).(*array.Int64Builder).Append(i)
		vb := b.Field(1).(*array.FixedSizeListBuilder)
		vb.Append(true)
		vb.ValueBuilder().(*array.Float32Builder).AppendValues([]float32{float32(i), 1}, nil)
	}
	rec := b.NewRecordBatch()
	b.Release()
	rr, _ := array.NewRecordReader(sch, []arrow.RecordBatch{rec})
	_, snap, err := table.Create(ctx, memstore.New(), "db/t.lance", sch, rr, table.Options{})
	if err != nil {
		panic(err)
	}

	cache := query.NewCache(1 << 30) // one per process
	body := []byte(`{"vector":[3.25,1],"k":2,"columns":["id"],"with_row_id":true,"prefilter":true,"version":null}`)
	req, err := query.ParseRequest(body)
	if errors.Is(err, query.ErrInvalidRequest) {
		fmt.Println("400:", err)
		return
	}
	res, err := query.Execute(ctx, snap, req, query.Options{Cache: cache, TableURI: "mem://example/db/t.lance"})
	if err != nil {
		panic(err)
	}
	defer res.Release()

	var out bytes.Buffer // the response body, Content-Type application/vnd.apache.arrow.file
	w, err := ipc.NewFileWriter(&out, ipc.WithSchema(res.Schema))
	if err != nil {
		panic(err)
	}
	for _, batch := range res.Batches {
		if err := w.Write(batch); err != nil {
			panic(err)
		}
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	fmt.Println(res.Schema.Field(0).Name, res.Schema.Field(1).Name, res.Schema.Field(2).Name)
	for _, batch := range res.Batches {
		for i := range int(batch.NumRows()) {
			fmt.Println(batch.Column(0).ValueStr(i), batch.Column(1).ValueStr(i), batch.Column(2).ValueStr(i))
		}
	}
	// Output:
	// id _distance _rowid
	// 3 0.0625 3
	// 4 0.5625 4
}
