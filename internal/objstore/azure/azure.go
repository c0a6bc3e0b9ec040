package azure

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/sarissa-db/sarissa/internal/objstore"
	"github.com/sarissa-db/sarissa/internal/objstore/internal/ctxio"
)

// putIDKey names the metadata entry in which PutIfAbsent records a random
// per-call identifier; see PutIfAbsent for why.
const putIDKey = "sarissaputid"

// Bucket is an objstore.Bucket over one Azure Blob container.
type Bucket struct {
	c           *container.Client
	prefix      string   // "" or ends with '/'
	secrets     []string // scrubbed from error text
	blockSize   int64
	concurrency int
}

var _ objstore.Bucket = (*Bucket)(nil)

// New returns a bucket for cfg. It does no I/O; a missing container or bad
// credentials show up on first use.
func New(cfg Config) (*Bucket, error) {
	prefix, err := cfg.blobPrefix()
	if err != nil {
		return nil, fmt.Errorf("azure bucket: %w", err)
	}
	c, secrets, err := cfg.containerClient()
	if err != nil {
		return nil, fmt.Errorf("azure bucket %q: %w", cfg.Container, err)
	}
	b := &Bucket{c: c, prefix: prefix, secrets: secrets, blockSize: cfg.UploadBlockSize, concurrency: cfg.UploadConcurrency}
	if b.blockSize == 0 {
		b.blockSize = defaultBlockSize
	}
	b.blockSize = max(b.blockSize, minBlockSize)
	if b.concurrency <= 0 {
		b.concurrency = defaultConcurrency
	}
	return b, nil
}

// name validates key and returns the blob name.
func (b *Bucket) name(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := objstore.ValidateKey(key); err != nil {
		return "", err
	}
	name := b.prefix + key
	if len(name) > maxBlobNameLen {
		return "", fmt.Errorf("%w %q: blob name is %d bytes, Azure allows %d", objstore.ErrInvalidKey, key, len(name), maxBlobNameLen)
	}
	return name, nil
}

func (b *Bucket) fail(op, key string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("azure %s %q: %w", op, key, objstore.ErrNotExist)
	}
	return fmt.Errorf("azure %s %q: %w", op, key, b.clean(err))
}

// Get implements objstore.Bucket.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return b.download(ctx, "get", key, blob.HTTPRange{})
}

// GetRange implements objstore.Bucket.
func (b *Bucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("azure get %q range: negative offset %d", key, off)
	}
	if length == 0 {
		// The SDK reads Count 0 as "to the end", so an empty range needs
		// its own path; Stat still reports a missing object.
		if _, err := b.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	return b.download(ctx, "get", key, blob.HTTPRange{Offset: off, Count: max(length, 0)})
}

func (b *Bucket) download(ctx context.Context, op, key string, rng blob.HTTPRange) (io.ReadCloser, error) {
	name, err := b.name(ctx, key)
	if err != nil {
		return nil, err
	}
	resp, err := b.c.NewBlobClient(name).DownloadStream(ctx, &blob.DownloadStreamOptions{Range: rng})
	if isCode(err, "InvalidRange") {
		// The range starts at or past the end (the blob exists, or the
		// answer would be 404): truncated to nothing.
		return io.NopCloser(strings.NewReader("")), nil
	}
	if err != nil {
		return nil, b.fail(op, key, err)
	}
	// The retry reader resumes a broken download with If-Match on the
	// original ETag, so a resumed read fails rather than splicing in a
	// newer version.
	body := resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: 3})
	return &cleanReader{rc: body, b: b, op: op, key: key}, nil
}

// cleanReader scrubs errors from a download body the same way as call errors.
type cleanReader struct {
	rc      io.ReadCloser
	b       *Bucket
	op, key string
}

func (r *cleanReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		err = r.b.fail(r.op, r.key, err)
	}
	return n, err
}

func (r *cleanReader) Close() error { return r.rc.Close() }

// Stat implements objstore.Bucket.
func (b *Bucket) Stat(ctx context.Context, key string) (objstore.Attrs, error) {
	props, err := b.properties(ctx, "stat", key)
	if err != nil {
		return objstore.Attrs{}, err
	}
	a := objstore.Attrs{Key: key}
	if props.ContentLength != nil {
		a.Size = *props.ContentLength
	}
	if props.ETag != nil {
		a.ETag = normalizeETag(*props.ETag)
	}
	if props.LastModified != nil {
		a.LastModified = *props.LastModified
	}
	return a, nil
}

func (b *Bucket) properties(ctx context.Context, op, key string) (blob.GetPropertiesResponse, error) {
	name, err := b.name(ctx, key)
	if err != nil {
		return blob.GetPropertiesResponse{}, err
	}
	props, err := b.c.NewBlobClient(name).GetProperties(ctx, nil)
	if err != nil {
		return blob.GetPropertiesResponse{}, b.fail(op, key, err)
	}
	return props, nil
}

// Put implements objstore.Bucket. Content is streamed in blocks; the blob
// changes only when the block list is committed, so readers never see a
// partial object. Committing discards other writers' uncommitted blocks, so
// two concurrent Puts of one multi-block object can fail with
// InvalidBlockList; data files have unique names, so this does not arise.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader) error {
	name, err := b.name(ctx, key)
	if err != nil {
		return err
	}
	if _, err := b.c.NewBlockBlobClient(name).UploadStream(ctx, ctxio.Reader(ctx, r), b.uploadOptions(nil, nil)); err != nil {
		return b.fail("put", key, err)
	}
	return nil
}

