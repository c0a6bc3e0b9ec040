package lance

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/filepb"
	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
)

// deleteRows prepares, against snapshot s, a Delete of rows of one fragment,
// as the table-operations layer would: new deletion file = old ∪ rows.
func deleteRows(t *testing.T, tbl *Table, s *Snapshot, fragID uint64, rows ...uint32) *tablepb.Transaction {
	t.Helper()
	ctx := context.Background()
	i := slices.IndexFunc(s.Fragments(), func(f *tablepb.DataFragment) bool { return f.GetId() == fragID })
	if i < 0 {
		t.Fatalf("fragment %d not in version %d", fragID, s.Version())
	}
	frag := proto.Clone(s.Fragments()[i]).(*tablepb.DataFragment)
	dv, err := tbl.ReadDeletionVector(ctx, fragID, frag.GetDeletionFile())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		dv.Add(r)
	}
	if dv.Len() == frag.GetPhysicalRows() {
		return NewDelete(nil, []uint64{fragID}, "id in (...)")
	}
	if frag.DeletionFile, err = tbl.WriteDeletionFile(ctx, fragID, s.Version(), dv); err != nil {
		t.Fatal(err)
	}
	return NewDelete([]*tablepb.DataFragment{frag}, nil, "id in (...)")
}

func deletedRows(t *testing.T, tbl *Table, s *Snapshot, fragID uint64) []uint32 {
	t.Helper()
	for _, f := range s.Fragments() {
		if f.GetId() == fragID {
			dv, err := tbl.ReadDeletionVector(context.Background(), fragID, f.GetDeletionFile())
			if err != nil {
				t.Fatal(err)
			}
			if n := f.GetDeletionFile().GetNumDeletedRows(); n != dv.Len() {
				t.Fatalf("num_deleted_rows %d, file holds %d", n, dv.Len())
			}
			return dv.Rows()
		}
	}
	t.Fatalf("fragment %d not in version %d", fragID, s.Version())
	return nil
}

