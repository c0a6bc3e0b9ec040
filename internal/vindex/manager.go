package vindex

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/sarissa-db/sarissa/internal/index/ivf"
)

// Defaults for Config.
const (
	DefaultBuildMemoryBytes = 1 << 30
	DefaultCacheBytes       = 1 << 30
	DefaultCatalogRefresh   = time.Second
	DefaultMaxSegments      = 4
	// keepFinishedJobs bounds how many finished jobs stay queryable.
	keepFinishedJobs = 1024
)

// Manager builds, tracks and searches the vector indexes of tables. It is
// safe for concurrent use. It keeps no table state of its own beyond caches:
// the catalog in the object store is the truth, so several Managers (in one
// process or many) can work on one table.
type Manager struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	ctx    context.Context // canceled by Close; parent of every build
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{} // build slots

	mu       sync.Mutex
	closed   bool
	jobs     map[string]*job
	finished []string // finished job ids, oldest first

	rngMu sync.Mutex
	rng   *mrand.Rand

	cache *cache // partitions and opened index files

	catMu      sync.Mutex
	cats       map[string]cachedCatalog // by table URI
	refreshing map[string]bool          // URIs with a background read under way

	// onCommitLost is a test hook run when a catalog commit loses a race.
	onCommitLost func(attempt int)
}

type cachedCatalog struct {
	cat *catalog
	at  time.Time
}

// New returns a Manager.
func New(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BuildMemoryBytes <= 0 {
		cfg.BuildMemoryBytes = DefaultBuildMemoryBytes
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	if cfg.SpillDir == "" {
		cfg.SpillDir = os.TempDir()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxConcurrentBuilds <= 0 {
		cfg.MaxConcurrentBuilds = 1
	}
	if cfg.CatalogRefresh == 0 {
		cfg.CatalogRefresh = DefaultCatalogRefresh
	}
	if cfg.MaxSegments <= 0 {
		cfg.MaxSegments = DefaultMaxSegments
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		cfg:    cfg,
		log:    cfg.Logger,
		now:    cfg.Now,
		ctx:    ctx,
		cancel: cancel,
		sem:    make(chan struct{}, cfg.MaxConcurrentBuilds),
		jobs:   map[string]*job{},
		rng:    mrand.New(mrand.NewPCG(cfg.Seed, 0x5a55_1554_0000_0001)),
		cache:  newCache(cfg.CacheBytes),
		cats:   map[string]cachedCatalog{},

		refreshing: map[string]bool{},
	}
}

// Close cancels running and queued builds and waits for them to stop. Their
// jobs end failed with ErrClosed; nothing they built is committed.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}

// CacheStats reports the partition cache's state.
func (m *Manager) CacheStats() CacheStats { return m.cache.stats() }

// JobState is the state of a build job.
type JobState int

// Job states.
const (
	JobQueued JobState = iota + 1
	JobRunning
	JobDone
	JobFailed
)

func (s JobState) String() string {
	switch s {
	case JobQueued:
		return "queued"
	case JobRunning:
		return "running"
	case JobDone:
		return "done"
	case JobFailed:
		return "failed"
	}
	return fmt.Sprintf("JobState(%d)", int(s))
}

// JobStatus describes a build job.
type JobStatus struct {
	ID, Table, Index string
	State            JobState
	Err              error // set when State is JobFailed
	Stats            BuildStats
	Started, Ended   time.Time
}

type job struct {
	done chan struct{}
	// Guarded by Manager.mu.
	status JobStatus
}

// Job returns the status of a job.
func (m *Manager) Job(id string) (JobStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok {
		return JobStatus{}, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	return j.status, nil
}

// Jobs returns the status of every job still known, running ones included.
func (m *Manager) Jobs() []JobStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]JobStatus, 0, len(m.jobs))
	for _, j := range m.jobs {
		out = append(out, j.status)
	}
	return out
}

// Wait blocks until the job finishes and returns its error (nil when it
// committed). An unknown job id is ErrNotFound.
func (m *Manager) Wait(ctx context.Context, jobID string) error {
	m.mu.Lock()
	j, ok := m.jobs[jobID]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("job %q: %w", jobID, ErrNotFound)
	}
	select {
	case <-j.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return j.status.Err
}

// startJob runs fn in the background once a build slot is free.
func (m *Manager) startJob(tableName, index string, fn func(ctx context.Context) (BuildStats, error)) (string, error) {
	id := newID()
	j := &job{done: make(chan struct{}), status: JobStatus{ID: id, Table: tableName, Index: index, State: JobQueued}}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return "", ErrClosed
	}
	m.jobs[id] = j
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		var st BuildStats
		var err error
		select {
		case m.sem <- struct{}{}:
			m.setJob(j, func(s *JobStatus) { s.State = JobRunning; s.Started = m.now() })
			st, err = fn(m.ctx)
			<-m.sem
		case <-m.ctx.Done():
			err = m.ctx.Err()
		}
		if err != nil && m.ctx.Err() != nil {
			err = fmt.Errorf("build of index %q on %s: %w", index, tableName, ErrClosed)
		}
		if err != nil {
			m.log.Warn("index build failed", "table", tableName, "index", index, "job", id, "err", err)
		} else {
			m.log.Info("index build committed", "table", tableName, "index", index, "job", id,
				"rows", st.Rows, "bytes", st.SegmentBytes, "spilled", st.Spilled)
		}
		m.setJob(j, func(s *JobStatus) {
			s.Ended, s.Stats, s.Err = m.now(), st, err
			s.State = JobDone
			if err != nil {
				s.State = JobFailed
			}
		})
		m.mu.Lock()
		m.finished = append(m.finished, id)
		for len(m.finished) > keepFinishedJobs {
			delete(m.jobs, m.finished[0])
			m.finished = m.finished[1:]
		}
		m.mu.Unlock()
		close(j.done)
	}()
	return id, nil
}

