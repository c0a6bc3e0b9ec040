package kube

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/sarissa-db/sarissa/internal/jobs"
)

// The fake clientset performs no validation and ignores delete options;
// these tests cover the launcher's own logic. envtest_test.go (build tag
// k8s) runs the same calls against a real API server.

type fakeEnv struct {
	client *fake.Clientset
	l      *Launcher
	logs   *bytes.Buffer
	now    time.Time
}

func newFakeEnv(t *testing.T, objects ...runtime.Object) *fakeEnv {
	t.Helper()
	e := &fakeEnv{client: fake.NewClientset(objects...), logs: &bytes.Buffer{}, now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	l, err := New(e.client, validConfig(), Deps{
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return e.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.l = l
	return e
}

func (e *fakeEnv) jobs(t *testing.T) []batchv1.Job {
	t.Helper()
	list, err := e.client.BatchV1().Jobs("sarissa").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// setStatus plays the Job controller.
func (e *fakeEnv) setStatus(t *testing.T, name string, st batchv1.JobStatus) {
	t.Helper()
	ctx := context.Background()
	job, err := e.client.BatchV1().Jobs("sarissa").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	job.Status = st
	if _, err := e.client.BatchV1().Jobs("sarissa").UpdateStatus(ctx, job, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestLaunchIsIdempotent(t *testing.T) {
	ctx := context.Background()
	e := newFakeEnv(t)
	for range 3 {
		if err := e.l.Launch(ctx, indexSpec); err != nil {
			t.Fatalf("Launch: %v", err)
		}
	}
	got := e.jobs(t)
	if len(got) != 1 || got[0].Name != indexSpec.Name() {
		t.Fatalf("jobs after three launches: %d", len(got))
	}
	if !strings.Contains(e.logs.String(), "job already launched") {
		t.Errorf("duplicates not logged:\n%s", e.logs)
	}
	if err := e.l.Launch(ctx, compactSpec); err != nil {
		t.Fatal(err)
	}
	if n := len(e.jobs(t)); n != 2 {
		t.Errorf("%d jobs after a second spec", n)
	}
}

func TestLaunchRefuses(t *testing.T) {
	ctx := context.Background()
	foreign := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: compactSpec.Name(), Namespace: "sarissa", Labels: map[string]string{"app": "other"}}}
	e := newFakeEnv(t, foreign)

	if err := e.l.Launch(ctx, jobs.Spec{Kind: jobs.KindIndex, Database: "d", Table: "t"}); !errors.Is(err, jobs.ErrInvalid) {
		t.Errorf("spec without index: %v, want jobs.ErrInvalid", err)
	}
	if err := e.l.Launch(ctx, compactSpec); !errors.Is(err, ErrNameTaken) {
		t.Errorf("name held by a foreign job: %v, want ErrNameTaken", err)
	}

	e.client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(batchv1.Resource("jobs"), "x", errors.New("RBAC says no"))
	})
	err := e.l.Launch(ctx, indexSpec)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "create job sarissa/"+indexSpec.Name()) {
		t.Errorf("forbidden create: %v", err)
	}
}

func TestListMapsStates(t *testing.T) {
	ctx := context.Background()
	start := metav1.NewTime(time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC))
	end := metav1.NewTime(start.Add(time.Minute))
	// Not the launcher's: no labels. Is the launcher's by label, but
	// without a readable spec: skipped with a warning.
	other := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "sarissa"}}
	broken := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "broken", Namespace: "sarissa", Labels: ownLabels(compactSpec),
		Annotations: map[string]string{AnnotationSpec: "{not json"}}}
	e := newFakeEnv(t, other, broken)

	specs := map[jobs.State]jobs.Spec{
		jobs.StatePending:   {Kind: jobs.KindCompact, Database: "d", Table: "pending", Version: 1},
		jobs.StateRunning:   {Kind: jobs.KindCompact, Database: "d", Table: "running", Version: 1},
		jobs.StateSucceeded: {Kind: jobs.KindCleanup, Database: "d", Table: "succeeded", Version: 1},
		jobs.StateFailed:    {Kind: jobs.KindIndex, Database: "d", Table: "failed", Version: 1, Index: "i"},
	}
	for _, spec := range specs {
		if err := e.l.Launch(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	e.setStatus(t, specs[jobs.StateRunning].Name(), batchv1.JobStatus{StartTime: &start, Active: 1, Ready: ptr[int32](1)})
	e.setStatus(t, specs[jobs.StateSucceeded].Name(), batchv1.JobStatus{StartTime: &start, CompletionTime: &end, Succeeded: 1,
		Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: end}}})
	e.setStatus(t, specs[jobs.StateFailed].Name(), batchv1.JobStatus{StartTime: &start, Failed: 3,
		Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: end}}})

	list, err := e.l.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(specs) {
		t.Fatalf("List returned %d jobs, want %d: %+v", len(list), len(specs), list)
	}
	for _, st := range list {
		if specs[st.State] != st.Spec || st.Name != st.Spec.Name() {
			t.Errorf("status %+v: spec for its state is %+v", st, specs[st.State])
		}
		switch st.State {
		case jobs.StateFailed:
			if st.Error != "BackoffLimitExceeded: Job has reached the specified backoff limit" || !st.Finished.Equal(end.Time) {
				t.Errorf("failed: %+v", st)
			}
		case jobs.StateSucceeded:
			if !st.Started.Equal(start.Time) || !st.Finished.Equal(end.Time) {
				t.Errorf("succeeded: %+v", st)
			}
		}
	}
	if !strings.Contains(e.logs.String(), "skipping job with an unreadable spec") || !strings.Contains(e.logs.String(), "broken") {
		t.Errorf("broken job not logged:\n%s", e.logs)
	}
}

