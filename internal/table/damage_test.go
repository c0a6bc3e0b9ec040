package table_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sarissa-db/sarissa/internal/lance"
	"github.com/sarissa-db/sarissa/internal/objstore/filesystem"
	"github.com/sarissa-db/sarissa/internal/table"
	"github.com/sarissa-db/sarissa/internal/testkit/datagen"
)

// damagedTable writes a small table on disk and returns its directory.
func damagedTable(t *testing.T) (string, *filesystem.Bucket) {
	t.Helper()
	root := t.TempDir()
	b, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	rr := datagen.Reader(memory.DefaultAllocator, 9, 0, 300, 300)
	defer rr.Release()
	if _, _, err := table.Create(context.Background(), b, "t.lance", datagen.AllTypesSchema(), rr, table.Options{}); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "t.lance"), b
}

func onlyFile(t *testing.T, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) != 1 {
		t.Fatalf("glob %s: %v %v", pattern, m, err)
	}
	return m[0]
}

func scanAll(b *filesystem.Bucket) error {
	ctx := context.Background()
	tb, err := table.Open(ctx, b, "t.lance", table.Options{})
	if err != nil {
		return err
	}
	s, err := tb.Latest(ctx)
	if err != nil {
		return err
	}
	recs, _, err := s.Collect(ctx, table.ScanOptions{})
	for _, r := range recs {
		r.Release()
	}
	return err
}

// Damage is reported with the file and the problem, never a panic or
// silently wrong data.
func TestDamagedTablesReportTheFile(t *testing.T) {
	t.Run("truncated data file", func(t *testing.T) {
		dir, b := damagedTable(t)
		data := onlyFile(t, filepath.Join(dir, "data", "*.lance"))
		st, _ := os.Stat(data)
		if err := os.Truncate(data, st.Size()/2); err != nil {
			t.Fatal(err)
		}
		err := scanAll(b)
		if err == nil || !strings.Contains(err.Error(), filepath.Base(data)) {
			t.Fatalf("err = %v, want one naming %s", err, filepath.Base(data))
		}
		t.Log(err)
	})
	t.Run("corrupt manifest", func(t *testing.T) {
		dir, b := damagedTable(t)
		m := onlyFile(t, filepath.Join(dir, "_versions", "*.manifest"))
		raw, _ := os.ReadFile(m)
		for i := len(raw) - 40; i < len(raw)-16; i++ {
			raw[i] ^= 0x5a
		}
		if err := os.WriteFile(m, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		err := scanAll(b)
		if !errors.Is(err, lance.ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(m)) {
			t.Fatalf("err = %v, want ErrCorrupt naming %s", err, filepath.Base(m))
		}
		t.Log(err)
	})
	t.Run("garbage data file", func(t *testing.T) {
		dir, b := damagedTable(t)
		data := onlyFile(t, filepath.Join(dir, "data", "*.lance"))
		raw, _ := os.ReadFile(data)
		for i := range raw {
			raw[i] = byte(i * 7)
		}
		if err := os.WriteFile(data, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		err := scanAll(b)
		if err == nil || !strings.Contains(err.Error(), filepath.Base(data)) {
			t.Fatalf("err = %v, want one naming %s", err, filepath.Base(data))
		}
		t.Log(err)
	})
}
