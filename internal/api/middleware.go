package api

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"
)

// reqState is what the outer handler and the route wrapper share about one
// request, for the access log and the metrics.
type reqState struct {
	id       string
	route    string
	database string
	err      error
	bodyIn   int64
}

type stateKey struct{}

// state returns the request's state; requests that did not come through
// ServeHTTP (tests calling the mux directly) get a throwaway one.
func state(r *http.Request) *reqState {
	if st, ok := r.Context().Value(stateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}

// responseWriter records the status and size of the response.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// maxRequestIDLen bounds an x-request-id we echo and log.
const maxRequestIDLen = 128

// ServeHTTP runs every request: request id, access log, metrics.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	st := &reqState{id: s.requestID(r)}
	w.Header().Set("x-request-id", st.id)
	rw := &responseWriter{ResponseWriter: w}
	s.mux.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))

	status := rw.status
	if status == 0 {
		status = http.StatusOK
	}
	if st.err != nil {
		if code, _ := statusOf(st.err, s.cfg.MaxBodyBytes); code == statusClientClosed {
			status = statusClientClosed
		}
	}
	route := st.route
	if route == "" {
		route = "unmatched"
	}
	elapsed := s.now().Sub(start)
	code := strconv.Itoa(status)
	s.m.requests.WithLabelValues(route, r.Method, code).Inc()
	s.m.duration.WithLabelValues(route).Observe(elapsed.Seconds())
	if status >= 400 {
		s.m.errors.WithLabelValues(route, code).Inc()
	}
	if st.bodyIn > 0 {
		s.m.bodyBytes.WithLabelValues(route).Add(float64(st.bodyIn))
	}
	s.logRequest(r, st, route, status, rw.bytes, elapsed)
}

// logRequest writes the access log line. Headers that may carry secrets
// (x-api-key, authorization) are never logged.
func (s *server) logRequest(r *http.Request, st *reqState, route string, status int, bytesOut int64, elapsed time.Duration) {
	level := slog.LevelInfo
	switch {
	case status >= 500 && status != statusClientClosed:
		level = slog.LevelError
	case route == "GET /healthz" || route == "GET /metrics":
		level = slog.LevelDebug
	}
	attrs := []slog.Attr{
		slog.String("request_id", st.id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", elapsed),
		slog.Int64("bytes_in", st.bodyIn),
		slog.Int64("bytes_out", bytesOut),
	}
	if st.database != "" {
		attrs = append(attrs, slog.String("database", st.database))
	}
	if ua := r.Header.Get("User-Agent"); ua != "" {
		attrs = append(attrs, slog.String("user_agent", ua))
	}
	if st.err != nil {
		attrs = append(attrs, slog.String("error", st.err.Error()))
	}
	s.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// requestID returns the client's x-request-id (the client keeps it across
// retries) or a fresh UUIDv4.
func (s *server) requestID(r *http.Request) string {
	if id := r.Header.Get("x-request-id"); id != "" && len(id) <= maxRequestIDLen && printable(id) {
		return id
	}
	var b [16]byte
	if _, err := io.ReadFull(s.entropy, b[:]); err != nil {
		return "unavailable"
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	st *reqState
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.st.bodyIn += int64(n)
	return n, err
}

// wrap adapts an endpoint: it records the route, applies the body limit and
// the request timeout, recovers from panics and writes errors.
func (s *server) wrap(route string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := state(r)
		st.route = route
		s.m.inFlight.Inc()
		defer s.m.inFlight.Dec()
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				err := fmt.Errorf("panic: %v", p)
				s.log.ErrorContext(r.Context(), "handler panic", "request_id", st.id, "route", route, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				s.writeError(w, r, err)
			}
		}()
		ctx, cancel, err := s.requestContext(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		defer cancel()
		r = r.WithContext(ctx)
		if r.Body != nil {
			r.Body = &countingBody{ReadCloser: http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), st: st}
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// requestContext applies the server's request timeout, shortened by the
// client's x-request-timeout-ms.
func (s *server) requestContext(r *http.Request) (context.Context, context.CancelFunc, error) {
	timeout := s.cfg.RequestTimeout
	if v := r.Header.Get("x-request-timeout-ms"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 {
			return nil, nil, badRequest("x-request-timeout-ms: %q is not a positive number of milliseconds", v)
		}
		if d := time.Duration(min(ms, int64(time.Duration(1<<62)/time.Millisecond))) * time.Millisecond; timeout == 0 || d < timeout {
			timeout = d
		}
	}
	if timeout == 0 {
		ctx, cancel := context.WithCancel(r.Context())
		return ctx, cancel, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	return ctx, cancel, nil
}

// writeError answers err with its status and a plain-text body, which the
// client shows verbatim. Server faults are logged with the cause.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := state(r)
	st.err = err
	status, msg := statusOf(err, s.cfg.MaxBodyBytes)
	if status == statusClientClosed {
		return // nobody is listening
	}
	if rw, ok := w.(*responseWriter); ok && rw.status != 0 {
		// The response is under way; the status cannot change any more.
		s.log.WarnContext(r.Context(), "error after the response started", "request_id", st.id, "error", err.Error())
		return
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}
