// Package kube launches the agent's maintenance jobs as Kubernetes Jobs
// (batch/v1) that run `sarissa job run`, and reports on them.
//
// Every Job is named jobs.Spec.Name, so a duplicate launch meets
// AlreadyExists and is a no-op; it carries the spec as JSON in the
// sarissa.dev/job-spec annotation, so List rebuilds specs from the cluster
// alone and an agent that restarts, or a second agent in the namespace,
// sees the same jobs. See docs/kubernetes-jobs.md for the template, labels
// and the RBAC the agent needs.
package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sarissa-db/sarissa/internal/jobs"
)

var (
	// ErrNotFound reports that the Job a call names does not exist (any
	// more: Cleanup or the TTL controller may have deleted it).
	ErrNotFound = errors.New("kube launcher: job not found")
	// ErrNameTaken reports that an object not created by a sarissa agent
	// holds a job's name in the namespace.
	ErrNameTaken = errors.New("kube launcher: job name taken by a job the agent did not create")
)

// listPageSize bounds one List response; the agent's namespace holds
// hundreds of Jobs at most, but the API server's memory per request
// should not depend on that.
const listPageSize = 500

// Deps are the launcher's collaborators.
type Deps struct {
	// Logger receives launches, duplicates and skipped Jobs. Nil: discard.
	Logger *slog.Logger
	// Now is the clock Cleanup measures age with. Nil: time.Now.
	Now func() time.Time
}

// Launcher runs jobs as Kubernetes Jobs in one namespace. It is safe for
// concurrent use; it holds no state beyond its configuration, so several
// launchers (and agents) may share a namespace.
type Launcher struct {
	client kubernetes.Interface
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
}

var _ jobs.Launcher = (*Launcher)(nil)

