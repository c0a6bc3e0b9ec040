package lance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/filepb"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/objstore"
)

// Backoff between commit attempts follows Lance's SlotBackoff: attempt i
// sleeps a random number of slots out of 2^(i+2), a slot being 1.1 times
// the duration of the first attempt.
const (
	// minSlotUnit keeps very fast stores (memory, local disk) from retrying
	// in a tight loop.
	minSlotUnit = time.Millisecond
	// maxSlotExponent caps the slot count at 1024; Lance grows it without
	// bound, which at attempt 20 means sleeps of hours.
	maxSlotExponent = 10
)

type slotBackoff struct {
	unit    time.Duration
	attempt int
}

func (b *slotBackoff) next(randN func(uint64) uint64) time.Duration {
	slots := uint64(1) << min(b.attempt+2, maxSlotExponent)
	b.attempt++
	return time.Duration(randN(slots)) * b.unit
}

func (t *Table) randN(n uint64) uint64 {
	t.randMu.Lock()
	defer t.randMu.Unlock()
	return t.rand.Uint64N(n)
}

// testHooks let in-package tests force interleavings in the commit loop.
type testHooks struct {
	// beforePut runs right before the conditional put of version v.
	beforePut func(ctx context.Context, attempt int, v uint64)
}

// Commit commits txn, prepared against version readVersion, as the next
// version of the table and returns the committed version.
//
// The transaction is recorded in _transactions/ and inline in the manifest.
// If other writers committed after readVersion, their transactions are
// checked against txn: compatible ones are rebased over (concurrent appends
// never conflict; deletes of different rows are merged), incompatible ones
// end the commit with ErrIncompatibleConflict. Losing the race for a version
// is retried with randomized backoff up to Options.MaxAttempts times, then
// ErrCommitConflict. txn itself is not modified.
func (t *Table) Commit(ctx context.Context, readVersion uint64, txn *tablepb.Transaction) (*Snapshot, error) {
	if err := checkCommittable(txn); err != nil {
		return nil, fmt.Errorf("commit to %s: %w", t.root, err)
	}
	txn = cloneTxn(txn)
	txn.ReadVersion = readVersion
	if txn.Uuid == "" {
		u, err := newUUID(t.opts.Entropy)
		if err != nil {
			return nil, fmt.Errorf("commit to %s: %w", t.root, err)
		}
		txn.Uuid = u
	}
	base, err := t.manifestOf(ctx, readVersion)
	if err != nil {
		return nil, fmt.Errorf("commit %s to %s: read version: %w", operationName(txn), t.root, err)
	}
	if err := checkWritable(base.key, base.pb); err != nil {
		return nil, fmt.Errorf("commit %s to %s: %w", operationName(txn), t.root, err)
	}
	s, err := t.commitLoop(ctx, base, txn)
	if err != nil {
		return nil, fmt.Errorf("commit %s to %s at version %d: %w", operationName(txn), t.root, readVersion, err)
	}
	return s, nil
}

// Restore commits a new version whose content is that of version v.
func (t *Table) Restore(ctx context.Context, v uint64) (*Snapshot, error) {
	latest, err := t.LatestVersion(ctx)
	if err != nil {
		return nil, err
	}
	return t.Commit(ctx, latest, NewRestore(v))
}

