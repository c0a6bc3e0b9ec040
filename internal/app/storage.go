package app

import (
	"fmt"
	"log/slog"

	"github.com/sarissa-db/sarissa/internal/catalog"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/location"
	"github.com/sarissa-db/sarissa/internal/table"
)

// newCatalog builds the catalog the configuration describes: every database
// under the default location (data_dir unless set), some elsewhere.
// wrap, if set, decorates every bucket (the block cache).
func newCatalog(cfg Config, logger *slog.Logger, wrap func(loc string, b objstore.Bucket) (objstore.Bucket, error)) (*catalog.Catalog, error) {
	cc, err := cfg.catalogConfig()
	if err != nil {
		return nil, err
	}
	res, err := location.NewResolver(cfg.Accounts)
	if err != nil {
		return nil, fmt.Errorf("storage accounts: %w", err)
	}
	cat, err := catalog.New(cc, catalog.Deps{
		Resolver:   res,
		Table:      table.Options{Logger: logger},
		Logger:     logger,
		WrapBucket: wrap,
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return cat, nil
}
