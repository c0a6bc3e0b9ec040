package file

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"unsafe"
)

// ioTask asks for n bytes at off. done receives them once they are read;
// the slice may alias a larger chunk and may be kept (zero-copy).
type ioTask struct {
	off, n uint64
	// dst, when set, is where the bytes should end up; with a RangeReaderAt
	// source they are read straight into it and done sees dst itself.
	dst  []byte
	done func(b []byte) error
}

// sched plans and runs the reads of one Read or Take call.
//
// Decoding happens in rounds: planners enqueue reads and "then" callbacks;
// a round performs all queued reads (coalesced, in parallel), hands the
// bytes to the tasks' done callbacks in file order, then runs the thens,
// which may queue reads and thens for the next round. Binary pages need two
// rounds (offsets, then bytes), lists one more per nesting level.
// Callbacks run on the calling goroutine, one at a time, so sinks need no
// locks even where pages share a validity byte.
type sched struct {
	ctx    context.Context
	r      *Reader
	tasks  []ioTask
	thens  []func() error
	budget int64 // bytes this call may still allocate for output and scratch
}

func (s *sched) read(t ioTask) { s.tasks = append(s.tasks, t) }

func (s *sched) then(f func() error) { s.thens = append(s.thens, f) }

// reserve charges n bytes of allocation against the call's budget so that a
// corrupt row count cannot make us allocate unbounded memory.
func (s *sched) reserve(n uint64, what string) error {
	if n > uint64(s.budget) {
		return &locErr{where: what, kind: ErrInvalidArgument,
			err: fmt.Errorf("decoding needs %d more bytes, over the reader's MaxDecodeBytes budget", n)}
	}
	s.budget -= int64(n)
	return nil
}

func (s *sched) run() error {
	for len(s.tasks) > 0 || len(s.thens) > 0 {
		tasks, thens := s.tasks, s.thens
		s.tasks, s.thens = nil, nil
		if err := s.exec(tasks); err != nil {
			return err
		}
		for _, f := range thens {
			if err := f(); err != nil {
				return err
			}
		}
	}
	return nil
}

type ioGroup struct {
	off, end uint64
	tasks    []int // indexes into the sorted task list
	direct   []byte
	data     []byte
}

func (s *sched) exec(tasks []ioTask) error {
	if len(tasks) == 0 {
		return nil
	}
	opts := &s.r.opts
	slices.SortStableFunc(tasks, func(a, b ioTask) int {
		switch {
		case a.off < b.off:
			return -1
		case a.off > b.off:
			return 1
		}
		return 0
	})
	var groups []*ioGroup
	var chunk, direct *ioGroup
	for i, t := range tasks {
		if !checkRange(t.off, t.n, s.r.size) {
			return corruptf("read", "range [%d,%d) past end of file (size %d)", t.off, t.off+t.n, s.r.size)
		}
		if s.r.ra != nil && t.dst != nil && t.n >= uint64(opts.DirectReadMin) {
			if direct != nil && direct.end == t.off && adjacent(direct.direct, t.dst) &&
				direct.end-direct.off+t.n <= uint64(opts.MaxReadSize) {
				direct.end += t.n
				direct.direct = direct.direct[:len(direct.direct)+len(t.dst)]
				direct.tasks = append(direct.tasks, i)
				continue
			}
			direct = &ioGroup{off: t.off, end: t.off + t.n, tasks: []int{i}, direct: t.dst}
			groups = append(groups, direct)
			continue
		}
		end := t.off + t.n
		if chunk != nil && t.off <= chunk.end+uint64(opts.CoalesceGap) &&
			max(end, chunk.end)-chunk.off <= uint64(opts.MaxReadSize) {
			chunk.end = max(chunk.end, end)
			chunk.tasks = append(chunk.tasks, i)
			continue
		}
		chunk = &ioGroup{off: t.off, end: end, tasks: []int{i}}
		groups = append(groups, chunk)
	}

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	sem := make(chan struct{}, opts.Concurrency)
	for _, g := range groups {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := s.fetch(ctx, g)
			if err != nil {
				once.Do(func() { firstErr = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := s.ctx.Err(); err != nil {
		return err
	}
	for _, g := range groups {
		for _, i := range g.tasks {
			t := tasks[i]
			var b []byte
			if g.direct != nil {
				b = t.dst
			} else {
				b = g.data[t.off-g.off : t.off-g.off+t.n : t.off-g.off+t.n]
			}
			if err := t.done(b); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *sched) fetch(ctx context.Context, g *ioGroup) error {
	n := g.end - g.off
	if g.direct != nil {
		if err := s.r.ra.ReadRangeAt(ctx, g.direct, int64(g.off)); err != nil {
			return fmt.Errorf("read [%d,%d): %w", g.off, g.end, err)
		}
		return nil
	}
	b, err := s.r.src.ReadRange(ctx, int64(g.off), int64(n))
	if err != nil {
		return fmt.Errorf("read [%d,%d): %w", g.off, g.end, err)
	}
	if uint64(len(b)) != n {
		return corruptf("read", "range [%d,%d) returned %d bytes", g.off, g.end, len(b))
	}
	g.data = b
	return nil
}

// adjacent reports whether b starts where a ends inside one allocation: the
// sinks hand out consecutive windows of one buffer, so comparing addresses
// and capacity is enough.
func adjacent(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 || cap(a) < len(a)+len(b) {
		return false
	}
	return unsafe.Add(unsafe.Pointer(unsafe.SliceData(a)), len(a)) == unsafe.Pointer(unsafe.SliceData(b))
}
