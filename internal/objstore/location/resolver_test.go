package location_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/azure"
	"github.com/sarissa-db/sarissa/internal/objstore/azuritetest"
	"github.com/sarissa-db/sarissa/internal/objstore/location"
)

func env(vars map[string]string) location.Option {
	return location.WithGetenv(func(k string) string { return vars[k] })
}

func mustOpen(t *testing.T, r *location.Resolver, loc string) objstore.Bucket {
	t.Helper()
	b, err := r.Open(t.Context(), loc)
	if err != nil {
		t.Fatalf("Open(%q): %v", loc, err)
	}
	return b
}

func put(t *testing.T, b objstore.Bucket, key, content string) {
	t.Helper()
	if err := b.Put(t.Context(), key, strings.NewReader(content)); err != nil {
		t.Fatal(err)
	}
}

func wantContent(t *testing.T, b objstore.Bucket, key, want string) {
	t.Helper()
	got, err := objstore.ReadAll(t.Context(), b, key)
	if err != nil || string(got) != want {
		t.Fatalf("ReadAll(%q) = %q, %v; want %q", key, got, err, want)
	}
}

func TestMemBucketsAreScopedToResolver(t *testing.T) {
	r1, err := location.NewResolver(nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := location.NewResolver(nil)
	put(t, mustOpen(t, r1, "mem://shared/db"), "k", "v")
	wantContent(t, mustOpen(t, r1, "mem://shared"), "db/k", "v")
	wantContent(t, mustOpen(t, r1, "mem://shared/db/"), "k", "v")
	if _, err := mustOpen(t, r1, "mem://other").Stat(t.Context(), "db/k"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("mem://other sees mem://shared's object: %v", err)
	}
	if _, err := mustOpen(t, r2, "mem://shared").Stat(t.Context(), "db/k"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("a second resolver sees the first one's mem bucket: %v", err)
	}
}

func TestOpenFile(t *testing.T) {
	r, _ := location.NewResolver(nil)
	dir := filepath.Join(t.TempDir(), "root")
	put(t, mustOpen(t, r, "file://"+filepath.ToSlash(dir)), "db/t.lance/x", "data")
	wantContent(t, mustOpen(t, r, "file://"+filepath.ToSlash(filepath.Join(dir, "db"))), "t.lance/x", "data")
}

func TestResolverErrors(t *testing.T) {
	accounts := map[string]location.Account{
		"fromenv": {Endpoint: "http://127.0.0.1:1/devstoreaccount1", AccountName: "devstoreaccount1", Auth: azure.AuthSharedKey, KeyEnv: "SARISSA_TEST_KEY"},
		"wi": {
			Endpoint: "https://acct.blob.core.windows.net", Auth: azure.AuthWorkloadIdentity,
			ClientID: "c", TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", TokenFile: "/var/run/secrets/token",
		},
	}
	r, err := location.NewResolver(accounts, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ loc, want string }{
		{"az://data?account=nope", `unknown account "nope" (configured: fromenv, wi)`},
		{"az://data?account=fromenv", "SARISSA_TEST_KEY is unset"},
		{"gs://bucket", "unknown scheme"},
		{"file://rel", "host"},
	}
	for _, tc := range tests {
		_, err := r.Open(t.Context(), tc.loc)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q): got %v, want an error containing %q", tc.loc, err, tc.want)
		}
	}
	if _, err := r.Open(t.Context(), "az://data/db?account=wi"); err != nil {
		t.Errorf("Open with workload identity (no I/O yet): %v", err)
	}
}

func TestAccountValidation(t *testing.T) {
	base := location.Account{Endpoint: "https://a.blob.core.windows.net", AccountName: "a", Auth: azure.AuthSharedKey, Key: "a2V5"}
	tests := []struct {
		name   string
		mutate func(*location.Account)
		want   string
	}{
		{"ok", func(*location.Account) {}, ""},
		{"no endpoint", func(a *location.Account) { a.Endpoint = "" }, "endpoint is empty"},
		{"key and env", func(a *location.Account) { a.KeyEnv = "K" }, "both key and key_env"},
		{"no key", func(a *location.Account) { a.Key = "" }, "needs key or key_env"},
		{"no account name", func(a *location.Account) { a.AccountName = "" }, "account_name"},
		{"sas without token", func(a *location.Account) { a.Auth, a.Key = azure.AuthSAS, "" }, "needs sas or sas_env"},
		{"sas and env", func(a *location.Account) { a.Auth, a.Key, a.SAS, a.SASEnv = azure.AuthSAS, "", "sv=1", "S" }, "both sas and sas_env"},
		{"key with sas auth", func(a *location.Account) { a.Auth, a.SAS = azure.AuthSAS, "sv=1" }, "key given for sas auth"},
		{"sas with key auth", func(a *location.Account) { a.SAS = "sv=1" }, "sas given for key auth"},
		{"unknown auth", func(a *location.Account) { a.Auth = "magic" }, `auth "magic"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := base
			tc.mutate(&a)
			_, err := location.NewResolver(map[string]location.Account{"acct": a})
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// Two accounts on one Azurite — one with the key from the environment, one
// with an inline SAS — reach the same container through az:// locations.
func TestOpenAzure(t *testing.T) {
	s := azuritetest.Start(t)
	name := s.NewContainer(t)
	qp, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPSandHTTP,
		ExpiryTime:    time.Now().Add(time.Hour).UTC(),
		Permissions:   (&sas.ContainerPermissions{Read: true, Write: true, Create: true, List: true, Delete: true}).String(),
		ContainerName: name,
	}.SignWithSharedKey(s.SharedKeyCredential(t))
	if err != nil {
		t.Fatal(err)
	}
	r, err := location.NewResolver(map[string]location.Account{
		"ours":     {Endpoint: s.Endpoint, AccountName: s.AccountName, Auth: azure.AuthSharedKey, KeyEnv: "AZ_KEY"},
		"customer": {Endpoint: s.Endpoint, Auth: azure.AuthSAS, SAS: qp.Encode()},
	}, env(map[string]string{"AZ_KEY": s.AccountKey}))
	if err != nil {
		t.Fatal(err)
	}
	db := mustOpen(t, r, "az://"+name+"/tenant/db?account=ours")
	if err := db.PutIfAbsent(t.Context(), "t.lance/_versions/1.manifest", strings.NewReader("m")); err != nil {
		t.Fatal(err)
	}
	wantContent(t, mustOpen(t, r, "az://"+name+"?account=customer"), "tenant/db/t.lance/_versions/1.manifest", "m")
	wantContent(t, mustOpen(t, r, "az://"+name+"/tenant?account=customer"), "db/t.lance/_versions/1.manifest", "m")
}
