package agent

import (
	"errors"
	"fmt"
	"time"

	"github.com/sarissa-db/sarissa/internal/jobs"
	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/table"
)

// Policy holds the thresholds of the agent's decisions (docs/agent.md).
// DefaultPolicy is the only place defaults live; every field must be set
// (a configuration starts from DefaultPolicy and overrides fields).
type Policy struct {
	// IndexMinUnindexedRows: an index is brought up to date as soon as at
	// least this many rows are not covered by it.
	IndexMinUnindexedRows int64 `yaml:"index_min_unindexed_rows"`
	// IndexMaxWait: unindexed rows that have waited this long are indexed
	// even below IndexMinUnindexedRows.
	IndexMaxWait time.Duration `yaml:"index_max_wait"`
	// CompactMinFragments: a table is compacted when the compaction plan
	// would rewrite at least this many fragments...
	CompactMinFragments int `yaml:"compact_min_fragments"`
	// CompactDeletedFraction: ...or some fragment has more than this
	// fraction of its rows deleted. It is also the plan's (and the
	// compaction job's) materialize-deletions threshold, so that such a
	// fragment is in the plan.
	CompactDeletedFraction float64 `yaml:"compact_deleted_fraction"`
	// CompactTargetRowsPerFragment is the fragment size compaction aims
	// for: smaller fragments are candidates.
	CompactTargetRowsPerFragment int64 `yaml:"compact_target_rows_per_fragment"`
	// CleanupRetention: a version is old, and removed by cleanup, when its
	// successor was committed more than this long ago.
	CleanupRetention time.Duration `yaml:"cleanup_retention"`
	// CleanupGrace protects files no version references (they may belong
	// to a commit in flight) until they are this old. The agent does not
	// use it to decide; the cleanup job does (RunnerConfig).
	CleanupGrace time.Duration `yaml:"cleanup_grace"`
	// CleanupInterval: at most one cleanup per table per interval.
	CleanupInterval time.Duration `yaml:"cleanup_interval"`
}

// DefaultPolicy returns the defaults: index at 10,000 unindexed rows or
// after 60 s, compact at 10 small fragments or more than 10% deleted rows
// in a fragment, remove versions superseded more than 7 days ago at most
// hourly, unreferenced files after 7 days (LanceDB's defaults where it has
// them).
func DefaultPolicy() Policy {
	return Policy{
		IndexMinUnindexedRows:        10_000,
		IndexMaxWait:                 60 * time.Second,
		CompactMinFragments:          10,
		CompactDeletedFraction:       table.DefaultMaterializeDeletionsThreshold,
		CompactTargetRowsPerFragment: table.DefaultTargetRowsPerFragment,
		CleanupRetention:             lance.DefaultCleanupRetention,
		CleanupGrace:                 lance.DefaultUnverifiedGrace,
		CleanupInterval:              time.Hour,
	}
}

// Validate checks every field, reporting all that are wrong by their YAML
// names.
func (p Policy) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if p.IndexMinUnindexedRows < 1 {
		bad("index_min_unindexed_rows %d: must be at least 1", p.IndexMinUnindexedRows)
	}
	if p.IndexMaxWait <= 0 {
		bad("index_max_wait %s: must be positive", p.IndexMaxWait)
	}
	if p.CompactMinFragments < 1 {
		bad("compact_min_fragments %d: must be at least 1", p.CompactMinFragments)
	}
	// 0 would select the table package's default threshold in the plan,
	// so it cannot mean "any deletion"; 1 turns the rule off (no fragment
	// has more than all of its rows deleted).
	if !(p.CompactDeletedFraction > 0 && p.CompactDeletedFraction <= 1) {
		bad("compact_deleted_fraction %g: must be in (0, 1]", p.CompactDeletedFraction)
	}
	if p.CompactTargetRowsPerFragment < 1 {
		bad("compact_target_rows_per_fragment %d: must be at least 1", p.CompactTargetRowsPerFragment)
	}
	if p.CleanupRetention <= 0 {
		bad("cleanup_retention %s: must be positive", p.CleanupRetention)
	}
	if p.CleanupGrace <= 0 {
		bad("cleanup_grace %s: must be positive", p.CleanupGrace)
	}
	if p.CleanupInterval <= 0 {
		bad("cleanup_interval %s: must be positive", p.CleanupInterval)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agent policy: %w", err)
	}
	return nil
}

// CompactOptions are the options the agent plans compaction with.
func (p Policy) CompactOptions() table.CompactOptions {
	return table.CompactOptions{
		TargetRowsPerFragment:         p.CompactTargetRowsPerFragment,
		MaterializeDeletionsThreshold: p.CompactDeletedFraction,
	}
}

// RunnerConfig is the job configuration matching the policy. The jobs run
// with their own configuration (a job spec names only the work), so the
// composition root gives the runner this one: a compaction job then
// rewrites what the agent's plan saw, and a cleanup job removes the
// versions the agent counted as old.
func (p Policy) RunnerConfig() jobs.TableRunnerConfig {
	return jobs.TableRunnerConfig{
		Compact:          p.CompactOptions(),
		CleanupRetention: p.CleanupRetention,
		CleanupGrace:     p.CleanupGrace,
	}
}

// Config configures an Agent.
type Config struct {
	Policy Policy `yaml:"policy"`
	// ReconcileInterval is how often every table of the catalog is
	// evaluated, so that work a lost event announced is found anyway
	// (default 5m).
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	// Settle is how long the agent waits after the first event of a table
	// before evaluating it, so that a burst of writes is one evaluation
	// (default 1s).
	Settle time.Duration `yaml:"settle"`
	// PollInterval is how often the launcher's jobs are listed: a job that
	// finished makes its table be evaluated again (default 2s).
	PollInterval time.Duration `yaml:"poll_interval"`
	// Parallelism bounds tables evaluated at once (default 4): evaluation
	// is mostly waiting for object storage.
	Parallelism int `yaml:"parallelism"`
}

const (
	defaultReconcileInterval = 5 * time.Minute
	defaultSettle            = time.Second
	defaultPollInterval      = 2 * time.Second
	defaultParallelism       = 4
)

// withDefaults fills zero durations and counts; Validate runs after it.
func (c Config) withDefaults() Config {
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = defaultReconcileInterval
	}
	if c.Settle == 0 {
		c.Settle = defaultSettle
	}
	if c.PollInterval == 0 {
		c.PollInterval = defaultPollInterval
	}
	if c.Parallelism == 0 {
		c.Parallelism = defaultParallelism
	}
	return c
}

// Validate checks the configuration (zero values select defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if err := c.Policy.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.ReconcileInterval < 0 {
		errs = append(errs, fmt.Errorf("agent: reconcile_interval %s: must be positive", c.ReconcileInterval))
	}
	if c.Settle < 0 {
		errs = append(errs, fmt.Errorf("agent: settle %s: must not be negative", c.Settle))
	}
	if c.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("agent: poll_interval %s: must be positive", c.PollInterval))
	}
	if c.Parallelism < 0 {
		errs = append(errs, fmt.Errorf("agent: parallelism %d: must be positive", c.Parallelism))
	}
	return errors.Join(errs...)
}
