package jobs

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func waitState(t *testing.T, l Launcher, name string, want State) Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := l.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range list {
			if st.Name == name && st.State == want {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s never reached %s: %+v", name, want, list)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLocalLaunchesOncePerName(t *testing.T) {
	var runs atomic.Int32
	release := make(chan struct{})
	l := NewLocal(RunnerFunc(func(ctx context.Context, s Spec) error {
		runs.Add(1)
		<-release
		return nil
	}), LocalConfig{}, LocalDeps{})
	defer l.Close()
	spec := Spec{Kind: KindCompact, Database: "db", Table: "t", Version: 3}
	for range 5 {
		if err := l.Launch(context.Background(), spec); err != nil {
			t.Fatal(err)
		}
	}
	waitState(t, l, spec.Name(), StateRunning)
	close(release)
	st := waitState(t, l, spec.Name(), StateSucceeded)
	if st.Started.IsZero() || st.Finished.Before(st.Started) {
		t.Fatalf("times: %+v", st)
	}
	if err := l.Launch(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("ran %d times, want once", n)
	}
	// Another version is another job.
	spec.Version = 4
	if err := l.Launch(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, spec.Name(), StateSucceeded)
	if n := runs.Load(); n != 2 {
		t.Fatalf("ran %d times, want twice", n)
	}
}

func TestLocalBoundsRunningAndReportsFailures(t *testing.T) {
	var mu sync.Mutex
	running, peak := 0, 0
	l := NewLocal(RunnerFunc(func(ctx context.Context, s Spec) error {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		if s.Table == "bad" {
			return errors.New("disk on fire")
		}
		return nil
	}), LocalConfig{MaxRunning: 2}, LocalDeps{})
	defer l.Close()
	var names []string
	for i, tbl := range []string{"a", "b", "c", "d", "bad"} {
		s := Spec{Kind: KindCleanup, Database: "db", Table: tbl, Version: uint64(i)}
		names = append(names, s.Name())
		if err := l.Launch(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names[:4] {
		waitState(t, l, n, StateSucceeded)
	}
	st := waitState(t, l, names[4], StateFailed)
	if !strings.Contains(st.Error, "disk on fire") {
		t.Fatalf("failure not reported: %+v", st)
	}
	if peak > 2 {
		t.Fatalf("%d jobs ran at once, want at most 2", peak)
	}
	if err := l.Launch(context.Background(), Spec{Kind: KindIndex, Database: "db", Table: "t"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("index job without an index: %v", err)
	}
}

func TestLocalForgetsFinishedJobs(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var runs atomic.Int32
	l := NewLocal(RunnerFunc(func(context.Context, Spec) error { runs.Add(1); return nil }), LocalConfig{Retain: time.Minute}, LocalDeps{Now: clock})
	defer l.Close()
	spec := Spec{Kind: KindCompact, Database: "db", Table: "t", Version: 1}
	if err := l.Launch(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, spec.Name(), StateSucceeded)
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if list, _ := l.List(context.Background()); len(list) != 0 {
		t.Fatalf("finished job still listed after Retain: %+v", list)
	}
	if err := l.Launch(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, spec.Name(), StateSucceeded)
	if runs.Load() != 2 {
		t.Fatalf("ran %d times, want a second run once the first was forgotten", runs.Load())
	}
}

func TestLocalCloseCancelsJobs(t *testing.T) {
	started := make(chan struct{})
	l := NewLocal(RunnerFunc(func(ctx context.Context, s Spec) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}), LocalConfig{}, LocalDeps{})
	spec := Spec{Kind: KindCompact, Database: "db", Table: "t"}
	if err := l.Launch(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	<-started
	l.Close()
	list, _ := l.List(context.Background())
	if len(list) != 1 || list[0].State != StateFailed {
		t.Fatalf("after Close: %+v", list)
	}
	if err := l.Launch(context.Background(), Spec{Kind: KindCompact, Database: "db", Table: "u"}); err == nil {
		t.Fatal("Launch after Close succeeded")
	}
}

func TestSpecNameAndArgs(t *testing.T) {
	a := Spec{Kind: KindIndex, Database: "db", Table: "ns$t", Version: 12, Index: "vec_idx"}
	if got := a.Name(); !strings.HasPrefix(got, "sarissa-index-") || !strings.HasSuffix(got, "-v12") || len(got) > 63 {
		t.Fatalf("name %q", got)
	}
	b := a
	b.Table = "ns$u"
	if a.Name() == b.Name() || a.Slot() == b.Slot() {
		t.Fatal("different tables share a name or slot")
	}
	c := a
	c.Version = 13
	if a.Name() == c.Name() || a.Slot() != c.Slot() {
		t.Fatal("versions must change the name but not the slot")
	}
	want := "job run --kind index --database db --table ns$t --version 12 --index vec_idx"
	if got := strings.Join(JobArgs(a), " "); got != want {
		t.Fatalf("args %q, want %q", got, want)
	}
	for _, bad := range []Spec{{Kind: "nope", Database: "d", Table: "t"}, {Kind: KindCompact, Table: "t"}, {Kind: KindCompact, Database: "d", Table: "t", Index: "x"}} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
