// Package azure is an objstore.Bucket over one Azure Blob Storage container
// (optionally under a key prefix), using the azblob SDK.
//
// PutIfAbsent relies on the service's conditional write (If-None-Match: *),
// which is atomic across all writers. Credentials never appear in errors:
// SAS tokens are stripped from URLs the SDK or net/http put into messages.
package azure

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/sarissa-db/sarissa/internal/objstore"
)

// AuthKind selects how requests are authorized.
type AuthKind string

const (
	// AuthSharedKey signs requests with the storage account key.
	AuthSharedKey AuthKind = "key"
	// AuthSAS appends a shared access signature to every request.
	AuthSAS AuthKind = "sas"
	// AuthWorkloadIdentity exchanges a projected Kubernetes service-account
	// token for an Entra ID token (AKS Workload Identity).
	AuthWorkloadIdentity AuthKind = "workload_identity"
	// AuthDefault uses azidentity's DefaultAzureCredential chain.
	AuthDefault AuthKind = "default"
)

// Config describes one container and how to reach it.
type Config struct {
	// ServiceURL is the account's blob endpoint, e.g.
	// https://acct.blob.core.windows.net or, for Azurite,
	// http://127.0.0.1:10000/devstoreaccount1. It must not carry a query.
	ServiceURL  string
	AccountName string // required for AuthSharedKey
	Container   string
	// Prefix restricts the bucket to keys under this directory (see
	// objstore.WithPrefix); empty means the whole container.
	Prefix string

	Auth       AuthKind
	AccountKey string // AuthSharedKey: base64 account key
	SASToken   string // AuthSAS: the query string, with or without a leading '?'

	// Workload identity. Empty fields fall back to the AZURE_CLIENT_ID,
	// AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST
	// variables the AKS webhook injects (azidentity reads them).
	ClientID      string
	TenantID      string
	TokenFilePath string
	AuthorityHost string // Entra endpoint; for sovereign clouds and tests
	// DisableInstanceDiscovery skips Entra's metadata discovery, needed for
	// authorities Entra does not know (private clouds, test servers).
	DisableInstanceDiscovery bool

	// Credential, if set, is used instead of building one for
	// AuthWorkloadIdentity or AuthDefault (or when Auth is empty).
	Credential azcore.TokenCredential
	// HTTPClient carries all requests, including token requests; nil means
	// the SDK default. Tests use it to trust a local certificate.
	HTTPClient *http.Client
	// Retry tunes the SDK's retry policy; the zero value keeps its defaults.
	Retry policy.RetryOptions

	// UploadBlockSize is the block size of streamed uploads (default and
	// minimum 4 MiB; the SDK's minimum is 1 MiB). Objects smaller than one
	// block are written with a single request.
	UploadBlockSize int64
	// UploadConcurrency bounds the blocks in flight per upload (default 4);
	// each holds one block-sized buffer.
	UploadConcurrency int
}

const (
	defaultBlockSize   = 4 << 20
	minBlockSize       = 1 << 20
	defaultConcurrency = 4
	maxBlobNameLen     = 1024
)

// ValidateContainerName applies Azure's container naming rules: 3 to 63
// characters, lowercase letters, digits and single hyphens, starting and
// ending with a letter or digit.
func ValidateContainerName(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("container name %q: length %d, want 3 to 63", name, len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-':
			if i == 0 || i == len(name)-1 || name[i-1] == '-' {
				return fmt.Errorf("container name %q: hyphen at position %d (not first, last or doubled)", name, i)
			}
		default:
			return fmt.Errorf("container name %q: character %q at position %d (want a-z, 0-9 or '-')", name, c, i)
		}
	}
	return nil
}

