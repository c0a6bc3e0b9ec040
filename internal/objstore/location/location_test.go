package location_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sarissa-db/sarissa/internal/objstore/location"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want location.Location
		err  string // substring of the error; "" means success
	}{
		{in: "file:///var/lib/sarissa", want: location.Location{Scheme: location.File, Path: "/var/lib/sarissa"}},
		{in: "file:///var/lib/sarissa/", want: location.Location{Scheme: location.File, Path: "/var/lib/sarissa"}},
		{in: "file://localhost/data", want: location.Location{Scheme: location.File, Path: "/data"}},
		{in: "file:///with%20space", want: location.Location{Scheme: location.File, Path: "/with space"}},
		{in: "FILE:///x", want: location.Location{Scheme: location.File, Path: "/x"}},
		{in: "mem://test", want: location.Location{Scheme: location.Mem, Name: "test"}},
		{in: "mem://test/db/one/", want: location.Location{Scheme: location.Mem, Name: "test", Prefix: "db/one"}},
		{in: "az://data/tenant/db?account=main", want: location.Location{Scheme: location.Azure, Container: "data", Account: "main", Prefix: "tenant/db"}},
		{in: "az://data?account=byoc-1", want: location.Location{Scheme: location.Azure, Container: "data", Account: "byoc-1"}},
		{in: "az://data/?account=a", want: location.Location{Scheme: location.Azure, Container: "data", Account: "a"}},

		{in: "", err: "empty"},
		{in: "/var/lib/sarissa", err: "no scheme"},
		{in: "relative/dir", err: "no scheme"},
		{in: "s3://bucket/x", err: `unknown scheme "s3"`},
		{in: "file://relative/path", err: `host "relative"`},
		{in: "file:relative/path", err: "relative path"},
		{in: "file:///a/../b", err: `".."`},
		{in: "file:///x?mode=ro", err: "no query"},
		{in: "file:///x#frag", err: "fragment"},
		{in: "file://", err: "absolute"},
		{in: "mem://", err: "mem://name"},
		{in: "mem://a b", err: "invalid character"},
		{in: "mem://na!me", err: "character '!'"},
		{in: "mem://x/a//b", err: "empty path segment"},
		{in: "mem://x?y=1", err: "no query"},
		{in: "az://data/prefix", err: "missing account"},
		{in: "az://data/prefix?account=", err: "missing account"},
		{in: "az://data?account=a&account=b", err: "2 times"},
		{in: "az://data?account=a&sig=secret", err: `unknown query parameter "sig"`},
		{in: "az://Data?account=a", err: "container name"},
		{in: "az://ab?account=a", err: "container name"},
		{in: "az://da--ta?account=a", err: "hyphen"},
		{in: "az://data:443/x?account=a", err: "port"},
		{in: "az://user:pw@data?account=a", err: "user information"},
		{in: "az://data/a/../b?account=a", err: `".." segment`},
		{in: "az:data?account=a", err: "az://container"},
		{in: "%zz", err: "invalid"},
		{in: "az://data?account=a&sig=secret%zz", err: "query"},
		{in: "file://u:secret@host/x", err: "user information"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := location.Parse(tc.in)
			if tc.err != "" {
				if !errors.Is(err, location.ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse(%q) = %+v, %v; want ErrInvalid containing %q", tc.in, got, err, tc.err)
				}
				if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "pw") {
					t.Fatalf("error repeats a credential from the input: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			// String must round-trip.
			again, err := location.Parse(got.String())
			if err != nil || again != got {
				t.Fatalf("Parse(%q.String() = %q) = %+v, %v; want %+v", tc.in, got.String(), again, err, got)
			}
		})
	}
}
