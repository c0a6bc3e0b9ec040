package lance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
)

// clock is a settable clock shared by a table's commits and a memory
// bucket's modification times.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// storedFragment is newFragment with its data file actually stored.
func storedFragment(t *testing.T, tbl *Table, rows uint64) *tablepb.DataFragment {
	t.Helper()
	f := newFragment(t, tbl, rows)
	put(t, tbl.Bucket(), tbl.Key(DataFilePath(f.GetFiles()[0].GetPath())), int(f.GetFiles()[0].GetFileSizeBytes()))
	return f
}

func put(t *testing.T, b objstore.Bucket, key string, size int) {
	t.Helper()
	if err := b.Put(context.Background(), key, strings.NewReader(strings.Repeat("x", size))); err != nil {
		t.Fatal(err)
	}
}

// listing returns every key in the bucket with its size.
func listing(t *testing.T, b objstore.Bucket) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for a, err := range b.List(context.Background(), "") {
		if err != nil {
			t.Fatal(err)
		}
		out[a.Key] = a.Size
	}
	return out
}

// cleanupFixture is a table with seven versions over a day and a month:
//
//	v1 T0      create (empty)
//	v2 T0+1h   append A
//	v3 T0+2h   append B                     tagged "keep"
//	v4 T0+3h   delete rows of A (deletion file a1)
//	v5 T0+4h   delete more of A (a2)
//	v6 T0+5h   rewrite A, B into C
//	v7 T0+25d  append D
//
// plus orphans (never referenced), old and young, and files cleanup must
// never touch.
type cleanupFixture struct {
	tbl            *Table
	b              objstore.Bucket
	clk            *clock
	a, bb, c, d    string // data file keys
	a1, a2         string // deletion file keys of A
	txn            map[uint64]string
	oldOrphans     []string
	youngOrphans   []string
	untouchable    []string
	removedVersion []uint64
}