func TestOperations(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	tbl, _ := createTable(t, b, "t", 11)
	s := mustCommit(t, tbl, 1, NewAppend(newFragment(t, tbl, 10), newFragment(t, tbl, 4)))

	// Delete: some rows of fragment 0, all of fragment 1.
	del := deleteRows(t, tbl, s, 0, 1, 2)
	del.GetDelete().DeletedFragmentIds = []uint64{1}
	s = mustCommit(t, tbl, s.Version(), del)
	if !slices.Equal(fragmentIDs(s), []uint64{0}) || s.NumRows() != 8 || s.Proto().GetMaxFragmentId() != 1 {
		t.Fatalf("after delete: ids %v rows %d max %d", fragmentIDs(s), s.NumRows(), s.Proto().GetMaxFragmentId())
	}
	if s.Proto().GetReaderFeatureFlags()&FlagDeletionFiles == 0 || s.Proto().GetWriterFeatureFlags()&FlagDeletionFiles == 0 {
		t.Fatal("deletion files flag not set")
	}

	// Update: delete row 3 of fragment 0 and write its new value to a new fragment.
	upd := deleteRows(t, tbl, s, 0, 3)
	upd = NewUpdate(nil, upd.GetDelete().GetUpdatedFragments(), []*tablepb.DataFragment{newFragment(t, tbl, 1)}, []uint32{1})
	s = mustCommit(t, tbl, s.Version(), upd)
	if !slices.Equal(fragmentIDs(s), []uint64{0, 2}) || s.NumRows() != 8 {
		t.Fatalf("after update: ids %v rows %d", fragmentIDs(s), s.NumRows())
	}
	if got := deletedRows(t, tbl, s, 0); !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Fatalf("deleted rows %v", got)
	}

	// Merge: add column 2, stored in a new data file of every fragment.
	fields := append(testFields(), &filepb.Field{Type: filepb.Field_LEAF, Name: "score", Id: 2, ParentId: -1, LogicalType: "float"})
	var merged []*tablepb.DataFragment
	for _, f := range s.Fragments() {
		c := proto.Clone(f).(*tablepb.DataFragment)
		c.Files = append(c.Files, &tablepb.DataFile{Path: "score.lance", Fields: []int32{2}, ColumnIndices: []int32{0}, FileMajorVersion: 2})
		merged = append(merged, c)
	}
	s = mustCommit(t, tbl, s.Version(), NewMerge(fields, map[string][]byte{"m": []byte("1")}, merged))
	if len(s.Fields()) != 3 || len(s.Fragments()[0].GetFiles()) != 2 || string(s.SchemaMetadata()["m"]) != "1" {
		t.Fatalf("after merge: %v", s.Proto())
	}

	// Project: drop column 2; its data files go away.
	s = mustCommit(t, tbl, s.Version(), NewProject(testFields()))
	if len(s.Fields()) != 2 || len(s.Fragments()[0].GetFiles()) != 1 {
		t.Fatalf("after project: %v", s.Proto())
	}

	// UpdateConfig: set and delete config keys, set table metadata.
	s = mustCommit(t, tbl, s.Version(), NewUpdateConfig(
		map[string]*string{"custom": proto.String("x"), "lance.auto_cleanup.interval": nil},
		map[string]*string{"owner": proto.String("me")}))
	if s.Config()["custom"] != "x" || s.Config()["lance.auto_cleanup.interval"] != "" || s.TableMetadata()["owner"] != "me" {
		t.Fatalf("after update config: %v %v", s.Config(), s.TableMetadata())
	}
	configVersion := s.Version()

	// ReserveFragments bumps the high-water mark only.
	s = mustCommit(t, tbl, s.Version(), &tablepb.Transaction{Operation: &tablepb.Transaction_ReserveFragments_{
		ReserveFragments: &tablepb.Transaction_ReserveFragments{NumFragments: 3}}})
	if s.Proto().GetMaxFragmentId() != 5 {
		t.Fatalf("after reserve: max %d", s.Proto().GetMaxFragmentId())
	}

	// Overwrite: new schema and data; fragment ids continue past the mark.
	s = mustCommit(t, tbl, s.Version(), NewOverwrite(testFields()[:1], nil, []*tablepb.DataFragment{newFragmentFields(t, tbl, 7, 0)}, map[string]string{"ow": "1"}))
	if !slices.Equal(fragmentIDs(s), []uint64{6}) || len(s.Fields()) != 1 || s.Config()["custom"] != "x" || s.Config()["ow"] != "1" {
		t.Fatalf("after overwrite: ids %v fields %d config %v", fragmentIDs(s), len(s.Fields()), s.Config())
	}
	if s.Proto().GetReaderFeatureFlags() != 0 {
		t.Fatalf("flags after overwrite %d", s.Proto().GetReaderFeatureFlags())
	}

	// Restore the config version: its content comes back as a new version.
	restored, err := tbl.Restore(ctx, configVersion)
	if err != nil {
		t.Fatal(err)
	}
	old, err := tbl.Checkout(ctx, configVersion)
	if err != nil {
		t.Fatal(err)
	}
	if restored.Version() != s.Version()+1 || !proto.Equal(&tablepb.Manifest{Fragments: restored.Fragments(), Fields: restored.Fields()},
		&tablepb.Manifest{Fragments: old.Fragments(), Fields: old.Fields()}) {
		t.Fatalf("restore: version %d, fragments %v", restored.Version(), fragmentIDs(restored))
	}
	if restored.Proto().GetMaxFragmentId() != 6 {
		t.Fatalf("restore lowered the fragment id mark to %d", restored.Proto().GetMaxFragmentId())
	}
	next := mustCommit(t, tbl, restored.Version(), NewAppend(newFragment(t, tbl, 1)))
	if !slices.Equal(fragmentIDs(next), []uint64{0, 2, 7}) {
		t.Fatalf("append after restore: ids %v", fragmentIDs(next))
	}

	// Every version records its transaction, matching what was committed.
	for v := uint64(2); v <= next.Version(); v++ {
		if _, err := tbl.Transaction(ctx, v); err != nil {
			t.Fatalf("transaction of %d: %v", v, err)
		}
	}
}

func newFragmentFields(t *testing.T, tbl *Table, rows uint64, fields ...int32) *tablepb.DataFragment {
	f := newFragment(t, tbl, rows)
	f.Files[0].Fields = fields
	f.Files[0].ColumnIndices = fields
	return f
}

