package ingest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// csvKind is the inferred type of a CSV column. The zero value means "only
// empty fields seen so far".
type csvKind int

const (
	csvUnknown csvKind = iota
	csvInt
	csvFloat
	csvBool
	csvDate
	csvTimestamp   // no zone: wall-clock time
	csvTimestampTZ // with a zone or offset: an instant, stored as UTC
	csvString
	csvVector
)

var (
	naiveLayouts = []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05"}
	zonedLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07:00"}
)

// inferCSVKind classifies one non-empty field.
func inferCSVKind(v string) csvKind {
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return csvInt
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return csvFloat
	}
	if strings.EqualFold(v, "true") || strings.EqualFold(v, "false") {
		return csvBool
	}
	if _, err := time.Parse(time.DateOnly, v); err == nil {
		return csvDate
	}
	if _, err := parseTime(v, naiveLayouts); err == nil {
		return csvTimestamp
	}
	if _, err := parseTime(v, zonedLayouts); err == nil {
		return csvTimestampTZ
	}
	return csvString
}

// merge widens k to hold values of kind o as well.
func (k csvKind) merge(o csvKind) csvKind {
	switch {
	case k == o || o == csvUnknown:
		return k
	case k == csvUnknown:
		return o
	case (k == csvInt && o == csvFloat) || (k == csvFloat && o == csvInt):
		return csvFloat
	}
	return csvString
}

func (k csvKind) arrowType(dim int) arrow.DataType {
	switch k {
	case csvInt:
		return arrow.PrimitiveTypes.Int64
	case csvFloat:
		return arrow.PrimitiveTypes.Float64
	case csvBool:
		return arrow.FixedWidthTypes.Boolean
	case csvDate:
		return arrow.FixedWidthTypes.Date32
	case csvTimestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond}
	case csvTimestampTZ:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	case csvVector:
		return arrow.FixedSizeListOf(int32(dim), arrow.PrimitiveTypes.Float32)
	}
	return arrow.BinaryTypes.String
}

// csvConverter appends the text of a field to a builder of its column type.
type csvConverter struct {
	kind csvKind
	dim  int
	vec  []float32 // scratch for vectors
}

func newCSVConverter(k csvKind, dim int) csvConverter { return csvConverter{kind: k, dim: dim} }

func (c *csvConverter) appendText(b array.Builder, v string) error {
	if c.kind == csvString || c.kind == csvUnknown {
		b.(*array.StringBuilder).Append(v)
		return nil
	}
	if v == "" {
		b.AppendNull()
		return nil
	}
	switch c.kind {
	case csvInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a 64-bit integer", v)
		}
		b.(*array.Int64Builder).Append(n)
	case csvFloat:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		b.(*array.Float64Builder).Append(f)
	case csvBool:
		switch {
		case strings.EqualFold(v, "true"):
			b.(*array.BooleanBuilder).Append(true)
		case strings.EqualFold(v, "false"):
			b.(*array.BooleanBuilder).Append(false)
		default:
			return fmt.Errorf("%q is not true or false", v)
		}
	case csvDate:
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return fmt.Errorf("%q is not a date (YYYY-MM-DD)", v)
		}
		b.(*array.Date32Builder).Append(arrow.Date32FromTime(t))
	case csvTimestamp, csvTimestampTZ:
		layouts := naiveLayouts
		if c.kind == csvTimestampTZ {
			layouts = zonedLayouts
		}
		t, err := parseTime(v, layouts)
		if err != nil {
			return fmt.Errorf("%q is not a timestamp like %q", v, layouts[0])
		}
		b.(*array.TimestampBuilder).Append(arrow.Timestamp(t.UnixMicro()))
	case csvVector:
		vec, err := parseVectorText(v, c.vec[:0])
		if err != nil {
			return err
		}
		c.vec = vec
		if len(vec) != c.dim {
			return fmt.Errorf("a vector of %d values in a column of %d-dimensional vectors", len(vec), c.dim)
		}
		fb := b.(*array.FixedSizeListBuilder)
		fb.Append(true)
		fb.ValueBuilder().(*array.Float32Builder).AppendValues(vec, nil)
	}
	return nil
}

func parseTime(v string, layouts []string) (time.Time, error) {
	var err error
	for _, l := range layouts {
		var t time.Time
		if t, err = time.Parse(l, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// parseVectorText reads "[0.1, 0.2, ...]" into dst.
func parseVectorText(v string, dst []float32) ([]float32, error) {
	t := strings.TrimSpace(v)
	if len(t) < 2 || t[0] != '[' || t[len(t)-1] != ']' {
		return nil, fmt.Errorf("a vector is written as [x, y, ...], not %q", abbreviate(v))
	}
	t = t[1 : len(t)-1]
	if strings.TrimSpace(t) == "" {
		return nil, errors.New("empty vector []")
	}
	for item := range strings.SplitSeq(t, ",") {
		f, err := strconv.ParseFloat(strings.TrimSpace(item), 32)
		if err != nil {
			return nil, fmt.Errorf("vector element %q is not a number", abbreviate(strings.TrimSpace(item)))
		}
		dst = append(dst, float32(f))
	}
	return dst, nil
}

// abbreviate keeps error messages short when a field is long.
func abbreviate(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