func newCleanupFixture(t *testing.T) *cleanupFixture {
	t.Helper()
	ctx := context.Background()
	clk := &clock{now: t0}
	b := memory.New(memory.WithClock(clk.Now))
	opts := testOptions(31)
	opts.Now = clk.Now
	tbl, _, err := Create(ctx, b, "db/t.lance", CreateParams{Fields: testFields()}, opts)
	if err != nil {
		t.Fatal(err)
	}
	fx := &cleanupFixture{tbl: tbl, b: b, clk: clk, txn: map[uint64]string{}}
	at := func(d time.Duration) { clk.Set(t0.Add(d)) }
	dataKey := func(f *tablepb.DataFragment) string { return tbl.Key(DataFilePath(f.GetFiles()[0].GetPath())) }

	at(time.Hour)
	s := mustCommit(t, tbl, 1, NewAppend(storedFragment(t, tbl, 10)))
	fx.a = dataKey(s.Fragments()[0])
	at(2 * time.Hour)
	s = mustCommit(t, tbl, 2, NewAppend(storedFragment(t, tbl, 6)))
	fx.bb = dataKey(s.Fragments()[1])
	at(3 * time.Hour)
	s = mustCommit(t, tbl, 3, deleteRows(t, tbl, s, 0, 1, 2))
	fx.a1 = tbl.Key(deletionFileName(0, s.Fragments()[0].GetDeletionFile()))
	at(4 * time.Hour)
	s = mustCommit(t, tbl, 4, deleteRows(t, tbl, s, 0, 3))
	fx.a2 = tbl.Key(deletionFileName(0, s.Fragments()[0].GetDeletionFile()))
	at(5 * time.Hour)
	s = mustCommit(t, tbl, 5, NewRewrite(&tablepb.Transaction_Rewrite_RewriteGroup{
		OldFragments: s.Fragments(), NewFragments: []*tablepb.DataFragment{storedFragment(t, tbl, 13)},
	}))
	fx.c = dataKey(s.Fragments()[0])
	at(25 * 24 * time.Hour)
	s = mustCommit(t, tbl, 6, NewAppend(storedFragment(t, tbl, 3)))
	fx.d = dataKey(s.Fragments()[1])
	if err := tbl.CreateTag(ctx, "keep", 3); err != nil {
		t.Fatal(err)
	}
	for v := uint64(1); v <= 7; v++ {
		m, err := tbl.manifestOf(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		fx.txn[v] = tbl.Key(transactionsDir + "/" + m.pb.GetTransactionFile())
	}

	at(0)
	fx.oldOrphans = []string{tbl.Key("data/orphan-old.lance"), tbl.Key("_transactions/5-abandoned.txn")}
	fx.untouchable = []string{
		tbl.Key("_sarissa_indices/_catalog/18446744073709551614.json"),
		tbl.Key("_sarissa_indices/vec_idx/5b0e/index.ivf"),
		tbl.Key("_indices/9f3c/index.idx"),
		tbl.Key("_versions/latest_version_hint.json"),
		tbl.Key("_versions/3.manifest-0f0f"),
		tbl.Key("notes/readme.txt"),
		"db/other.lance/data/x.lance",
	}
	for _, k := range slices.Concat(fx.oldOrphans, fx.untouchable) {
		put(t, b, k, 7)
	}
	at(29 * 24 * time.Hour)
	fx.youngOrphans = []string{tbl.Key("data/orphan-young.lance"), tbl.Key("_deletions/9-7-1.arrow")}
	for _, k := range fx.youngOrphans {
		put(t, b, k, 5)
	}
	at(30 * 24 * time.Hour)
	fx.removedVersion = []uint64{1, 2, 4, 5}
	return fx
}

// doomed lists what the default cleanup at T0+30d removes.
func (fx *cleanupFixture) doomed() []string {
	keys := []string{fx.a1, fx.a2, fx.txn[1], fx.txn[2], fx.txn[4], fx.txn[5]}
	for _, v := range fx.removedVersion {
		keys = append(keys, fx.tbl.Key(manifestName(NamingV2, v)))
	}
	return append(keys, fx.oldOrphans...)
}

func TestCleanupOldVersions(t *testing.T) {
	ctx := context.Background()
	fx := newCleanupFixture(t)
	before := listing(t, fx.b)
	var wantBytes int64
	for _, k := range fx.doomed() {
		size, ok := before[k]
		if !ok {
			t.Fatalf("fixture lacks %s", k)
		}
		wantBytes += size
	}
	want := CleanupResult{
		VersionsRemoved: fx.removedVersion, DataFilesRemoved: 1, DeletionFilesRemoved: 2, TransactionFilesRemoved: 5,
		BytesRemoved: wantBytes, UnverifiedKept: 2, TaggedKept: []uint64{3},
	}

	// A dry run reports exactly what the real run then does, and deletes
	// nothing.
	dry, err := fx.tbl.CleanupOldVersions(ctx, CleanupOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !cleanupResultsEqual(dry, want) {
		t.Fatalf("dry run %+v, want %+v", dry, want)
	}
	if got := listing(t, fx.b); !maps.Equal(got, before) {
		t.Fatal("dry run deleted something")
	}
	res, err := fx.tbl.CleanupOldVersions(ctx, CleanupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !cleanupResultsEqual(res, want) {
		t.Fatalf("cleanup %+v, want %+v", res, want)
	}
	after := listing(t, fx.b)
	for k := range before {
		_, kept := after[k]
		if gone := slices.Contains(fx.doomed(), k); gone == kept {
			t.Errorf("%s: kept %v, want kept %v", k, kept, !gone)
		}
	}
	for _, k := range slices.Concat([]string{fx.a, fx.bb, fx.c, fx.d, fx.txn[3], fx.txn[6], fx.txn[7]}, fx.youngOrphans, fx.untouchable) {
		if _, ok := after[k]; !ok {
			t.Errorf("%s was deleted", k)
		}
	}

	// Removed versions are gone for this handle too; retained ones still
	// check out, with their files.
	for _, v := range fx.removedVersion {
		if _, err := fx.tbl.Checkout(ctx, v); !errors.Is(err, ErrVersionNotFound) {
			t.Errorf("checkout of removed version %d: %v", v, err)
		}
	}
	vs, err := fx.tbl.ListVersions(ctx)
	if err != nil || len(vs) != 3 || vs[0].Version != 3 || vs[1].Version != 6 || vs[2].Version != 7 {
		t.Fatalf("versions after cleanup: %+v, %v", vs, err)
	}
	if s, err := fx.tbl.CheckoutTag(ctx, "keep"); err != nil || s.NumRows() != 16 {
		t.Fatalf("tagged version: %v", err)
	}
	// A commit still works; a second cleanup finds nothing more to do.
	s := mustCommit(t, fx.tbl, 7, NewAppend(storedFragment(t, fx.tbl, 1)))
	res, err = fx.tbl.CleanupOldVersions(ctx, CleanupOptions{})
	if err != nil || len(res.VersionsRemoved) != 0 || res.FilesRemoved() != 0 || res.UnverifiedKept != 2 {
		t.Fatalf("second cleanup: %+v, %v", res, err)
	}
	// The grace period can be waived: the young orphans go too.
	res, err = fx.tbl.CleanupOldVersions(ctx, CleanupOptions{DeleteUnverified: true, OlderThan: t0})
	if err != nil || res.FilesRemoved() != 2 || res.UnverifiedKept != 0 || len(res.VersionsRemoved) != 0 {
		t.Fatalf("cleanup deleting unverified files: %+v, %v", res, err)
	}
	if _, err := fx.tbl.Checkout(ctx, s.Version()); err != nil {
		t.Fatal(err)
	}
}

func cleanupResultsEqual(a, b CleanupResult) bool {
	return slices.Equal(a.VersionsRemoved, b.VersionsRemoved) && slices.Equal(a.TaggedKept, b.TaggedKept) &&
		a.DataFilesRemoved == b.DataFilesRemoved && a.DeletionFilesRemoved == b.DeletionFilesRemoved &&
		a.TransactionFilesRemoved == b.TransactionFilesRemoved && a.BytesRemoved == b.BytesRemoved &&
		a.UnverifiedKept == b.UnverifiedKept
}

func TestCleanupCutoffs(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		opts CleanupOptions
		want []uint64
	}{
		// Versions 1-5 were superseded within hours of T0; version 6 by
		// version 7 at T0+25d.
		{"retention longer than the table's age", CleanupOptions{Retention: 60 * 24 * time.Hour}, nil},
		{"retention of a week", CleanupOptions{}, []uint64{1, 2, 4, 5}},
		{"a cutoff after the last commit", CleanupOptions{OlderThan: t0.Add(26 * 24 * time.Hour)}, []uint64{1, 2, 4, 5, 6}},
		// Version 2 was superseded at T0+2h, exactly the cutoff: kept.
		{"a cutoff between commits", CleanupOptions{OlderThan: t0.Add(2 * time.Hour)}, []uint64{1}},
		{"an injected clock", CleanupOptions{Now: func() time.Time { return t0.Add(10 * time.Hour) }, Retention: 7 * time.Hour}, []uint64{1, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fx := newCleanupFixture(t)
			res, err := fx.tbl.CleanupOldVersions(ctx, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.VersionsRemoved, c.want) {
				t.Fatalf("removed %v, want %v", res.VersionsRemoved, c.want)
			}
		})
	}
}

func TestCleanupTaggedOldVersionsError(t *testing.T) {
	ctx := context.Background()
	fx := newCleanupFixture(t)
	before := listing(t, fx.b)
	_, err := fx.tbl.CleanupOldVersions(ctx, CleanupOptions{ErrorIfTaggedOldVersions: true})
	if !errors.Is(err, ErrTaggedVersionsOld) || !strings.Contains(err.Error(), "keep") {
		t.Fatalf("err = %v, want ErrTaggedVersionsOld naming the tag", err)
	}
	if !maps.Equal(listing(t, fx.b), before) {
		t.Fatal("a refused cleanup deleted something")
	}
}

func TestCleanupRefuses(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		setup func(t *testing.T, fx *cleanupFixture)
	}{
		{"branches", func(t *testing.T, fx *cleanupFixture) {
			put(t, fx.b, fx.tbl.Key("_refs/branches/dev.json"), 10)
		}},
		{"an unknown writer feature", func(t *testing.T, fx *cleanupFixture) {
			m, err := fx.tbl.manifestOf(ctx, 7)
			if err != nil {
				t.Fatal(err)
			}
			next := proto.Clone(m.pb).(*tablepb.Manifest)
			next.Version, next.WriterFeatureFlags = 8, 64
			txn := NewAppend()
			txn.ReadVersion, txn.Uuid = 7, "stock-overlay"
			writeLanceStyleVersion(t, fx.b, fx.tbl.Root(), NamingV2, next, txn)
		}},
		{"external row-id files", func(t *testing.T, fx *cleanupFixture) {
			m, err := fx.tbl.manifestOf(ctx, 7)
			if err != nil {
				t.Fatal(err)
			}
			next := proto.Clone(m.pb).(*tablepb.Manifest)
			next.Version = 8
			next.Fragments[0].RowIdSequence = &tablepb.DataFragment_ExternalRowIds{ExternalRowIds: &tablepb.ExternalFile{Path: "rows.bin"}}
			txn := NewAppend()
			txn.ReadVersion, txn.Uuid = 7, "stock-rowids"
			writeLanceStyleVersion(t, fx.b, fx.tbl.Root(), NamingV2, next, txn)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fx := newCleanupFixture(t)
			c.setup(t, fx)
			before := listing(t, fx.b)
			if _, err := fx.tbl.CleanupOldVersions(ctx, CleanupOptions{}); !errors.Is(err, ErrUnsupportedFeature) {
				t.Fatalf("err = %v, want ErrUnsupportedFeature", err)
			}
			if !maps.Equal(listing(t, fx.b), before) {
				t.Fatal("a refused cleanup deleted something")
			}
		})
	}
}

// A version committed while cleanup runs, re-referencing a file only
// removed versions referenced (as a Restore does), keeps that file.
func TestCleanupKeepsFilesOfConcurrentCommits(t *testing.T) {
	ctx := context.Background()
	fx := newCleanupFixture(t)
	// Without the tag, only removed versions reference A and B.
	if err := fx.tbl.DeleteTag(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	old, err := fx.tbl.manifestOf(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	revived := proto.Clone(old.pb.GetFragments()[0]).(*tablepb.DataFragment)
	revived.Id = 0
	var landed uint64
	res, err := fx.tbl.CleanupOldVersions(ctx, CleanupOptions{OlderThan: t0.Add(26 * 24 * time.Hour), afterManifests: func() {
		landed = mustCommit(t, fx.tbl, 7, NewAppend(revived)).Version()
	}})
	if err != nil {
		t.Fatal(err)
	}
	// B and the old orphan go; A, revived by version 8, stays.
	if !slices.Equal(res.VersionsRemoved, []uint64{1, 2, 3, 4, 5, 6}) || res.DataFilesRemoved != 2 {
		t.Fatalf("result %+v", res)
	}
	if _, err := fx.b.Stat(ctx, fx.a); err != nil {
		t.Fatalf("data file revived by version %d: %v", landed, err)
	}
	if _, err := fx.b.Stat(ctx, fx.bb); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("data file only removed versions referenced: %v", err)
	}
}

func TestCleanupV1Table(t *testing.T) {
	for kind, b := range testBuckets(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			root := "db/v1.lance"
			frag := &tablepb.DataFragment{PhysicalRows: 4, Files: []*tablepb.DataFile{{Path: "x.lance", Fields: []int32{0, 1}, FileMajorVersion: 2}}}
			put(t, b, root+"/data/x.lance", 10)
			zero := uint32(0)
			// Written as stock Lance does, with no timestamps: every version
			// but the latest is old.
			for v := uint64(1); v <= 12; v++ {
				m := &tablepb.Manifest{Fields: testFields(), Version: v,
					DataFormat: &tablepb.Manifest_DataStorageFormat{FileFormat: "lance", Version: "2.0"}}
				txn := &tablepb.Transaction{ReadVersion: v - 1, Uuid: fmt.Sprintf("uuid-%d", v)}
				txn.Operation = NewUpdateConfig(map[string]*string{"k": proto.String(fmt.Sprint(v))}, nil).Operation
				if v == 1 {
					txn.Operation = NewOverwrite(testFields(), nil, []*tablepb.DataFragment{frag}, nil).Operation
				}
				m.Fragments, m.MaxFragmentId = []*tablepb.DataFragment{frag}, &zero
				writeLanceStyleVersion(t, b, root, NamingV1, m, txn)
			}
			tbl, err := Open(ctx, b, root, testOptions(8))
			if err != nil {
				t.Fatal(err)
			}
			res, err := tbl.CleanupOldVersions(ctx, CleanupOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.VersionsRemoved) != 11 || res.TransactionFilesRemoved != 11 || res.DataFilesRemoved != 0 {
				t.Fatalf("result %+v", res)
			}
			keys := slices.Sorted(maps.Keys(listing(t, b)))
			want := []string{root + "/_transactions/11-uuid-12.txn", root + "/_versions/12.manifest", root + "/data/x.lance"}
			if !slices.Equal(keys, want) {
				t.Fatalf("left %v, want %v", keys, want)
			}
			if s := mustCommit(t, tbl, 12, NewAppend(newFragment(t, tbl, 1))); s.Version() != 13 {
				t.Fatalf("commit after cleanup: version %d", s.Version())
			}
			if _, err := b.Stat(ctx, root+"/_versions/13.manifest"); err != nil {
				t.Fatalf("V1 naming after cleanup: %v", err)
			}
		})
	}
}