func TestInvalidTransactions(t *testing.T) {
	ctx := context.Background()
	tbl, _ := createTable(t, memory.New(), "t", 12)
	for _, tc := range []struct {
		name string
		txn  *tablepb.Transaction
		want error
	}{
		{"no operation", &tablepb.Transaction{}, ErrInvalidTransaction},
		{"delete of missing fragment", NewDelete(nil, []uint64{9}, ""), ErrInvalidTransaction},
		{"wrong file version", NewAppend(&tablepb.DataFragment{PhysicalRows: 1, Files: []*tablepb.DataFile{{Path: "x", Fields: []int32{0}, FileMajorVersion: 2, FileMinorVersion: 1}}}), ErrInvalidTransaction},
		{"clone", &tablepb.Transaction{Operation: &tablepb.Transaction_Clone_{Clone: &tablepb.Transaction_Clone{}}}, ErrUnsupportedFeature},
		{"overwrite with bases", &tablepb.Transaction{Operation: &tablepb.Transaction_Overwrite_{Overwrite: &tablepb.Transaction_Overwrite{InitialBases: []*tablepb.BasePath{{Id: 1}}}}}, ErrUnsupportedFeature},
		{"missing read version", NewAppend(), ErrVersionNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := uint64(1)
			if tc.want == ErrVersionNotFound {
				read = 5
			}
			if _, err := tbl.Commit(ctx, read, tc.txn); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if v, err := tbl.LatestVersion(ctx); err != nil || v != 1 {
		t.Fatalf("refused commits changed the table: %d %v", v, err)
	}
}

// TestConcurrentAppends runs 8 writers × 25 appends, each writer with its
// own Table handle as if in its own process.
func TestConcurrentAppends(t *testing.T) {
	for kind, b := range testBuckets(t) {
		t.Run(kind, func(t *testing.T) { runConcurrentAppends(t, b, "db/c.lance", 8, 25) })
	}
}

func runConcurrentAppends(t *testing.T, b objstore.Bucket, root string, writers, each int) {
	ctx := context.Background()
	createTable(t, b, root, 100)
	var attempts atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			opts := testOptions(uint64(200 + w))
			// Real time and waiting, so that backoff spreads writers out.
			opts.Now, opts.Sleep = time.Now, sleepCtx
			opts.hooks = &testHooks{beforePut: func(context.Context, int, uint64) { attempts.Add(1) }}
			tbl, err := Open(ctx, b, root, opts)
			if err != nil {
				errs <- err
				return
			}
			for i := range each {
				read, err := tbl.LatestVersion(ctx)
				if err != nil {
					errs <- err
					return
				}
				name, err := tbl.NewDataFileName()
				if err != nil {
					errs <- err
					return
				}
				frag := &tablepb.DataFragment{PhysicalRows: uint64(1000*w + i + 1), Files: []*tablepb.DataFile{{
					Path: name, Fields: []int32{0, 1}, ColumnIndices: []int32{0, 1}, FileMajorVersion: 2}}}
				if _, err := tbl.Commit(ctx, read, NewAppend(frag)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d commits by %d writers: %d put attempts in %v", writers*each, writers, attempts.Load(), time.Since(start))
	tbl, err := Open(ctx, b, root, testOptions(1))
	if err != nil {
		t.Fatal(err)
	}
	versions, err := tbl.ListVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := writers * each
	if len(versions) != total+1 {
		t.Fatalf("%d versions, want %d", len(versions), total+1)
	}
	for i, v := range versions {
		if v.Version != uint64(i+1) {
			t.Fatalf("versions not contiguous: position %d holds %d", i, v.Version)
		}
	}
	latest, err := tbl.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[uint64]bool{}
	for i, f := range latest.Fragments() {
		if f.GetId() != uint64(i) {
			t.Fatalf("fragment ids not 0..n-1 without duplicates: %v", fragmentIDs(latest))
		}
		rows[f.GetPhysicalRows()] = true
	}
	if len(rows) != total {
		t.Fatalf("%d distinct appends present, want %d", len(rows), total)
	}
	// Each version's transaction is an Append read at an earlier version.
	for _, v := range []uint64{2, uint64(total/2 + 1), uint64(total + 1)} {
		txn, err := tbl.Transaction(ctx, v)
		if err != nil || txn.GetAppend() == nil || txn.GetReadVersion() >= v {
			t.Fatalf("transaction of %d: %v %v", v, txn, err)
		}
	}
}

// interleave returns options whose commit runs fn once, right before the
// first conditional put, so that fn's commits land in between.
func interleave(seed uint64, fn func()) Options {
	opts := testOptions(seed)
	var once sync.Once
	opts.hooks = &testHooks{beforePut: func(context.Context, int, uint64) { once.Do(fn) }}
	return opts
}

func TestDeleteRebasesOverAppendAndDelete(t *testing.T) {
	ctx := context.Background()
	for kind, b := range testBuckets(t) {
		t.Run(kind, func(t *testing.T) {
			other, _ := createTable(t, b, "t", 21)
			s1 := mustCommit(t, other, 1, NewAppend(newFragment(t, other, 10), newFragment(t, other, 10)))

			// Another writer deletes row 5 of fragment 0 and appends, both
			// after we read version 2 and before our put.
			tbl, err := Open(ctx, b, "t", interleave(22, func() {
				mustCommit(t, other, 2, deleteRows(t, other, s1, 0, 5))
				mustCommit(t, other, 2, NewAppend(newFragment(t, other, 3)))
			}))
			if err != nil {
				t.Fatal(err)
			}
			s, err := tbl.Commit(ctx, 2, deleteRows(t, tbl, s1, 0, 1, 2))
			if err != nil {
				t.Fatal(err)
			}
			if s.Version() != 5 || !slices.Equal(fragmentIDs(s), []uint64{0, 1, 2}) {
				t.Fatalf("version %d ids %v", s.Version(), fragmentIDs(s))
			}
			if got := deletedRows(t, tbl, s, 0); !slices.Equal(got, []uint32{1, 2, 5}) {
				t.Fatalf("merged deletions %v, want [1 2 5]", got)
			}
			txn, err := tbl.Transaction(ctx, 5)
			if err != nil || txn.GetReadVersion() != 4 {
				t.Fatalf("rebased transaction read version %d (%v), want 4", txn.GetReadVersion(), err)
			}
			// The rebased transaction's deletion file is the merged one.
			if !proto.Equal(txn.GetDelete().GetUpdatedFragments()[0].GetDeletionFile(), s.Fragments()[0].GetDeletionFile()) {
				t.Fatal("transaction and manifest disagree on the deletion file")
			}
		})
	}
}

func TestDeleteRebaseRemovesFullyDeletedFragment(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	other, _ := createTable(t, b, "t", 23)
	s1 := mustCommit(t, other, 1, NewAppend(newFragment(t, other, 4)))
	tbl, err := Open(ctx, b, "t", interleave(24, func() { mustCommit(t, other, 2, deleteRows(t, other, s1, 0, 0, 1)) }))
	if err != nil {
		t.Fatal(err)
	}
	s, err := tbl.Commit(ctx, 2, deleteRows(t, tbl, s1, 0, 2, 3))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Fragments()) != 0 {
		t.Fatalf("fragment with every row deleted is still there: %v", fragmentIDs(s))
	}
	txn, err := tbl.Transaction(ctx, s.Version())
	if err != nil || !slices.Equal(txn.GetDelete().GetDeletedFragmentIds(), []uint64{0}) {
		t.Fatalf("transaction %v %v", txn, err)
	}
}

func TestIncompatibleConflicts(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		theirs func(t *testing.T, other *Table, s *Snapshot) *tablepb.Transaction
		ours   func(t *testing.T, tbl *Table, s *Snapshot) *tablepb.Transaction
		reason string
	}{
		{
			"delete same rows",
			func(t *testing.T, o *Table, s *Snapshot) *tablepb.Transaction { return deleteRows(t, o, s, 0, 2, 3) },
			func(t *testing.T, o *Table, s *Snapshot) *tablepb.Transaction { return deleteRows(t, o, s, 0, 1, 2) },
			"both deleted rows of fragment 0",
		},
		{
			"delete after fragment removed",
			func(t *testing.T, o *Table, s *Snapshot) *tablepb.Transaction { return NewDelete(nil, []uint64{0}, "") },
			func(t *testing.T, o *Table, s *Snapshot) *tablepb.Transaction { return deleteRows(t, o, s, 0, 1) },
			"removed fragment 0",
		},
		{
			"delete after overwrite",
			func(t *testing.T, o *Table, s *Snapshot) *tablepb.Transaction {
				return NewOverwrite(testFields(), nil, []*tablepb.DataFragment{newFragment(t, o, 1)}, nil)
			},
			func(t *testing.T, o *Table, s *Snapshot) *tablepb.Transaction { return deleteRows(t, o, s, 1, 1) },
			"overwritten",
		},
		{
			"append after restore",
			func(t *testing.T, o *Table, s *Snapshot) *tablepb.Transaction { return NewRestore(1) },
			func(t *testing.T, o *Table, s *Snapshot) *tablepb.Transaction { return NewAppend(newFragment(t, o, 1)) },
			"restored",
		},
		{
			"merge after append",
			func(t *testing.T, o *Table, s *Snapshot) *tablepb.Transaction { return NewAppend(newFragment(t, o, 1)) },
			func(t *testing.T, o *Table, s *Snapshot) *tablepb.Transaction {
				return NewMerge(testFields(), nil, s.Fragments())
			},
			"merge replaces",
		},
		{
			"same config key",
			func(t *testing.T, o *Table, s *Snapshot) *tablepb.Transaction {
				return NewUpdateConfig(map[string]*string{"k": proto.String("a")}, nil)
			},
			func(t *testing.T, o *Table, s *Snapshot) *tablepb.Transaction {
				return NewUpdateConfig(map[string]*string{"k": proto.String("b")}, nil)
			},
			"same keys",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := memory.New()
			other, _ := createTable(t, b, "t", 31)
			s := mustCommit(t, other, 1, NewAppend(newFragment(t, other, 10), newFragment(t, other, 10)))
			tbl, err := Open(ctx, b, "t", interleave(32, func() { mustCommit(t, other, s.Version(), tc.theirs(t, other, s)) }))
			if err != nil {
				t.Fatal(err)
			}
			_, err = tbl.Commit(ctx, s.Version(), tc.ours(t, tbl, s))
			if !errors.Is(err, ErrIncompatibleConflict) || errors.Is(err, ErrCommitConflict) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("got %v, want ErrIncompatibleConflict saying %q", err, tc.reason)
			}
			if v, _ := tbl.LatestVersion(ctx); v != 3 {
				t.Fatalf("latest version %d, want 3 (theirs only)", v)
			}
		})
	}
}

