// Package objstoretest is the conformance suite every objstore.Bucket
// implementation runs. It checks the contract written on objstore.Bucket,
// including the atomic PutIfAbsent the Lance commit protocol relies on.
package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/sarissa-db/sarissa/internal/objstore"
)

type config struct {
	raceRounds  int
	raceWriters int
	tornRounds  int
	largeSize   int
}

// Option adjusts the suite for a slow backend.
type Option func(*config)

// RaceRounds sets how many rounds of concurrent PutIfAbsent calls the race
// test runs (default 50). Remote backends pass fewer.
func RaceRounds(n int) Option { return func(c *config) { c.raceRounds = n } }

// TornRounds sets how many overwrites the torn-read test performs (default 200).
func TornRounds(n int) Option { return func(c *config) { c.tornRounds = n } }

// LargeObjectSize sets the size of the object used to test streamed puts
// (default 3 MiB). Backends that split uploads into blocks should pass a size
// spanning several blocks.
func LargeObjectSize(n int) Option { return func(c *config) { c.largeSize = n } }

// RunSuite runs the conformance tests. newBucket must return an empty bucket
// that is not shared with any other call; it may register cleanups on t.
func RunSuite(t *testing.T, newBucket func(t *testing.T) objstore.Bucket, opts ...Option) {
	cfg := config{raceRounds: 50, raceWriters: 16, tornRounds: 200, largeSize: 3 << 20}
	for _, o := range opts {
		o(&cfg)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, b objstore.Bucket)
	}{
		{"Missing", testMissing},
		{"PutGet", testPutGet},
		{"EmptyObject", testEmptyObject},
		{"Ranges", testRanges},
		{"ReadRange", testReadRange},
		{"Overwrite", testOverwrite},
		{"PutIfAbsent", testPutIfAbsent},
		{"FailedPutLeavesNothing", testFailedPut},
		{"Delete", testDelete},
		{"InvalidKeys", testInvalidKeys},
		{"CanceledContext", testCanceledContext},
		{"CancelDuringPut", testCancelDuringPut},
		{"ListOrder", testListOrder},
		{"ListPrefixes", testListPrefixes},
		{"ListEarlyStop", testListEarlyStop},
		{"FileDirectoryConflict", testFileDirConflict},
		{"WithPrefix", testWithPrefix},
		{"LargeObject", func(t *testing.T, b objstore.Bucket) { testLargeObject(t, b, cfg.largeSize) }},
		{"ReaderSurvivesOverwrite", testReaderSurvivesOverwrite},
		{"PutIfAbsentRace", func(t *testing.T, b objstore.Bucket) {
			testPutIfAbsentRace(t, b, cfg.raceRounds, cfg.raceWriters)
		}},
		{"NoTornReads", func(t *testing.T, b objstore.Bucket) { testNoTornReads(t, b, cfg.tornRounds) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newBucket(t)) })
	}
}