// PutIfAbsent implements objstore.Bucket with If-None-Match: *.
//
// The SDK retries failed requests, so a write that succeeded on the service
// but lost its response is retried and then fails with 409: the caller would
// believe it lost a commit it won. Each call therefore tags its upload with a
// random identifier, and a conflict whose existing blob carries our own
// identifier is reported as success.
func (b *Bucket) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	name, err := b.name(ctx, key)
	if err != nil {
		return err
	}
	id, err := newPutID()
	if err != nil {
		return fmt.Errorf("azure put-if-absent %q: %w", key, err)
	}
	cond := &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}}
	meta := map[string]*string{putIDKey: to.Ptr(id)}
	_, err = b.c.NewBlockBlobClient(name).UploadStream(ctx, ctxio.Reader(ctx, r), b.uploadOptions(cond, meta))
	if err == nil {
		return nil
	}
	// 409 BlobAlreadyExists for a single-request upload, 412 ConditionNotMet
	// for a block list commit. InvalidBlockList means a concurrent commit of
	// the same name discarded our staged blocks: the name is taken.
	if !isCode(err, "BlobAlreadyExists", "ConditionNotMet", "InvalidBlockList") && statusOf(err) != 409 && statusOf(err) != 412 {
		return b.fail("put-if-absent", key, err)
	}
	props, perr := b.properties(ctx, "put-if-absent", key)
	switch {
	case perr == nil && metadata(props.Metadata, putIDKey) == id:
		return nil
	case perr == nil:
		return fmt.Errorf("azure put-if-absent %q: %w", key, objstore.ErrExists)
	case errors.Is(perr, objstore.ErrNotExist) && !isCode(err, "InvalidBlockList"):
		// Deleted again right after the winner wrote it; still a lost race.
		return fmt.Errorf("azure put-if-absent %q: %w", key, objstore.ErrExists)
	default:
		return b.fail("put-if-absent", key, err)
	}
}

// metadata looks a name up case-insensitively: the SDK returns names as
// net/http canonicalized the headers they came in ("Sarissaputid").
func metadata(m map[string]*string, name string) string {
	for k, v := range m {
		if strings.EqualFold(k, name) && v != nil {
			return *v
		}
	}
	return ""
}

func newPutID() (string, error) {
	var buf [16]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", fmt.Errorf("random put id: %w", err)
	}
	return hex.EncodeToString(buf[:]), nil
}

func (b *Bucket) uploadOptions(cond *blob.AccessConditions, meta map[string]*string) *blockblob.UploadStreamOptions {
	return &blockblob.UploadStreamOptions{
		BlockSize:        b.blockSize,
		Concurrency:      b.concurrency,
		AccessConditions: cond,
		Metadata:         meta,
	}
}

// List implements objstore.Bucket with a flat listing, which the service
// returns in lexical order. Directory marker blobs of accounts with a
// hierarchical namespace, and names that are not valid keys, are skipped.
func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[objstore.Attrs, error] {
	return func(yield func(objstore.Attrs, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(objstore.Attrs{}, err)
			return
		}
		if err := objstore.ValidatePrefix(prefix); err != nil {
			yield(objstore.Attrs{}, err)
			return
		}
		pager := b.c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{
			Prefix:  to.Ptr(b.prefix + prefix),
			Include: container.ListBlobsInclude{Metadata: true},
		})
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				yield(objstore.Attrs{}, fmt.Errorf("azure list %q: %w", prefix, b.clean(err)))
				return
			}
			for _, item := range page.Segment.BlobItems {
				a, ok := b.attrsOf(item)
				if !ok {
					continue
				}
				if !yield(a, nil) {
					return
				}
			}
		}
	}
}

func (b *Bucket) attrsOf(item *container.BlobItem) (objstore.Attrs, bool) {
	if item.Name == nil {
		return objstore.Attrs{}, false
	}
	key, ok := strings.CutPrefix(*item.Name, b.prefix)
	if !ok || objstore.ValidateKey(key) != nil {
		return objstore.Attrs{}, false
	}
	if strings.EqualFold(metadata(item.Metadata, "hdi_isfolder"), "true") {
		return objstore.Attrs{}, false
	}
	a := objstore.Attrs{Key: key}
	if p := item.Properties; p != nil {
		if p.ContentLength != nil {
			a.Size = *p.ContentLength
		}
		if p.ETag != nil {
			a.ETag = normalizeETag(*p.ETag)
		}
		if p.LastModified != nil {
			a.LastModified = *p.LastModified
		}
	}
	return a, true
}

// normalizeETag drops the quotes the service puts around ETags in headers
// but not in listings, so Stat and List agree.
func normalizeETag(e azcore.ETag) string {
	s := string(e)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// Delete implements objstore.Bucket, removing the blob with its snapshots.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	name, err := b.name(ctx, key)
	if err != nil {
		return err
	}
	_, err = b.c.NewBlobClient(name).Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: to.Ptr(blob.DeleteSnapshotsOptionTypeInclude)})
	if err != nil && !isNotFound(err) {
		return b.fail("delete", key, err)
	}
	return nil
}
