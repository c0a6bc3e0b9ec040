package query

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/sarissa-db/sarissa/internal/vector"
)

// ErrInvalidRequest is wrapped by every error caused by the request itself:
// malformed or mistyped JSON fields, unknown columns, bad filters, dimension
// mismatches, unsupported features. The REST layer answers it with 400.
var ErrInvalidRequest = errors.New("invalid query request")

// ErrNotSupported is wrapped (next to ErrInvalidRequest) when the request
// asks for a feature Sarissa does not implement yet, such as full-text search.
var ErrNotSupported = errors.New("not supported yet")

// NoLimit is the k the client sends for queries without a limit (i64::MAX).
const NoLimit = math.MaxInt64

// DefaultK is LanceDB's limit for vector searches that set none.
const DefaultK = 10

// Column is one entry of a projection: a column (Expr empty) or a computed
// column Name = Expr (a SQL value expression).
type Column struct {
	Name string
	Expr string
}

// Request is a parsed, validated query body.
type Request struct {
	// Vectors are the query vectors; empty for plain (filter/scan) queries.
	Vectors [][]float32
	// MultiVector is set when the body sent a list of vectors ([[...], ...]);
	// results then carry a query_index column.
	MultiVector bool
	// VectorColumn names the column to search; empty means infer it.
	VectorColumn string
	// Metric is the distance_type; 0 means not given (l2 for float vectors,
	// hamming for uint8 vectors, as LanceDB does).
	Metric vector.Metric
	// K is the limit (NoLimit when the client sets none on a plain query).
	K int64
	// Offset skips that many results.
	Offset int64
	// Filter is a SQL WHERE condition; empty for none.
	Filter string
	// Prefilter applies Filter before the vector top-k (default true).
	Prefilter bool
	// Columns is the projection; nil selects every table column, an empty
	// non-nil slice selects none.
	Columns []Column
	// WithRowID appends _rowid.
	WithRowID bool
	// LowerBound and UpperBound restrict distances to [lower, upper).
	LowerBound, UpperBound *float32
	// FastSearch searches only indexed data.
	FastSearch bool
	// BypassVectorIndex forces an exact (flat) search even where a vector
	// index exists.
	BypassVectorIndex bool
	// Index search knobs (see Probes): nprobes is what clients before 0.23
	// send; newer ones send it equal to minimum_nprobes, and
	// maximum_nprobes 0 for "no limit".
	NProbes, MinimumNProbes, MaximumNProbes *int64
	// Ef is the HNSW candidate list size (nil: 1.5 × k); RefineFactor
	// re-ranks k × RefineFactor index candidates by exact distance.
	Ef, RefineFactor *int64
	// Version is the table version to read; nil means latest.
	Version *uint64
}

// Probes returns the minimum and maximum number of IVF partitions to probe
// with LanceDB's rules: minimum_nprobes, else nprobes, else 20; maximum
// = maximum_nprobes when sent (0 or NoLimit: every partition), else the
// minimum (nprobes sets both).
func (r *Request) Probes() (minimum, maximum int64) {
	minimum = DefaultNProbes
	switch {
	case r.MinimumNProbes != nil:
		minimum = *r.MinimumNProbes
	case r.NProbes != nil:
		minimum = *r.NProbes
	}
	maximum = minimum
	if r.MaximumNProbes != nil {
		maximum = *r.MaximumNProbes
		if maximum == 0 {
			maximum = NoLimit
		}
	}
	return minimum, maximum
}

// DefaultNProbes is LanceDB's nprobes when a query sets none.
const DefaultNProbes = 20

// IsVectorQuery reports whether the request searches by vector.
func (r *Request) IsVectorQuery() bool { return len(r.Vectors) > 0 }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

func notSupported(format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrInvalidRequest, ErrNotSupported, fmt.Sprintf(format, args...))
}