func TestCleanupDeletesFinishedOldJobs(t *testing.T) {
	ctx := context.Background()
	e := newFakeEnv(t)
	hourAgo := metav1.NewTime(e.now.Add(-time.Hour))
	minuteAgo := metav1.NewTime(e.now.Add(-time.Minute))
	spec := func(table string) jobs.Spec {
		return jobs.Spec{Kind: jobs.KindCompact, Database: "d", Table: table, Version: 1}
	}
	complete := func(at metav1.Time) batchv1.JobStatus {
		return batchv1.JobStatus{StartTime: &hourAgo, CompletionTime: &at, Succeeded: 1,
			Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: at}}}
	}
	failed := func(at metav1.Time) batchv1.JobStatus {
		return batchv1.JobStatus{StartTime: &hourAgo, Failed: 1,
			Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "DeadlineExceeded", LastTransitionTime: at}}}
	}
	cases := map[string]struct {
		status batchv1.JobStatus
		gone   bool
	}{
		"old-complete": {complete(hourAgo), true},
		"old-failed":   {failed(hourAgo), true},
		"new-complete": {complete(minuteAgo), false},
		"new-failed":   {failed(minuteAgo), false},
		"old-running":  {batchv1.JobStatus{StartTime: &hourAgo, Active: 1, Ready: ptr[int32](1)}, false},
		"old-pending":  {batchv1.JobStatus{}, false},
	}
	for table, c := range cases {
		if err := e.l.Launch(ctx, spec(table)); err != nil {
			t.Fatal(err)
		}
		e.setStatus(t, spec(table).Name(), c.status)
	}
	foreign := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "foreign", Namespace: "sarissa"}, Status: complete(hourAgo)}
	if _, err := e.client.BatchV1().Jobs("sarissa").Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	n, err := e.l.Cleanup(ctx, 30*time.Minute)
	if err != nil || n != 2 {
		t.Fatalf("Cleanup = %d, %v; want 2, nil", n, err)
	}
	left := map[string]bool{}
	for _, j := range e.jobs(t) {
		left[j.Name] = true
	}
	for table, c := range cases {
		if left[spec(table).Name()] == c.gone {
			t.Errorf("%s: present %v after cleanup", table, left[spec(table).Name()])
		}
	}
	if !left["foreign"] {
		t.Error("Cleanup deleted a job it did not create")
	}
	for _, a := range e.client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok {
			opts := d.GetDeleteOptions()
			if opts.PropagationPolicy == nil || *opts.PropagationPolicy != metav1.DeletePropagationBackground || opts.Preconditions == nil || opts.Preconditions.UID == nil {
				t.Errorf("delete %s with %+v, want background propagation and a UID precondition", d.GetName(), opts)
			}
		}
	}

	// Delete failures are reported, after every candidate was tried; a
	// Job someone else deleted meanwhile is not a failure.
	e.now = e.now.Add(time.Hour)
	calls := 0
	e.client.PrependReactor("delete", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		calls++
		if a.(k8stesting.DeleteAction).GetName() == spec("new-complete").Name() {
			return true, nil, apierrors.NewNotFound(batchv1.Resource("jobs"), "gone")
		}
		return true, nil, apierrors.NewInternalError(errors.New("etcd is sad"))
	})
	n, err = e.l.Cleanup(ctx, 30*time.Minute)
	if n != 0 || err == nil || !strings.Contains(err.Error(), "etcd is sad") || calls != 2 {
		t.Errorf("Cleanup with failing deletes = %d, %v after %d calls", n, err, calls)
	}
}

func TestWait(t *testing.T) {
	ctx := context.Background()
	e := newFakeEnv(t)
	if err := e.l.Launch(ctx, indexSpec); err != nil {
		t.Fatal(err)
	}
	// The fourth Get finds the Job complete. (A reactor must not call the
	// clientset: the fake holds its lock while reactors run.)
	done, err := e.client.BatchV1().Jobs("sarissa").Get(ctx, indexSpec.Name(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	at := metav1.NewTime(e.now)
	done.Status = batchv1.JobStatus{StartTime: &at, CompletionTime: &at, Succeeded: 1,
		Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: at}}}
	gets := 0
	e.client.PrependReactor("get", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.GetAction).GetName() != indexSpec.Name() {
			return false, nil, nil
		}
		gets++
		if gets >= 4 {
			return true, done.DeepCopy(), nil
		}
		return false, nil, nil
	})
	st, err := e.l.Wait(ctx, indexSpec.Name(), time.Millisecond)
	if err != nil || st.State != jobs.StateSucceeded || st.Spec != indexSpec || gets != 4 {
		t.Fatalf("Wait = %+v, %v after %d gets", st, err, gets)
	}

	if _, err := e.l.Wait(ctx, "sarissa-index-000000000000-v1", time.Millisecond); !errors.Is(err, ErrNotFound) {
		t.Errorf("Wait for a missing job: %v, want ErrNotFound", err)
	}
	if err := e.l.Launch(ctx, compactSpec); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := e.l.Wait(short, compactSpec.Name(), time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait for a job that never ends: %v, want the context's error", err)
	}
}

func TestNewClientErrors(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	if _, err := NewClient(""); !errors.Is(err, rest.ErrNotInCluster) {
		t.Errorf("NewClient outside a pod: %v, want rest.ErrNotInCluster", err)
	}
	missing := filepath.Join(t.TempDir(), "kubeconfig")
	if _, err := NewClient(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("NewClient with a missing kubeconfig: %v", err)
	}
}
