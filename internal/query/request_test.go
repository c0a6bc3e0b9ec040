package query

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sarissa-db/sarissa/internal/vector"
)

func ptr[T any](v T) *T { return &v }

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want Request
	}{
		{
			// The default vector search body the 0.39 client sends (protocol doc §7.6).
			"client default vector search",
			`{"ef":null,"k":10,"lower_bound":null,"maximum_nprobes":20,"minimum_nprobes":20,"nprobes":20,"prefilter":true,"refine_factor":null,"upper_bound":null,"vector":[0.10000000149011612,0.2,0.3],"version":null}`,
			Request{Vectors: [][]float32{{0.1, 0.2, 0.3}}, K: 10, Prefilter: true,
				NProbes: ptr[int64](20), MinimumNProbes: ptr[int64](20), MaximumNProbes: ptr[int64](20)},
		},
		{
			"client vector search with everything",
			`{"columns":["id","text"],"distance_type":"cosine","filter":"id > 1","k":2,"maximum_nprobes":7,"minimum_nprobes":7,"nprobes":7,"prefilter":true,"refine_factor":3,"vector":[1,2],"version":5,"with_row_id":true,"ef":null,"lower_bound":null,"upper_bound":null}`,
			Request{Vectors: [][]float32{{1, 2}}, K: 2, Prefilter: true, Metric: vector.Cosine, Filter: "id > 1",
				Columns: []Column{{Name: "id"}, {Name: "text"}}, WithRowID: true, Version: ptr[uint64](5),
				NProbes: ptr[int64](7), MinimumNProbes: ptr[int64](7), MaximumNProbes: ptr[int64](7), RefineFactor: ptr[int64](3)},
		},
		{
			"plain query",
			`{"columns":["id"],"filter":"id >= 2","k":5,"prefilter":true,"vector":[],"version":null}`,
			Request{K: 5, Prefilter: true, Filter: "id >= 2", Columns: []Column{{Name: "id"}}},
		},
		{
			"plain query without limit",
			`{"k":9223372036854775807,"prefilter":true,"vector":[],"version":null,"offset":3}`,
			Request{K: NoLimit, Offset: 3, Prefilter: true},
		},
		{
			"computed columns keep their order",
			`{"vector":[],"k":1,"columns":{"z":"id * 2","a":"text","m":"lower(text)"}}`,
			Request{K: 1, Prefilter: true, Columns: []Column{{"z", "id * 2"}, {"a", "text"}, {"m", "lower(text)"}}},
		},
		{
			"multi-vector, postfilter, ranges, index knobs",
			`{"vector":[[1,2],[3,4]],"prefilter":false,"lower_bound":0.5,"upper_bound":2,"bypass_vector_index":true,"fast_search":true,"vector_column":"v","ef":40,"approx_mode":"fast","use_lsm":false,"order_by":null,"full_text_query":null,"branch":"main"}`,
			Request{Vectors: [][]float32{{1, 2}, {3, 4}}, MultiVector: true, K: DefaultK, VectorColumn: "v",
				LowerBound: ptr[float32](0.5), UpperBound: ptr[float32](2), BypassVectorIndex: true, FastSearch: true, Ef: ptr[int64](40)},
		},
		{
			"empty body",
			`{}`,
			Request{K: NoLimit, Prefilter: true},
		},
		{
			"take by row ids",
			`{"filter":"_rowid IN (0, 1)","with_row_id":true,"k":9223372036854775807,"prefilter":true,"vector":[]}`,
			Request{K: NoLimit, Prefilter: true, Filter: "_rowid IN (0, 1)", WithRowID: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
			// What the query node sends to executors parses back the same.
			back, err := ParseRequest(EncodeRequest(got))
			if err != nil || !reflect.DeepEqual(back, got) {
				t.Fatalf("EncodeRequest round trip: %+v, %v\nencoded %s", back, err, EncodeRequest(got))
			}
		})
	}
}

func TestParseRequestErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{``, "not valid JSON"},
		{`[1]`, "must be a JSON object"},
		{`{"k":10} x`, "data after the JSON object"},
		{`{"k":10,"k":11}`, `field "k" appears twice`},
		{`{"kk":10}`, `unknown field "kk"`},
		{`{"k":"10"}`, "k must be an integer"},
		{`{"k":1.5}`, "k must be an integer"},
		{`{"k":-1}`, "k must not be negative"},
		{`{"k":99999999999999999999}`, "fits in 64 bits"},
		{`{"offset":-2}`, "offset must not be negative"},
		{`{"vector":"abc"}`, "vector must be a list"},
		{`{"vector":[1,"a"]}`, "vector[1] must be a number"},
		{`{"vector":[1e39]}`, "does not fit in a 32-bit float"},
		{`{"vector":[[1,2],[3]]}`, "different dimensions"},
		{`{"vector":[[]]}`, "vector[0] is empty"},
		{`{"vector":[1],"k":0}`, "k must be positive"},
		{`{"distance_type":"manhattan","vector":[1]}`, `distance type "manhattan" is not supported`},
		{`{"prefilter":"yes"}`, "prefilter must be true or false"},
		{`{"columns":"id"}`, "columns must be a list"},
		{`{"columns":[1]}`, "columns must be a list"},
		{`{"columns":{"a":1}}`, `expression for "a" must be a string`},
		{`{"columns":{"a":""}}`, `expression for "a" is empty`},
		{`{"columns":[""]}`, "columns[0] is an empty name"},
		{`{"filter":5}`, "filter must be a string"},
		{`{"version":-1}`, "version must not be negative"},
		{`{"nprobes":-1}`, "nprobes must not be negative"},
		{`{"lower_bound":"a"}`, "lower_bound must be a number"},
		{`{"vector":[1],"lower_bound":3,"upper_bound":1}`, "greater than upper_bound"},
		{`{"lower_bound":1}`, "need a query vector"},
		{`{"full_text_query":{"columns":[],"query":"hello"}}`, "full text search is not supported yet"},
		{`{"branch":"dev"}`, "branches are not supported"},
		{`{"order_by":[{"column_name":"id","ascending":true,"nulls_first":false}]}`, "order_by is not supported"},
	} {
		_, err := ParseRequest([]byte(tc.body))
		if err == nil {
			t.Errorf("%s: no error", tc.body)
			continue
		}
		if !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: %v does not wrap ErrInvalidRequest", tc.body, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not mention %q", tc.body, err, tc.want)
		}
	}
	_, err := ParseRequest([]byte(`{"full_text_query":{"query":{"match":{"terms":"x"}}}}`))
	if !errors.Is(err, ErrNotSupported) {
		t.Errorf("full text search: %v does not wrap ErrNotSupported", err)
	}
}

func TestParseExplainRequest(t *testing.T) {
	req, verbose, err := ParseExplainRequest([]byte(`{"verbose":true,"query":{"vector":[1,2],"k":3,"prefilter":true,"version":null}}`))
	if err != nil || !verbose || req.K != 3 || len(req.Vectors) != 1 {
		t.Fatalf("got %+v, %v, %v", req, verbose, err)
	}
	for _, body := range []string{`{"verbose":false}`, `{"query":null}`, `{"verbose":1,"query":{}}`, `{"query":{},"x":1}`, `{"query":{"k":-1}}`} {
		if _, _, err := ParseExplainRequest([]byte(body)); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: error %v, want ErrInvalidRequest", body, err)
		}
	}
}