// containerClient builds the SDK client and the list of secret strings that
// must be scrubbed from errors.
func (cfg Config) containerClient() (*container.Client, []string, error) {
	u, err := url.Parse(cfg.ServiceURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fmt.Errorf("service URL %q: want http(s)://host[/path]", redactURL(cfg.ServiceURL))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, nil, errors.New("service URL: must not carry a query or fragment (put a SAS token in SASToken)")
	}
	if err := ValidateContainerName(cfg.Container); err != nil {
		return nil, nil, err
	}
	containerURL := strings.TrimSuffix(cfg.ServiceURL, "/") + "/" + cfg.Container

	opts := &container.ClientOptions{}
	opts.Retry = cfg.Retry
	if cfg.HTTPClient != nil {
		opts.Transport = cfg.HTTPClient
	}

	switch cfg.Auth {
	case AuthSharedKey:
		if cfg.AccountName == "" || cfg.AccountKey == "" {
			return nil, nil, errors.New("shared key auth: account name and account key are required")
		}
		if cfg.Credential != nil {
			return nil, nil, errors.New("shared key auth: a token credential was also given")
		}
		cred, err := container.NewSharedKeyCredential(cfg.AccountName, cfg.AccountKey)
		if err != nil {
			// The SDK's message would not include the key, but say only what matters.
			return nil, nil, errors.New("shared key auth: account key is not valid base64")
		}
		c, err := container.NewClientWithSharedKeyCredential(containerURL, cred, opts)
		return c, []string{cfg.AccountKey}, err
	case AuthSAS:
		sas := strings.TrimPrefix(cfg.SASToken, "?")
		if sas == "" {
			return nil, nil, errors.New("SAS auth: SAS token is empty")
		}
		if cfg.Credential != nil {
			return nil, nil, errors.New("SAS auth: a token credential was also given")
		}
		if _, err := url.ParseQuery(sas); err != nil {
			return nil, nil, errors.New("SAS auth: SAS token is not a valid query string")
		}
		c, err := container.NewClientWithNoCredential(containerURL+"?"+sas, opts)
		return c, sasSecrets(sas), err
	case AuthWorkloadIdentity, AuthDefault, "":
		cred := cfg.Credential
		if cred == nil {
			if cfg.Auth == "" {
				return nil, nil, errors.New("auth kind is empty (want key, sas, workload_identity or default)")
			}
			if cred, err = cfg.tokenCredential(); err != nil {
				return nil, nil, err
			}
		}
		c, err := container.NewClient(containerURL, cred, opts)
		return c, nil, err
	default:
		return nil, nil, fmt.Errorf("auth kind %q: want key, sas, workload_identity or default", cfg.Auth)
	}
}

func (cfg Config) tokenCredential() (azcore.TokenCredential, error) {
	var copts azcore.ClientOptions
	if cfg.HTTPClient != nil {
		copts.Transport = cfg.HTTPClient
	}
	if cfg.AuthorityHost != "" {
		copts.Cloud = cloud.AzurePublic
		copts.Cloud.ActiveDirectoryAuthorityHost = cfg.AuthorityHost
	}
	switch cfg.Auth {
	case AuthWorkloadIdentity:
		cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions:            copts,
			ClientID:                 cfg.ClientID,
			TenantID:                 cfg.TenantID,
			TokenFilePath:            cfg.TokenFilePath,
			DisableInstanceDiscovery: cfg.DisableInstanceDiscovery,
		})
		if err != nil {
			return nil, fmt.Errorf("workload identity credential: %w", err)
		}
		return cred, nil
	default:
		cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions:            copts,
			TenantID:                 cfg.TenantID,
			DisableInstanceDiscovery: cfg.DisableInstanceDiscovery,
		})
		if err != nil {
			return nil, fmt.Errorf("default Azure credential: %w", err)
		}
		return cred, nil
	}
}

// blobPrefix turns Config.Prefix into the string prepended to keys.
func (cfg Config) blobPrefix() (string, error) {
	dir := strings.TrimSuffix(cfg.Prefix, "/")
	if dir == "" {
		return "", nil
	}
	if err := objstore.ValidateKey(dir); err != nil {
		return "", fmt.Errorf("prefix: %w", err)
	}
	return dir + "/", nil
}