func put(t *testing.T, b objstore.Bucket, key string, data []byte) {
	t.Helper()
	if err := b.Put(t.Context(), key, bytes.NewReader(data)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func readAll(t *testing.T, b objstore.Bucket, key string) []byte {
	t.Helper()
	data, err := objstore.ReadAll(t.Context(), b, key)
	if err != nil {
		t.Fatalf("ReadAll(%q): %v", key, err)
	}
	return data
}

func stat(t *testing.T, b objstore.Bucket, key string) objstore.Attrs {
	t.Helper()
	a, err := b.Stat(t.Context(), key)
	if err != nil {
		t.Fatalf("Stat(%q): %v", key, err)
	}
	return a
}

func wantContent(t *testing.T, b objstore.Bucket, key string, want []byte) {
	t.Helper()
	if got := readAll(t, b, key); !bytes.Equal(got, want) {
		t.Fatalf("content of %q: got %d bytes %q, want %d bytes %q", key, len(got), clip(got), len(want), clip(want))
	}
}

func wantNotExist(t *testing.T, b objstore.Bucket, key string) {
	t.Helper()
	if _, err := b.Stat(t.Context(), key); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Stat(%q): got %v, want ErrNotExist", key, err)
	}
	if rc, err := b.Get(t.Context(), key); !errors.Is(err, objstore.ErrNotExist) {
		if err == nil {
			rc.Close()
		}
		t.Fatalf("Get(%q): got %v, want ErrNotExist", key, err)
	}
}

func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// pattern returns n deterministic bytes that differ per seed, so a misplaced
// range or a mix of two versions shows up as a content mismatch.
func pattern(seed byte, n int) []byte {
	out := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range out {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out[i] = byte(x)
	}
	return out
}

func testMissing(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	wantNotExist(t, b, "missing")
	wantNotExist(t, b, "dir/missing")
	if rc, err := b.GetRange(ctx, "missing", 0, 10); !errors.Is(err, objstore.ErrNotExist) {
		if err == nil {
			rc.Close()
		}
		t.Fatalf("GetRange(missing): got %v, want ErrNotExist", err)
	}
	if rc, err := b.GetRange(ctx, "missing", 0, 0); !errors.Is(err, objstore.ErrNotExist) {
		if err == nil {
			rc.Close()
		}
		t.Fatalf("GetRange(missing, zero length): got %v, want ErrNotExist", err)
	}
	if err := b.Delete(ctx, "missing"); err != nil {
		t.Fatalf("Delete(missing): %v", err)
	}
	for a, err := range b.List(ctx, "") {
		t.Fatalf("List on empty bucket yielded %+v, %v", a, err)
	}
}

func testPutGet(t *testing.T, b objstore.Bucket) {
	before := time.Now()
	data := pattern(1, 1000)
	put(t, b, "dir/sub/obj.bin", data)
	wantContent(t, b, "dir/sub/obj.bin", data)

	a := stat(t, b, "dir/sub/obj.bin")
	if a.Key != "dir/sub/obj.bin" || a.Size != int64(len(data)) || a.ETag == "" {
		t.Fatalf("Stat: got %+v, want key dir/sub/obj.bin, size %d, non-empty ETag", a, len(data))
	}
	// Remote clocks and second-granularity timestamps allow some slack.
	if a.LastModified.Before(before.Add(-time.Hour)) || a.LastModified.After(time.Now().Add(time.Hour)) {
		t.Fatalf("Stat: LastModified %v is not near now (%v)", a.LastModified, before)
	}
	// A prefix of the key is not an object.
	wantNotExist(t, b, "dir/sub")
	wantNotExist(t, b, "dir")
}

func testEmptyObject(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	put(t, b, "empty", nil)
	wantContent(t, b, "empty", []byte{})
	if a := stat(t, b, "empty"); a.Size != 0 {
		t.Fatalf("Stat(empty).Size = %d, want 0", a.Size)
	}
	for _, r := range [][2]int64{{0, -1}, {0, 10}, {0, 0}, {5, 1}} {
		got := getRange(t, b, "empty", r[0], r[1])
		if len(got) != 0 {
			t.Fatalf("GetRange(empty, %d, %d) = %q, want nothing", r[0], r[1], got)
		}
	}
	if err := b.PutIfAbsent(ctx, "empty2", bytes.NewReader(nil)); err != nil {
		t.Fatalf("PutIfAbsent(empty2): %v", err)
	}
	if err := b.PutIfAbsent(ctx, "empty2", bytes.NewReader(nil)); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("second PutIfAbsent(empty2): got %v, want ErrExists", err)
	}
	got := collect(t, b, "")
	if len(got) != 2 || got[0].Key != "empty" || got[0].Size != 0 || got[1].Key != "empty2" {
		t.Fatalf("List: got %+v, want empty and empty2 with size 0", got)
	}
}

func getRange(t *testing.T, b objstore.Bucket, key string, off, length int64) []byte {
	t.Helper()
	rc, err := b.GetRange(t.Context(), key, off, length)
	if err != nil {
		t.Fatalf("GetRange(%q, %d, %d): %v", key, off, length, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("GetRange(%q, %d, %d): read: %v", key, off, length, err)
	}
	return data
}

func testRanges(t *testing.T, b objstore.Bucket) {
	data := pattern(2, 1000)
	put(t, b, "r", data)
	tests := []struct {
		name        string
		off, length int64
		want        []byte
	}{
		{"whole", 0, -1, data},
		{"head", 0, 10, data[:10]},
		{"middle", 100, 50, data[100:150]},
		{"to end", 900, -1, data[900:]},
		{"exactly to end", 900, 100, data[900:]},
		{"past end truncated", 990, 100, data[990:]},
		{"last byte", 999, 1, data[999:]},
		{"zero length", 500, 0, nil},
		{"start at end", 1000, 10, nil},
		{"start past end", 5000, 10, nil},
		{"start past end to end", 5000, -1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := getRange(t, b, "r", tc.off, tc.length)
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("GetRange(%d, %d): got %d bytes, want %d", tc.off, tc.length, len(got), len(tc.want))
			}
		})
	}
	if rc, err := b.GetRange(t.Context(), "r", -1, 10); err == nil {
		rc.Close()
		t.Fatal("GetRange with negative offset succeeded")
	}
}

