package lance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
)

func TestValidateTagName(t *testing.T) {
	for _, ok := range []string{"ref", "ref-with-dashes", "ref.extension", "ref_with_underscores", "v1.2.3-rc4", "日本"} {
		if err := ValidateTagName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "../ref", ".ref", "ref.", "ref.lock", "re..f", "a/b", "a b", "a\\b", "tag\n", "?"} {
		if err := ValidateTagName(bad); !errors.Is(err, ErrInvalidTag) {
			t.Errorf("%q accepted (%v)", bad, err)
		}
	}
}

func TestTags(t *testing.T) {
	for kind, b := range testBuckets(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			tbl, _ := createTable(t, b, "db/t.lance", 71)
			s2 := mustCommit(t, tbl, 1, NewAppend(newFragment(t, tbl, 2)))
			mustCommit(t, tbl, 2, NewAppend(newFragment(t, tbl, 3)))

			if err := tbl.CreateTag(ctx, "v-two", 2); err != nil {
				t.Fatal(err)
			}
			data, err := objstore.ReadAll(ctx, b, "db/t.lance/_refs/tags/v-two.json")
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("{\n  \"branch\": null,\n  \"version\": 2,\n  \"manifestSize\": %d\n}", s2.Size())
			if string(data) != want {
				t.Fatalf("tag file\n%s\nwant\n%s", data, want)
			}
			if err := tbl.CreateTag(ctx, "v-two", 3); !errors.Is(err, ErrTagExists) {
				t.Fatalf("duplicate tag: %v", err)
			}
			if err := tbl.CreateTag(ctx, "later", 9); !errors.Is(err, ErrVersionNotFound) {
				t.Fatalf("tag on missing version: %v", err)
			}
			if err := tbl.CreateTag(ctx, "bad..name", 1); !errors.Is(err, ErrInvalidTag) {
				t.Fatalf("bad name: %v", err)
			}
			if err := tbl.CreateTag(ctx, "first", 1); err != nil {
				t.Fatal(err)
			}
			s, err := tbl.CheckoutTag(ctx, "v-two")
			if err != nil || s.Version() != 2 {
				t.Fatalf("checkout tag: %v %v", s, err)
			}
			if err := tbl.UpdateTag(ctx, "v-two", 3); err != nil {
				t.Fatal(err)
			}
			if err := tbl.UpdateTag(ctx, "nope", 3); !errors.Is(err, ErrTagNotFound) {
				t.Fatalf("update missing tag: %v", err)
			}
			tags, err := tbl.ListTags(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(tags) != 2 || tags[0].Name != "first" || tags[0].Version != 1 || tags[1].Name != "v-two" || tags[1].Version != 3 {
				t.Fatalf("tags %+v", tags)
			}
			if err := tbl.DeleteTag(ctx, "first"); err != nil {
				t.Fatal(err)
			}
			if err := tbl.DeleteTag(ctx, "first"); !errors.Is(err, ErrTagNotFound) {
				t.Fatalf("second delete: %v", err)
			}
			if _, err := tbl.CheckoutTag(ctx, "first"); !errors.Is(err, ErrTagNotFound) {
				t.Fatalf("checkout deleted tag: %v", err)
			}
		})
	}
}

func TestReadLanceTagFiles(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	tbl, _ := createTable(t, b, "t", 72)
	for name, body := range map[string]string{
		// Written by Lance before tags had a branch.
		"old":    `{"version": 1, "manifestSize": 10}`,
		"branch": `{"branch": "dev", "version": 1, "manifestSize": 10}`,
		"broken": `{"version": "one"`,
	} {
		if err := b.Put(ctx, "t/_refs/tags/"+name+".json", strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	if tag, err := tbl.GetTag(ctx, "old"); err != nil || tag.Version != 1 || tag.ManifestSize != 10 {
		t.Fatalf("old tag: %+v %v", tag, err)
	}
	if _, err := tbl.GetTag(ctx, "branch"); !errors.Is(err, ErrUnsupportedFeature) {
		t.Fatalf("branch tag: %v", err)
	}
	if _, err := tbl.GetTag(ctx, "broken"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "t/_refs/tags/broken.json") {
		t.Fatalf("broken tag: %v", err)
	}
}
