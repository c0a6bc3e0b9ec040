package lance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sarissa-db/sarissa/internal/lance/lancepb/tablepb"
	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
)

func TestManifestNames(t *testing.T) {
	if got, want := manifestName(NamingV2, 1), "_versions/18446744073709551614.manifest"; got != want {
		t.Fatalf("V2 name of 1 = %q, want %q", got, want)
	}
	if got, want := manifestName(NamingV1, 12), "_versions/12.manifest"; got != want {
		t.Fatalf("V1 name of 12 = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		name   string
		v      uint64
		scheme NamingScheme
		ok     bool
	}{
		{"18446744073709551614.manifest", 1, NamingV2, true},
		{"18446744073709551613.manifest", 2, NamingV2, true},
		{"7.manifest", 7, NamingV1, true},
		{"d9223372036854775809.manifest", 0, 0, false}, // detached
		{".tmp_7.manifest_9c100374", 0, 0, false},
		{"7.manifest-1b2c", 0, 0, false}, // staged by the external-store protocol
		{"_latest.manifest", 0, 0, false},
		{"0.manifest", 0, 0, false},
		{"18446744073709551615.manifest", 0, 0, false}, // version 0
		{"+7.manifest", 0, 0, false},
		{"99999999999999999999.manifest", 0, 0, false}, // overflows u64
	} {
		v, s, ok := parseManifestName(tc.name)
		if v != tc.v || s != tc.scheme || ok != tc.ok {
			t.Errorf("parse %q = (%d, %v, %v), want (%d, %v, %v)", tc.name, v, s, ok, tc.v, tc.scheme, tc.ok)
		}
	}
	for v := uint64(1); v < 1<<40; v = v*3 + 1 {
		if got, s, ok := parseManifestName(strings.TrimPrefix(manifestName(NamingV2, v), versionsDir+"/")); !ok || got != v || s != NamingV2 {
			t.Fatalf("V2 round trip of %d gave %d %v %v", v, got, s, ok)
		}
	}
}

func TestNewDataFileName(t *testing.T) {
	seen := map[string]bool{}
	opts := testOptions(3)
	for range 100 {
		name, err := NewDataFileName(opts.Entropy)
		if err != nil {
			t.Fatal(err)
		}
		stem, ok := strings.CutSuffix(name, ".lance")
		if !ok || len(stem) != 50 {
			t.Fatalf("name %q: want 50 chars + .lance", name)
		}
		if strings.Trim(stem[:24], "01") != "" || strings.Trim(stem[24:], "0123456789abcdef") != "" {
			t.Fatalf("name %q: want 24 binary then 26 hex digits", name)
		}
		// UUIDv4: the version nibble is byte 6, the high nibble of hex char 30-24=6.
		if stem[24+6] != '4' {
			t.Fatalf("name %q does not encode a version 4 uuid", name)
		}
		if seen[name] {
			t.Fatalf("duplicate name %q", name)
		}
		seen[name] = true
	}
}

func TestCreateOpenCheckout(t *testing.T) {
	for kind, b := range testBuckets(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			tbl, s1 := createTable(t, b, "db/t.lance", 1)
			if s1.Version() != 1 || len(s1.Fragments()) != 0 || s1.DataFormatVersion() != "2.0" {
				t.Fatalf("version 1: %v", s1.Proto())
			}
			if got := s1.Config(); got["lance.auto_cleanup.interval"] != "20" || got["lance.auto_cleanup.older_than"] != "14days" {
				t.Fatalf("default config %v", got)
			}
			if s1.Proto().GetWriterFeatureFlags() != FlagTableConfig || s1.Proto().GetReaderFeatureFlags() != 0 {
				t.Fatalf("flags r=%d w=%d", s1.Proto().GetReaderFeatureFlags(), s1.Proto().GetWriterFeatureFlags())
			}
			if _, err := b.Stat(ctx, "db/t.lance/_versions/18446744073709551614.manifest"); err != nil {
				t.Fatalf("version 1 not under its V2 name: %v", err)
			}
			if _, _, err := Create(ctx, b, "db/t.lance", CreateParams{Fields: testFields()}, testOptions(2)); !errors.Is(err, ErrTableExists) {
				t.Fatalf("second create: %v, want ErrTableExists", err)
			}
			s2 := mustCommit(t, tbl, 1, NewAppend(newFragment(t, tbl, 10), newFragment(t, tbl, 20)))
			s3 := mustCommit(t, tbl, 2, NewAppend(newFragment(t, tbl, 5)))
			if !slices.Equal(fragmentIDs(s2), []uint64{0, 1}) || !slices.Equal(fragmentIDs(s3), []uint64{0, 1, 2}) {
				t.Fatalf("fragment ids %v then %v", fragmentIDs(s2), fragmentIDs(s3))
			}
			if s3.Proto().GetMaxFragmentId() != 2 || s3.NumRows() != 35 {
				t.Fatalf("max fragment id %d rows %d", s3.Proto().GetMaxFragmentId(), s3.NumRows())
			}

			other, err := Open(ctx, b, "db/t.lance", testOptions(9))
			if err != nil {
				t.Fatal(err)
			}
			if other.Naming() != NamingV2 {
				t.Fatalf("naming %v", other.Naming())
			}
			latest, err := other.Latest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if latest.Version() != 3 || !proto.Equal(latest.Proto(), s3.Proto()) {
				t.Fatalf("latest is %d", latest.Version())
			}
			old, err := other.Checkout(ctx, 2)
			if err != nil || !proto.Equal(old.Proto(), s2.Proto()) {
				t.Fatalf("checkout 2: %v", err)
			}
			if _, err := other.Checkout(ctx, 4); !errors.Is(err, ErrVersionNotFound) {
				t.Fatalf("checkout 4: %v, want ErrVersionNotFound", err)
			}
			txn, err := other.Transaction(ctx, 3)
			if err != nil || txn.GetAppend() == nil || txn.GetReadVersion() != 2 {
				t.Fatalf("transaction of 3: %v %v", txn, err)
			}
			// The transaction file exists too, under the name the manifest records.
			if _, err := b.Stat(ctx, "db/t.lance/_transactions/"+s3.Proto().GetTransactionFile()); err != nil {
				t.Fatalf("transaction file: %v", err)
			}
			versions, err := other.ListVersions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(versions) != 3 || versions[0].Version != 1 || versions[2].Version != 3 ||
				versions[2].Metadata["total_rows"] != "35" || versions[2].Metadata["total_fragments"] != "3" ||
				!versions[2].Timestamp.After(versions[1].Timestamp) {
				t.Fatalf("versions %+v", versions)
			}
			if _, err := Open(ctx, b, "db/missing.lance", testOptions(1)); !errors.Is(err, ErrTableNotFound) {
				t.Fatalf("open missing: %v, want ErrTableNotFound", err)
			}
		})
	}
}

