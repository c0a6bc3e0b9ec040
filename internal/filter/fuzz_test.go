package filter

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func addSeeds(f *testing.F) {
	for _, c := range parseCases {
		f.Add(c.in)
	}
	for _, c := range parseErrors {
		f.Add(c.in)
	}
	for _, c := range evalCases {
		f.Add(c.filter)
	}
}

// FuzzParse: parsing never panics, and whatever parses prints to text that
// parses back to an Equal tree and prints the same again.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("Parse(%q) returned %T, want *ParseError", src, err)
			}
			return
		}
		s := e.String()
		e2, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String %q does not parse: %v", src, s, err)
		}
		if !Equal(e, e2) {
			t.Fatalf("Parse(%q): String %q re-parses to a different tree %q", src, s, e2.String())
		}
		if s2 := e2.String(); s2 != s {
			t.Fatalf("String not stable: %q then %q", s, s2)
		}
	})
}

// FuzzEval: binding and evaluating any parsable filter over the fixture
// either succeeds or returns an error; it never panics or leaks memory.
func FuzzEval(f *testing.F) {
	addSeeds(f)
	recMem := memory.NewGoAllocator()
	rec := fixtureRecord(f, recMem)
	defer rec.Release()
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			return
		}
		bd, err := Bind(e, rec.Schema())
		if err != nil {
			if _, ok := err.(*BindError); !ok {
				t.Fatalf("Bind(%q) returned %T: %v", src, err, err)
			}
			return
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		out, err := bd.Eval(context.Background(), rec, mem)
		if err == nil {
			if out.Len() != int(rec.NumRows()) {
				t.Fatalf("%q: %d rows, want %d", src, out.Len(), rec.NumRows())
			}
			out.Release()
		}
		if err != nil {
			if ee, ok := err.(*EvalError); ok && ee.Msg[:min(9, len(ee.Msg))] == "malformed" {
				t.Fatalf("%q: recovered panic: %v", src, err)
			}
		}
		if mem.CurrentAlloc() != 0 {
			t.Fatalf("%q: leaked %d bytes", src, mem.CurrentAlloc())
		}
	})
}
