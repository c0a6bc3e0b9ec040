package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sarissa-db/sarissa/internal/index/ivf"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// The create_index body (protocol §7.10) is {"column", "index_type",
// "name"?} merged with the index type's parameters, exactly as the 0.39
// client serializes its builders (rust/lancedb/src/index/vector.rs): every
// vector type sends metric_type, sample_rate, max_iterations and optionally
// num_partitions and target_partition_size; IVF_PQ adds num_sub_vectors and
// num_bits, the HNSW types m and ef_construction. Every parameter the client
// can send is checked here, so that a typo or an out-of-range value is a 400
// naming the field before any work starts.

// supportedKinds lists the index types this server builds, for messages.
const supportedKinds = "IVF_FLAT, IVF_PQ, IVF_SQ, IVF_HNSW_SQ"

// knownUnsupported are index types LanceDB knows and Sarissa does not build
// yet; they get "not supported yet" rather than "unknown".
var knownUnsupported = []string{
	"IVF_RQ", "IVF_HNSW_PQ", "IVF_HNSW_FLAT",
	"BTREE", "BITMAP", "LABEL_LIST", "FM", "FTS", "INVERTED", "NGRAM", "ZONEMAP", "BLOOMFILTER", "RTREE",
}

// paramsFor lists, per index type, the parameters beyond the common ones
// (metric_type, num_partitions, sample_rate, max_iterations,
// target_partition_size) that the type takes.
var paramsFor = map[ivf.Kind][]string{
	ivf.KindFlat:   nil,
	ivf.KindPQ:     {"num_sub_vectors", "num_bits"},
	ivf.KindSQ:     {"num_bits"},
	ivf.KindHNSWSQ: {"m", "ef_construction", "num_bits"},
}

var commonParams = []string{"num_partitions", "sample_rate", "max_iterations", "target_partition_size"}

// indexRequest is a parsed create_index body.
type indexRequest struct {
	Column string
	Name   string // "" → <column>_idx
	Kind   ivf.Kind
	Params ivf.BuildParams
}

// parseIndexRequest decodes and checks a create_index body against the
// table's schema. Column checks come first, so that an unknown column is
// reported as such whatever the index type.
func parseIndexRequest(data []byte, schema *arrow.Schema, table string) (indexRequest, error) {
	fields, err := jsonObject(data)
	if err != nil {
		return indexRequest{}, err
	}
	var req indexRequest
	str := func(name string) (string, error) {
		v, ok := fields[name]
		if !ok || isJSONNull(v) {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", badRequest("create_index: %s must be a string, got %s", name, abbrevJSON(v))
		}
		return s, nil
	}
	if req.Column, err = str("column"); err != nil {
		return req, err
	}
	if req.Column == "" {
		return req, badRequest("create_index: the body names no column to index (\"column\")")
	}
	if req.Name, err = str("name"); err != nil {
		return req, err
	}
	if strings.ContainsAny(req.Name, "/\\") || req.Name == "." || req.Name == ".." {
		return req, badRequest("create_index: index name %q must not contain '/' or '\\' or be '.' or '..'", req.Name)
	}
	if b, err := str("branch"); err != nil {
		return req, err
	} else if b != "" && b != "main" {
		return req, badRequest("branches are not supported (branch %q)", b)
	}
	typeName, err := str("index_type")
	if err != nil {
		return req, err
	}
	metricName, err := str("metric_type")
	if err != nil {
		return req, err
	}

	idx := schema.FieldIndices(req.Column)
	if len(idx) == 0 {
		names := make([]string, schema.NumFields())
		for i, f := range schema.Fields() {
			names[i] = "`" + f.Name + "`"
		}
		return req, badRequest("cannot index column %q: table '%s' has no such column (columns: %s)", req.Column, table, strings.Join(names, ", "))
	}
	col := schema.Field(idx[0])
	fsl, isVector := col.Type.(*arrow.FixedSizeListType)

	upper := strings.ToUpper(strings.TrimSpace(typeName))
	switch {
	case upper == "" && isVector:
		upper = ivf.KindPQ.String() // the client's Index.auto on a vector column
	case upper == "":
		return req, badRequest("create_index: no index_type given for column %q (%s): scalar indexes are not supported yet; vector indexes (%s) need a vector column", req.Column, col.Type, supportedKinds)
	case slices.Contains(knownUnsupported, upper):
		return req, badRequest("index type %s is not supported yet (supported: %s)", upper, supportedKinds)
	}
	kind, err := ivf.ParseKind(upper)
	if err != nil {
		return req, badRequest("unknown index type %q (supported: %s)", typeName, supportedKinds)
	}
	req.Kind = kind
	if !isVector {
		return req, badRequest("cannot build a %s index on column %q: it has type %s, not a vector (a fixed-size list of floats)", kind, req.Column, col.Type)
	}
	switch fsl.Elem().ID() {
	case arrow.FLOAT16, arrow.FLOAT32:
	default:
		return req, badRequest("cannot build a %s index on column %q: its vectors are %s; vector indexes support float16 and float32 vectors", kind, req.Column, fsl.Elem())
	}

	metric := vector.L2
	if m := strings.ToLower(strings.TrimSpace(metricName)); m != "" {
		if metric, err = vector.ParseMetric(m); err != nil {
			return req, badRequest("create_index: metric_type %q: want l2, cosine or dot", metricName)
		}
		if metric == vector.Hamming {
			return req, badRequest("create_index: metric_type hamming needs binary (uint8) vectors, which vector indexes do not support yet; use l2, cosine or dot")
		}
	}

	p := ivf.BuildParams{Kind: kind, Metric: metric}
	allowed := append(slices.Clone(commonParams), paramsFor[kind]...)
	targets := map[string]*int{
		"num_partitions":        &p.NumPartitions,
		"sample_rate":           &p.SampleRate,
		"max_iterations":        &p.MaxIterations,
		"target_partition_size": &p.TargetPartitionSize,
		"num_sub_vectors":       &p.NumSubVectors,
		"num_bits":              &p.NumBits,
		"m":                     &p.M,
		"ef_construction":       &p.EfConstruction,
	}
	// Fields in a fixed order, so that the first problem reported does not
	// depend on map iteration.
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v := fields[name]
		dst, isParam := targets[name]
		switch {
		case !isParam:
			// column, name, index_type, metric_type, and fields without
			// meaning here: replace (an existing name is always replaced,
			// as the client expects), train (the client itself says it has
			// no effect on remote tables) and fields of newer clients.
			continue
		case isJSONNull(v):
			continue
		case !slices.Contains(allowed, name):
			return req, badRequest("create_index: %s does not apply to %s indexes", name, kind)
		}
		n, err := positiveInt(name, v)
		if err != nil {
			return req, err
		}
		*dst = n
	}
	if err := p.Validate(int(fsl.Len())); err != nil {
		return req, badRequest("create_index: %v", strings.TrimPrefix(err.Error(), ivf.ErrInvalid.Error()+": "))
	}
	req.Params = p
	if req.Name == "" {
		req.Name = req.Column + "_idx"
	}
	return req, nil
}