// writeLanceStyleVersion stores a manifest the way a stock Lance writer
// would: transaction file plus manifest, no inline transaction.
func writeLanceStyleVersion(t *testing.T, b objstore.Bucket, root string, scheme NamingScheme, m *tablepb.Manifest, txn *tablepb.Transaction) {
	t.Helper()
	ctx := context.Background()
	raw, err := proto.Marshal(txn)
	if err != nil {
		t.Fatal(err)
	}
	m.TransactionFile = transactionFileName(txn.GetReadVersion(), txn.GetUuid())
	if err := b.Put(ctx, root+"/_transactions/"+m.TransactionFile, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	data, err := encodeManifest(m, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, root+"/"+manifestName(scheme, m.GetVersion()), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

func TestReadV1Table(t *testing.T) {
	for kind, b := range testBuckets(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			root := "db/old.lance"
			frag := &tablepb.DataFragment{Id: 0, PhysicalRows: 4, Files: []*tablepb.DataFile{{Path: "x.lance", Fields: []int32{0, 1}, FileMajorVersion: 2}}}
			zero := uint32(0)
			for v := uint64(1); v <= 11; v++ {
				m := &tablepb.Manifest{
					Fields: testFields(), Version: v,
					DataFormat:    &tablepb.Manifest_DataStorageFormat{FileFormat: "lance", Version: "2.0"},
					WriterVersion: &tablepb.Manifest_WriterVersion{Library: "lance", Version: "0.20.0"},
				}
				txn := &tablepb.Transaction{ReadVersion: v - 1, Uuid: fmt.Sprintf("uuid-%d", v)}
				if v == 1 {
					txn.Operation = NewOverwrite(testFields(), nil, nil, nil).Operation
				} else {
					m.Fragments, m.MaxFragmentId = []*tablepb.DataFragment{frag}, &zero
					txn.Operation = NewUpdateConfig(map[string]*string{"k": proto.String(fmt.Sprint(v))}, nil).Operation
					if v == 2 {
						txn.Operation = NewAppend(frag).Operation
					}
				}
				writeLanceStyleVersion(t, b, root, NamingV1, m, txn)
			}
			// Debris a Lance directory may hold; none of it is a version.
			for _, junk := range []string{".tmp_12.manifest_9c10", "12.manifest-0f0f", "d9223372036854775809.manifest", "_latest.manifest"} {
				if err := b.Put(ctx, root+"/_versions/"+junk, strings.NewReader("junk")); err != nil {
					t.Fatal(err)
				}
			}
			tbl, err := Open(ctx, b, root, testOptions(4))
			if err != nil {
				t.Fatal(err)
			}
			if tbl.Naming() != NamingV1 {
				t.Fatalf("naming %v, want V1", tbl.Naming())
			}
			// "10.manifest" and "11.manifest" sort before "2.manifest": the max
			// must come from the whole listing.
			latest, err := tbl.Latest(ctx)
			if err != nil || latest.Version() != 11 {
				t.Fatalf("latest %v %v", latest, err)
			}
			s := mustCommit(t, tbl, 11, NewAppend(newFragment(t, tbl, 3)))
			if s.Version() != 12 || !slices.Equal(fragmentIDs(s), []uint64{0, 1}) {
				t.Fatalf("commit on V1 table: version %d ids %v", s.Version(), fragmentIDs(s))
			}
			if _, err := b.Stat(ctx, root+"/_versions/12.manifest"); err != nil {
				t.Fatalf("commit did not keep V1 naming: %v", err)
			}
			// A stale read version makes the commit check versions 3..12.
			s = mustCommit(t, tbl, 3, NewAppend(newFragment(t, tbl, 3)))
			if s.Version() != 13 || !slices.Equal(fragmentIDs(s), []uint64{0, 1, 2}) {
				t.Fatalf("stale append: version %d ids %v", s.Version(), fragmentIDs(s))
			}
			versions, err := tbl.ListVersions(ctx)
			if err != nil || len(versions) != 13 {
				t.Fatalf("list versions: %d %v", len(versions), err)
			}
		})
	}
}

func TestMixedNamingRefused(t *testing.T) {
	b := memory.New()
	root := "t"
	m := &tablepb.Manifest{Fields: testFields(), Version: 1}
	writeLanceStyleVersion(t, b, root, NamingV1, m, NewOverwrite(testFields(), nil, nil, nil))
	m2 := &tablepb.Manifest{Fields: testFields(), Version: 2}
	writeLanceStyleVersion(t, b, root, NamingV2, m2, NewAppend())
	if _, err := Open(context.Background(), b, root, testOptions(1)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "V2 manifest name in a table using V1 names") {
		t.Fatalf("mixed naming: %v", err)
	}
}

func TestFeatureFlags(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	tbl, _ := createTable(t, b, "t", 1)
	put := func(v uint64, reader, writer uint64) {
		t.Helper()
		m := &tablepb.Manifest{Fields: testFields(), Version: v, ReaderFeatureFlags: reader, WriterFeatureFlags: writer,
			DataFormat: &tablepb.Manifest_DataStorageFormat{FileFormat: "lance", Version: "2.0"}}
		writeLanceStyleVersion(t, b, "t", NamingV2, m, NewAppend())
	}

	put(2, 0, 1<<7|FlagDeletionFiles)
	if _, err := tbl.Checkout(ctx, 2); err != nil {
		t.Fatalf("unknown writer flag must not block reading: %v", err)
	}
	_, err := tbl.Commit(ctx, 2, NewAppend(newFragment(t, tbl, 1)))
	if !errors.Is(err, ErrUnsupportedFeature) || !strings.Contains(err.Error(), "128 (unknown)") || !strings.Contains(err.Error(), "18446744073709551613.manifest") {
		t.Fatalf("commit on unknown writer flag: %v", err)
	}

	put(3, FlagStableRowIDs|FlagDeletionFiles, FlagStableRowIDs|FlagDeletionFiles)
	s, err := tbl.Checkout(ctx, 3)
	if err != nil {
		t.Fatalf("stable row ids are readable: %v", err)
	}
	if err := s.Writable(); !errors.Is(err, ErrUnsupportedFeature) || !strings.Contains(err.Error(), "2 (stable row ids)") {
		t.Fatalf("writable: %v", err)
	}
	if _, err := tbl.Commit(ctx, 3, NewAppend(newFragment(t, tbl, 1))); !errors.Is(err, ErrUnsupportedFeature) {
		t.Fatalf("commit on stable row ids: %v", err)
	}

	put(4, 1<<9|FlagBasePaths, 0)
	_, err = tbl.Latest(ctx)
	if !errors.Is(err, ErrUnsupportedFeature) || !strings.Contains(err.Error(), "16 (base paths), 512 (unknown)") {
		t.Fatalf("latest with unknown reader flag: %v", err)
	}
}
