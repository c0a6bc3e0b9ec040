// Package table implements table operations on Lance tables: create, append,
// overwrite, scan with projection and filter, take, count, delete, update and
// schema evolution. It is the API the query node calls; the on-disk format and
// the commit protocol live in internal/lance, data files in internal/lance/file.
package table

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/lance/schema"
	"github.com/sarissa-db/sarissa/internal/objstore"
)

// Defaults for Options.
const (
	DefaultMaxRowsPerFile  = 1 << 20   // Lance's max_rows_per_file
	DefaultMaxBytesPerFile = 256 << 20 // keep files cacheable and parallelisable
	DefaultBatchRows       = 8192
	defaultOpRetries       = 10 // re-executions of delete/update on conflicts (Lance: 10)
)

// ErrInvalidArgument reports a request that cannot be executed as given (bad
// column names, bad expressions, bad versions). Filter syntax errors from
// internal/filter are returned as they are.
var ErrInvalidArgument = errors.New("invalid argument")

// Options configures table handles. Zero values select defaults.
type Options struct {
	Lance lance.Options
	// MaxRowsPerFile and MaxBytesPerFile bound each data file written; a
	// larger input rolls over into more files (one fragment each).
	MaxRowsPerFile  int64
	MaxBytesPerFile int64
	// BatchRows is the number of rows read per batch when scanning.
	BatchRows int
	// Allocator allocates every Arrow buffer the package creates.
	Allocator memory.Allocator
	Logger    *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxRowsPerFile <= 0 {
		o.MaxRowsPerFile = DefaultMaxRowsPerFile
	}
	if o.MaxBytesPerFile <= 0 {
		o.MaxBytesPerFile = DefaultMaxBytesPerFile
	}
	if o.BatchRows <= 0 {
		o.BatchRows = DefaultBatchRows
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	if o.Lance.Allocator == nil {
		o.Lance.Allocator = o.Allocator
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Table is a handle on one table. It caches nothing but its options, so
// handles in different processes on the same storage stay consistent.
type Table struct {
	lt   *lance.Table
	opts Options
}

// Open opens an existing table stored under root in bucket.
func Open(ctx context.Context, bucket objstore.Bucket, root string, opts Options) (*Table, error) {
	opts = opts.withDefaults()
	lt, err := lance.Open(ctx, bucket, root, opts.Lance)
	if err != nil {
		return nil, err
	}
	return &Table{lt: lt, opts: opts}, nil
}

// Create creates a table with the given schema and initial data (data may be
// nil for an empty table). It fails with lance.ErrTableExists if a table is
// already there.
func Create(ctx context.Context, bucket objstore.Bucket, root string, sch *arrow.Schema, data array.RecordReader, opts Options) (*Table, *Snapshot, error) {
	opts = opts.withDefaults()
	ls, err := schema.FromArrow(sch, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	w := &fragmentWriter{bucket: bucket, root: root, opts: opts, schema: ls, target: sch, newName: newNameFunc(opts.Lance.Entropy)}
	frags, err := w.writeAll(ctx, data)
	if err != nil {
		return nil, nil, err
	}
	fields, meta := ls.ToProto()
	lt, snap, err := lance.Create(ctx, bucket, root, lance.CreateParams{
		Fields:         fields,
		SchemaMetadata: meta,
		Fragments:      frags,
	}, opts.Lance)
	if err != nil {
		return nil, nil, err
	}
	t := &Table{lt: lt, opts: opts}
	s, err := t.snapshot(snap)
	return t, s, err
}

// Lance returns the underlying Lance table (versions, tags, raw commits).
func (t *Table) Lance() *lance.Table { return t.lt }

// Latest returns the newest version.
func (t *Table) Latest(ctx context.Context) (*Snapshot, error) {
	ls, err := t.lt.Latest(ctx)
	if err != nil {
		return nil, err
	}
	return t.snapshot(ls)
}

// Checkout returns version v.
func (t *Table) Checkout(ctx context.Context, v uint64) (*Snapshot, error) {
	ls, err := t.lt.Checkout(ctx, v)
	if err != nil {
		return nil, err
	}
	return t.snapshot(ls)
}

// CheckoutTag returns the version a tag points at.
func (t *Table) CheckoutTag(ctx context.Context, tag string) (*Snapshot, error) {
	ls, err := t.lt.CheckoutTag(ctx, tag)
	if err != nil {
		return nil, err
	}
	return t.snapshot(ls)
}

// Restore commits a new version whose content equals version v.
func (t *Table) Restore(ctx context.Context, v uint64) (*Snapshot, error) {
	ls, err := t.lt.Restore(ctx, v)
	if err != nil {
		return nil, err
	}
	return t.snapshot(ls)
}

// writableLatest returns the newest version, refusing tables whose features
// we can read but not commit on.
func (t *Table) writableLatest(ctx context.Context) (*Snapshot, error) {
	base, err := t.Latest(ctx)
	if err != nil {
		return nil, err
	}
	if err := base.ls.Writable(); err != nil {
		return nil, err
	}
	return base, nil
}

// commit commits txn on top of base and returns the new version.
func (t *Table) commit(ctx context.Context, base *Snapshot, what string, txn *tablepb.Transaction) (*Snapshot, error) {
	ls, err := t.lt.Commit(ctx, base.Version(), txn)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", what, err)
	}
	return t.snapshot(ls)
}

// Snapshot is an immutable view of one table version with its schema decoded.
type Snapshot struct {
	t      *Table
	ls     *lance.Snapshot
	schema *schema.Schema
	arrow  *arrow.Schema
}

func (t *Table) snapshot(ls *lance.Snapshot) (*Snapshot, error) {
	sch, err := schema.FromProto(ls.Fields(), ls.SchemaMetadata())
	if err != nil {
		return nil, fmt.Errorf("table %s version %d: schema: %w", t.lt.Root(), ls.Version(), err)
	}
	as, err := sch.ToArrow()
	if err != nil {
		return nil, fmt.Errorf("table %s version %d: schema: %w", t.lt.Root(), ls.Version(), err)
	}
	return &Snapshot{t: t, ls: ls, schema: sch, arrow: as}, nil
}

// Version returns the snapshot's version number.
func (s *Snapshot) Version() uint64 { return s.ls.Version() }

// Schema returns the table schema at this version.
func (s *Snapshot) Schema() *arrow.Schema { return s.arrow }

// LanceSchema returns the Lance schema (field ids) at this version.
func (s *Snapshot) LanceSchema() *schema.Schema { return s.schema }

// Lance returns the underlying Lance snapshot (fragments, manifest).
func (s *Snapshot) Lance() *lance.Snapshot { return s.ls }

// NumRows returns the number of live rows without reading data.
func (s *Snapshot) NumRows() int64 { return int64(s.ls.NumRows()) }
