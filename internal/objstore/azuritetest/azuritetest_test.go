package azuritetest_test

import (
	"net/http"
	"testing"

	"github.com/sarissa-db/sarissa/internal/objstore/azuritetest"
)

func TestStartServesBlobAPI(t *testing.T) {
	s := azuritetest.Start(t)
	name := s.NewContainer(t)
	// An anonymous request to a private container must reach Azurite and be
	// refused by it, proving the server speaks the blob protocol.
	resp, err := http.Get(s.Endpoint + "/" + name + "?restype=container&comp=list")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || resp.Header.Get("x-ms-request-id") == "" {
		t.Fatalf("anonymous list: status %d, request id %q; want a refusal from Azurite", resp.StatusCode, resp.Header.Get("x-ms-request-id"))
	}
}

func TestStartWithTLS(t *testing.T) {
	s := azuritetest.Start(t, azuritetest.WithTLSAndOAuth())
	s.NewContainer(t)
}