func (t *Table) commitLoop(ctx context.Context, base *Manifest, txn *tablepb.Transaction) (*Snapshot, error) {
	reb := newRebase(txn, base)
	checked := base.Version()
	start := t.opts.Now()
	var backoff slotBackoff
	var written []byte // the transaction file content last written
	for attempt := 0; attempt < t.opts.MaxAttempts; attempt++ {
		latestLoc, newer, err := t.scanVersions(ctx, checked)
		if err != nil {
			return nil, err
		}
		if latestLoc.version < checked {
			return nil, corruptf(latestLoc.key, "latest version %d is older than version %d, which was read before", latestLoc.version, checked)
		}
		latest, err := t.loadManifest(ctx, latestLoc.key, latestLoc.version, latestLoc.size)
		if err != nil {
			return nil, err
		}
		if err := checkWritable(latest.key, latest.pb); err != nil {
			return nil, err
		}
		for i, loc := range newer {
			v := loc.version
			if v != checked+1 || (i == len(newer)-1 && v != latest.Version()) {
				// Cleaned up already (the read version is very old): its
				// transaction cannot be checked.
				return nil, fmt.Errorf("version %d, committed after the read version, no longer exists: %w", checked+1, ErrIncompatibleConflict)
			}
			m, err := t.loadManifest(ctx, loc.key, v, loc.size)
			if err != nil {
				return nil, fmt.Errorf("load concurrent version %d: %w", v, err)
			}
			other, err := t.transactionOf(ctx, m)
			if errors.Is(err, errNoTransaction) {
				return nil, fmt.Errorf("concurrent version %d records no transaction, so it cannot be checked: %w", v, ErrIncompatibleConflict)
			}
			if err != nil {
				return nil, fmt.Errorf("load transaction of concurrent version %d: %w", v, err)
			}
			if other.GetUuid() == txn.GetUuid() {
				// An earlier attempt landed although its put reported a
				// failure (a retried request after a lost reply).
				return &Snapshot{m}, nil
			}
			if err := reb.check(other, v); err != nil {
				return nil, err
			}
			checked = v
		}
		next, err := reb.finish(ctx, t, latest)
		if err != nil {
			return nil, err
		}
		raw, err := marshalOpts.Marshal(next)
		if err != nil {
			return nil, fmt.Errorf("encode transaction: %w", err)
		}
		name := transactionFileName(next.GetReadVersion(), next.GetUuid())
		if !bytes.Equal(raw, written) {
			if name, err = t.writeTransactionFile(ctx, next); err != nil {
				return nil, err
			}
			written = raw
		}
		m, index, err := t.buildManifest(ctx, latest, next, name)
		if err != nil {
			return nil, err
		}
		data, err := encodeManifest(m, index, next)
		if err != nil {
			return nil, err
		}
		key := t.key(manifestName(t.naming, m.GetVersion()))
		if h := t.opts.hooks; h != nil && h.beforePut != nil {
			h.beforePut(ctx, attempt, m.GetVersion())
		}
		err = t.bucket.PutIfAbsent(ctx, key, bytes.NewReader(data))
		if err == nil {
			committed, err := DecodeManifest(key, data)
			if err != nil {
				return nil, fmt.Errorf("decode the manifest just written: %w", err)
			}
			t.remember(committed)
			return &Snapshot{committed}, nil
		}
		if !errors.Is(err, objstore.ErrExists) {
			return nil, fmt.Errorf("write manifest %s: %w", key, err)
		}
		if attempt == 0 {
			backoff.unit = max(t.opts.Now().Sub(start)*11/10, minSlotUnit)
		}
		if attempt+1 == t.opts.MaxAttempts {
			break
		}
		d := backoff.next(t.randN)
		t.opts.Logger.DebugContext(ctx, "lance commit lost the race, retrying",
			"table", t.root, "version", m.GetVersion(), "attempt", attempt+1, "backoff", d)
		if err := t.opts.Sleep(ctx, d); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%d attempts lost the race for the next version: %w", t.opts.MaxAttempts, ErrCommitConflict)
}

// DefaultConfig returns the table config a new table gets when
// CreateParams.Config is nil: Lance's WriteParams default, which LanceDB
// keeps. Stock Lance writers run cleanup of versions older than 14 days on
// every 20th commit of such a table.
func DefaultConfig() map[string]string {
	return map[string]string{
		"lance.auto_cleanup.interval":   "20",
		"lance.auto_cleanup.older_than": "14days",
	}
}

// DefaultDataFormatVersion is the data file format of tables we create.
const DefaultDataFormatVersion = "2.0"

// CreateParams describes a new table's first version.
type CreateParams struct {
	Fields         []*filepb.Field
	SchemaMetadata map[string][]byte
	// Fragments are the initial data (ids 0 are assigned from 0).
	Fragments []*tablepb.DataFragment
	// Config is the table config; nil selects DefaultConfig(), an empty
	// map none.
	Config map[string]string
	// DataFormatVersion is fixed for the table's life ("2.0" if empty).
	DataFormatVersion string
}

// Create creates a table with V2 manifest naming and commits version 1. It
// fails with ErrTableExists if the root already holds a table.
func Create(ctx context.Context, bucket objstore.Bucket, root string, p CreateParams, opts Options) (*Table, *Snapshot, error) {
	t, err := newTable(bucket, root, opts)
	if err != nil {
		return nil, nil, err
	}
	switch _, err := t.latestLocation(ctx); {
	case err == nil:
		return nil, nil, fmt.Errorf("create table %s: %w", t.root, ErrTableExists)
	case !errors.Is(err, ErrTableNotFound):
		return nil, nil, fmt.Errorf("create table %s: %w", t.root, err)
	}
	t.naming = NamingV2
	if len(p.Fields) == 0 {
		return nil, nil, fmt.Errorf("create table %s: no fields: %w", t.root, ErrInvalidTransaction)
	}
	cfg := p.Config
	if cfg == nil {
		cfg = DefaultConfig()
	}
	format := p.DataFormatVersion
	if format == "" {
		format = DefaultDataFormatVersion
	}
	txn := NewOverwrite(p.Fields, p.SchemaMetadata, p.Fragments, cfg)
	if txn.Uuid, err = newUUID(t.opts.Entropy); err != nil {
		return nil, nil, fmt.Errorf("create table %s: %w", t.root, err)
	}
	name, err := t.writeTransactionFile(ctx, txn)
	if err != nil {
		return nil, nil, fmt.Errorf("create table %s: %w", t.root, err)
	}
	// Version 1 is built like any commit, on an empty version 0.
	empty := &Manifest{pb: &tablepb.Manifest{DataFormat: &tablepb.Manifest_DataStorageFormat{FileFormat: "lance", Version: format}}}
	m, index, err := t.buildManifest(ctx, empty, txn, name)
	if err != nil {
		return nil, nil, fmt.Errorf("create table %s: %w", t.root, err)
	}
	data, err := encodeManifest(m, index, txn)
	if err != nil {
		return nil, nil, fmt.Errorf("create table %s: %w", t.root, err)
	}
	key := t.key(manifestName(NamingV2, 1))
	if err := t.bucket.PutIfAbsent(ctx, key, bytes.NewReader(data)); err != nil {
		if errors.Is(err, objstore.ErrExists) {
			err = ErrTableExists
		}
		return nil, nil, fmt.Errorf("create table %s: %w", t.root, err)
	}
	committed, err := DecodeManifest(key, data)
	if err != nil {
		return nil, nil, fmt.Errorf("create table %s: decode the manifest just written: %w", t.root, err)
	}
	return t, &Snapshot{committed}, nil
}
