package azure_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/azure"
	"github.com/sarissa-db/sarissa/internal/objstore/azuritetest"
)

// allErrors runs every operation and returns the errors by operation name.
func allErrors(t *testing.T, b objstore.Bucket) map[string]error {
	ctx := t.Context()
	errs := map[string]error{
		"Put":         b.Put(ctx, "k", strings.NewReader("x")),
		"PutIfAbsent": b.PutIfAbsent(ctx, "k", strings.NewReader("x")),
		"Delete":      b.Delete(ctx, "k"),
	}
	_, errs["Stat"] = b.Stat(ctx, "k")
	_, errs["Get"] = objstore.ReadAll(ctx, b, "k")
	_, errs["GetRange"] = objstore.ReadRange(ctx, b, "k", 0, 1)
	for _, err := range b.List(ctx, "") {
		errs["List"] = err
		break
	}
	return errs
}

func wantNoSecret(t *testing.T, op string, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want an error", op)
		return
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("%s: error text contains a credential: %v", op, err)
		}
	}
}

func closedPortURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/devstoreaccount1"
}

// Transport failures carry the request URL, and with SAS auth that URL holds
// the signature.
func TestSASNotInTransportErrors(t *testing.T) {
	s := azuritetest.Start(t)
	sasToken := containerSAS(t, s, "unreachable", time.Hour)
	sig, _ := url.ParseQuery(sasToken)
	b, err := azure.New(azure.Config{
		ServiceURL: closedPortURL(t), Container: "unreachable", Auth: azure.AuthSAS, SASToken: "?" + sasToken,
		Retry: policy.RetryOptions{MaxRetries: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	for op, err := range allErrors(t, b) {
		wantNoSecret(t, op, err, sasToken, sig.Get("sig"), url.QueryEscape(sig.Get("sig")))
		if errors.Is(err, objstore.ErrNotExist) || errors.Is(err, objstore.ErrExists) {
			t.Errorf("%s on an unreachable endpoint: got %v, want a plain error", op, err)
		}
	}
}

// Refused credentials come back as a StatusError naming the status and code
// only.
func TestRejectedCredentials(t *testing.T) {
	s := azuritetest.Start(t)
	name := s.NewContainer(t)
	wrongKey := "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXkgd3Jvbmcga2V5IHdyb25nIGtleQ=="
	keyBucket, err := azure.New(azure.Config{
		ServiceURL: s.Endpoint, AccountName: s.AccountName, Container: name,
		Auth: azure.AuthSharedKey, AccountKey: wrongKey, Retry: policy.RetryOptions{MaxRetries: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	expired := containerSAS(t, s, name, -time.Minute)
	sasBucket, err := azure.New(azure.Config{
		ServiceURL: s.Endpoint, Container: name, Auth: azure.AuthSAS, SASToken: expired,
		Retry: policy.RetryOptions{MaxRetries: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.ParseQuery(expired)
	for label, tc := range map[string]struct {
		b       objstore.Bucket
		secrets []string
	}{
		"wrong key":   {keyBucket, []string{wrongKey}},
		"expired SAS": {sasBucket, []string{expired, q.Get("sig")}},
	} {
		for op, err := range allErrors(t, tc.b) {
			if op == "Delete" && err == nil {
				t.Errorf("%s: Delete succeeded", label)
				continue
			}
			wantNoSecret(t, label+" "+op, err, tc.secrets...)
			var se *azure.StatusError
			if !errors.As(err, &se) || se.StatusCode != 403 {
				t.Errorf("%s %s: got %v, want a 403 StatusError", label, op, err)
			}
			if errors.Is(err, objstore.ErrNotExist) || errors.Is(err, objstore.ErrExists) {
				t.Errorf("%s %s: got %v, want neither ErrNotExist nor ErrExists", label, op, err)
			}
		}
	}
}

// A missing container is a configuration error, not an empty bucket.
func TestMissingContainer(t *testing.T) {
	s := azuritetest.Start(t)
	b, err := azure.New(azure.Config{
		ServiceURL: s.Endpoint, AccountName: s.AccountName, Container: "never-created",
		Auth: azure.AuthSharedKey, AccountKey: s.AccountKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	for op, err := range allErrors(t, b) {
		if op == "Delete" {
			continue // deleting from nowhere leaves nothing behind either way
		}
		if err == nil || errors.Is(err, objstore.ErrNotExist) || errors.Is(err, objstore.ErrExists) {
			t.Errorf("%s on a missing container: got %v, want a plain error", op, err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	ok := azure.Config{
		ServiceURL: "https://acct.blob.core.windows.net", AccountName: "acct", Container: "data",
		Auth: azure.AuthSharedKey, AccountKey: azuritetest.AccountKey,
	}
	tests := []struct {
		name   string
		mutate func(*azure.Config)
		want   string
	}{
		{"valid", func(*azure.Config) {}, ""},
		{"valid SAS", func(c *azure.Config) { c.Auth, c.AccountKey, c.SASToken = azure.AuthSAS, "", "?sv=2024&sig=abc" }, ""},
		{"valid default", func(c *azure.Config) { c.Auth, c.AccountKey = azure.AuthDefault, "" }, ""},
		{"no scheme", func(c *azure.Config) { c.ServiceURL = "acct.blob.core.windows.net" }, "service URL"},
		{"ftp", func(c *azure.Config) { c.ServiceURL = "ftp://acct" }, "service URL"},
		{"query in URL", func(c *azure.Config) { c.ServiceURL += "?sig=secret" }, "must not carry a query"},
		{"short container", func(c *azure.Config) { c.Container = "ab" }, "length 2"},
		{"uppercase container", func(c *azure.Config) { c.Container = "Data" }, "character 'D'"},
		{"double hyphen", func(c *azure.Config) { c.Container = "da--ta" }, "hyphen"},
		{"trailing hyphen", func(c *azure.Config) { c.Container = "data-" }, "hyphen"},
		{"no key", func(c *azure.Config) { c.AccountKey = "" }, "account key are required"},
		{"no account", func(c *azure.Config) { c.AccountName = "" }, "account name"},
		{"bad key", func(c *azure.Config) { c.AccountKey = "not base64!" }, "not valid base64"},
		{"empty SAS", func(c *azure.Config) { c.Auth, c.SASToken = azure.AuthSAS, "?" }, "SAS token is empty"},
		{"unknown auth", func(c *azure.Config) { c.Auth = "password" }, `auth kind "password"`},
		{"empty auth", func(c *azure.Config) { c.Auth = "" }, "auth kind is empty"},
		{"bad prefix", func(c *azure.Config) { c.Prefix = "a/../b" }, "prefix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mutate(&cfg)
			_, err := azure.New(cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("New: got %v, want an error containing %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Fatalf("error repeats the query: %v", err)
			}
		})
	}
}

// dropFirstPut forwards requests but, for the first PUT, discards the
// service's answer and reports a broken connection, as when a response is
// lost on the way back.
type dropFirstPut struct {
	next    http.RoundTripper
	dropped atomic.Bool
}

func (d *dropFirstPut) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := d.next.RoundTrip(r)
	if err == nil && r.Method == http.MethodPut && d.dropped.CompareAndSwap(false, true) {
		resp.Body.Close()
		return nil, fmt.Errorf("injected: connection reset after %s", resp.Status)
	}
	return resp, err
}

// The SDK retries a PutIfAbsent whose response was lost; the retry meets the
// blob the first attempt created. That must still count as a win, or a
// committer would think it lost a commit it actually made.
func TestPutIfAbsentLostResponse(t *testing.T) {
	s := azuritetest.Start(t)
	rt := &dropFirstPut{next: http.DefaultTransport}
	cfg := sharedKeyConfig(s, s.NewContainer(t))
	cfg.HTTPClient = &http.Client{Transport: rt}
	cfg.Retry = policy.RetryOptions{MaxRetries: 2, RetryDelay: 10 * time.Millisecond}
	b, err := azure.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := b.PutIfAbsent(ctx, "_versions/7.manifest", strings.NewReader("mine")); err != nil {
		t.Fatalf("PutIfAbsent with a lost response: got %v, want success", err)
	}
	if !rt.dropped.Load() {
		t.Fatal("the fault was never injected")
	}
	if err := b.PutIfAbsent(ctx, "_versions/7.manifest", strings.NewReader("other")); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("second PutIfAbsent: got %v, want ErrExists", err)
	}
	if got, err := objstore.ReadAll(ctx, b, "_versions/7.manifest"); err != nil || string(got) != "mine" {
		t.Fatalf("content: %q, %v", got, err)
	}
}
