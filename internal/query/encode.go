package query

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// EncodeRequest writes r as a query body that ParseRequest reads back into
// an equal Request. The query node sends requests to plan executors in this
// form. Float values are written with the shortest representation that
// parses back to the same float32, so vectors and bounds survive exactly.
// A projection mixing plain column names and expressions (which no parsed
// body produces) is written as an expression map, a plain name Name
// becoming the expression "Name".
func EncodeRequest(r Request) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	key := func(name string) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteByte('"')
		b.WriteString(name)
		b.WriteString(`":`)
	}
	if len(r.Vectors) > 0 {
		key("vector")
		if r.MultiVector {
			b.WriteByte('[')
			for i, v := range r.Vectors {
				if i > 0 {
					b.WriteByte(',')
				}
				writeFloats(&b, v)
			}
			b.WriteByte(']')
		} else {
			writeFloats(&b, r.Vectors[0])
		}
	}
	if r.VectorColumn != "" {
		key("vector_column")
		writeString(&b, r.VectorColumn)
	}
	if r.Metric != 0 {
		key("distance_type")
		writeString(&b, r.Metric.String())
	}
	key("k")
	b.WriteString(strconv.FormatInt(r.K, 10))
	if r.Offset != 0 {
		key("offset")
		b.WriteString(strconv.FormatInt(r.Offset, 10))
	}
	if r.Filter != "" {
		key("filter")
		writeString(&b, r.Filter)
	}
	key("prefilter")
	b.WriteString(strconv.FormatBool(r.Prefilter))
	if r.Columns != nil {
		key("columns")
		writeColumns(&b, r.Columns)
	}
	for _, f := range []struct {
		name string
		v    bool
	}{{"with_row_id", r.WithRowID}, {"fast_search", r.FastSearch}, {"bypass_vector_index", r.BypassVectorIndex}} {
		if f.v {
			key(f.name)
			b.WriteString("true")
		}
	}
	for _, f := range []struct {
		name string
		v    *float32
	}{{"lower_bound", r.LowerBound}, {"upper_bound", r.UpperBound}} {
		if f.v != nil {
			key(f.name)
			b.WriteString(strconv.FormatFloat(float64(*f.v), 'g', -1, 32))
		}
	}
	for _, f := range []struct {
		name string
		v    *int64
	}{{"nprobes", r.NProbes}, {"minimum_nprobes", r.MinimumNProbes}, {"maximum_nprobes", r.MaximumNProbes}, {"ef", r.Ef}, {"refine_factor", r.RefineFactor}} {
		if f.v != nil {
			key(f.name)
			b.WriteString(strconv.FormatInt(*f.v, 10))
		}
	}
	if r.Version != nil {
		key("version")
		b.WriteString(strconv.FormatUint(*r.Version, 10))
	}
	b.WriteByte('}')
	return b.Bytes()
}

func writeFloats(b *bytes.Buffer, v []float32) {
	b.WriteByte('[')
	for i, f := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(float64(f), 'g', -1, 32))
	}
	b.WriteByte(']')
}

func writeString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always encodes
	b.Write(enc)
}

// writeColumns writes a projection as a list of names, or as an ordered
// name → expression object when any entry is an expression.
func writeColumns(b *bytes.Buffer, cols []Column) {
	exprs := false
	for _, c := range cols {
		exprs = exprs || c.Expr != ""
	}
	if !exprs {
		b.WriteByte('[')
		for i, c := range cols {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, c.Name)
		}
		b.WriteByte(']')
		return
	}
	b.WriteByte('{')
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, c.Name)
		b.WriteByte(':')
		expr := c.Expr
		if expr == "" {
			expr = c.Name
		}
		writeString(b, expr)
	}
	b.WriteByte('}')
}
