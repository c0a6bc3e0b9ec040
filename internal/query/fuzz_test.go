package query

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzParseRequest: any body either parses or fails with ErrInvalidRequest,
// never panics; a parsed request satisfies the invariants Execute relies on
// and survives EncodeRequest (what the query node sends executors) exactly.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		`{"ef":null,"k":10,"lower_bound":null,"maximum_nprobes":20,"minimum_nprobes":20,"nprobes":20,"prefilter":true,"refine_factor":null,"upper_bound":null,"vector":[0.1,0.2,0.3],"version":null}`,
		`{"columns":{"id2":"id * 2","t":"text"},"filter":"id >= 2","k":5,"prefilter":true,"vector":[],"version":null}`,
		`{"vector":[[1,2],[3,4]],"k":3,"offset":1,"distance_type":"cosine","with_row_id":true}`,
		`{"full_text_query":{"columns":[],"query":"hello"}}`,
		`{"k":9223372036854775807}`, `{"vector":[1e39]}`, `{}`, `[]`, `{"columns":[""]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseRequest(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("error %v does not wrap ErrInvalidRequest", err)
			}
			return
		}
		if req.K < 0 || req.Offset < 0 || req.IsVectorQuery() && req.K == 0 {
			t.Fatalf("bad limits: k=%d offset=%d", req.K, req.Offset)
		}
		for _, v := range req.Vectors {
			if len(v) == 0 || len(v) != len(req.Vectors[0]) {
				t.Fatalf("vectors of unequal or zero dimension: %v", req.Vectors)
			}
		}
		enc := EncodeRequest(req)
		back, err := ParseRequest(enc)
		if err != nil {
			t.Fatalf("encoded request %s does not parse: %v", enc, err)
		}
		if !reflect.DeepEqual(back, req) {
			t.Fatalf("round trip changed the request:\n%+v\nencoded %s\nparsed  %+v", req, enc, back)
		}
	})
}
