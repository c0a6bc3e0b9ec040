package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/filesystem"
)

// database is where the tables of one database live.
// TODO(issue 3): replace with internal/catalog once it lands.
type database struct {
	name   string
	bucket objstore.Bucket
}

func openDatabase(ctx context.Context, cfg Config, name string, logger *slog.Logger) (*database, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return nil, fmt.Errorf("database name %q is not valid", name)
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data_dir %q: %w", cfg.DataDir, err)
	}
	b, err := filesystem.New(dir)
	if err != nil {
		return nil, fmt.Errorf("open data_dir %s: %w", dir, err)
	}
	return &database{name: name, bucket: b}, nil
}

func (d *database) tableRoot(table string) (string, error) {
	if table == "" || strings.ContainsAny(table, `/\`) || table == "." || table == ".." {
		return "", fmt.Errorf("table name %q is not valid", table)
	}
	return d.name + "/" + table + ".lance", nil
}
