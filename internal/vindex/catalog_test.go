package vindex

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/filesystem"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
)

func testEnv(seed uint64) commitEnv {
	m := New(Config{Seed: seed})
	return commitEnv{now: time.Now, newID: newID, sleep: sleepCtx, randN: m.randN}
}

func sampleEntry(name string) entry {
	return entry{
		Name: name, UUID: newID(), Column: "vec", FieldID: 1, Dim: 8, Kind: "IVF_FLAT", Metric: "l2",
		Params:    params{NumPartitions: 4},
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Segments: []segment{{UUID: "s1", File: "_sarissa_indices/" + name + "/s1/index.ivf", SizeBytes: 10, Rows: 5,
			TableVersion: 3, Fragments: []fragment{{ID: 0, File: "a.lance"}, {ID: 2, File: "b.lance"}}}},
	}
}

func addIndex(name string) func(c *catalog) (bool, error) {
	return func(c *catalog) (bool, error) {
		if c.find(name) >= 0 {
			return false, fmt.Errorf("%s exists", name)
		}
		c.Indices = append(c.Indices, sampleEntry(name))
		return true, nil
	}
}

func TestCatalogMissingIsEmpty(t *testing.T) {
	s := catalogStore{bucket: memory.New(), root: "db/t.lance"}
	c, err := s.load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != 0 || len(c.Indices) != 0 {
		t.Fatalf("missing catalog read as version %d with %d indexes", c.Version, len(c.Indices))
	}
}

func TestCatalogRoundTripAndVersions(t *testing.T) {
	ctx := t.Context()
	b := memory.New()
	s := catalogStore{bucket: b, root: "db/t.lance"}
	env := testEnv(1)
	for i, name := range []string{"a", "b", "c"} {
		c, err := s.update(ctx, env, addIndex(name))
		if err != nil {
			t.Fatal(err)
		}
		if c.Version != uint64(i+1) {
			t.Fatalf("commit %d got version %d", i, c.Version)
		}
	}
	c, err := s.load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != 3 || len(c.Indices) != 3 || c.Indices[2].Name != "c" {
		t.Fatalf("latest catalog: version %d, %+v", c.Version, c.Indices)
	}
	got := c.Indices[0]
	want := sampleEntry("a")
	want.UUID = got.UUID
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("entry round trip:\n got %+v\nwant %+v", got, want)
	}
	// Older versions stay readable (immutable files).
	old, err := s.read(ctx, 1)
	if err != nil || len(old.Indices) != 1 {
		t.Fatalf("version 1: %v %+v", err, old)
	}
	// A mutate reporting no change writes nothing.
	c2, err := s.update(ctx, env, func(*catalog) (bool, error) { return false, nil })
	if err != nil || c2.Version != 3 {
		t.Fatalf("no-op update: %v version %d", err, c2.Version)
	}
	// A mutate error aborts.
	boom := errors.New("boom")
	if _, err := s.update(ctx, env, func(*catalog) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Fatalf("mutate error: %v", err)
	}
}

func TestCatalogCorrupt(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct{ name, content string }{
		{"not json", "{{{"},
		{"wrong version", `{"format_major":1,"version":9,"indices":[]}`},
		{"future format", `{"format_major":2,"version":1,"indices":[]}`},
		{"trailing", `{"format_major":1,"version":1,"indices":[]} x`},
		{"duplicate", `{"format_major":1,"version":1,"indices":[` + entryJSON("a") + `,` + entryJSON("a") + `]}`},
		{"escaping file", `{"format_major":1,"version":1,"indices":[` + strings.Replace(entryJSON("a"), "_sarissa_indices/a/s1", "../x", 1) + `]}`},
		{"bad kind", `{"format_major":1,"version":1,"indices":[` + strings.Replace(entryJSON("a"), "IVF_FLAT", "IVF_RQ", 1) + `]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := memory.New()
			s := catalogStore{bucket: b, root: "t"}
			key := s.key(catalogName(1))
			if err := b.Put(ctx, key, strings.NewReader(tc.content)); err != nil {
				t.Fatal(err)
			}
			_, err := s.load(ctx)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), key) {
				t.Fatalf("load: %v (want ErrCorrupt naming %s)", err, key)
			}
		})
	}
}

func entryJSON(name string) string {
	return `{"name":"` + name + `","uuid":"u","column":"vec","field_id":1,"dim":8,"kind":"IVF_FLAT","metric":"l2",` +
		`"params":{},"segments":[{"uuid":"s1","file":"_sarissa_indices/` + name + `/s1/index.ivf","size_bytes":1,"rows":1,"fragments":[]}]}`
}

func TestCatalogConcurrentCommitsLoseNothing(t *testing.T) {
	fs, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, bk := range []struct {
		name string
		b    objstore.Bucket
	}{{"memory", memory.New()}, {"filesystem", fs}} {
		t.Run(bk.name, func(t *testing.T) {
			ctx := t.Context()
			s := catalogStore{bucket: bk.b, root: "db/t.lance"}
			const writers = 8
			var wg sync.WaitGroup
			errs := make([]error, writers)
			for w := range writers {
				wg.Go(func() {
					_, errs[w] = s.update(ctx, testEnv(uint64(w)), addIndex(fmt.Sprintf("idx%d", w)))
				})
			}
			wg.Wait()
			for w, err := range errs {
				if err != nil {
					t.Fatalf("writer %d: %v", w, err)
				}
			}
			c, err := s.load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if c.Version != writers || len(c.Indices) != writers {
				t.Fatalf("after %d concurrent commits: version %d, %d indexes", writers, c.Version, len(c.Indices))
			}
		})
	}
}

func TestCatalogLostReplyIsNotCommittedTwice(t *testing.T) {
	ctx := t.Context()
	b := &flakyPut{Bucket: memory.New()}
	s := catalogStore{bucket: b, root: "t"}
	c, err := s.update(ctx, testEnv(1), func(c *catalog) (bool, error) {
		c.Indices = append(c.Indices, sampleEntry(fmt.Sprintf("i%d", len(c.Indices))))
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != 1 || len(c.Indices) != 1 {
		t.Fatalf("a landed put reported as lost was applied again: version %d, %d indexes", c.Version, len(c.Indices))
	}
}

// flakyPut stores the first PutIfAbsent but reports ErrExists for it, as
// after a lost reply to a retried request.
type flakyPut struct {
	objstore.Bucket
	done bool
}

func (f *flakyPut) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	if err := f.Bucket.PutIfAbsent(ctx, key, r); err != nil || f.done {
		return err
	}
	f.done = true
	return fmt.Errorf("retried put: %w", objstore.ErrExists)
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"vec_idx", "a.b-c", "Ünïcode"} {
		if err := validName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "_catalog", "a/b", "..", ".", "a\x00b", strings.Repeat("x", 201)} {
		if err := validName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
