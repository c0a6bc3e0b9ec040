package azure

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// StatusError is a failed service call: the HTTP status and Azure's error
// code, without the response body (which can be long and, for
// authentication failures, echo request details). The SDK's
// *azcore.ResponseError stays reachable through errors.As.
type StatusError struct {
	StatusCode int
	Code       string
	err        *azcore.ResponseError
}

func (e *StatusError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d", e.StatusCode)
	}
	return fmt.Sprintf("HTTP %d %s", e.StatusCode, e.Code)
}

func (e *StatusError) Unwrap() error { return e.err }

// redactedError replaces an error's text with a scrubbed copy while keeping
// it in the chain for errors.Is (context cancellation, reader errors).
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// clean turns an SDK or transport error into one safe to log: service
// failures become a StatusError, URLs lose their query (where a SAS token
// lives), and any remaining occurrence of a secret is masked.
func (b *Bucket) clean(err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return &StatusError{StatusCode: re.StatusCode, Code: re.ErrorCode, err: re}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// net/http reports failed requests as *url.Error with the full URL.
		err = &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: ue.Err}
	}
	msg := err.Error()
	for _, s := range b.secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "REDACTED")
		}
	}
	return &redactedError{msg: msg, err: err}
}

func isCode(err error, codes ...string) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	for _, c := range codes {
		if re.ErrorCode == c {
			return true
		}
	}
	return false
}

func statusOf(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// isNotFound reports a missing blob. A HEAD response has no body, but the
// service repeats the code in a header, so the code is usually present; a
// bare 404 counts too. A missing container is not "object not found": that
// is a configuration error and must not read as an empty table.
func isNotFound(err error) bool {
	if isCode(err, "BlobNotFound") {
		return true
	}
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == 404 && re.ErrorCode == ""
}

// redactURL drops the query of a URL string.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.IndexByte(s, '?'); i >= 0 {
			return s[:i] + "?REDACTED"
		}
		return s
	}
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	u.User = nil
	return u.String()
}

// sasSecrets lists the forms in which a SAS token could appear in text: the
// whole token and its signature, raw and decoded.
func sasSecrets(sas string) []string {
	out := []string{sas}
	if q, err := url.ParseQuery(sas); err == nil {
		if sig := q.Get("sig"); sig != "" {
			out = append(out, sig, url.QueryEscape(sig))
		}
	}
	return out
}
