package ingest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
)

// openIPC reads an Arrow IPC file (random access, "ARROW1" magic) or stream
// (a sequence of messages), told apart by the first bytes.
func openIPC(path string, f *countingFile, opts Options) (source, error) {
	head := make([]byte, len(arrowFileMagic))
	n, _ := f.f.ReadAt(head, 0)
	if bytes.Equal(head[:n], arrowFileMagic) {
		fr, err := ipc.NewFileReader(f, ipc.WithAllocator(opts.Allocator))
		if err != nil {
			return nil, inputError(path, "", "read Arrow IPC file: %v", err)
		}
		return &ipcFileSource{path: path, fr: fr}, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sr, err := ipc.NewReader(bufio.NewReaderSize(f, 1<<20), ipc.WithAllocator(opts.Allocator))
	if err != nil {
		return nil, inputError(path, "", "read Arrow IPC stream: %v", err)
	}
	return &ipcStreamSource{path: path, sr: sr}, nil
}

type ipcFileSource struct {
	path string
	fr   *ipc.FileReader
	i    int
}

func (s *ipcFileSource) schema() *arrow.Schema { return s.fr.Schema() }

func (s *ipcFileSource) next() (arrow.RecordBatch, error) {
	if s.i >= s.fr.NumRecords() {
		return nil, io.EOF
	}
	rec, err := s.fr.RecordBatchAt(s.i)
	if err != nil {
		return nil, inputError(s.path, fmt.Sprintf("record batch %d", s.i), "%v", err)
	}
	s.i++
	return rec, nil
}

func (s *ipcFileSource) close() { s.fr.Close() }

type ipcStreamSource struct {
	path string
	sr   *ipc.Reader
	i    int
}

func (s *ipcStreamSource) schema() *arrow.Schema { return s.sr.Schema() }

func (s *ipcStreamSource) next() (arrow.RecordBatch, error) {
	if !s.sr.Next() {
		if err := s.sr.Err(); err != nil && err != io.EOF {
			return nil, inputError(s.path, fmt.Sprintf("record batch %d", s.i), "%v", err)
		}
		return nil, io.EOF
	}
	rec := s.sr.RecordBatch()
	rec.Retain()
	s.i++
	return rec, nil
}

func (s *ipcStreamSource) close() { s.sr.Release() }
