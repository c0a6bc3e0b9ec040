package kube

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/sarissa-db/sarissa/internal/jobs"
)

// jobState maps a Job's status to a jobs.State, with the failure message
// of a failed Job.
//
// Only the terminal conditions Complete and Failed finish a job. The Job
// controller first sets SuccessCriteriaMet or FailureTarget and only then,
// once the pods have terminated, Complete or Failed; in between a pod may
// still be writing, so the job is reported running: the agent treats a
// finished job's slot as free, and the slot is not free yet.
//
// Before that, a job runs when one of its pods is ready (a pod without a
// readiness probe is ready once its container started), and is pending
// while its pods are being scheduled or pulling the image, or while the
// Job is suspended (e.g. queued by Kueue). Between two attempts (a pod
// failed, the replacement is not up yet) the job counts as running: it has
// started, and it is not done.
func jobState(st batchv1.JobStatus) (jobs.State, string) {
	if c := findCondition(st, batchv1.JobComplete); c != nil {
		return jobs.StateSucceeded, ""
	}
	if c := findCondition(st, batchv1.JobFailed); c != nil {
		return jobs.StateFailed, failureMessage(c)
	}
	if findCondition(st, batchv1.JobSuspended) != nil {
		return jobs.StatePending, ""
	}
	switch {
	case st.Ready != nil && *st.Ready > 0:
		return jobs.StateRunning, ""
	case st.Ready == nil && st.Active > 0:
		// A controller that does not count ready pods (the field is
		// optional): an active pod is the best evidence there is.
		return jobs.StateRunning, ""
	case st.Failed > 0 || st.Succeeded > 0:
		return jobs.StateRunning, ""
	case findCondition(st, batchv1.JobFailureTarget) != nil,
		findCondition(st, batchv1.JobSuccessCriteriaMet) != nil:
		return jobs.StateRunning, ""
	}
	return jobs.StatePending, ""
}

// findCondition returns the condition of type t when it is true.
func findCondition(st batchv1.JobStatus, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range st.Conditions {
		if c := &st.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// failureMessage is "Reason: message" of a Failed condition, e.g.
// "BackoffLimitExceeded: Job has reached the specified backoff limit".
func failureMessage(c *batchv1.JobCondition) string {
	switch {
	case c.Reason != "" && c.Message != "":
		return c.Reason + ": " + c.Message
	case c.Reason != "":
		return c.Reason
	case c.Message != "":
		return c.Message
	}
	return "job failed"
}

// jobTimes are a Job's start and finish times: StartTime is when the
// controller started the Job's first pod; a Complete Job has CompletionTime,
// a Failed one only the time its Failed condition became true.
func jobTimes(job *batchv1.Job) (started, finished time.Time) {
	st := job.Status
	if st.StartTime != nil {
		started = st.StartTime.Time
	}
	if st.CompletionTime != nil {
		finished = st.CompletionTime.Time
	} else if c := findCondition(st, batchv1.JobComplete); c != nil {
		finished = c.LastTransitionTime.Time
	} else if c := findCondition(st, batchv1.JobFailed); c != nil {
		finished = c.LastTransitionTime.Time
	}
	return started, finished
}

// jobStatus is the jobs.Status of a Job the launcher created.
func jobStatus(job *batchv1.Job) (jobs.Status, error) {
	spec, err := decodeSpec(job.Annotations)
	if err != nil {
		return jobs.Status{}, fmt.Errorf("job %s/%s: %w", job.Namespace, job.Name, err)
	}
	state, msg := jobState(job.Status)
	started, finished := jobTimes(job)
	if !state.Done() {
		// A finish time without a terminal condition would claim an end
		// that has not happened.
		finished = time.Time{}
	}
	return jobs.Status{
		Spec:     spec,
		Name:     job.Name,
		State:    state,
		Error:    msg,
		Started:  started,
		Finished: finished,
	}, nil
}
