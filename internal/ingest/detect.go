package ingest

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

var (
	parquetMagic     = []byte("PAR1")
	arrowFileMagic   = []byte("ARROW1")
	arrowStreamMagic = []byte{0xff, 0xff, 0xff, 0xff} // continuation marker of the first message
)

// ParseFormat accepts a format name as given to --format (or an alias).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return "", nil
	case "parquet", "pq":
		return Parquet, nil
	case "arrow", "ipc", "arrows", "feather":
		return ArrowIPC, nil
	case "csv", "tsv":
		return CSV, nil
	case "jsonl", "ndjson", "json":
		return JSONLines, nil
	}
	return "", fmt.Errorf("%w %q (want auto, parquet, arrow, csv or jsonl)", ErrFormat, s)
}

// formatByExtension maps file name extensions to formats.
func formatByExtension(path string) Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".parquet", ".pq":
		return Parquet
	case ".arrow", ".arrows", ".ipc", ".feather":
		return ArrowIPC
	case ".csv", ".tsv":
		return CSV
	case ".jsonl", ".ndjson", ".json":
		return JSONLines
	}
	return ""
}

// detect settles the format: the explicit one, else the extension, else the
// first bytes. A Parquet or Arrow file must carry its magic either way, so
// that a mislabelled file fails here with a clear message rather than deep in
// a decoder.
func detect(path string, explicit Format, f *countingFile) (Format, error) {
	head := make([]byte, 8)
	n, err := f.f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	head = head[:n]
	format := explicit
	if format == "" {
		format = formatByExtension(path)
	}
	if format == "" {
		format = sniff(head)
		if format == "" {
			return "", fmt.Errorf("%s: %w: the name has no known extension and the contents are not recognised; pass --format parquet, arrow, csv or jsonl", path, ErrFormat)
		}
	}
	switch format {
	case Parquet:
		if !bytes.HasPrefix(head, parquetMagic) {
			return "", inputError(path, "", "not a Parquet file (it does not start with %q)", parquetMagic)
		}
	case ArrowIPC:
		if !bytes.HasPrefix(head, arrowFileMagic) && !bytes.HasPrefix(head, arrowStreamMagic) {
			return "", inputError(path, "", "not an Arrow IPC file or stream (it starts with neither %q nor a message continuation marker)", arrowFileMagic)
		}
	case CSV, JSONLines:
		if bytes.HasPrefix(head, parquetMagic) || bytes.HasPrefix(head, arrowFileMagic) {
			return "", inputError(path, "", "looks like a binary Parquet or Arrow file, not %s; pass the matching --format", format)
		}
	default:
		return "", fmt.Errorf("%w %q", ErrFormat, format)
	}
	return format, nil
}

// sniff guesses a format from the first bytes of a file.
func sniff(head []byte) Format {
	switch {
	case bytes.HasPrefix(head, parquetMagic):
		return Parquet
	case bytes.HasPrefix(head, arrowFileMagic), bytes.HasPrefix(head, arrowStreamMagic):
		return ArrowIPC
	case bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n\xef\xbb\xbf"), []byte("{")):
		return JSONLines
	}
	return ""
}
