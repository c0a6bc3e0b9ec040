package jobs

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// An agent launches jobs on an indexer node over HTTP with the same
// semantics as in process: one run per name, states listed back.
func TestRemoteLauncherOverHandler(t *testing.T) {
	var runs atomic.Int32
	local := NewLocal(RunnerFunc(func(context.Context, Spec) error { runs.Add(1); return nil }), LocalConfig{}, LocalDeps{})
	defer local.Close()
	srv := httptest.NewServer(Handler(local))
	defer srv.Close()
	r, err := NewRemote(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Kind: KindIndex, Database: "db", Table: "ns$t", Version: 7, Index: "vec_idx"}
	for range 3 {
		if err := r.Launch(context.Background(), spec); err != nil {
			t.Fatal(err)
		}
	}
	st := waitState(t, r, spec.Name(), StateSucceeded)
	if st.Spec != spec {
		t.Fatalf("listed spec %+v, want %+v", st.Spec, spec)
	}
	if runs.Load() != 1 {
		t.Fatalf("ran %d times", runs.Load())
	}
	// The indexer checks specs itself, and says why it refused.
	if err := r.Launch(context.Background(), Spec{Kind: KindIndex, Database: "db", Table: "t"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad spec: %v", err)
	}
	if _, err := NewRemote("indexer:8080"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("URL without scheme: %v", err)
	}
	srv.Close()
	if _, err := r.List(context.Background()); err == nil {
		t.Fatal("List of a stopped indexer succeeded")
	}
}
