package blockcache

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/sarissa-db/sarissa/internal/objstore"
)

// errInconsistent reports that the inner bucket returned less than the
// remembered size promised: the object changed behind the cache's back.
var errInconsistent = errors.New("object does not match its cached attributes")

var errClosed = errors.New("read from a closed reader")

// reader streams [pos, end) of one object version, a window of blocks at a
// time. Every block it holds is the content of attrs.ETag: blocks come from
// the tiers under that ETag or from inner reads made while no write ran
// (see stripe), so the bytes it delivers never mix two versions.
type reader struct {
	ctx   context.Context
	b     *Bucket
	key   string
	attrs objstore.Attrs
	sn    snapshot

	pos, end int64
	// blocks is the current window, block-aligned from winStart.
	blocks           [][]byte
	winStart, winEnd int64
	closed           bool
}

func (r *reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errClosed
	}
	n := 0
	for n < len(p) {
		if r.pos >= r.end {
			if n > 0 {
				return n, nil
			}
			return 0, io.EOF
		}
		if r.pos >= r.winEnd {
			if err := r.fill(); err != nil {
				return n, fmt.Errorf("read %q at %d: %w", r.key, r.pos, err)
			}
		}
		bs := r.b.bs
		i := (r.pos - r.winStart) / bs
		blk := r.blocks[i]
		from := r.pos - r.winStart - i*bs
		to := min(int64(len(blk)), from+(r.end-r.pos))
		c := copy(p[n:], blk[from:to])
		n += c
		r.pos += int64(c)
	}
	return n, nil
}

// fill loads the window of blocks starting at the block that holds pos.
func (r *reader) fill() error {
	bs := r.b.bs
	first := r.pos / bs
	last := min(first+r.b.window, (r.end+bs-1)/bs) - 1
	blocks, err := r.b.loadBlocks(r.ctx, r.attrs, r.sn, first, last)
	if err != nil {
		if errors.Is(err, errChanged) {
			err = fmt.Errorf("object changed while being read: %w", err)
		}
		return err
	}
	r.blocks = blocks
	r.winStart = first * bs
	r.winEnd = min((last+1)*bs, r.attrs.Size)
	return nil
}

func (r *reader) Close() error {
	r.closed = true
	r.blocks = nil
	return nil
}

// blockKey is the cache key of block i of the object a describes.
func (b *Bucket) blockKey(a objstore.Attrs, i int64) cacheKey {
	return cacheKey{kind: kindBlock, ns: b.ns, key: a.Key, etag: a.ETag, blockSize: b.bs, index: i}
}

// blockLen is the length of block i of an object of size bytes.
func (b *Bucket) blockLen(size, i int64) int64 { return min(b.bs, size-i*b.bs) }

// loadBlocks returns blocks first..last of the object: from memory, from
// disk, or from the inner bucket, one ranged read per run of consecutive
// blocks that no tier holds. Concurrent loads of one block share one read:
// each block is claimed by one caller, whose result the others wait for.
// A caller finishes all its own claims before it waits on anyone else's, so
// two callers claiming overlapping windows cannot deadlock.
func (b *Bucket) loadBlocks(ctx context.Context, a objstore.Attrs, sn snapshot, first, last int64) ([][]byte, error) {
	n := int(last - first + 1)
	out := make([][]byte, n)
	keys := make([]cacheKey, n)
	for i := range keys {
		keys[i] = b.blockKey(a, first+int64(i))
	}
	counted := false
	for {
		var missing []int
		for i := range out {
			if out[i] != nil {
				continue
			}
			// Count each block once, not again when a retry looks again.
			var data []byte
			var ok bool
			if counted {
				data, ok = b.mem.peekBlock(keys[i])
			} else {
				data, ok = b.mem.block(keys[i])
			}
			if ok {
				out[i] = data
			} else {
				missing = append(missing, i)
			}
		}
		counted = true
		if len(missing) == 0 {
			return out, nil
		}
		mk := make([]flightKey, len(missing))
		for j, i := range missing {
			mk[j] = flightKey{cacheKey: keys[i]}
		}
		owned, flights := b.mem.claim(mk)
		var mine []int
		mineFl := map[int]*flight{}
		for j, i := range missing {
			if !owned[j] {
				continue
			}
			// The block may have landed between the lookup and the claim:
			// its loader stores it before it releases the claim.
			if data, ok := b.mem.peekBlock(keys[i]); ok {
				out[i] = data
				flights[j].data = data
				b.mem.finish(mk[j], flights[j])
				continue
			}
			mine = append(mine, i)
			mineFl[i] = flights[j]
		}
		if err := b.loadOwned(ctx, a, sn, first, keys, out, mine, mineFl); err != nil {
			return nil, err
		}
		again := false
		for j, i := range missing {
			if owned[j] {
				continue
			}
			if b.mem.onWait != nil {
				b.mem.onWait()
			}
			retry, err := wait(ctx, flights[j])
			if err != nil {
				return nil, err
			}
			if retry {
				again = true // the loader gave up for its own reasons, not ours
				continue
			}
			out[i] = flights[j].data
		}
		if !again {
			return out, nil
		}
	}
}

