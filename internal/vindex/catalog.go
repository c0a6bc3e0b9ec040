package vindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sarissa-db/sarissa/internal/index/ivf"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/vector"
)

// Catalog layout (docs/format/index-catalog.md): one immutable JSON file per
// catalog version under <table root>/_sarissa_indices/_catalog/, named by the
// 20-digit decimal of MaxUint64 − version so that a lexical listing yields the
// newest version first and a reader can stop after one entry.
const (
	catalogDir         = "_catalog"
	catalogFormatMajor = 1
	catalogFormatMinor = 0
	// maxCatalogBytes bounds what a reader accepts: a catalog lists a few
	// indexes with a few segments each, far below this.
	maxCatalogBytes = 64 << 20
	// commitAttempts bounds the catalog's optimistic commit loop.
	commitAttempts = 20
)

// catalogPrefix is the directory of catalog files relative to the table root.
func catalogPrefix() string { return ivf.IndexDir + "/" + catalogDir + "/" }

func catalogName(version uint64) string {
	return fmt.Sprintf("%s%020d.json", catalogPrefix(), math.MaxUint64-version)
}

func parseCatalogName(rel string) (uint64, bool) {
	base, ok := strings.CutPrefix(rel, catalogPrefix())
	if !ok {
		return 0, false
	}
	digits, ok := strings.CutSuffix(base, ".json")
	if !ok || len(digits) != 20 {
		return 0, false
	}
	inv, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return math.MaxUint64 - inv, true
}

// catalog is one version of a table's index catalog.
type catalog struct {
	FormatMajor int       `json:"format_major"`
	FormatMinor int       `json:"format_minor"`
	Version     uint64    `json:"version"`
	CommitID    string    `json:"commit_id"`
	CommittedAt time.Time `json:"committed_at"`
	Indices     []entry   `json:"indices"`
}

// entry is one index: its definition, its model's identity and its segments.
type entry struct {
	Name      string    `json:"name"`
	UUID      string    `json:"uuid"`
	Column    string    `json:"column"`
	FieldID   int32     `json:"field_id"`
	Dim       int       `json:"dim"`
	Kind      string    `json:"kind"`
	Metric    string    `json:"metric"`
	Params    params    `json:"params"`
	CreatedAt time.Time `json:"created_at"`
	Segments  []segment `json:"segments"`
}

// params mirrors ivf.BuildParams with stable JSON names (LanceDB's).
type params struct {
	NumPartitions       int    `json:"num_partitions,omitempty"`
	TargetPartitionSize int    `json:"target_partition_size,omitempty"`
	SampleRate          int    `json:"sample_rate,omitempty"`
	MaxIterations       int    `json:"max_iterations,omitempty"`
	NumSubVectors       int    `json:"num_sub_vectors,omitempty"`
	NumBits             int    `json:"num_bits,omitempty"`
	M                   int    `json:"m,omitempty"`
	EfConstruction      int    `json:"ef_construction,omitempty"`
	Seed                uint64 `json:"seed,omitempty"`
}

// segment is one index file and the fragments whose rows it holds.
type segment struct {
	UUID         string     `json:"uuid"`
	File         string     `json:"file"` // relative to the table root
	SizeBytes    int64      `json:"size_bytes"`
	Rows         int64      `json:"rows"`
	TableVersion uint64     `json:"table_version"`
	CreatedAt    time.Time  `json:"created_at"`
	Fragments    []fragment `json:"fragments"`
}

// fragment identifies a covered fragment by id and first data file, so a
// fragment id reused after an overwrite or compaction does not match.
type fragment struct {
	ID   uint64 `json:"id"`
	File string `json:"file"`
}

func (c *catalog) find(name string) int {
	for i := range c.Indices {
		if c.Indices[i].Name == name {
			return i
		}
	}
	return -1
}

func (c *catalog) clone() *catalog {
	out := *c
	out.Indices = make([]entry, len(c.Indices))
	for i, e := range c.Indices {
		e.Segments = append([]segment(nil), e.Segments...)
		for j := range e.Segments {
			e.Segments[j].Fragments = append([]fragment(nil), e.Segments[j].Fragments...)
		}
		out.Indices[i] = e
	}
	return &out
}

// validate checks what a reader relies on: unique names, known kinds and
// metrics, segment files inside the index directory.
func (c *catalog) validate() error {
	if c.FormatMajor != catalogFormatMajor {
		return fmt.Errorf("format %d.%d is not supported (this build reads %d.x)", c.FormatMajor, c.FormatMinor, catalogFormatMajor)
	}
	seen := map[string]bool{}
	for i, e := range c.Indices {
		if err := validName(e.Name); err != nil {
			return fmt.Errorf("index %d: %w", i, err)
		}
		if seen[e.Name] {
			return fmt.Errorf("index %q listed twice", e.Name)
		}
		seen[e.Name] = true
		if _, err := ivf.ParseKind(e.Kind); err != nil {
			return fmt.Errorf("index %q: kind: %w", e.Name, err)
		}
		if _, err := vector.ParseMetric(e.Metric); err != nil {
			return fmt.Errorf("index %q: %w", e.Name, err)
		}
		if e.Column == "" || e.Dim <= 0 {
			return fmt.Errorf("index %q: missing column or dimension", e.Name)
		}
		if len(e.Segments) == 0 {
			return fmt.Errorf("index %q has no segments", e.Name)
		}
		for j, s := range e.Segments {
			if !strings.HasPrefix(s.File, ivf.IndexDir+"/") || objstore.ValidateKey(s.File) != nil {
				return fmt.Errorf("index %q segment %d: bad file key %q", e.Name, j, s.File)
			}
			if s.SizeBytes < 0 || s.Rows < 0 {
				return fmt.Errorf("index %q segment %d: negative size or row count", e.Name, j)
			}
		}
	}
	return nil
}