// ParseRequest decodes and validates a query body.
func ParseRequest(body []byte) (Request, error) {
	fields, err := objectFields(body, "query body")
	if err != nil {
		return Request{}, err
	}
	req := Request{K: -1, Prefilter: true}
	for _, f := range fields {
		if err := req.setField(f.name, f.value); err != nil {
			return Request{}, err
		}
	}
	if req.K < 0 {
		if req.IsVectorQuery() {
			req.K = DefaultK
		} else {
			req.K = NoLimit
		}
	}
	if req.IsVectorQuery() && req.K == 0 {
		return Request{}, invalid("k must be positive for a vector search")
	}
	if req.LowerBound != nil && req.UpperBound != nil && *req.LowerBound > *req.UpperBound {
		return Request{}, invalid("lower_bound %v is greater than upper_bound %v", *req.LowerBound, *req.UpperBound)
	}
	for _, p := range []struct {
		name string
		v    *int64
	}{{"nprobes", req.NProbes}, {"minimum_nprobes", req.MinimumNProbes}} {
		if p.v != nil && *p.v == 0 {
			return Request{}, invalid("%s must be greater than 0", p.name)
		}
	}
	if lo, hi := req.Probes(); hi < lo {
		return Request{}, invalid("maximum_nprobes %d must be 0 (no limit) or at least minimum_nprobes %d", hi, lo)
	}
	if !req.IsVectorQuery() {
		if req.LowerBound != nil || req.UpperBound != nil {
			return Request{}, invalid("lower_bound and upper_bound need a query vector")
		}
	}
	return req, nil
}

// ParseExplainRequest decodes the body of explain_plan/:
// {"verbose": bool, "query": <query body>}.
func ParseExplainRequest(body []byte) (Request, bool, error) {
	fields, err := objectFields(body, "explain body")
	if err != nil {
		return Request{}, false, err
	}
	var verbose bool
	var query json.RawMessage
	for _, f := range fields {
		switch f.name {
		case "verbose":
			b, err := optBool(f.name, f.value)
			if err != nil {
				return Request{}, false, err
			}
			verbose = b != nil && *b
		case "query":
			query = f.value
		default:
			return Request{}, false, invalid("unknown field %q in explain body (expected verbose, query)", f.name)
		}
	}
	if query == nil || isNull(query) {
		return Request{}, false, invalid("explain body has no \"query\"")
	}
	req, err := ParseRequest(query)
	return req, verbose, err
}

type field struct {
	name  string
	value json.RawMessage
}

