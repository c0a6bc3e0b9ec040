package azure_test

import (
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/sarissa-db/sarissa/internal/objstore/azuritetest"
)

// containerSAS signs a container-scoped SAS with every permission the bucket
// uses, valid for ttl.
func containerSAS(t *testing.T, s *azuritetest.Server, container string, ttl time.Duration) string {
	t.Helper()
	cred := s.SharedKeyCredential(t)
	perms := sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}
	qp, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPSandHTTP,
		StartTime:     time.Now().Add(-time.Minute).UTC(),
		ExpiryTime:    time.Now().Add(ttl).UTC(),
		Permissions:   perms.String(),
		ContainerName: container,
	}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	return qp.Encode()
}
