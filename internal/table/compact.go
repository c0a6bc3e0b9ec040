package table

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
)

// CompactResult says what a compaction did.
type CompactResult struct {
	// Version is the committed version, 0 when there was nothing to do (and
	// nothing was committed).
	Version uint64
	// Groups is the number of rewrite groups committed.
	Groups int
	// FragmentsRemoved were replaced by FragmentsAdded.
	FragmentsRemoved, FragmentsAdded int
	// RowsRewritten are the live rows copied into the new fragments.
	RowsRewritten int64
	// DeletionsMaterialized are the deleted rows the rewrite dropped.
	DeletionsMaterialized int64
	// Pinned are fragments left alone because an index in the manifest
	// covers them (see CompactionPlan.Pinned), in the committed plan.
	Pinned []uint64
	// Attempts is the number of plans made: more than one when concurrent
	// changes to the planned fragments made Compact re-plan.
	Attempts int
}

// Compact merges small adjacent fragments and rewrites fragments with many
// deleted rows (PlanCompaction decides which), then commits one Rewrite
// transaction. The live rows of each group are streamed, all columns, in
// order, into new data files with the append writer; the old files stay for
// the old versions until CleanupOldVersions removes them.
//
// Row addresses of rewritten rows change, and the new fragments sit behind
// the fragments left alone in scan order: as in Lance, manifests keep
// fragments sorted by id and new fragments get new ids. Within a group the
// order of rows is kept. Sarissa's own vector indexes (internal/vindex) see
// rewritten fragments as unindexed, because they key coverage on fragment
// id and first data file; fragments covered by indexes in the manifest
// (written by stock Lance) are never rewritten, since those indexes would
// need remapping.
//
// Concurrency: the commit rebases over concurrent appends (both land) and
// other changes that leave the rewritten fragments alone. A concurrent
// delete or update of a rewritten fragment, a concurrent index covering one,
// or a concurrent rewrite is a conflict: Compact plans again on the new
// version, reusing the files of groups whose fragments did not change, up to
// MaxAttempts times, and then fails with an error wrapping
// lance.ErrIncompatibleConflict. Files of groups that were not committed are
// deleted when that is certainly safe (nothing references them); when a
// commit fails ambiguously they are left for cleanup's grace period. A
// delete racing with a compaction is never lost: whichever commits second
// conflicts, and Delete re-runs on the compacted version.
//
// Tables with stable row ids, unwritable features, or data files in a
// format other than the one this writer writes are refused with
// lance.ErrUnsupportedFeature.
func (t *Table) Compact(ctx context.Context, opts CompactOptions) (CompactResult, error) {
	opts, err := t.compactDefaults(opts).withDefaults()
	if err != nil {
		return CompactResult{}, err
	}
	c := &compaction{t: t, opts: opts, written: map[string]writtenGroup{}}
	res, err := c.run(ctx)
	c.discard(ctx)
	return res, err
}

// compaction is one Compact call: the plan attempts and the groups written
// so far, which a later attempt may reuse.
type compaction struct {
	t    *Table
	opts CompactOptions
	// written maps a group key (its fragment ids) to what was written for
	// it. Groups are removed once committed or once their files are known
	// to be referenced or possibly referenced.
	written map[string]writtenGroup
}

// writtenGroup is a group rewritten against a specific fragment list.
type writtenGroup struct {
	old []*tablepb.DataFragment
	new []*tablepb.DataFragment
	// rows is the number of live rows written. It is counted rather than
	// taken from the manifest, where old writers left num_deleted_rows unset.
	rows int64
}

func groupKey(g CompactionGroup) string {
	var b strings.Builder
	for i, id := range g.IDs() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(id, 10))
	}
	return b.String()
}