// objectFields splits a JSON object into its members, in order, rejecting
// duplicates and trailing data.
func objectFields(body []byte, what string) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, invalid("%s is not valid JSON: %v", what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, invalid("%s must be a JSON object", what)
	}
	var out []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalid("%s is not valid JSON: %v", what, err)
		}
		name := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, invalid("%s: field %q is not valid JSON: %v", what, name, err)
		}
		if slices.ContainsFunc(out, func(f field) bool { return f.name == name }) {
			return nil, invalid("%s: field %q appears twice", what, name)
		}
		out = append(out, field{name, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, invalid("%s is not valid JSON: %v", what, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid("%s has data after the JSON object", what)
	}
	return out, nil
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

func (r *Request) setField(name string, v json.RawMessage) error {
	var err error
	switch name {
	case "vector":
		err = r.setVector(v)
	case "vector_column":
		var s *string
		if s, err = optString(name, v); s != nil {
			r.VectorColumn = *s
		}
	case "distance_type":
		var s *string
		if s, err = optString(name, v); s != nil {
			m, perr := vector.ParseMetric(*s)
			if perr != nil {
				return invalid("distance_type: %v", perr)
			}
			r.Metric = m
		}
	case "k":
		var n *int64
		if n, err = optInt(name, v); n != nil {
			if *n < 0 {
				return invalid("k must not be negative, got %d", *n)
			}
			r.K = *n
		}
	case "offset":
		var n *int64
		if n, err = optInt(name, v); n != nil {
			if *n < 0 {
				return invalid("offset must not be negative, got %d", *n)
			}
			r.Offset = *n
		}
	case "filter":
		var s *string
		if s, err = optString(name, v); s != nil {
			r.Filter = strings.TrimSpace(*s)
		}
	case "prefilter":
		var b *bool
		if b, err = optBool(name, v); b != nil {
			r.Prefilter = *b
		}
	case "columns":
		err = r.setColumns(v)
	case "with_row_id":
		var b *bool
		if b, err = optBool(name, v); b != nil {
			r.WithRowID = *b
		}
	case "fast_search":
		var b *bool
		if b, err = optBool(name, v); b != nil {
			r.FastSearch = *b
		}
	case "bypass_vector_index":
		var b *bool
		if b, err = optBool(name, v); b != nil {
			r.BypassVectorIndex = *b
		}
	case "lower_bound":
		r.LowerBound, err = optFloat32(name, v)
	case "upper_bound":
		r.UpperBound, err = optFloat32(name, v)
	case "nprobes":
		r.NProbes, err = optNonNegInt(name, v)
	case "minimum_nprobes":
		r.MinimumNProbes, err = optNonNegInt(name, v)
	case "maximum_nprobes":
		r.MaximumNProbes, err = optNonNegInt(name, v)
	case "ef":
		r.Ef, err = optNonNegInt(name, v)
	case "refine_factor":
		r.RefineFactor, err = optNonNegInt(name, v)
	case "version":
		var n *int64
		if n, err = optInt(name, v); n != nil {
			if *n < 0 {
				return invalid("version must not be negative, got %d", *n)
			}
			u := uint64(*n)
			r.Version = &u
		}
	case "full_text_query":
		if !isNull(v) {
			return notSupported("full text search is not supported yet")
		}
	case "branch":
		var s *string
		if s, err = optString(name, v); s != nil && *s != "" && *s != "main" {
			return notSupported("branches are not supported yet (branch %q)", *s)
		}
	case "order_by":
		if !isNull(v) && string(bytes.TrimSpace(v)) != "[]" {
			return notSupported("order_by is not supported yet")
		}
	case "use_lsm":
		// Sarissa has no unflushed (MemWAL) data: every committed row is in
		// the table, so reading with or without it is the same.
		_, err = optBool(name, v)
	case "approx_mode":
		_, err = optString(name, v)
	default:
		return invalid("unknown field %q in query body", name)
	}
	return err
}

func optString(name string, v json.RawMessage) (*string, error) {
	if isNull(v) {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, invalid("%s must be a string, got %s", name, abbrev(v))
	}
	return &s, nil
}

func optBool(name string, v json.RawMessage) (*bool, error) {
	if isNull(v) {
		return nil, nil
	}
	var b bool
	if err := json.Unmarshal(v, &b); err != nil {
		return nil, invalid("%s must be true or false, got %s", name, abbrev(v))
	}
	return &b, nil
}

func optInt(name string, v json.RawMessage) (*int64, error) {
	if isNull(v) {
		return nil, nil
	}
	// Decoding into json.Number would also accept a quoted "10".
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	if t := bytes.TrimSpace(v); len(t) == 0 || t[0] == '"' {
		return nil, invalid("%s must be an integer, got %s", name, abbrev(v))
	}
	if err := dec.Decode(&n); err != nil {
		return nil, invalid("%s must be an integer, got %s", name, abbrev(v))
	}
	i, err := n.Int64()
	if err != nil {
		return nil, invalid("%s must be an integer that fits in 64 bits, got %s", name, abbrev(v))
	}
	return &i, nil
}

func optNonNegInt(name string, v json.RawMessage) (*int64, error) {
	n, err := optInt(name, v)
	if err == nil && n != nil && *n < 0 {
		return nil, invalid("%s must not be negative, got %d", name, *n)
	}
	return n, err
}

func optFloat32(name string, v json.RawMessage) (*float32, error) {
	if isNull(v) {
		return nil, nil
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		return nil, invalid("%s must be a number, got %s", name, abbrev(v))
	}
	g := float32(f)
	if math.IsInf(float64(g), 0) {
		return nil, invalid("%s = %v does not fit in a 32-bit float", name, f)
	}
	return &g, nil
}

// setVector reads `vector`: [] (no vector), [f, ...] (one query vector) or
// [[f, ...], ...] (several, answered with query_index).
func (r *Request) setVector(v json.RawMessage) error {
	if isNull(v) {
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		return invalid("vector must be a list of numbers or a list of lists of numbers, got %s", abbrev(v))
	}
	if len(raw) == 0 {
		return nil
	}
	if t := bytes.TrimSpace(raw[0]); len(t) > 0 && t[0] == '[' {
		r.MultiVector = true
		for i, item := range raw {
			vec, err := floatList(fmt.Sprintf("vector[%d]", i), item)
			if err != nil {
				return err
			}
			if len(vec) == 0 {
				return invalid("vector[%d] is empty", i)
			}
			if i > 0 && len(vec) != len(r.Vectors[0]) {
				return invalid("query vectors have different dimensions: vector[0] has %d values, vector[%d] has %d", len(r.Vectors[0]), i, len(vec))
			}
			r.Vectors = append(r.Vectors, vec)
		}
		return nil
	}
	vec, err := floatList("vector", v)
	if err != nil {
		return err
	}
	r.Vectors = [][]float32{vec}
	return nil
}

func floatList(name string, v json.RawMessage) ([]float32, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, invalid("%s must be a list of numbers, got %s", name, abbrev(v))
	}
	out := make([]float32, len(raw))
	for i, item := range raw {
		var f float64
		if err := json.Unmarshal(item, &f); err != nil {
			return nil, invalid("%s[%d] must be a number, got %s", name, i, abbrev(item))
		}
		g := float32(f)
		if math.IsInf(float64(g), 0) {
			return nil, invalid("%s[%d] = %v does not fit in a 32-bit float", name, i, f)
		}
		out[i] = g
	}
	return out, nil
}

// setColumns reads `columns`: a list of names, or an object mapping output
// names to SQL expressions, kept in the order given.
func (r *Request) setColumns(v json.RawMessage) error {
	if isNull(v) {
		return nil
	}
	t := bytes.TrimSpace(v)
	switch {
	case len(t) > 0 && t[0] == '[':
		var names []string
		if err := json.Unmarshal(t, &names); err != nil {
			return invalid("columns must be a list of column names or an object of name: expression, got %s", abbrev(v))
		}
		r.Columns = make([]Column, 0, len(names))
		for i, n := range names {
			if n == "" {
				return invalid("columns[%d] is an empty name", i)
			}
			r.Columns = append(r.Columns, Column{Name: n})
		}
	case len(t) > 0 && t[0] == '{':
		fields, err := objectFields(t, "columns")
		if err != nil {
			return err
		}
		r.Columns = make([]Column, 0, len(fields))
		for _, f := range fields {
			var expr string
			if err := json.Unmarshal(f.value, &expr); err != nil {
				return invalid("columns: the expression for %q must be a string, got %s", f.name, abbrev(f.value))
			}
			if f.name == "" {
				return invalid("columns: an output column has an empty name")
			}
			if strings.TrimSpace(expr) == "" {
				return invalid("columns: the expression for %q is empty", f.name)
			}
			r.Columns = append(r.Columns, Column{Name: f.name, Expr: expr})
		}
	default:
		return invalid("columns must be a list of column names or an object of name: expression, got %s", abbrev(v))
	}
	return nil
}

// abbrev shortens a JSON value for an error message.
func abbrev(v json.RawMessage) string {
	s := string(bytes.TrimSpace(v))
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