func testReadRange(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	data := pattern(3, 100)
	put(t, b, "rr", data)
	got, err := objstore.ReadRange(ctx, b, "rr", 10, 20)
	if err != nil || !bytes.Equal(got, data[10:30]) {
		t.Fatalf("ReadRange(10, 20): got %q, %v", got, err)
	}
	got, err = objstore.ReadRange(ctx, b, "rr", 100, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadRange(100, 0): got %q, %v", got, err)
	}
	for _, r := range [][2]int64{{90, 20}, {100, 1}, {200, 5}} {
		if _, err := objstore.ReadRange(ctx, b, "rr", r[0], r[1]); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("ReadRange(%d, %d) of a 100-byte object: got %v, want io.ErrUnexpectedEOF", r[0], r[1], err)
		}
	}
	if _, err := objstore.ReadRange(ctx, b, "nope", 0, 1); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("ReadRange(missing): got %v, want ErrNotExist", err)
	}
}

func testOverwrite(t *testing.T, b objstore.Bucket) {
	// Same size and written back to back: an ETag built from size and a
	// coarse timestamp alone would not change.
	first, second := pattern(4, 64), pattern(5, 64)
	put(t, b, "o", first)
	a1 := stat(t, b, "o")
	put(t, b, "o", second)
	a2 := stat(t, b, "o")
	if a1.ETag == a2.ETag {
		t.Fatalf("ETag %q did not change after overwriting with different content", a1.ETag)
	}
	wantContent(t, b, "o", second)
	listed := collect(t, b, "o")
	if len(listed) != 1 || listed[0].ETag != a2.ETag || listed[0].Size != a2.Size {
		t.Fatalf("List after overwrite: got %+v, want one entry with ETag %q size %d", listed, a2.ETag, a2.Size)
	}
}

func testPutIfAbsent(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	first := []byte("first")
	if err := b.PutIfAbsent(ctx, "v/1", bytes.NewReader(first)); err != nil {
		t.Fatalf("PutIfAbsent: %v", err)
	}
	etag := stat(t, b, "v/1").ETag
	err := b.PutIfAbsent(ctx, "v/1", bytes.NewReader([]byte("second, longer")))
	if !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("second PutIfAbsent: got %v, want ErrExists", err)
	}
	wantContent(t, b, "v/1", first)
	if got := stat(t, b, "v/1").ETag; got != etag {
		t.Fatalf("losing PutIfAbsent changed ETag from %q to %q", etag, got)
	}
	if err := b.Delete(ctx, "v/1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := b.PutIfAbsent(ctx, "v/1", bytes.NewReader([]byte("third"))); err != nil {
		t.Fatalf("PutIfAbsent after Delete: %v", err)
	}
	wantContent(t, b, "v/1", []byte("third"))
}