// loadOwned loads the blocks the caller claimed (indices into out) and
// finishes every one of their flights, whatever happens.
func (b *Bucket) loadOwned(ctx context.Context, a objstore.Attrs, sn snapshot, first int64,
	keys []cacheKey, out [][]byte, mine []int, fl map[int]*flight) (err error) {
	finished := map[int]bool{}
	defer func() {
		if err == nil {
			return
		}
		for _, i := range mine {
			if !finished[i] {
				fl[i].err = err
				b.mem.finish(flightKey{cacheKey: keys[i]}, fl[i])
			}
		}
	}()
	done := func(i int, data []byte) {
		out[i] = data
		finished[i] = true
		fl[i].data = data
		b.mem.finish(flightKey{cacheKey: keys[i]}, fl[i])
	}

	var need []int
	for _, i := range mine {
		if b.disk != nil {
			want := b.blockLen(a.Size, first+int64(i))
			if data, ok := b.disk.get(keys[i]); ok && int64(len(data)) == want {
				b.mem.putBlock(keys[i], data)
				done(i, data)
				continue
			} else if ok {
				// Right key, wrong length: never serve it.
				b.disk.forget(keys[i])
			}
		}
		need = append(need, i)
	}
	for len(need) > 0 {
		run := 1
		for run < len(need) && need[run] == need[run-1]+1 {
			run++
		}
		blocks, err := b.readInner(ctx, a, first+int64(need[0]), first+int64(need[run-1]))
		if err == nil && !sn.unchanged() {
			// A write through a decorator began since the snapshot: these
			// bytes may be the new version's and must not be cached under
			// the old ETag, nor mixed with the old version's blocks.
			err = errChanged
		}
		if err != nil {
			return err
		}
		for j, data := range blocks {
			i := need[j]
			b.mem.putBlock(keys[i], data)
			done(i, data)
		}
		// Waiters have their blocks already; only this caller pays for
		// the disk writes.
		if b.disk != nil {
			for j, data := range blocks {
				if err := b.disk.put(keys[need[j]], data); err != nil {
					b.log.Warn("block cache: block not cached on disk", "namespace", b.ns, "key", a.Key, "err", err)
				}
			}
		}
		need = need[run:]
	}
	return nil
}

// readInner reads blocks first..last with one ranged read, each block into
// its own buffer so that evicting one frees its memory.
func (b *Bucket) readInner(ctx context.Context, a objstore.Attrs, first, last int64) ([][]byte, error) {
	off := first * b.bs
	end := min((last+1)*b.bs, a.Size)
	b.counts.reads.Add(1)
	b.mem.inner.reads.Add(1)
	rc, err := b.inner.GetRange(ctx, a.Key, off, end-off)
	if err != nil {
		if errors.Is(err, objstore.ErrNotExist) {
			// Deleted behind the cache's back; learn it afresh next time.
			b.forget(a.Key)
		}
		return nil, err
	}
	defer rc.Close()
	blocks := make([][]byte, 0, last-first+1)
	for i := first; i <= last; i++ {
		buf := make([]byte, b.blockLen(a.Size, i))
		got, err := io.ReadFull(rc, buf)
		b.counts.readBytes.Add(int64(got))
		b.mem.inner.readBytes.Add(int64(got))
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			b.forget(a.Key)
			return nil, fmt.Errorf("block %d of %q ends after %d of %d bytes: %w", i, a.Key, got, len(buf), errInconsistent)
		}
		if err != nil {
			return nil, err
		}
		blocks = append(blocks, buf)
	}
	return blocks, nil
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