// New returns a launcher that creates Jobs through client. cfg must pass
// Validate; its defaults are applied here.
func New(client kubernetes.Interface, cfg Config, deps Deps) (*Launcher, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: no Kubernetes client", ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Launcher{client: client, cfg: cfg.withDefaults(), log: deps.Logger, now: deps.Now}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

func (l *Launcher) jobsClient() jobsAPI {
	return l.client.BatchV1().Jobs(l.cfg.Namespace)
}

// jobsAPI is the part of the typed Jobs client the launcher uses.
type jobsAPI interface {
	Create(ctx context.Context, job *batchv1.Job, opts metav1.CreateOptions) (*batchv1.Job, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*batchv1.Job, error)
	List(ctx context.Context, opts metav1.ListOptions) (*batchv1.JobList, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// Launch creates spec's Job. When a Job of that name exists and a sarissa
// agent created it, Launch returns nil, whatever that Job's state: the
// work was decided already. An invalid spec matches jobs.ErrInvalid; a Job
// the API server refuses (bad resources, node selector, ...) returns its
// error wrapped, for which apierrors.IsInvalid is true.
func (l *Launcher) Launch(ctx context.Context, spec jobs.Spec) error {
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("launch %s: %w", spec, err)
	}
	job, err := buildJob(l.cfg, spec)
	if err != nil {
		return fmt.Errorf("launch %s: %w", spec, err)
	}
	name := job.Name
	_, err = l.jobsClient().Create(ctx, job, metav1.CreateOptions{FieldManager: ValueManagedBy})
	switch {
	case err == nil:
		l.log.InfoContext(ctx, "job launched", "job", name, "namespace", l.cfg.Namespace, "spec", spec.String())
		return nil
	case apierrors.IsAlreadyExists(err):
		return l.checkDuplicate(ctx, spec, name)
	default:
		return fmt.Errorf("launch %s: create job %s/%s: %w", spec, l.cfg.Namespace, name, err)
	}
}

// checkDuplicate makes sure the Job that holds name is a sarissa job:
// returning nil for someone else's object would report work as started
// that nobody does.
func (l *Launcher) checkDuplicate(ctx context.Context, spec jobs.Spec, name string) error {
	existing, err := l.jobsClient().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		// Deleted between Create and Get: it finished long enough ago for
		// Cleanup or the TTL controller. The agent decides again on its
		// next pass; launching here could race a second agent.
		l.log.InfoContext(ctx, "job exists no more after a duplicate launch", "job", name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("launch %s: get existing job %s/%s: %w", spec, l.cfg.Namespace, name, err)
	}
	if existing.Labels[LabelManagedBy] != ValueManagedBy {
		return fmt.Errorf("launch %s: job %s/%s: %w", spec, l.cfg.Namespace, name, ErrNameTaken)
	}
	l.log.DebugContext(ctx, "job already launched", "job", name, "spec", spec.String())
	return nil
}

// List returns the Jobs of every sarissa agent in the namespace, finished
// ones included until Cleanup or the TTL controller removes them. A Job
// with the agent's labels whose spec annotation is missing or unreadable
// is logged and left out: it cannot be matched to any decision.
func (l *Launcher) List(ctx context.Context) ([]jobs.Status, error) {
	var out []jobs.Status
	err := l.eachJob(ctx, func(job *batchv1.Job) {
		st, err := jobStatus(job)
		if err != nil {
			l.log.WarnContext(ctx, "skipping job with an unreadable spec", "job", job.Name, "err", err)
			return
		}
		out = append(out, st)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachJob calls fn with every Job of the sarissa agents, page by page.
func (l *Launcher) eachJob(ctx context.Context, fn func(*batchv1.Job)) error {
	opts := metav1.ListOptions{LabelSelector: managedSelector(), Limit: listPageSize}
	for {
		page, err := l.jobsClient().List(ctx, opts)
		if err != nil {
			return fmt.Errorf("list jobs in %s: %w", l.cfg.Namespace, err)
		}
		for i := range page.Items {
			fn(&page.Items[i])
		}
		if page.Continue == "" {
			return nil
		}
		opts.Continue = page.Continue
	}
}

// Cleanup deletes the sarissa Jobs that finished more than olderThan ago
// and returns how many it deleted. It does what TTLSecondsAfterFinished
// asks of the cluster's TTL controller, for clusters (and tests) without
// one. Pods go with their Job (propagation Background: the garbage
// collector deletes them after the Job). A Job deleted meanwhile by
// someone else is not an error; other delete failures are returned
// together after every Job was tried.
func (l *Launcher) Cleanup(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := l.now().Add(-olderThan)
	var old []*batchv1.Job
	err := l.eachJob(ctx, func(job *batchv1.Job) {
		state, _ := jobState(job.Status)
		if !state.Done() {
			return
		}
		_, finished := jobTimes(job)
		if finished.IsZero() {
			// Finished without a recorded time (not what the Job
			// controller writes): its age is at least the Job's.
			finished = job.CreationTimestamp.Time
		}
		if finished.Before(cutoff) {
			old = append(old, job)
		}
	})
	if err != nil {
		return 0, fmt.Errorf("cleanup: %w", err)
	}
	background := metav1.DeletePropagationBackground
	deleted := 0
	var errs []error
	for _, job := range old {
		uid := job.UID
		err := l.jobsClient().Delete(ctx, job.Name, metav1.DeleteOptions{
			PropagationPolicy: &background,
			// The UID precondition: a Job re-created under the same name
			// since the List is new work, not this old Job.
			Preconditions: &metav1.Preconditions{UID: &uid},
		})
		switch {
		case err == nil:
			deleted++
			l.log.InfoContext(ctx, "finished job deleted", "job", job.Name)
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		default:
			errs = append(errs, fmt.Errorf("delete job %s/%s: %w", l.cfg.Namespace, job.Name, err))
		}
	}
	if len(errs) > 0 {
		return deleted, fmt.Errorf("cleanup: %w", errors.Join(errs...))
	}
	return deleted, nil
}

// Wait polls the Job called name every interval (a second when interval
// is not positive) until it has finished, and returns its final status. A
// failed job is a status, not an error. A Job that does not exist, or
// disappears, yields ErrNotFound.
func (l *Launcher) Wait(ctx context.Context, name string, interval time.Duration) (jobs.Status, error) {
	if interval <= 0 {
		interval = time.Second
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return jobs.Status{}, fmt.Errorf("wait for job %s/%s: %w", l.cfg.Namespace, name, ctx.Err())
		case <-timer.C:
		}
		job, err := l.jobsClient().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return jobs.Status{}, fmt.Errorf("wait for job %s/%s: %w", l.cfg.Namespace, name, ErrNotFound)
		}
		if err != nil {
			return jobs.Status{}, fmt.Errorf("wait for job %s/%s: %w", l.cfg.Namespace, name, err)
		}
		st, err := jobStatus(job)
		if err != nil {
			return jobs.Status{}, fmt.Errorf("wait: %w", err)
		}
		if st.State.Done() {
			return st, nil
		}
		timer.Reset(interval)
	}
}
