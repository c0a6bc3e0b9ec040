package objstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
	"github.com/sarissa-db/sarissa/internal/objstore/objstoretest"
)

func TestValidateKey(t *testing.T) {
	valid := []string{"a", "a/b", "a.b", ".hidden", "a/.b", "..a", "a..", "a b", "é/日本", "_versions/18446744073709551614.manifest"}
	for _, k := range valid {
		if err := objstore.ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", k, err)
		}
	}
	invalid := []string{"", "/", "/a", "a/", "a//b", ".", "..", "a/.", "./a", "a/../b", `a\b`, "a\x00", "\tb", "\xc3"}
	for _, k := range invalid {
		if err := objstore.ValidateKey(k); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	valid := []string{"", "a", "a/", "a/b", "a/b/", "a/.", "a/..", ".", "..", "a/.x"}
	for _, p := range valid {
		if err := objstore.ValidatePrefix(p); err != nil {
			t.Errorf("ValidatePrefix(%q) = %v, want nil", p, err)
		}
	}
	invalid := []string{"/", "/a", "a//", "a//b", "./", "../", "a/./", "a/../b", `a\`, "\x00"}
	for _, p := range invalid {
		if err := objstore.ValidatePrefix(p); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("ValidatePrefix(%q) = %v, want ErrInvalidKey", p, err)
		}
	}
}

// The prefixed view is a Bucket in its own right, so it runs the whole suite
// on top of a backing bucket that also holds keys outside the prefix.
func TestWithPrefixConformance(t *testing.T) {
	objstoretest.RunSuite(t, func(t *testing.T) objstore.Bucket {
		backing := memory.New()
		for _, k := range []string{"tenant", "tenant/db", "tenant/db0/x", "tenant/d", "tenant.x"} {
			if err := backing.Put(t.Context(), k, strings.NewReader("outside the view")); err != nil {
				t.Fatal(err)
			}
		}
		return objstore.WithPrefix(backing, "tenant/db")
	})
}