// validName accepts index names that are usable as one object key segment
// and cannot collide with the catalog directory.
func validName(name string) error {
	switch {
	case name == "":
		return errors.New("empty index name")
	case len(name) > 200:
		return fmt.Errorf("index name of %d bytes is too long (at most 200)", len(name))
	case name == catalogDir:
		return fmt.Errorf("index name %q is reserved", name)
	case strings.Contains(name, "/"):
		return fmt.Errorf("index name %q contains '/'", name)
	}
	if err := objstore.ValidateKey(name); err != nil {
		return fmt.Errorf("index name %q is not usable as a file name", name)
	}
	return nil
}

// catalogStore reads and commits the catalog of one table.
type catalogStore struct {
	bucket objstore.Bucket
	root   string // table root key ("" for the bucket root)
}

func (s catalogStore) key(rel string) string {
	if s.root == "" {
		return rel
	}
	return s.root + "/" + rel
}

// load returns the newest catalog, or an empty one at version 0 when none was
// ever written.
func (s catalogStore) load(ctx context.Context) (*catalog, error) {
	prefix := s.key(catalogPrefix())
	for a, err := range s.bucket.List(ctx, prefix) {
		if err != nil {
			return nil, fmt.Errorf("list index catalog %s: %w", prefix, err)
		}
		rel := strings.TrimPrefix(a.Key, s.key(""))
		if s.root == "" {
			rel = a.Key
		}
		v, ok := parseCatalogName(rel)
		if !ok {
			continue // a foreign or temporary object; not a catalog version
		}
		return s.read(ctx, v)
	}
	return &catalog{FormatMajor: catalogFormatMajor, FormatMinor: catalogFormatMinor}, nil
}

// read loads and validates catalog version v.
func (s catalogStore) read(ctx context.Context, v uint64) (*catalog, error) {
	key := s.key(catalogName(v))
	attrs, err := s.bucket.Stat(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read index catalog %s: %w", key, err)
	}
	if attrs.Size > maxCatalogBytes {
		return nil, fmt.Errorf("index catalog %s: %d bytes exceeds the %d byte limit: %w", key, attrs.Size, maxCatalogBytes, ErrCorrupt)
	}
	data, err := objstore.ReadAll(ctx, s.bucket, key)
	if err != nil {
		return nil, fmt.Errorf("read index catalog %s: %w", key, err)
	}
	var c catalog
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("index catalog %s: %v: %w", key, err, ErrCorrupt)
	}
	if dec.More() {
		return nil, fmt.Errorf("index catalog %s: trailing data after the JSON object: %w", key, ErrCorrupt)
	}
	if c.Version != v {
		return nil, fmt.Errorf("index catalog %s: records version %d, its name says %d: %w", key, c.Version, v, ErrCorrupt)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("index catalog %s: %v: %w", key, err, ErrCorrupt)
	}
	return &c, nil
}

// commitEnv carries what a commit needs from the Manager.
type commitEnv struct {
	now    func() time.Time
	newID  func() string
	sleep  func(ctx context.Context, d time.Duration) error
	randN  func(n uint64) uint64
	onLost func(attempt int) // test hook: called after a lost race
}

// update applies mutate to the newest catalog and commits the result as the
// next version. When another writer commits first, mutate runs again on the
// new catalog (it must decide from what it sees, so a rebase is just a
// re-run); an error from mutate aborts without writing. A mutate that
// reports no change (changed false) commits nothing.
func (s catalogStore) update(ctx context.Context, env commitEnv, mutate func(c *catalog) (changed bool, err error)) (*catalog, error) {
	commitID := env.newID()
	unit := 2 * time.Millisecond
	for attempt := 0; attempt < commitAttempts; attempt++ {
		cur, err := s.load(ctx)
		if err != nil {
			return nil, err
		}
		if cur.CommitID == commitID {
			// An earlier attempt landed although its put reported failure.
			return cur, nil
		}
		next := cur.clone()
		changed, err := mutate(next)
		if err != nil {
			return nil, err
		}
		if !changed {
			return cur, nil
		}
		next.FormatMajor, next.FormatMinor = catalogFormatMajor, catalogFormatMinor
		next.Version = cur.Version + 1
		next.CommitID = commitID
		next.CommittedAt = env.now().UTC()
		if err := next.validate(); err != nil {
			return nil, fmt.Errorf("index catalog change is invalid: %w", err)
		}
		data, err := json.MarshalIndent(next, "", " ")
		if err != nil {
			return nil, fmt.Errorf("encode index catalog: %w", err)
		}
		key := s.key(catalogName(next.Version))
		err = s.bucket.PutIfAbsent(ctx, key, bytes.NewReader(data))
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, objstore.ErrExists) {
			return nil, fmt.Errorf("write index catalog %s: %w", key, err)
		}
		if env.onLost != nil {
			env.onLost(attempt)
		}
		slots := uint64(1) << min(attempt+1, 8)
		if err := env.sleep(ctx, time.Duration(env.randN(slots))*unit); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%d attempts lost the race for the next index catalog version: %w", commitAttempts, ErrConflict)
}
