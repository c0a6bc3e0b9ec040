package ingest

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// parquetSource reads a Parquet file a batch at a time, one row group after
// the other; only the column chunks of the current row group are in memory.
type parquetSource struct {
	path      string
	pf        *file.Reader
	rr        pqarrow.RecordReader
	sch       *arrow.Schema // rr's schema without placeholder field ids
	groupEnds []int64       // cumulative row count at the end of each row group
	rows      int64
}

func openParquet(ctx context.Context, path string, f *countingFile, opts Options) (*parquetSource, error) {
	props := parquet.NewReaderProperties(opts.Allocator)
	// Stream column chunks from the file instead of buffering whole chunks.
	props.BufferedStreamEnabled = true
	props.BufferSize = 1 << 20
	pf, err := file.NewParquetReader(f, file.WithReadProps(props))
	if err != nil {
		return nil, inputError(path, "", "read Parquet footer: %v", err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(opts.BatchRows)}, opts.Allocator)
	if err != nil {
		pf.Close()
		return nil, inputError(path, "", "map the Parquet schema to Arrow: %v", err)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		pf.Close()
		return nil, inputError(path, "", "read Parquet: %v", err)
	}
	s := &parquetSource{path: path, pf: pf, rr: rr, sch: withoutFieldIDs(rr.Schema())}
	var total int64
	for i := range pf.NumRowGroups() {
		total += pf.MetaData().RowGroup(i).NumRows()
		s.groupEnds = append(s.groupEnds, total)
	}
	return s, nil
}

func (s *parquetSource) schema() *arrow.Schema { return s.sch }

func (s *parquetSource) next() (arrow.RecordBatch, error) {
	if !s.rr.Next() {
		if err := s.rr.Err(); err != nil && err != io.EOF {
			return nil, inputError(s.path, s.position(), "%v", err)
		}
		return nil, io.EOF
	}
	rec := s.rr.RecordBatch()
	s.rows += rec.NumRows()
	return array.NewRecordBatch(s.sch, rec.Columns(), rec.NumRows()), nil
}

// parquetFieldID is the field metadata key pqarrow fills with the Parquet
// field id, "-1" when the file has none.
const parquetFieldID = "PARQUET:field_id"

// withoutFieldIDs drops "-1" field ids from top-level fields: they say
// nothing and would otherwise be stored with the table's schema.
func withoutFieldIDs(sch *arrow.Schema) *arrow.Schema {
	fields := sch.Fields()
	for i, f := range fields {
		if v, ok := f.Metadata.GetValue(parquetFieldID); ok && v == "-1" {
			keys, vals := []string{}, []string{}
			for j, k := range f.Metadata.Keys() {
				if k != parquetFieldID {
					keys, vals = append(keys, k), append(vals, f.Metadata.Values()[j])
				}
			}
			fields[i].Metadata = arrow.NewMetadata(keys, vals)
			if len(keys) == 0 {
				fields[i].Metadata = arrow.Metadata{}
			}
		}
	}
	md := sch.Metadata()
	return arrow.NewSchema(fields, &md)
}

// position names the row group holding the next unread row.
func (s *parquetSource) position() string {
	for i, end := range s.groupEnds {
		if s.rows < end {
			start := int64(0)
			if i > 0 {
				start = s.groupEnds[i-1]
			}
			return fmt.Sprintf("row group %d (rows %d to %d)", i, start, end-1)
		}
	}
	return fmt.Sprintf("row %d", s.rows)
}

func (s *parquetSource) close() {
	s.rr.Release()
	s.pf.Close()
}
