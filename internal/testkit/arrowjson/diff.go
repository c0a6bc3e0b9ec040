package arrowjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/float16"
)

// document is a canonical document split just enough to compare it: cells
// stay raw JSON because canonical text is compared byte for byte.
type document struct {
	Version *json.RawMessage
	Schema  []column
	Count   int
	Rows    [][]json.RawMessage
}

type column struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

func parseDocument(b []byte) (document, error) {
	var raw struct {
		Version *json.RawMessage  `json:"version"`
		Schema  []column          `json:"schema"`
		Count   int               `json:"count"`
		Rows    []json.RawMessage `json:"rows"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return document{}, err
	}
	d := document{Version: raw.Version, Schema: raw.Schema, Count: raw.Count}
	for i, r := range raw.Rows {
		var cells []json.RawMessage
		if err := json.Unmarshal(r, &cells); err != nil {
			return document{}, fmt.Errorf("row %d: %w", i, err)
		}
		d.Rows = append(d.Rows, cells)
	}
	return d, nil
}

// Diff compares two canonical documents and describes the first difference
// in words (version, schema, count, then the first differing row and column,
// with float bit patterns decoded). It returns "" when a and b are equal byte
// for byte. Labels in the message: a is "got", b is "want".
func Diff(a, b []byte) string {
	if bytes.Equal(a, b) {
		return ""
	}
	da, errA := parseDocument(a)
	db, errB := parseDocument(b)
	switch {
	case errA != nil && errB != nil:
		return fmt.Sprintf("neither document parses: got: %v; want: %v", errA, errB)
	case errA != nil:
		return fmt.Sprintf("got does not parse: %v (first bytes %q)", errA, clip(string(a), 120))
	case errB != nil:
		return fmt.Sprintf("want does not parse: %v (first bytes %q)", errB, clip(string(b), 120))
	}

	var msgs []string
	if v1, v2 := rawOrAbsent(da.Version), rawOrAbsent(db.Version); v1 != v2 {
		msgs = append(msgs, fmt.Sprintf("version: got %s, want %s", v1, v2))
	}
	if s := diffSchema(da.Schema, db.Schema); s != "" {
		msgs = append(msgs, s)
	}
	if da.Count != db.Count || len(da.Rows) != len(db.Rows) {
		msgs = append(msgs, fmt.Sprintf("count: got %d (%d rows), want %d (%d rows)", da.Count, len(da.Rows), db.Count, len(db.Rows)))
	}
	if s := diffRows(da, db); s != "" {
		msgs = append(msgs, s)
	}
	if len(msgs) == 0 {
		// Same content, different bytes: whitespace or key order, which
		// canonical documents never vary.
		return "documents hold the same values but differ in layout (not canonical?): " + firstByteDiff(a, b)
	}
	return strings.Join(msgs, "\n")
}

func rawOrAbsent(r *json.RawMessage) string {
	if r == nil {
		return "(absent)"
	}
	return string(*r)
}

func diffSchema(a, b []column) string {
	for i := range max(len(a), len(b)) {
		switch {
		case i >= len(a):
			return fmt.Sprintf("schema: got %d columns, want %d; first missing: %s %s", len(a), len(b), b[i].Name, b[i].Type)
		case i >= len(b):
			return fmt.Sprintf("schema: got %d columns, want %d; first extra: %s %s", len(a), len(b), a[i].Name, a[i].Type)
		case a[i] != b[i]:
			return fmt.Sprintf("schema column %d: got %s %s nullable=%t, want %s %s nullable=%t",
				i, a[i].Name, a[i].Type, a[i].Nullable, b[i].Name, b[i].Type, b[i].Nullable)
		}
	}
	return ""
}

func diffRows(a, b document) string {
	differing, first := 0, -1
	n := min(len(a.Rows), len(b.Rows))
	for i := range n {
		if !rowsEqual(a.Rows[i], b.Rows[i]) {
			differing++
			if first < 0 {
				first = i
			}
		}
	}
	if first < 0 {
		return ""
	}
	ra, rb := a.Rows[first], b.Rows[first]
	msg := fmt.Sprintf("rows: %d of the first %d differ; first at row %d", differing, n, first)
	for c := range max(len(ra), len(rb)) {
		switch {
		case c >= len(ra) || c >= len(rb):
			return msg + fmt.Sprintf(": got %d cells, want %d", len(ra), len(rb))
		case !bytes.Equal(ra[c], rb[c]):
			name, typ := fmt.Sprintf("#%d", c), ""
			if c < len(b.Schema) {
				name, typ = b.Schema[c].Name, b.Schema[c].Type
			}
			return msg + fmt.Sprintf(", column %s (%s):\n  got:  %s\n  want: %s",
				name, typ, describeCell(ra[c], typ), describeCell(rb[c], typ))
		}
	}
	return msg
}

func rowsEqual(a, b []json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// describeCell shows a cell's text and, for a scalar float column, the value
// its bit pattern stands for.
func describeCell(cell json.RawMessage, typ string) string {
	text := clip(string(cell), 200)
	var s string
	if json.Unmarshal(cell, &s) != nil || !strings.HasPrefix(s, "0x") {
		return text
	}
	bits, err := strconv.ParseUint(s[2:], 16, 64)
	if err != nil {
		return text
	}
	switch typ {
	case "float16":
		return fmt.Sprintf("%s (%v)", text, float16.FromBits(uint16(bits)).Float32())
	case "float32":
		return fmt.Sprintf("%s (%v)", text, math.Float32frombits(uint32(bits)))
	case "float64":
		return fmt.Sprintf("%s (%v)", text, math.Float64frombits(bits))
	}
	return text
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func firstByteDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-20)
	return fmt.Sprintf("first differing byte at offset %d: got %q, want %q",
		i, clip(string(a[lo:min(len(a), i+40)]), 80), clip(string(b[lo:min(len(b), i+40)]), 80))
}
