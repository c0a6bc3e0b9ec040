package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sarissa-db/sarissa/internal/api/arrowhttp"
	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/filter"
	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/query"
	"github.com/sarissa-db/sarissa/internal/table"
)

func TestStatusOf(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("context: %w", err) }
	cases := []struct {
		err  error
		want int
	}{
		{wrap(catalog.ErrTableNotFound), 404},
		{wrap(lance.ErrTableNotFound), 404},
		{wrap(lance.ErrVersionNotFound), 404},
		{wrap(catalog.ErrNamespaceNotFound), 404},
		{wrap(catalog.ErrTableExists), 400},
		{wrap(lance.ErrTableExists), 400},
		{wrap(catalog.ErrNamespaceExists), 409},
		{wrap(lance.ErrCommitConflict), 409},
		{wrap(lance.ErrIncompatibleConflict), 409},
		{wrap(lance.ErrUnsupportedFeature), 501},
		{wrap(table.ErrInvalidArgument), 400},
		{wrap(table.ErrSchemaMismatch), 400},
		{wrap(filter.ErrInvalid), 400},
		{wrap(filter.ErrEval), 400},
		{wrap(query.ErrInvalidRequest), 400},
		{wrap(arrowhttp.ErrInvalid), 400},
		{wrap(fmt.Errorf("%w: %w", arrowhttp.ErrTooLarge, arrowhttp.ErrInvalid)), 413},
		{wrap(&http.MaxBytesError{Limit: 10}), 413},
		{wrap(context.DeadlineExceeded), 408},
		{wrap(context.Canceled), statusClientClosed},
		{wrap(lance.ErrCorrupt), 500},
		{errors.New("disk on fire"), 500},
		{&apiError{status: 418, msg: "teapot", err: lance.ErrCorrupt}, 418},
	}
	for _, tc := range cases {
		if got, msg := statusOf(tc.err, 1<<20); got != tc.want || msg == "" {
			t.Errorf("statusOf(%v) = %d %q, want %d", tc.err, got, msg, tc.want)
		}
	}
}

func newTestServer(t *testing.T, cfg Config) *server {
	t.Helper()
	cat, err := catalog.New(catalog.Config{DefaultLocation: "mem://internal"}, catalog.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(cfg, Deps{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	return h.(*server)
}

func TestRequestTimeout(t *testing.T) {
	cases := []struct {
		server time.Duration
		header string
		want   time.Duration // 0: no deadline
	}{
		{0, "", 0},
		{0, "50", 50 * time.Millisecond},
		{time.Second, "", time.Second},
		{time.Second, "50", 50 * time.Millisecond},
		{20 * time.Millisecond, "60000", 20 * time.Millisecond},
		{0, "99999999999999999", 1 << 62},
	}
	for _, tc := range cases {
		s := newTestServer(t, Config{RequestTimeout: tc.server})
		r := httptest.NewRequest("POST", "/", nil)
		if tc.header != "" {
			r.Header.Set("x-request-timeout-ms", tc.header)
		}
		start := time.Now()
		ctx, cancel, err := s.requestContext(r)
		if err != nil {
			t.Fatal(err)
		}
		dl, ok := ctx.Deadline()
		cancel()
		switch {
		case tc.want == 0 && ok:
			t.Errorf("%+v: deadline set", tc)
		case tc.want != 0 && tc.want < time.Hour && (!ok || dl.Sub(start) > tc.want+50*time.Millisecond || dl.Sub(start) < tc.want-time.Millisecond):
			t.Errorf("%+v: deadline in %v, want %v", tc, dl.Sub(start), tc.want)
		case tc.want >= time.Hour && !ok:
			t.Errorf("%+v: no deadline", tc)
		}
	}
	for _, bad := range []string{"0", "-5", "1.5", "soon"} {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set("x-request-timeout-ms", bad)
		if _, _, err := newTestServer(t, Config{}).requestContext(r); err == nil {
			t.Errorf("x-request-timeout-ms %q accepted", bad)
		}
	}
}

// The request timeout cancels the handler's context, and the client gets a
// 408 promptly.
func TestTimeoutCancelsWork(t *testing.T) {
	s := newTestServer(t, Config{})
	s.mux.Handle("POST /slow", s.wrap("POST /slow", func(w http.ResponseWriter, r *http.Request) error {
		select {
		case <-r.Context().Done():
			return r.Context().Err()
		case <-time.After(10 * time.Second):
			return errors.New("not canceled")
		}
	}))
	srv := httptest.NewServer(s)
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/slow", nil)
	req.Header.Set("x-request-timeout-ms", "30")
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout || time.Since(start) > 5*time.Second {
		t.Fatalf("status %d after %v, want 408 soon after 30ms", res.StatusCode, time.Since(start))
	}
}

// A panicking handler answers 500, is logged, and the server keeps serving.
func TestPanicRecovery(t *testing.T) {
	s := newTestServer(t, Config{})
	s.mux.Handle("POST /boom", s.wrap("POST /boom", func(w http.ResponseWriter, r *http.Request) error {
		var rows []int
		_ = rows[len(r.URL.Path)] // index out of range
		return nil
	}))
	srv := httptest.NewServer(s)
	defer srv.Close()
	for range 2 {
		res, err := http.Post(srv.URL+"/boom", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 500 {
			t.Fatalf("status %d, want 500", res.StatusCode)
		}
	}
	res, err := http.Get(srv.URL + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("after panics: %v %v", res, err)
	}
	res.Body.Close()
}

func TestDuplicateRegistration(t *testing.T) {
	cat, err := catalog.New(catalog.Config{DefaultLocation: "mem://dup"}, catalog.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if _, err := New(Config{}, Deps{Catalog: cat, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{}, Deps{Catalog: cat, Registerer: reg}); err == nil || !strings.Contains(err.Error(), "metrics") {
		t.Fatalf("second New on one registry: %v", err)
	}
}