// positiveInt reads a parameter the client sends as a u32.
func positiveInt(name string, v json.RawMessage) (int, error) {
	t := bytes.TrimSpace(v)
	var f float64
	if len(t) == 0 || t[0] == '"' || json.Unmarshal(t, &f) != nil {
		return 0, badRequest("create_index: %s must be a positive integer, got %s", name, abbrevJSON(v))
	}
	if f != math.Trunc(f) || f < 1 || f > math.MaxUint32 {
		return 0, badRequest("create_index: %s must be a positive integer below 2^32, got %s", name, abbrevJSON(v))
	}
	return int(f), nil
}

// jsonObject splits a JSON object body into its members; an empty body is
// an empty object.
func jsonObject(data []byte) (map[string]json.RawMessage, error) {
	fields := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(data)) == 0 {
		return fields, nil
	}
	if t := bytes.TrimSpace(data); t[0] != '{' {
		return nil, badRequest("invalid JSON body: want an object, got %s", abbrevJSON(t))
	}
	if err := decodeJSON(data, &fields); err != nil {
		return nil, err
	}
	return fields, nil
}

func isJSONNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// abbrevJSON shortens a JSON value for a message.
func abbrevJSON(v []byte) string {
	s := string(bytes.TrimSpace(v))
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// indexDetails is the index_details JSON string of an index/list entry: the
// build parameters, as LanceDB's details give a type's settings.
func indexDetails(p ivf.BuildParams, metric vector.Metric) string {
	d := map[string]any{"distance_type": metric.String()}
	add := func(name string, v int) {
		if v > 0 {
			d[name] = v
		}
	}
	add("num_partitions", p.NumPartitions)
	add("target_partition_size", p.TargetPartitionSize)
	add("sample_rate", p.SampleRate)
	add("max_iterations", p.MaxIterations)
	add("num_sub_vectors", p.NumSubVectors)
	add("num_bits", p.NumBits)
	add("m", p.M)
	add("ef_construction", p.EfConstruction)
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Sprintf("%v", d)
	}
	return string(data)
}