// failingReader yields some data, then fails.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func testFailedPut(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	boom := errors.New("reader exploded")
	old := []byte("old content")
	put(t, b, "keep", old)

	err := b.Put(ctx, "keep", &failingReader{data: pattern(6, 5000), err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("Put with failing reader: got %v, want the reader's error", err)
	}
	wantContent(t, b, "keep", old)

	err = b.PutIfAbsent(ctx, "fresh", &failingReader{data: pattern(7, 5000), err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("PutIfAbsent with failing reader: got %v, want the reader's error", err)
	}
	wantNotExist(t, b, "fresh")
	// The failed attempt must not block a later one, nor leave anything listed.
	if err := b.PutIfAbsent(ctx, "fresh", bytes.NewReader([]byte("ok"))); err != nil {
		t.Fatalf("PutIfAbsent after failed attempt: %v", err)
	}
	keys := keysOf(collect(t, b, ""))
	if fmt.Sprint(keys) != "[fresh keep]" {
		t.Fatalf("List after failed puts: got %q, want [fresh keep]", keys)
	}
}

func testDelete(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	put(t, b, "d/x", []byte("x"))
	put(t, b, "d/y", []byte("y"))
	for range 2 { // deleting twice is not an error
		if err := b.Delete(ctx, "d/x"); err != nil {
			t.Fatalf("Delete(d/x): %v", err)
		}
	}
	wantNotExist(t, b, "d/x")
	wantContent(t, b, "d/y", []byte("y"))
	// "d" is a prefix of keys, not an object: deleting it removes nothing.
	if err := b.Delete(ctx, "d"); err != nil {
		t.Fatalf("Delete(d): %v", err)
	}
	if keys := keysOf(collect(t, b, "")); fmt.Sprint(keys) != "[d/y]" {
		t.Fatalf("List after deletes: got %q, want [d/y]", keys)
	}
}

var invalidKeys = []string{
	"", "/a", "a/", "a//b", ".", "..", "./a", "a/.", "a/./b", "a/../b", "../a",
	`a\b`, "a\x00b", "a\nb", "a\x7fb", "\xff\xfe",
}

func testInvalidKeys(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	for _, key := range invalidKeys {
		checks := map[string]error{
			"Put":         b.Put(ctx, key, bytes.NewReader([]byte("x"))),
			"PutIfAbsent": b.PutIfAbsent(ctx, key, bytes.NewReader([]byte("x"))),
			"Delete":      b.Delete(ctx, key),
		}
		_, checks["Stat"] = b.Stat(ctx, key)
		rc, err := b.Get(ctx, key)
		if err == nil {
			rc.Close()
		}
		checks["Get"] = err
		rc, err = b.GetRange(ctx, key, 0, 1)
		if err == nil {
			rc.Close()
		}
		checks["GetRange"] = err
		for op, err := range checks {
			if !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("%s(%q): got %v, want ErrInvalidKey", op, key, err)
			}
		}
	}
	for _, prefix := range []string{"/a", "a//", "a//b", "./", "../x", "a/./b", `a\`, "a\x00"} {
		_, err := firstErr(b.List(ctx, prefix))
		if !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("List(%q): got %v, want ErrInvalidKey", prefix, err)
		}
	}
	if keys := keysOf(collect(t, b, "")); len(keys) != 0 {
		t.Fatalf("invalid keys created objects: %q", keys)
	}
}

func testCanceledContext(t *testing.T, b objstore.Bucket) {
	put(t, b, "c", []byte("content"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	checks := map[string]error{
		"Put":         b.Put(ctx, "c2", bytes.NewReader([]byte("x"))),
		"PutIfAbsent": b.PutIfAbsent(ctx, "c3", bytes.NewReader([]byte("x"))),
		"Delete":      b.Delete(ctx, "c"),
	}
	_, checks["Stat"] = b.Stat(ctx, "c")
	_, checks["List"] = firstErr(b.List(ctx, ""))
	rc, err := b.Get(ctx, "c")
	if err == nil {
		rc.Close()
	}
	checks["Get"] = err
	rc, err = b.GetRange(ctx, "c", 0, 3)
	if err == nil {
		rc.Close()
	}
	checks["GetRange"] = err
	for op, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with canceled context: got %v, want context.Canceled", op, err)
		}
	}
	wantContent(t, b, "c", []byte("content"))
	wantNotExist(t, b, "c2")
	wantNotExist(t, b, "c3")
}

// cancelingReader cancels its context after handing out some data and then
// never ends, so only honoring the context can stop the Put.
type cancelingReader struct {
	cancel context.CancelFunc
	sent   int
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	if c.sent > 64<<10 {
		c.cancel()
	}
	for i := range p {
		p[i] = 'x'
	}
	c.sent += len(p)
	return len(p), nil
}

func testCancelDuringPut(t *testing.T, b objstore.Bucket) {
	for _, op := range []string{"Put", "PutIfAbsent"} {
		ctx, cancel := context.WithCancel(t.Context())
		r := &cancelingReader{cancel: cancel}
		var err error
		if op == "Put" {
			err = b.Put(ctx, "endless", r)
		} else {
			err = b.PutIfAbsent(ctx, "endless", r)
		}
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s canceled mid-stream: got %v, want context.Canceled", op, err)
		}
		wantNotExist(t, b, "endless")
	}
}
