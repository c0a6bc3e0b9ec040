package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/ingest"
	"github.com/sarissa-db/sarissa/internal/table"
)

// Import modes.
const (
	modeCreate    = "create"
	modeAppend    = "append"
	modeOverwrite = "overwrite"
)

// importOptions are the flags of `sarissa import` beyond the Config.
type importOptions struct {
	database, table  string
	mode             string
	format           string
	batchRows        int
	inferRows        int
	vectorColumns    string
	delimiter        string
	progress         string
	progressInterval time.Duration
}

func (o *importOptions) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.database, "database", "", "database to import into (required)")
	fs.StringVar(&o.table, "table", "", "table to import into (required; ns$table for a table in a namespace)")
	fs.StringVar(&o.mode, "mode", modeCreate, "create (the table must not exist), append (it must exist) or overwrite (replace or create)")
	fs.StringVar(&o.format, "format", "auto", "input format: auto (by file name, then contents), parquet, arrow, csv or jsonl")
	fs.IntVar(&o.batchRows, "batch-rows", ingest.DefaultBatchRows, "rows per batch read from the file")
	fs.IntVar(&o.inferRows, "infer-rows", ingest.DefaultInferRows, "CSV and JSON Lines: rows sampled to infer column types")
	fs.StringVar(&o.vectorColumns, "vector-columns", "vector", "CSV and JSON Lines: comma-separated columns whose number arrays become vectors (FixedSizeList<Float32>)")
	fs.StringVar(&o.delimiter, "delimiter", "", "CSV field delimiter (default ',' and tab for .tsv; \\t for tab)")
	fs.StringVar(&o.progress, "progress", progressAuto, "progress display: auto (a bar on a terminal, log lines otherwise), bar, log or none")
	fs.DurationVar(&o.progressInterval, "progress-interval", 5*time.Second, "time between progress log lines")
}

func (o *importOptions) validate(args []string) (ingest.Options, error) {
	var zero ingest.Options
	if len(args) != 1 {
		return zero, usageError("want exactly one FILE to import, got %d arguments", len(args))
	}
	if o.database == "" || o.table == "" {
		return zero, usageError("--database and --table are required")
	}
	switch o.mode {
	case modeCreate, modeAppend, modeOverwrite:
	default:
		return zero, usageError("--mode %q: want create, append or overwrite", o.mode)
	}
	format, err := ingest.ParseFormat(o.format)
	if err != nil {
		return zero, usageError("--format: %v", err)
	}
	if o.batchRows <= 0 || o.inferRows <= 0 {
		return zero, usageError("--batch-rows and --infer-rows must be positive")
	}
	switch o.progress {
	case progressAuto, progressBar, progressLog, progressNone:
	default:
		return zero, usageError("--progress %q: want auto, bar, log or none", o.progress)
	}
	if o.progressInterval <= 0 {
		return zero, usageError("--progress-interval must be positive")
	}
	var delim rune
	switch d := strings.ReplaceAll(o.delimiter, `\t`, "\t"); len([]rune(d)) {
	case 0:
	case 1:
		delim = []rune(d)[0]
		if delim == '"' || delim == '\n' || delim == '\r' {
			return zero, usageError("--delimiter %q cannot separate fields", o.delimiter)
		}
	default:
		return zero, usageError("--delimiter %q: want a single character", o.delimiter)
	}
	var vecs []string
	for _, c := range strings.Split(o.vectorColumns, ",") {
		if c = strings.TrimSpace(c); c != "" {
			vecs = append(vecs, c)
		}
	}
	if vecs == nil {
		vecs = []string{} // none: nil would mean the default
	}
	return ingest.Options{
		Format: format, BatchRows: o.batchRows, InferRows: o.inferRows,
		VectorColumns: vecs, Delimiter: delim,
	}, nil
}

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var opts importOptions
	cmd := command{
		name:     "import",
		synopsis: "--database DB --table T [flags] FILE",
		summary: "Load a Parquet, Arrow IPC (file or stream), CSV or JSON Lines file into a table,\n" +
			"streaming it in batches. The format comes from the file name or --format.",
		bind: func(fs *flag.FlagSet, cfg *Config) {
			cfg.registerStorageFlags(fs)
			cfg.registerLogFlags(fs)
			// Server settings are not flags here, but a shared config file
			// may set them; they keep valid defaults.
			cfg.registerServerFlags(flag.NewFlagSet("", flag.ContinueOnError))
			cfg.DistConfig.registerFlags(flag.NewFlagSet("", flag.ContinueOnError))
			opts = importOptions{}
			opts.bind(fs)
		},
	}
	cfg, pos, err := cmd.parse(args, stderr)
	if err != nil {
		return err
	}
	inOpts, err := opts.validate(pos)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	return importFile(ctx, cfg, opts, inOpts, pos[0], stdout, stderr, logger, time.Now)
}

func importFile(ctx context.Context, cfg Config, o importOptions, inOpts ingest.Options, path string, stdout, stderr io.Writer, logger *slog.Logger, now func() time.Time) error {
	cat, err := newCatalog(cfg, logger, nil)
	if err != nil {
		return err
	}
	db, err := cat.Database(ctx, o.database)
	if errors.Is(err, catalog.ErrInvalidName) {
		return fmt.Errorf("%w: --database: %w", errUsage, err)
	}
	if err != nil {
		return err
	}
	id, err := catalog.ParseTableID(o.table, "")
	if err != nil {
		return fmt.Errorf("%w: --table: %w", errUsage, err)
	}
	start := now()
	rd, err := ingest.Open(ctx, path, inOpts)
	if err != nil {
		return err
	}
	defer rd.Release()
	name := o.database + "/" + id.String()
	logger.Debug("import", "file", path, "format", rd.Format(), "size", rd.Size(), "table", name, "location", db.TableURI(id), "schema", rd.Schema().String())

	prog := startProgress(o.progress, stderr, logger, filepath.Base(path), rd.Size(), rd, o.progressInterval, now)
	var snap *table.Snapshot
	switch o.mode {
	case modeCreate, modeOverwrite:
		mode := catalog.CreateModeCreate
		if o.mode == modeOverwrite {
			mode = catalog.CreateModeOverwrite
		}
		var c catalog.Created
		c, err = db.CreateTable(ctx, id, mode, rd.Schema(), rd)
		snap = c.Snapshot
		if errors.Is(err, catalog.ErrTableExists) {
			err = fmt.Errorf("table %s already exists; use --mode append or --mode overwrite", name)
		}
	case modeAppend:
		var t *table.Table
		t, err = db.OpenTable(ctx, id)
		switch {
		case errors.Is(err, catalog.ErrTableNotFound):
			err = fmt.Errorf("table %s does not exist; use --mode create", name)
		case err == nil:
			snap, _, err = t.Append(ctx, rd)
		}
	}
	prog.finish()
	if err != nil {
		return fmt.Errorf("import %s into %s: %w", path, name, err)
	}
	secs := now().Sub(start).Seconds()
	rows := rd.Rows()
	fmt.Fprintf(stdout, "imported %d rows from %s into %s (version %d, %d rows in the table) in %.2f s, %.0f rows/s\n",
		rows, path, name, snap.Version(), snap.NumRows(), secs, float64(rows)/max(secs, 1e-9))
	return nil
}