// TestRetriesExhausted lets a competing writer win every race and checks the
// backoff schedule through an injected sleep.
func TestRetriesExhausted(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	other, _ := createTable(t, b, "t", 41)
	opts := testOptions(42)
	opts.MaxAttempts = 6
	// The clock stands still except while the competitor commits, which
	// takes one second: the first attempt lasts 1s, so a slot is 1.1s.
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	opts.Now = func() time.Time { return now }
	var slept []time.Duration
	opts.Sleep = func(ctx context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	opts.hooks = &testHooks{beforePut: func(_ context.Context, _ int, v uint64) {
		mustCommit(t, other, v-1, NewAppend(newFragment(t, other, 1)))
		now = now.Add(time.Second)
	}}
	tbl, err := Open(ctx, b, "t", opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tbl.Commit(ctx, 1, NewAppend(newFragment(t, tbl, 1)))
	if !errors.Is(err, ErrCommitConflict) || errors.Is(err, ErrIncompatibleConflict) {
		t.Fatalf("got %v, want ErrCommitConflict", err)
	}
	if len(slept) != opts.MaxAttempts-1 {
		t.Fatalf("slept %d times, want %d", len(slept), opts.MaxAttempts-1)
	}
	// Attempt i picks one of 2^(i+2) slots.
	unit := 1100 * time.Millisecond
	for i, d := range slept {
		if d%unit != 0 || d >= unit*time.Duration(1<<(i+2)) {
			t.Fatalf("backoff %d = %v is not a slot below %d×%v", i, d, 1<<(i+2), unit)
		}
	}
	if v, _ := tbl.LatestVersion(ctx); v != uint64(1+opts.MaxAttempts) {
		t.Fatalf("latest %d: only the competitor's commits should exist", v)
	}
}

// lostReplyBucket applies the first conditional put of a manifest but
// reports that it lost, as an SDK retry after a lost reply would.
type lostReplyBucket struct {
	objstore.Bucket
	once sync.Once
}

func (l *lostReplyBucket) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	lost := false
	if strings.Contains(key, "/_versions/") {
		l.once.Do(func() { lost = true })
	}
	if err := l.Bucket.PutIfAbsent(ctx, key, r); err != nil || !lost {
		return err
	}
	return objstore.ErrExists
}

func TestCommitRecognizesItsOwnLandedAttempt(t *testing.T) {
	ctx := context.Background()
	inner := memory.New()
	createTable(t, inner, "t", 51)
	tbl, err := Open(ctx, &lostReplyBucket{Bucket: inner}, "t", testOptions(52))
	if err != nil {
		t.Fatal(err)
	}
	s, err := tbl.Commit(ctx, 1, NewAppend(newFragment(t, tbl, 9)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Version() != 2 {
		t.Fatalf("committed as version %d, want 2", s.Version())
	}
	if v, _ := tbl.LatestVersion(ctx); v != 2 {
		t.Fatalf("append committed twice: latest %d", v)
	}
}

func TestCommitDoesNotModifyCallerTransaction(t *testing.T) {
	tbl, _ := createTable(t, memory.New(), "t", 61)
	txn := NewAppend(newFragment(t, tbl, 3))
	before := proto.Clone(txn)
	mustCommit(t, tbl, 1, txn)
	if !proto.Equal(txn, before) {
		t.Fatal("Commit modified its argument")
	}
}
