package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// An indexer node (`sarissa serve --target indexer`) runs jobs for an
// agent on another machine: Handler serves a Launcher over HTTP, and
// Remote is the agent's Launcher that talks to it. It is the way to give
// jobs their own machine without Kubernetes.

// maxSpecBytes bounds a launch request body.
const maxSpecBytes = 64 << 10

// Handler serves l: POST /v1/jobs with a Spec launches it (202), GET
// /v1/jobs lists the jobs.
func Handler(l Launcher) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		var spec Spec
		dec := json.NewDecoder(io.LimitReader(r.Body, maxSpecBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			httpError(w, http.StatusBadRequest, fmt.Errorf("job spec: %w", err))
			return
		}
		if err := spec.Validate(); err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
		if err := l.Launch(r.Context(), spec); err != nil {
			httpError(w, http.StatusServiceUnavailable, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]string{"name": spec.Name()})
	})
	mux.HandleFunc("GET /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		list, err := l.List(r.Context())
		if err != nil {
			httpError(w, http.StatusInternalServerError, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"jobs": list})
	})
	return mux
}

func httpError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// Remote launches jobs on an indexer node.
type Remote struct {
	// URL is the indexer's base URL (http://host:port).
	URL    string
	Client *http.Client
}

var _ Launcher = (*Remote)(nil)

// NewRemote returns a launcher for the indexer at url.
func NewRemote(url string) (*Remote, error) {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("%w: indexer URL %q: want http://host:port", ErrInvalid, url)
	}
	return &Remote{URL: strings.TrimSuffix(url, "/"), Client: &http.Client{Timeout: 30 * time.Second}}, nil
}

// Launch asks the indexer to run spec.
func (r *Remote) Launch(ctx context.Context, spec Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	body, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL+"/v1/jobs", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return r.do(req, http.StatusAccepted, nil)
}

// List returns the indexer's jobs.
func (r *Remote) List(ctx context.Context) ([]Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+"/v1/jobs", nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		Jobs []Status `json:"jobs"`
	}
	if err := r.do(req, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return out.Jobs, nil
}

func (r *Remote) do(req *http.Request, want int, out any) error {
	resp, err := r.Client.Do(req)
	if err != nil {
		return fmt.Errorf("indexer %s: %w", r.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("indexer %s: %w", r.URL, err)
	}
	if resp.StatusCode != want {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		err := fmt.Errorf("indexer %s: %s %s: %d %s", r.URL, req.Method, req.URL.Path, resp.StatusCode, e.Error)
		if resp.StatusCode == http.StatusBadRequest {
			err = errors.Join(err, ErrInvalid)
		}
		return err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("indexer %s: decode %s: %w", r.URL, req.URL.Path, err)
		}
	}
	return nil
}
