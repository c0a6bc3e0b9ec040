package location

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/azure"
	"github.com/sarissa-db/sarissa/internal/objstore/filesystem"
	"github.com/sarissa-db/sarissa/internal/objstore/memory"
)

// Account is one entry of the account table that az:// locations refer to.
// Secrets come either inline or, preferably, from an environment variable
// named here; exactly one of the pair may be set.
type Account struct {
	Endpoint    string         `json:"endpoint" yaml:"endpoint"`         // blob service URL
	AccountName string         `json:"account_name" yaml:"account_name"` // storage account name; needed for key auth
	Auth        azure.AuthKind `json:"auth" yaml:"auth"`                 // key, sas, workload_identity or default

	Key    string `json:"key,omitempty" yaml:"key,omitempty"`
	KeyEnv string `json:"key_env,omitempty" yaml:"key_env,omitempty"`
	SAS    string `json:"sas,omitempty" yaml:"sas,omitempty"`
	SASEnv string `json:"sas_env,omitempty" yaml:"sas_env,omitempty"`

	// Workload identity; empty fields fall back to the AZURE_* variables
	// the AKS webhook injects.
	ClientID      string `json:"client_id,omitempty" yaml:"client_id,omitempty"`
	TenantID      string `json:"tenant_id,omitempty" yaml:"tenant_id,omitempty"`
	TokenFile     string `json:"token_file,omitempty" yaml:"token_file,omitempty"`
	AuthorityHost string `json:"authority_host,omitempty" yaml:"authority_host,omitempty"`
}

// Resolver opens locations. It owns the named in-memory buckets (two
// resolvers never share one) and caches one Azure client per account and
// container so that credentials and connections are reused.
type Resolver struct {
	accounts   map[string]Account
	getenv     func(string) string
	httpClient *http.Client
	credential azcore.TokenCredential

	mu  sync.Mutex
	mem map[string]*memory.Bucket
	az  map[string]*azure.Bucket // by account + "/" + container
}

// Option configures a Resolver.
type Option func(*Resolver)

// WithGetenv sets the environment lookup for KeyEnv and SASEnv (default os.Getenv).
func WithGetenv(getenv func(string) string) Option {
	return func(r *Resolver) { r.getenv = getenv }
}

// WithHTTPClient sends all Azure traffic through c.
func WithHTTPClient(c *http.Client) Option {
	return func(r *Resolver) { r.httpClient = c }
}

// WithTokenCredential makes accounts with workload_identity or default auth
// use cred instead of building their own.
func WithTokenCredential(cred azcore.TokenCredential) Option {
	return func(r *Resolver) { r.credential = cred }
}

// NewResolver checks the account table and returns a resolver for it.
// Secrets referenced through environment variables are looked up when an
// account is first used.
func NewResolver(accounts map[string]Account, opts ...Option) (*Resolver, error) {
	r := &Resolver{
		accounts: make(map[string]Account, len(accounts)),
		getenv:   os.Getenv,
		mem:      make(map[string]*memory.Bucket),
		az:       make(map[string]*azure.Bucket),
	}
	for name, a := range accounts {
		if err := a.validate(); err != nil {
			return nil, fmt.Errorf("storage account %q: %w", name, err)
		}
		r.accounts[name] = a
	}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

func (a Account) validate() error {
	if a.Endpoint == "" {
		return errors.New("endpoint is empty")
	}
	both := func(what string) error { return fmt.Errorf("both %s and %s_env are set; use one", what, what) }
	switch a.Auth {
	case azure.AuthSharedKey:
		if a.AccountName == "" {
			return errors.New("key auth needs account_name")
		}
		if a.Key != "" && a.KeyEnv != "" {
			return both("key")
		}
		if a.Key == "" && a.KeyEnv == "" {
			return errors.New("key auth needs key or key_env")
		}
	case azure.AuthSAS:
		if a.SAS != "" && a.SASEnv != "" {
			return both("sas")
		}
		if a.SAS == "" && a.SASEnv == "" {
			return errors.New("sas auth needs sas or sas_env")
		}
	case azure.AuthWorkloadIdentity, azure.AuthDefault:
	default:
		return fmt.Errorf("auth %q: want key, sas, workload_identity or default", a.Auth)
	}
	if a.Auth != azure.AuthSharedKey && (a.Key != "" || a.KeyEnv != "") {
		return fmt.Errorf("key given for %s auth", a.Auth)
	}
	if a.Auth != azure.AuthSAS && (a.SAS != "" || a.SASEnv != "") {
		return fmt.Errorf("sas given for %s auth", a.Auth)
	}
	return nil
}

// Open parses location and returns its bucket, using res for accounts and
// named in-memory buckets.
func Open(ctx context.Context, location string, res *Resolver) (objstore.Bucket, error) {
	return res.Open(ctx, location)
}

// Open parses location and returns its bucket.
func (r *Resolver) Open(ctx context.Context, location string) (objstore.Bucket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	loc, err := Parse(location)
	if err != nil {
		return nil, err
	}
	switch loc.Scheme {
	case File:
		b, err := filesystem.New(loc.Path)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", loc, err)
		}
		return b, nil
	case Mem:
		r.mu.Lock()
		b, ok := r.mem[loc.Name]
		if !ok {
			b = memory.New()
			r.mem[loc.Name] = b
		}
		r.mu.Unlock()
		return objstore.WithPrefix(b, loc.Prefix), nil
	default: // Azure; Parse admits nothing else
		b, err := r.azureBucket(loc)
		if err != nil {
			return nil, err
		}
		return objstore.WithPrefix(b, loc.Prefix), nil
	}
}

func (r *Resolver) azureBucket(loc Location) (*azure.Bucket, error) {
	a, ok := r.accounts[loc.Account]
	if !ok {
		return nil, fmt.Errorf("%w %q: unknown account %q (configured: %s)", ErrInvalid, loc.String(), loc.Account, r.accountNames())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cacheKey := loc.Account + "/" + loc.Container
	if b, ok := r.az[cacheKey]; ok {
		return b, nil
	}
	cfg := azure.Config{
		ServiceURL:    a.Endpoint,
		AccountName:   a.AccountName,
		Container:     loc.Container,
		Auth:          a.Auth,
		ClientID:      a.ClientID,
		TenantID:      a.TenantID,
		TokenFilePath: a.TokenFile,
		AuthorityHost: a.AuthorityHost,
		HTTPClient:    r.httpClient,
	}
	var err error
	switch a.Auth {
	case azure.AuthSharedKey:
		cfg.AccountKey, err = r.secret(a.Key, a.KeyEnv)
	case azure.AuthSAS:
		cfg.SASToken, err = r.secret(a.SAS, a.SASEnv)
	default:
		cfg.Credential = r.credential
	}
	if err != nil {
		return nil, fmt.Errorf("storage account %q: %w", loc.Account, err)
	}
	b, err := azure.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("storage account %q: %w", loc.Account, err)
	}
	r.az[cacheKey] = b
	return b, nil
}

// secret returns the inline value or the named variable's value. Errors name
// the variable, never a value.
func (r *Resolver) secret(inline, env string) (string, error) {
	if env == "" {
		return inline, nil
	}
	v := r.getenv(env)
	if v == "" {
		return "", fmt.Errorf("environment variable %s is unset or empty", env)
	}
	return v, nil
}

func (r *Resolver) accountNames() string {
	if len(r.accounts) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(r.accounts)), ", ")
}
