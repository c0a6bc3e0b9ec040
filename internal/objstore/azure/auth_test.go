package azure_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/azure"
	"github.com/sarissa-db/sarissa/internal/objstore/azuritetest"
	"github.com/sarissa-db/sarissa/internal/objstore/objstoretest"
)

const tenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"

// fakeEntra is a stand-in for Entra ID's token endpoint, the one piece of
// the Workload Identity flow that cannot run locally. It issues unsigned
// tokens that Azurite's basic OAuth mode accepts, and only for a client
// assertion equal to the projected service-account token.
type fakeEntra struct {
	srv        *httptest.Server
	assertion  string
	clientID   string
	tokenCalls atomic.Int32
}

func newFakeEntra(t *testing.T, clientID, assertion string) *fakeEntra {
	f := &fakeEntra{assertion: assertion, clientID: clientID}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		base := f.srv.URL + "/" + r.PathValue("tenant")
		writeJSON(w, map[string]any{
			"issuer":                 "https://login.microsoftonline.com/" + r.PathValue("tenant") + "/v2.0",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"token_endpoint":         base + "/oauth2/v2.0/token",
			"jwks_uri":               base + "/discovery/v2.0/keys",
		})
	})
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		f.tokenCalls.Add(1)
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.Form.Get("client_assertion") != f.assertion || r.Form.Get("client_id") != f.clientID ||
			!strings.Contains(r.Form.Get("scope"), "https://storage.azure.com/") {
			w.WriteHeader(http.StatusUnauthorized)
			writeJSON(w, map[string]any{"error": "invalid_client"})
			return
		}
		now := time.Now().Unix()
		claims := map[string]any{
			"aud": "https://storage.azure.com", "iss": "https://sts.windows.net/" + r.PathValue("tenant") + "/",
			"iat": now, "nbf": now - 60, "exp": now + 3600, "oid": "00000000-0000-0000-0000-000000000001",
			"tid": r.PathValue("tenant"),
		}
		writeJSON(w, map[string]any{"token_type": "Bearer", "expires_in": 3600, "access_token": unsignedJWT(t, claims)})
	})
	f.srv = httptest.NewTLSServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func unsignedJWT(t *testing.T, claims map[string]any) string {
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Error(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + "."
}

// TestWorkloadIdentity runs the production auth path end to end: the
// projected token file is exchanged at the (fake) Entra endpoint and the
// resulting bearer token is accepted by Azurite over HTTPS.
func TestWorkloadIdentity(t *testing.T) {
	s := azuritetest.Start(t, azuritetest.WithTLSAndOAuth())
	const clientID = "11111111-2222-3333-4444-555555555555"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("projected-service-account-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	entra := newFakeEntra(t, clientID, "projected-service-account-token")

	roots := s.CertPool().Clone()
	roots.AddCert(entra.srv.Certificate())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}

	newBucket := func(t *testing.T) objstore.Bucket {
		b, err := azure.New(azure.Config{
			ServiceURL:               s.Endpoint,
			Container:                s.NewContainer(t),
			Auth:                     azure.AuthWorkloadIdentity,
			ClientID:                 clientID,
			TenantID:                 tenantID,
			TokenFilePath:            tokenFile,
			AuthorityHost:            entra.srv.URL,
			DisableInstanceDiscovery: true,
			HTTPClient:               client,
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := newBucket(t)
	ctx := t.Context()
	if err := b.PutIfAbsent(ctx, "_versions/1.manifest", strings.NewReader("m1")); err != nil {
		t.Fatalf("PutIfAbsent with workload identity: %v", err)
	}
	if got, err := objstore.ReadAll(ctx, b, "_versions/1.manifest"); err != nil || string(got) != "m1" {
		t.Fatalf("ReadAll: %q, %v", got, err)
	}
	if entra.tokenCalls.Load() == 0 {
		t.Fatal("no token was requested from the fake Entra endpoint")
	}

	// A wrong projected token is refused by Entra and the error says so.
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte("stolen"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong, err := azure.New(azure.Config{
		ServiceURL: s.Endpoint, Container: "whatever", Auth: azure.AuthWorkloadIdentity,
		ClientID: clientID, TenantID: tenantID, TokenFilePath: bad, AuthorityHost: entra.srv.URL,
		DisableInstanceDiscovery: true, HTTPClient: client, Retry: policy.RetryOptions{MaxRetries: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.Stat(ctx, "x")
	if err == nil || errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Stat with a refused token: got %v, want an authentication error", err)
	}
	t.Logf("refused token: %v", err)
}

// With an injected credential the same bucket runs the whole suite over
// bearer tokens, covering the Credential hook.
func TestConformanceInjectedCredential(t *testing.T) {
	s := azuritetest.Start(t, azuritetest.WithTLSAndOAuth())
	cred := staticToken{token: func() string {
		now := time.Now().Unix()
		return unsignedJWT(t, map[string]any{
			"aud": "https://storage.azure.com", "iss": "https://sts.windows.net/" + tenantID + "/",
			"iat": now, "nbf": now - 60, "exp": now + 3600,
		})
	}}
	objstoretest.RunSuite(t, func(t *testing.T) objstore.Bucket {
		b, err := azure.New(azure.Config{
			ServiceURL: s.Endpoint, Container: s.NewContainer(t), Auth: azure.AuthDefault,
			Credential: cred, HTTPClient: s.HTTPClient(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, objstoretest.RaceRounds(5), objstoretest.TornRounds(20), objstoretest.LargeObjectSize(1<<20))
}

type staticToken struct{ token func() string }

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: s.token(), ExpiresOn: time.Now().Add(time.Hour)}, nil
}
