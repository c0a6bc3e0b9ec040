package ingest

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// csvSource reads a CSV file with a header line. Column types are inferred
// from the first InferRows rows (kept in memory and replayed); the rest of
// the file streams through. Empty fields are nulls except in text columns.
type csvSource struct {
	path      string
	cr        *csv.Reader
	sch       *arrow.Schema
	convs     []csvConverter
	inferRows int
	batchRows int
	bld       *array.RecordBuilder
	sample    []csvRecord // inferred-from rows not yet returned
	done      bool
}

// csvRecord is one row and where each field starts, for error messages.
type csvRecord struct {
	fields []string
	pos    [][2]int // line, column
}

func openCSV(path string, f *countingFile, opts Options) (*csvSource, error) {
	br := bufio.NewReaderSize(f, 1<<20)
	skipBOM(br)
	cr := csv.NewReader(br)
	cr.Comma = opts.Delimiter
	s := &csvSource{path: path, cr: cr, inferRows: opts.InferRows, batchRows: opts.BatchRows}
	header, err := s.read()
	if errors.Is(err, io.EOF) {
		return nil, inputError(path, "", "empty file: a CSV file needs a header line naming the columns")
	}
	if err != nil {
		return nil, err
	}
	seen := map[string]int{}
	for i, name := range header.fields {
		if name == "" {
			return nil, inputError(path, "1", "column %d has no name in the header", i+1)
		}
		if j, dup := seen[name]; dup {
			return nil, inputError(path, "1", "columns %d and %d are both named %q", j+1, i+1, name)
		}
		seen[name] = i
	}
	kinds := make([]csvKind, len(header.fields))
	dims := make([]int, len(header.fields))
	for len(s.sample) < opts.InferRows {
		rec, err := s.read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		for i, v := range rec.fields {
			if v == "" {
				continue
			}
			if slices.Contains(opts.VectorColumns, header.fields[i]) {
				n, err := parseVectorText(v, nil)
				if err != nil {
					return nil, inputError(path, fmtPos(rec.pos[i]), "column %q: %v", header.fields[i], err)
				}
				if dims[i] != 0 && dims[i] != len(n) {
					return nil, inputError(path, fmtPos(rec.pos[i]), "column %q: a vector of %d values after vectors of %d", header.fields[i], len(n), dims[i])
				}
				dims[i], kinds[i] = len(n), csvVector
				continue
			}
			kinds[i] = kinds[i].merge(inferCSVKind(v))
		}
		s.sample = append(s.sample, rec)
	}
	fields := make([]arrow.Field, len(header.fields))
	for i, name := range header.fields {
		fields[i] = arrow.Field{Name: name, Type: kinds[i].arrowType(dims[i]), Nullable: true}
		s.convs = append(s.convs, newCSVConverter(kinds[i], dims[i]))
	}
	s.sch = arrow.NewSchema(fields, nil)
	s.bld = array.NewRecordBuilder(opts.Allocator, s.sch)
	return s, nil
}

// read returns the next record with the positions of its fields.
func (s *csvSource) read() (csvRecord, error) {
	fields, err := s.cr.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return csvRecord{}, inputError(s.path, fmt.Sprintf("%d:%d", pe.Line, pe.Column), "%v", pe.Err)
		}
		if errors.Is(err, io.EOF) {
			return csvRecord{}, io.EOF
		}
		return csvRecord{}, fmt.Errorf("read %s: %w", s.path, err)
	}
	rec := csvRecord{fields: fields, pos: make([][2]int, len(fields))}
	for i := range fields {
		line, col := s.cr.FieldPos(i)
		rec.pos[i] = [2]int{line, col}
	}
	return rec, nil
}

func (s *csvSource) schema() *arrow.Schema { return s.sch }

func (s *csvSource) next() (arrow.RecordBatch, error) {
	if s.done {
		return nil, io.EOF
	}
	for n := 0; n < s.batchRows; n++ {
		var rec csvRecord
		if len(s.sample) > 0 {
			rec, s.sample = s.sample[0], s.sample[1:]
		} else {
			var err error
			rec, err = s.read()
			if errors.Is(err, io.EOF) {
				s.done = true
				break
			}
			if err != nil {
				return nil, err
			}
		}
		for i, v := range rec.fields {
			if err := s.convs[i].appendText(s.bld.Field(i), v); err != nil {
				return nil, inputError(s.path, fmtPos(rec.pos[i]), "column %q: %v%s", s.sch.Field(i).Name, err, inferHint(s.inferRows))
			}
		}
	}
	return s.bld.NewRecordBatch(), nil
}

func (s *csvSource) close() { s.bld.Release() }

func fmtPos(p [2]int) string { return fmt.Sprintf("%d:%d", p[0], p[1]) }

func inferHint(rows int) string {
	return fmt.Sprintf(" (column types are inferred from the first %d rows; pass --infer-rows to look further)", rows)
}

// skipBOM drops a UTF-8 byte order mark, which spreadsheet exports add.
func skipBOM(br *bufio.Reader) {
	if b, err := br.Peek(3); err == nil && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf {
		br.Discard(3)
	}
}