func (m *Manager) setJob(j *job, f func(*JobStatus)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(&j.status)
}

// newID returns a random RFC 4122 version 4 UUID. Identifiers come from the
// system's secure source rather than the seeded generator: two Managers with
// one seed must never name their files alike.
func newID() string {
	var b [16]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(fmt.Sprintf("vindex: read random bytes: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (m *Manager) randN(n uint64) uint64 {
	m.rngMu.Lock()
	defer m.rngMu.Unlock()
	return m.rng.Uint64N(n)
}

func (m *Manager) commitEnv() commitEnv {
	return commitEnv{now: m.now, newID: newID, sleep: sleepCtx, randN: m.randN, onLost: m.onCommitLost}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// store returns the catalog store of a table.
func storeOf(ref TableRef) catalogStore {
	lt := ref.Table.Lance()
	return catalogStore{bucket: lt.Bucket(), root: lt.Root()}
}

// Catalog read modes.
const (
	readCached     = iota // reuse a read younger than CatalogRefresh, else read
	readBackground        // also reuse an older read, refreshing it in the background
	readFresh             // always read
)

// catalogFor returns the table's catalog. Searches use readBackground so
// that the object store round trip never sits in a query's latency once the
// catalog is known; a search that meets a file removed meanwhile reads again
// with readFresh.
func (m *Manager) catalogFor(ctx context.Context, ref TableRef, mode int) (*catalog, error) {
	if mode != readFresh && m.cfg.CatalogRefresh > 0 {
		m.catMu.Lock()
		c, ok := m.cats[ref.URI]
		stale := ok && m.now().Sub(c.at) >= m.cfg.CatalogRefresh
		refresh := stale && mode == readBackground && !m.refreshing[ref.URI]
		if refresh {
			m.refreshing[ref.URI] = true
		}
		m.catMu.Unlock()
		if refresh {
			m.refreshInBackground(ref)
		}
		if ok && (!stale || mode == readBackground) {
			return c.cat, nil
		}
	}
	cat, err := storeOf(ref).load(ctx)
	if err != nil {
		return nil, err
	}
	m.remember(ref, cat)
	return cat, nil
}

func (m *Manager) refreshInBackground(ref TableRef) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		cat, err := storeOf(ref).load(m.ctx)
		m.catMu.Lock()
		delete(m.refreshing, ref.URI)
		m.catMu.Unlock()
		if err != nil {
			m.log.Warn("refresh index catalog", "table", ref.Name, "err", err)
			return
		}
		m.remember(ref, cat)
	}()
}

// remember caches cat unless a newer version is cached already.
func (m *Manager) remember(ref TableRef, cat *catalog) {
	m.catMu.Lock()
	defer m.catMu.Unlock()
	if old, ok := m.cats[ref.URI]; ok && old.cat.Version > cat.Version {
		return
	}
	// An equal version read again counts as fresh: nothing changed.
	m.cats[ref.URI] = cachedCatalog{cat: cat, at: m.now()}
}

// commit applies mutate to the table's catalog and caches the result.
func (m *Manager) commit(ctx context.Context, ref TableRef, mutate func(c *catalog) (bool, error)) (*catalog, error) {
	cat, err := storeOf(ref).update(ctx, m.commitEnv(), mutate)
	if err != nil {
		return nil, err
	}
	m.remember(ref, cat)
	return cat, nil
}

// deleteFiles removes index files no catalog lists any more and forgets
// their cached partitions. Failures are logged only: an orphan file is
// harmless.
func (m *Manager) deleteFiles(ctx context.Context, ref TableRef, files []string) {
	lt := ref.Table.Lance()
	for _, f := range files {
		m.cache.removePrefix(cacheKey(ref.URI, f, ""))
		if err := lt.Bucket().Delete(ctx, lt.Key(f)); err != nil {
			m.log.Warn("delete index file", "table", ref.Name, "file", f, "err", err)
		}
	}
}

// cacheKey names an index file's header ("h") or one of its partitions in
// the cache; with part "" it is the prefix of all of them.
func cacheKey(uri, file, part string) string {
	return uri + "\x00" + file + "\x00" + part
}

// openFile returns the opened index file, cached.
func (m *Manager) openFile(ctx context.Context, ref TableRef, file string) (*ivf.File, error) {
	lt := ref.Table.Lance()
	v, err := m.cache.get(ctx, cacheKey(ref.URI, file, "h"), func(ctx context.Context) (any, int64, error) {
		f, err := ivf.Open(ctx, lt.Bucket(), lt.Key(file))
		if err != nil {
			return nil, 0, err
		}
		return f, modelBytes(f.Model()), nil
	})
	if err != nil {
		return nil, fmt.Errorf("open index file %s: %w", file, err)
	}
	return v.(*ivf.File), nil
}

// invalidError marks a request error: it prints the detailed message and
// matches both the detail and ErrInvalid.
type invalidError struct{ err error }

func (e invalidError) Error() string   { return e.err.Error() }
func (e invalidError) Unwrap() []error { return []error{e.err, ErrInvalid} }

func invalid(err error) error {
	if errors.Is(err, ErrInvalid) {
		return err
	}
	return invalidError{err}
}

// mismatchError is a metric mismatch: it matches ErrMetricMismatch and
// ErrNoIndex.
type mismatchError struct{ msg string }

func (e mismatchError) Error() string   { return e.msg }
func (e mismatchError) Unwrap() []error { return []error{ErrMetricMismatch, ErrNoIndex} }
