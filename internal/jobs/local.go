package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LocalConfig tunes a Local launcher. Zero values select defaults.
type LocalConfig struct {
	// MaxRunning bounds jobs running at once (default 1: jobs are heavy,
	// and in one process they share the cores with queries); more wait as
	// pending.
	MaxRunning int
	// Retain is how long a finished job is remembered, and so how long a
	// Launch of the same job stays a no-op (default 1h).
	Retain time.Duration
}

// LocalDeps are a Local launcher's collaborators.
type LocalDeps struct {
	Logger *slog.Logger
	Now    func() time.Time
}

// Local runs jobs in this process, each in its own goroutine through a
// Runner (a TableRunner, or a ProcessRunner that starts `sarissa job run`).
type Local struct {
	runner Runner
	cfg    LocalConfig
	deps   LocalDeps
	slots  chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	jobs map[string]*Status
}

var _ Launcher = (*Local)(nil)

// NewLocal returns a launcher running jobs through runner.
func NewLocal(runner Runner, cfg LocalConfig, deps LocalDeps) *Local {
	if cfg.MaxRunning <= 0 {
		cfg.MaxRunning = 1
	}
	if cfg.Retain <= 0 {
		cfg.Retain = time.Hour
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Local{
		runner: runner, cfg: cfg, deps: deps, slots: make(chan struct{}, cfg.MaxRunning),
		ctx: ctx, cancel: cancel, jobs: map[string]*Status{},
	}
}

// Launch starts spec unless a job of the same name is known.
func (l *Local) Launch(ctx context.Context, spec Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	name := spec.Name()
	l.mu.Lock()
	l.forgetOld()
	if _, ok := l.jobs[name]; ok {
		l.mu.Unlock()
		return nil
	}
	if l.ctx.Err() != nil {
		l.mu.Unlock()
		return errors.New("jobs: launcher closed")
	}
	st := &Status{Spec: spec, Name: name, State: StatePending}
	l.jobs[name] = st
	l.wg.Add(1)
	l.mu.Unlock()
	go l.run(st)
	return nil
}

func (l *Local) run(st *Status) {
	defer l.wg.Done()
	select {
	case l.slots <- struct{}{}:
	case <-l.ctx.Done():
		l.finish(st, l.ctx.Err())
		return
	}
	defer func() { <-l.slots }()
	l.mu.Lock()
	st.State, st.Started = StateRunning, l.deps.Now()
	l.mu.Unlock()
	err := l.runner.Run(l.ctx, st.Spec)
	l.finish(st, err)
}

func (l *Local) finish(st *Status, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st.Finished = l.deps.Now()
	if err != nil {
		st.State, st.Error = StateFailed, err.Error()
		l.deps.Logger.Warn("job failed", "job", st.Name, "spec", st.Spec.String(), "err", err)
		return
	}
	st.State = StateSucceeded
}

// forgetOld drops finished jobs older than Retain (l.mu held).
func (l *Local) forgetOld() {
	now := l.deps.Now()
	for name, st := range l.jobs {
		if st.State.Done() && now.Sub(st.Finished) > l.cfg.Retain {
			delete(l.jobs, name)
		}
	}
}

// List returns the known jobs, sorted by name.
func (l *Local) List(context.Context) ([]Status, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetOld()
	out := make([]Status, 0, len(l.jobs))
	for _, name := range slices.Sorted(maps.Keys(l.jobs)) {
		out = append(out, *l.jobs[name])
	}
	return out, nil
}

// Close cancels running jobs and waits for them. Jobs commit by
// compare-and-swap, so a canceled job leaves the table as it was.
func (l *Local) Close() {
	l.cancel()
	l.wg.Wait()
}

// ProcessRunner runs each job as a child process, `<Path> job run --kind
// ... <Args...>`: the job gets its own memory and a crash stays contained,
// as an indexer pod would.
type ProcessRunner struct {
	// Path is the sarissa binary (usually os.Executable()).
	Path string
	// Args are appended to every command line: the storage configuration
	// (--config FILE or --data-dir DIR, ...).
	Args []string
	// Output receives the child's standard error (nil: discarded).
	Output func(line string)
}

// Run starts the child and waits for it; a non-zero exit is an error
// carrying the child's last words.
func (p ProcessRunner) Run(ctx context.Context, spec Spec) error {
	args := append(JobArgs(spec), p.Args...)
	cmd := exec.CommandContext(ctx, p.Path, args...)
	var tail tailBuffer
	cmd.Stderr = &tail
	if p.Output != nil {
		cmd.Stderr = lineWriter{next: &tail, line: p.Output}
	}
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", p.Path, strings.Join(args, " "), err, strings.TrimSpace(tail.String()))
	}
	return nil
}

// JobArgs is the command line (after the program name) that runs spec:
// `job run --kind K --database D --table T --version V [--index I]`.
// Kubernetes Jobs run the same.
func JobArgs(spec Spec) []string {
	args := []string{"job", "run", "--kind", string(spec.Kind), "--database", spec.Database, "--table", spec.Table, "--version", strconv.FormatUint(spec.Version, 10)}
	if spec.Index != "" {
		args = append(args, "--index", spec.Index)
	}
	return args
}

// tailBuffer keeps the last few KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 4 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailBytes {
		t.buf = t.buf[len(t.buf)-tailBytes:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// lineWriter passes complete lines to line and everything to next.
type lineWriter struct {
	next *tailBuffer
	line func(string)
}

func (w lineWriter) Write(p []byte) (int, error) {
	w.next.Write(p)
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if l != "" {
			w.line(l)
		}
	}
	return len(p), nil
}
