package kube

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sarissa-db/sarissa/internal/jobs"
)

func cond(t batchv1.JobConditionType, status corev1.ConditionStatus, reason, msg string, at time.Time) batchv1.JobCondition {
	return batchv1.JobCondition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(at)}
}

func TestJobState(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status batchv1.JobStatus
		want   jobs.State
		msg    string
	}{
		{"new", batchv1.JobStatus{}, jobs.StatePending, ""},
		{"pod scheduling", batchv1.JobStatus{Active: 1, Ready: ptr[int32](0)}, jobs.StatePending, ""},
		{"pod ready", batchv1.JobStatus{Active: 1, Ready: ptr[int32](1)}, jobs.StateRunning, ""},
		{"active, no ready count", batchv1.JobStatus{Active: 1}, jobs.StateRunning, ""},
		{"between attempts", batchv1.JobStatus{Failed: 1, Ready: ptr[int32](0)}, jobs.StateRunning, ""},
		{"suspended", batchv1.JobStatus{Conditions: []batchv1.JobCondition{cond(batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "", at)}}, jobs.StatePending, ""},
		{"resumed", batchv1.JobStatus{Active: 1, Ready: ptr[int32](1), Conditions: []batchv1.JobCondition{cond(batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "", at)}}, jobs.StateRunning, ""},
		{"success criteria met, pod terminating", batchv1.JobStatus{Succeeded: 1, Conditions: []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, "CompletionsReached", "", at)}}, jobs.StateRunning, ""},
		{"failure target, pod terminating", batchv1.JobStatus{Conditions: []batchv1.JobCondition{cond(batchv1.JobFailureTarget, corev1.ConditionTrue, "DeadlineExceeded", "", at)}}, jobs.StateRunning, ""},
		{"complete", batchv1.JobStatus{Succeeded: 1, Conditions: []batchv1.JobCondition{
			cond(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, "CompletionsReached", "", at),
			cond(batchv1.JobComplete, corev1.ConditionTrue, "CompletionsReached", "Reached expected number of succeeded pods", at),
		}}, jobs.StateSucceeded, ""},
		{"failed", batchv1.JobStatus{Failed: 3, Conditions: []batchv1.JobCondition{
			cond(batchv1.JobFailureTarget, corev1.ConditionTrue, "BackoffLimitExceeded", "Job has reached the specified backoff limit", at),
			cond(batchv1.JobFailed, corev1.ConditionTrue, "BackoffLimitExceeded", "Job has reached the specified backoff limit", at),
		}}, jobs.StateFailed, "BackoffLimitExceeded: Job has reached the specified backoff limit"},
		{"failed, reason only", batchv1.JobStatus{Conditions: []batchv1.JobCondition{cond(batchv1.JobFailed, corev1.ConditionTrue, "DeadlineExceeded", "", at)}}, jobs.StateFailed, "DeadlineExceeded"},
		{"failed, nothing said", batchv1.JobStatus{Conditions: []batchv1.JobCondition{cond(batchv1.JobFailed, corev1.ConditionTrue, "", "", at)}}, jobs.StateFailed, "job failed"},
		{"false conditions count for nothing", batchv1.JobStatus{Conditions: []batchv1.JobCondition{
			cond(batchv1.JobComplete, corev1.ConditionFalse, "", "", at), cond(batchv1.JobFailed, corev1.ConditionUnknown, "", "", at),
		}}, jobs.StatePending, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, msg := jobState(tt.status)
			if state != tt.want || msg != tt.msg {
				t.Errorf("jobState = %s %q, want %s %q", state, msg, tt.want, tt.msg)
			}
		})
	}
}

func TestJobStatus(t *testing.T) {
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	end := start.Add(90 * time.Second)
	job, err := buildJob(validConfig().withDefaults(), indexSpec)
	if err != nil {
		t.Fatal(err)
	}

	job.Status = batchv1.JobStatus{StartTime: ptr(metav1.NewTime(start)), Active: 1, Ready: ptr[int32](1)}
	st, err := jobStatus(job)
	if err != nil {
		t.Fatal(err)
	}
	want := jobs.Status{Spec: indexSpec, Name: indexSpec.Name(), State: jobs.StateRunning, Started: start}
	if st != want {
		t.Errorf("running: %+v, want %+v", st, want)
	}

	job.Status = batchv1.JobStatus{StartTime: ptr(metav1.NewTime(start)), CompletionTime: ptr(metav1.NewTime(end)), Succeeded: 1,
		Conditions: []batchv1.JobCondition{cond(batchv1.JobComplete, corev1.ConditionTrue, "CompletionsReached", "", end)}}
	if st, _ = jobStatus(job); st.State != jobs.StateSucceeded || !st.Finished.Equal(end) || !st.Started.Equal(start) {
		t.Errorf("succeeded: %+v", st)
	}

	// A failed Job has no completion time; its Failed condition's time is
	// when it finished.
	job.Status = batchv1.JobStatus{StartTime: ptr(metav1.NewTime(start)), Failed: 3,
		Conditions: []batchv1.JobCondition{cond(batchv1.JobFailed, corev1.ConditionTrue, "BackoffLimitExceeded", "Job has reached the specified backoff limit", end)}}
	if st, _ = jobStatus(job); st.State != jobs.StateFailed || !st.Finished.Equal(end) || st.Error == "" {
		t.Errorf("failed: %+v", st)
	}

	// Not finished: no finish time even if a condition carries one.
	job.Status = batchv1.JobStatus{StartTime: ptr(metav1.NewTime(start)),
		Conditions: []batchv1.JobCondition{cond(batchv1.JobFailureTarget, corev1.ConditionTrue, "DeadlineExceeded", "", end)}}
	if st, _ = jobStatus(job); st.State != jobs.StateRunning || !st.Finished.IsZero() {
		t.Errorf("terminating: %+v", st)
	}

	delete(job.Annotations, AnnotationSpec)
	if _, err := jobStatus(job); err == nil {
		t.Error("a Job without the spec annotation was accepted")
	}
}
