package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/vindex"
)

// TableRunnerConfig tunes the jobs. Zero values select defaults.
type TableRunnerConfig struct {
	// Compact configures compaction (Lance's defaults).
	Compact table.CompactOptions
	// CleanupRetention: versions that stopped being the latest longer ago
	// are removed (default lance.DefaultCleanupRetention).
	CleanupRetention time.Duration
	// CleanupGrace protects files no version references, by age (default
	// lance.DefaultUnverifiedGrace): they may belong to a commit in flight.
	CleanupGrace time.Duration
}

// TableRunnerDeps are a TableRunner's collaborators.
type TableRunnerDeps struct {
	// Catalog opens tables (required).
	Catalog *catalog.Catalog
	// Indexes runs index jobs (required for KindIndex).
	Indexes *vindex.Manager
	// Publish reports what a job committed (nil: nothing is published), so
	// the agent sees the effect without waiting for a reconcile.
	Publish func(events.Event)
	Logger  *slog.Logger
	Now     func() time.Time
}

// TableRunner runs jobs against the tables of a catalog, in this process.
type TableRunner struct {
	cfg  TableRunnerConfig
	deps TableRunnerDeps
}

var _ Runner = (*TableRunner)(nil)

// NewTableRunner returns a runner.
func NewTableRunner(cfg TableRunnerConfig, deps TableRunnerDeps) (*TableRunner, error) {
	if deps.Catalog == nil {
		return nil, errors.New("jobs: a catalog is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &TableRunner{cfg: cfg, deps: deps}, nil
}

// Run executes spec on the table's latest version. A table or index that
// no longer exists is not an error: there is nothing left to do.
func (r *TableRunner) Run(ctx context.Context, spec Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	db, err := r.deps.Catalog.Database(ctx, spec.Database)
	if err != nil {
		return fmt.Errorf("job %s: %w", spec, err)
	}
	id, err := catalog.ParseTableID(spec.Table, "")
	if err != nil {
		return fmt.Errorf("job %s: %w", spec, err)
	}
	t, err := db.OpenTable(ctx, id)
	if errors.Is(err, catalog.ErrTableNotFound) {
		r.deps.Logger.Info("job skipped: the table is gone", "job", spec.String())
		return nil
	}
	if err != nil {
		return fmt.Errorf("job %s: %w", spec, err)
	}
	log := r.deps.Logger.With("job", spec.Name(), "kind", spec.Kind, "database", spec.Database, "table", spec.Table)
	start := r.deps.Now()
	switch spec.Kind {
	case KindIndex:
		err = r.index(ctx, spec, t, vindex.TableRef{Table: t, URI: db.TableURI(id), Name: id.String()}, log)
	case KindCompact:
		err = r.compact(ctx, spec, t, log)
	case KindCleanup:
		err = r.cleanup(ctx, t, log)
	}
	if err != nil {
		return fmt.Errorf("job %s: %w", spec, err)
	}
	log.Info("job done", "took", r.deps.Now().Sub(start).Round(time.Millisecond))
	return nil
}

func (r *TableRunner) index(ctx context.Context, spec Spec, t *table.Table, ref vindex.TableRef, log *slog.Logger) error {
	if r.deps.Indexes == nil {
		return errors.New("this runner has no index manager")
	}
	err := r.deps.Indexes.Optimize(ctx, ref, spec.Index)
	if errors.Is(err, vindex.ErrNotFound) {
		log.Info("index job skipped: the index is gone", "index", spec.Index)
		return nil
	}
	if err != nil {
		return err
	}
	snap, err := t.Latest(ctx)
	if err != nil {
		return err
	}
	r.publish(spec, snap.Version(), events.OpIndexOptimize, 0, 0)
	return nil
}

func (r *TableRunner) compact(ctx context.Context, spec Spec, t *table.Table, log *slog.Logger) error {
	res, err := t.Compact(ctx, r.cfg.Compact)
	if err != nil {
		return err
	}
	if res.Version == 0 {
		log.Info("nothing to compact")
		return nil
	}
	log.Info("compacted", "version", res.Version, "fragments_removed", res.FragmentsRemoved,
		"fragments_added", res.FragmentsAdded, "rows_rewritten", res.RowsRewritten, "deletions_materialized", res.DeletionsMaterialized)
	r.publish(spec, res.Version, events.OpCompact, 0, res.DeletionsMaterialized)
	return nil
}

func (r *TableRunner) cleanup(ctx context.Context, t *table.Table, log *slog.Logger) error {
	res, err := t.CleanupOldVersions(ctx, lance.CleanupOptions{
		Retention: r.cfg.CleanupRetention, UnverifiedGrace: r.cfg.CleanupGrace, Now: r.deps.Now,
	})
	if err != nil {
		return err
	}
	log.Info("cleaned up", "versions_removed", len(res.VersionsRemoved), "files_removed", res.FilesRemoved(), "bytes_removed", res.BytesRemoved)
	return nil
}

func (r *TableRunner) publish(spec Spec, version uint64, op string, added, deleted int64) {
	if r.deps.Publish == nil {
		return
	}
	r.deps.Publish(events.Event{
		ID: events.NewID(spec.Database, spec.Table, version, op), Database: spec.Database, Table: spec.Table,
		Version: version, Operation: op, RowsAdded: added, RowsDeleted: deleted, Index: spec.Index,
		Time: r.deps.Now().UTC(), Producer: "job/" + spec.Name(),
	})
}
