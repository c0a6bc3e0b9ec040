package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// maxJSONLineBytes bounds one line, so that a file without newlines (or a
// binary file) fails instead of filling memory.
const maxJSONLineBytes = 64 << 20

// jsonlSource reads JSON Lines: one object per line, blank lines ignored.
// The schema is inferred from the first InferRows objects (kept and
// replayed); keys are columns in order of first appearance.
type jsonlSource struct {
	path      string
	br        *bufio.Reader
	line      int // number of the last line read
	buf       []byte
	root      *jsonType
	sch       *arrow.Schema
	bld       *array.RecordBuilder
	inferRows int
	batchRows int
	sample    []jsonLine
	done      bool
}

type jsonLine struct {
	n    int
	text []byte
}

func openJSONLines(path string, f *countingFile, opts Options) (*jsonlSource, error) {
	br := bufio.NewReaderSize(f, 1<<20)
	skipBOM(br)
	s := &jsonlSource{path: path, br: br, inferRows: opts.InferRows, batchRows: opts.BatchRows}
	s.root = &jsonType{kind: jsonStruct, fields: map[string]*jsonType{}}
	for len(s.sample) < opts.InferRows {
		text, err := s.readLine()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(s.sample) == 0 && text[0] == '[' {
			return nil, inputError(path, strconv.Itoa(s.line), "the file holds a JSON array; import reads JSON Lines, one object per line (convert with: jq -c '.[]')")
		}
		if err := s.root.inferRow(text, opts.VectorColumns, s.line); err != nil {
			return nil, inputError(path, strconv.Itoa(s.line), "%v", err)
		}
		s.sample = append(s.sample, jsonLine{n: s.line, text: bytes.Clone(text)})
	}
	if len(s.root.names) == 0 {
		return nil, inputError(path, "", "no columns: the file has no objects with keys")
	}
	s.sch = arrow.NewSchema(s.root.structFields(), nil)
	s.bld = array.NewRecordBuilder(opts.Allocator, s.sch)
	return s, nil
}

// readLine returns the next non-blank line without its line break; the
// slice is valid until the next call.
func (s *jsonlSource) readLine() ([]byte, error) {
	for {
		s.buf = s.buf[:0]
		for {
			chunk, err := s.br.ReadSlice('\n')
			s.buf = append(s.buf, chunk...)
			if len(s.buf) > maxJSONLineBytes {
				return nil, inputError(s.path, strconv.Itoa(s.line+1), "line longer than %d bytes", maxJSONLineBytes)
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("read %s: %w", s.path, err)
			}
			if len(s.buf) == 0 && err != nil {
				return nil, io.EOF
			}
			break
		}
		s.line++
		text := bytes.TrimSpace(s.buf)
		if len(text) > 0 {
			return text, nil
		}
	}
}

func (s *jsonlSource) schema() *arrow.Schema { return s.sch }

func (s *jsonlSource) next() (arrow.RecordBatch, error) {
	if s.done {
		return nil, io.EOF
	}
	for n := 0; n < s.batchRows; n++ {
		var line jsonLine
		if len(s.sample) > 0 {
			line, s.sample = s.sample[0], s.sample[1:]
		} else {
			text, err := s.readLine()
			if errors.Is(err, io.EOF) {
				s.done = true
				break
			}
			if err != nil {
				return nil, err
			}
			line = jsonLine{n: s.line, text: text}
		}
		if err := s.appendRow(line.text); err != nil {
			return nil, inputError(s.path, strconv.Itoa(line.n), "%v", err)
		}
	}
	return s.bld.NewRecordBatch(), nil
}

func (s *jsonlSource) appendRow(text []byte) error {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return jsonSyntax(err)
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("a row must be a JSON object, not %s", describeToken(tok))
	}
	err = s.root.decodeObject(dec, s.bld.Field, "", s.inferRows)
	if err != nil {
		return err
	}
	return expectEnd(dec)
}

func (s *jsonlSource) close() { s.bld.Release() }

// expectEnd checks that nothing follows the object on its line.
func expectEnd(dec *json.Decoder) error {
	if tok, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return jsonSyntax(err)
		}
		return fmt.Errorf("unexpected %s after the object (one object per line)", describeToken(tok))
	}
	return nil
}

func jsonSyntax(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("invalid JSON: the object is not closed on its line")
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number (" + abbreviate(string(v)) + ")"
	case string:
		return "a string (" + strconv.Quote(abbreviate(v)) + ")"
	case json.Delim:
		switch v {
		case '[':
			return "an array"
		case '{':
			return "an object"
		}
		return "'" + v.String() + "'"
	}
	return fmt.Sprint(tok)
}
