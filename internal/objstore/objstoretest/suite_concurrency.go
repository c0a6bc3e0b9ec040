package objstoretest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/sarissa-db/sarissa/internal/objstore"
)

// patternReader streams pattern-like bytes without holding them in memory,
// so a Put that buffers everything is the implementation's doing.
type patternReader struct {
	x    uint32
	left int
}

func newPatternReader(seed byte, n int) *patternReader {
	return &patternReader{x: uint32(seed)*2654435761 + 1, left: n}
}

func (p *patternReader) Read(buf []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := min(len(buf), p.left)
	for i := range n {
		p.x ^= p.x << 13
		p.x ^= p.x >> 17
		p.x ^= p.x << 5
		buf[i] = byte(p.x)
	}
	p.left -= n
	return n, nil
}

func testLargeObject(t *testing.T, b objstore.Bucket, size int) {
	ctx := t.Context()
	want := pattern(9, size)
	wantSum := sha256.Sum256(want)
	if err := b.Put(ctx, "large", newPatternReader(9, size)); err != nil {
		t.Fatalf("Put(large): %v", err)
	}
	if got := readAll(t, b, "large"); sha256.Sum256(got) != wantSum {
		t.Fatalf("large object: got %d bytes with a different digest, want %d bytes", len(got), size)
	}
	if a := stat(t, b, "large"); a.Size != int64(size) {
		t.Fatalf("Stat(large).Size = %d, want %d", a.Size, size)
	}
	// A range across the 1 MiB mark, where block-based uploads split.
	off := int64(1<<20) - 7
	if int64(size) > off+20 {
		got, err := objstore.ReadRange(ctx, b, "large", off, 20)
		if err != nil || !bytes.Equal(got, want[off:off+20]) {
			t.Fatalf("ReadRange across 1 MiB: got %x, %v; want %x", got, err, want[off:off+20])
		}
	}
	if err := b.PutIfAbsent(ctx, "large-once", newPatternReader(9, size)); err != nil {
		t.Fatalf("PutIfAbsent(large-once): %v", err)
	}
	err := b.PutIfAbsent(ctx, "large-once", newPatternReader(10, size))
	if !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("second large PutIfAbsent: got %v, want ErrExists", err)
	}
	if got := readAll(t, b, "large-once"); sha256.Sum256(got) != wantSum {
		t.Fatal("losing large PutIfAbsent changed the content")
	}
}

// testReaderSurvivesOverwrite opens a reader, overwrites the object, then
// finishes reading: the reader must deliver the old content or fail, never a
// splice of old and new.
func testReaderSurvivesOverwrite(t *testing.T, b objstore.Bucket) {
	old, replacement := pattern(11, 4096), pattern(12, 4096)
	put(t, b, "o", old)
	rc, err := b.Get(t.Context(), "o")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, 10)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	put(t, b, "o", replacement)
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Logf("reader failed after overwrite (allowed): %v", err)
		return
	}
	if got := append(head, rest...); !bytes.Equal(got, old) {
		t.Fatalf("reader opened before overwrite returned %d bytes that are not the old content", len(got))
	}
	wantContent(t, b, "o", replacement)
}

// testPutIfAbsentRace is the property the commit protocol stands on: among
// concurrent PutIfAbsent calls for one key exactly one wins, every time, and
// the stored content is the winner's.
func testPutIfAbsentRace(t *testing.T, b objstore.Bucket, rounds, writers int) {
	for round := range rounds {
		key := fmt.Sprintf("race/%03d.manifest", round)
		contents := make([][]byte, writers)
		for i := range contents {
			// Different sizes per writer, so a mix of two would be visible.
			contents[i] = bytes.Repeat(fmt.Appendf(nil, "round %d writer %d|", round, i), i+1)
		}
		errs := make([]error, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				<-start
				errs[i] = b.PutIfAbsent(t.Context(), key, bytes.NewReader(contents[i]))
			})
		}
		close(start)
		wg.Wait()

		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: writers %d and %d both won", round, winner, i)
				}
				winner = i
			case !errors.Is(err, objstore.ErrExists):
				t.Fatalf("round %d: writer %d: got %v, want nil or ErrExists", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer won", round)
		}
		wantContent(t, b, key, contents[winner])
	}
	if got := len(collect(t, b, "race/")); got != rounds {
		t.Fatalf("List(race/): got %d objects, want %d", got, rounds)
	}
}

// testNoTornReads overwrites one key with two alternating versions of
// different sizes while readers keep reading it; each read must return one
// version whole.
func testNoTornReads(t *testing.T, b objstore.Bucket, rounds int) {
	versions := [][]byte{pattern(13, 150_000), pattern(14, 90_000)}
	put(t, b, "torn", versions[0])

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range rounds {
			if err := b.Put(t.Context(), "torn", bytes.NewReader(versions[(i+1)%2])); err != nil {
				t.Errorf("Put round %d: %v", i, err)
				return
			}
		}
	})
	reads := make([]int, 2)
	for r := range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := objstore.ReadAll(t.Context(), b, "torn")
				if err != nil {
					t.Errorf("reader %d: %v", r, err)
					return
				}
				if !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
					t.Errorf("reader %d: read %d bytes matching neither version", r, len(got))
					return
				}
				reads[r]++
			}
		})
	}
	wg.Wait()
	t.Logf("%d overwrites, %d whole reads", rounds, reads[0]+reads[1])
}
