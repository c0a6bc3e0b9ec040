package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/sarissa-db/sarissa/internal/jobs"
)

// jobOptions are the flags of `sarissa job run` beyond the Config: the job
// spec, exactly as jobs.JobArgs writes it.
type jobOptions struct {
	kind, database, table, index string
	version                      string
}

func (o *jobOptions) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.kind, "kind", "", "job kind: index, compact or cleanup (required)")
	fs.StringVar(&o.database, "database", "", "database of the table (required)")
	fs.StringVar(&o.table, "table", "", "table identifier, ns$table in a namespace (required)")
	fs.StringVar(&o.version, "version", "0", "table version the job was decided at (names the job; the job works on the latest version)")
	fs.StringVar(&o.index, "index", "", "index name (index jobs)")
}

func (o *jobOptions) spec() (jobs.Spec, error) {
	kind, err := jobs.ParseKind(o.kind)
	if err != nil {
		return jobs.Spec{}, usageError("--kind: %v", err)
	}
	v, err := strconv.ParseUint(o.version, 10, 64)
	if err != nil {
		return jobs.Spec{}, usageError("--version %q: want a version number", o.version)
	}
	s := jobs.Spec{Kind: kind, Database: o.database, Table: o.table, Version: v, Index: o.index}
	if err := s.Validate(); err != nil {
		return jobs.Spec{}, usageError("%v", err)
	}
	return s, nil
}

// runJob is `sarissa job run`: the indexer's entry point. It runs one job
// against the configured storage and exits: 0 when the job did its work
// (or found nothing left to do), 1 when it failed. Kubernetes Jobs and the
// process launcher run it.
func runJob(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "run" {
		return usageError("want 'sarissa job run --kind K --database D --table T --version V [--index I]'")
	}
	var opts jobOptions
	cmd := command{
		name:     "job run",
		synopsis: "--kind K --database D --table T --version V [--index I] [flags]",
		summary: "Run one maintenance job to completion: bring an index up to date (index), merge\n" +
			"small fragments (compact) or remove old versions (cleanup). The Lance Agent's\n" +
			"launchers run it; it takes the same storage configuration as the server.",
		bind: func(fs *flag.FlagSet, cfg *Config) {
			cfg.RegisterFlags(fs)
			opts = jobOptions{}
			opts.bind(fs)
		},
	}
	cfg, pos, err := cmd.parse(args[1:], stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("job run takes no arguments, got %q", pos)
	}
	spec, err := opts.spec()
	if err != nil {
		return err
	}
	// A job reports its commit on the queue the configuration names; the
	// in-process bus would reach nobody.
	cfg.Target = TargetIndexer
	if ev := cfg.Events; ev == "" || ev == eventsMemory {
		cfg.Events = eventsNone
	}
	n := &node{cfg: cfg, logger: newLogger(cfg, stderr), stdout: stdout, now: time.Now}
	defer n.close()
	for _, init := range []func(context.Context, *node) error{initMetrics, initCatalog, initIndexes, initEvents} {
		if err := init(ctx, n); err != nil {
			return err
		}
	}
	runner, err := n.tableRunner()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := runner.Run(ctx, spec); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "job %s (%s) done in %.2f s\n", spec.Name(), spec, time.Since(start).Seconds())
	return nil
}