func (c *compaction) run(ctx context.Context) (CompactResult, error) {
	var lastErr error
	for attempt := 1; attempt <= c.opts.MaxAttempts; attempt++ {
		base, err := c.t.Latest(ctx)
		if err != nil {
			return CompactResult{}, err
		}
		if err := base.compactable(); err != nil {
			return CompactResult{}, err
		}
		indexed, err := base.ls.IndexedFragments(ctx)
		if err != nil {
			return CompactResult{}, fmt.Errorf("compact %s: %w", c.t.lt.Root(), err)
		}
		plan, err := PlanCompaction(base.ls.Fragments(), indexed, c.opts)
		if err != nil {
			return CompactResult{}, err
		}
		res := CompactResult{Pinned: plan.Pinned, Attempts: attempt}
		if len(plan.Groups) == 0 {
			return res, nil
		}
		groups, err := c.writeGroups(ctx, base, plan)
		if err != nil {
			return CompactResult{}, err
		}
		if c.opts.beforeCommit != nil {
			c.opts.beforeCommit(attempt)
		}
		s, err := c.t.commit(ctx, base, "compaction", lance.NewRewrite(groups...))
		if err == nil {
			for _, g := range plan.Groups {
				wg := c.written[groupKey(g)]
				delete(c.written, groupKey(g))
				res.FragmentsRemoved += len(g.Fragments)
				res.FragmentsAdded += len(wg.new)
				res.RowsRewritten += wg.rows
				for _, f := range g.Fragments {
					res.DeletionsMaterialized += int64(f.GetPhysicalRows())
				}
				res.DeletionsMaterialized -= wg.rows
			}
			res.Version, res.Groups = s.Version(), len(groups)
			return res, nil
		}
		if !errors.Is(err, lance.ErrIncompatibleConflict) {
			// The manifest may have landed without us knowing: nothing
			// written for this plan may be deleted.
			for _, g := range plan.Groups {
				delete(c.written, groupKey(g))
			}
			return CompactResult{}, fmt.Errorf("compact fragments %v: %w", planIDs(plan), err)
		}
		lastErr = fmt.Errorf("compact fragments %v: %w", planIDs(plan), err)
		c.t.opts.Logger.DebugContext(ctx, "compaction conflicted, planning again", "table", c.t.lt.Root(), "attempt", attempt, "err", err)
		if err := ctx.Err(); err != nil {
			return CompactResult{}, err
		}
	}
	return CompactResult{}, fmt.Errorf("compact %s: %d attempts conflicted with concurrent changes: %w", c.t.lt.Root(), c.opts.MaxAttempts, lastErr)
}

func planIDs(p CompactionPlan) []uint64 {
	var ids []uint64
	for _, g := range p.Groups {
		ids = append(ids, g.IDs()...)
	}
	return ids
}

// writeGroups rewrites each planned group, reusing what an earlier attempt
// wrote for the same unchanged fragments, and returns the rewrite groups.
// Written groups no longer planned are dropped from c.written (their files
// are deleted by discard).
func (c *compaction) writeGroups(ctx context.Context, base *Snapshot, plan CompactionPlan) ([]*tablepb.Transaction_Rewrite_RewriteGroup, error) {
	out := make([]*tablepb.Transaction_Rewrite_RewriteGroup, 0, len(plan.Groups))
	for _, g := range plan.Groups {
		key := groupKey(g)
		wg, ok := c.written[key]
		if !ok || !slices.EqualFunc(wg.old, g.Fragments, func(a, b *tablepb.DataFragment) bool { return proto.Equal(a, b) }) {
			if ok {
				c.deleteFiles(ctx, wg.new)
				delete(c.written, key)
			}
			frags, rows, err := c.rewriteGroup(ctx, base, g)
			if err != nil {
				return nil, fmt.Errorf("compact fragments %v: %w", g.IDs(), err)
			}
			wg = writtenGroup{old: g.Fragments, new: frags, rows: rows}
			c.written[key] = wg
		}
		out = append(out, &tablepb.Transaction_Rewrite_RewriteGroup{OldFragments: wg.old, NewFragments: wg.new})
	}
	return out, nil
}

// rewriteGroup streams the live rows of a group into new data files and
// returns their fragments (ids unassigned) and the number of rows. On error
// nothing it wrote survives.
func (c *compaction) rewriteGroup(ctx context.Context, base *Snapshot, g CompactionGroup) (frags []*tablepb.DataFragment, rows int64, err error) {
	sc, err := base.Scan(ctx, ScanOptions{Fragments: g.IDs()})
	if err != nil {
		return nil, 0, err
	}
	defer sc.Close()
	w := c.t.fragmentWriter(base.schema, base.arrow)
	w.opts.MaxRowsPerFile = min(c.opts.TargetRowsPerFragment, c.opts.MaxRowsPerFile)
	w.opts.MaxBytesPerFile = c.opts.MaxBytesPerFile
	defer func() {
		if err != nil {
			w.abort()
			c.deleteFiles(ctx, append(frags, w.frags...))
			frags = nil
		}
	}()
	for {
		rec, err := sc.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		err = w.add(ctx, rec)
		rec.Release()
		if err != nil {
			return nil, 0, err
		}
	}
	frags, err = w.close()
	if err != nil {
		return nil, 0, err
	}
	return frags, w.rowsWritten, nil
}

// discard deletes the files of written groups that were never committed.
func (c *compaction) discard(ctx context.Context) {
	for key, wg := range c.written {
		c.deleteFiles(ctx, wg.new)
		delete(c.written, key)
	}
}

// deleteFiles removes data files no manifest references. Failure only
// leaves them for cleanup, so it is logged, not returned; it runs even when
// ctx is done, since the files would otherwise linger for the grace period.
func (c *compaction) deleteFiles(ctx context.Context, frags []*tablepb.DataFragment) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, f := range frags {
		for _, df := range f.GetFiles() {
			key := c.t.lt.Key(lance.DataFilePath(df.GetPath()))
			if err := c.t.lt.Bucket().Delete(ctx, key); err != nil {
				c.t.opts.Logger.WarnContext(ctx, "could not delete an uncommitted compaction file; cleanup will", "key", key, "err", err)
			}
		}
	}
}
