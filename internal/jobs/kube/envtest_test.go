//go:build k8s

package kube

// These tests run the launcher against a real kube-apiserver (and etcd),
// started by controller-runtime's envtest from KUBEBUILDER_ASSETS; build
// the binaries with tools/envtest/build.sh, or run `make test-k8s`, which
// does both. There is no controller-manager and no kubelet: Jobs never get
// pods, and the tests play the Job controller by writing statuses the way
// it does, which the API server validates as strictly as the real thing's.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sarissa-db/sarissa/internal/jobs"
)

// controlPlane is started by the first test that needs it and stopped by
// TestMain: one API server (about 3-5 s to start) serves every test, each
// in a namespace of its own.
var controlPlane struct {
	once sync.Once
	env  *envtest.Environment
	cfg  *rest.Config
	err  error
}

var namespaceSeq atomic.Int64

func TestMain(m *testing.M) {
	code := m.Run()
	if controlPlane.env != nil && controlPlane.cfg != nil {
		if err := controlPlane.env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest control plane: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

const buildHint = "build them with `tools/envtest/build.sh` (cold: about 1 min for etcd and 7-10 min for kube-apiserver on 2 cores) " +
	"and set KUBEBUILDER_ASSETS to the directory it prints, or run `make test-k8s`, which does both"

// checkAssets fails the test unless KUBEBUILDER_ASSETS holds the binaries:
// a -tags k8s run exists to test against a real API server, so a missing
// one is a failure, never a skip.
func checkAssets(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		t.Fatalf("KUBEBUILDER_ASSETS is not set: the k8s-tagged tests need etcd and kube-apiserver; %s", buildHint)
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			t.Fatalf("KUBEBUILDER_ASSETS=%s has no executable %s (%v); %s", dir, name, err, buildHint)
		}
	}
	return dir
}

// apiServer returns the admin REST config of the shared control plane.
func apiServer(t *testing.T) (*envtest.Environment, *rest.Config) {
	t.Helper()
	dir := checkAssets(t)
	controlPlane.once.Do(func() {
		// envtest logs through controller-runtime's global logger, which
		// complains with a stack trace when never set.
		crlog.SetLogger(logr.Discard())
		useExisting := false
		controlPlane.env = &envtest.Environment{
			BinaryAssetsDirectory: dir,
			// Never a real cluster, whatever USE_EXISTING_CLUSTER says.
			UseExistingCluster: &useExisting,
			// Two shared cores, and -race: the default 20 s is tight.
			ControlPlaneStartTimeout: 2 * time.Minute,
			ControlPlaneStopTimeout:  time.Minute,
		}
		start := time.Now()
		controlPlane.cfg, controlPlane.err = controlPlane.env.Start()
		fmt.Fprintf(os.Stderr, "envtest: control plane up in %s\n", time.Since(start).Round(time.Millisecond))
	})
	if controlPlane.err != nil {
		t.Fatalf("start envtest control plane from %s: %v", dir, controlPlane.err)
	}
	return controlPlane.env, controlPlane.cfg
}

type kubeEnv struct {
	client kubernetes.Interface
	ns     string
}

// newKubeEnv connects as admin and creates a fresh namespace.
func newKubeEnv(t *testing.T) *kubeEnv {
	t.Helper()
	_, cfg := apiServer(t)
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("kube-test-%d", namespaceSeq.Add(1))
	if _, err := client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	return &kubeEnv{client: client, ns: ns}
}

func (e *kubeEnv) config() Config {
	c := validConfig()
	c.Namespace = e.ns
	return c
}

func (e *kubeEnv) launcher(t *testing.T, c Config, now func() time.Time) *Launcher {
	t.Helper()
	l, err := New(e.client, c, Deps{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (e *kubeEnv) jobs(t *testing.T) []batchv1.Job {
	t.Helper()
	list, err := e.client.BatchV1().Jobs(e.ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// setStatus writes a Job's status as the Job controller would; the API
// server checks the transition (conditions in order, times, counters).
func (e *kubeEnv) setStatus(t *testing.T, name string, st batchv1.JobStatus) {
	t.Helper()
	job, err := e.client.BatchV1().Jobs(e.ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	job.Status = st
	if _, err := e.client.BatchV1().Jobs(e.ns).UpdateStatus(t.Context(), job, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update status of %s: %v", name, err)
	}
}

// Statuses as the Job controller writes them. The API server keeps times
// to the second, so every time here is whole seconds.
func runningStatus(start time.Time) batchv1.JobStatus {
	return batchv1.JobStatus{StartTime: ptr(metav1.NewTime(start)), Active: 1, Ready: ptr[int32](1), Terminating: ptr[int32](0)}
}

func completeStatus(start, end time.Time) batchv1.JobStatus {
	at := metav1.NewTime(end)
	return batchv1.JobStatus{
		StartTime: ptr(metav1.NewTime(start)), CompletionTime: &at, Succeeded: 1, Ready: ptr[int32](0), Terminating: ptr[int32](0),
		Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: "CompletionsReached", Message: "Reached expected number of succeeded pods", LastTransitionTime: at, LastProbeTime: at},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: "CompletionsReached", Message: "Reached expected number of succeeded pods", LastTransitionTime: at, LastProbeTime: at},
		},
	}
}

func failedStatus(start, end time.Time) batchv1.JobStatus {
	at := metav1.NewTime(end)
	return batchv1.JobStatus{
		StartTime: ptr(metav1.NewTime(start)), Failed: 3, Ready: ptr[int32](0), Terminating: ptr[int32](0),
		Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: at, LastProbeTime: at},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: at, LastProbeTime: at},
		},
	}
}

func TestEnvtestLaunchCreatesJob(t *testing.T) {
	e := newKubeEnv(t)
	c := e.config()
	c.ImagePullPolicy = corev1.PullIfNotPresent
	c.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("2Gi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi")},
	}
	c.NodeSelector = map[string]string{"agentpool": "indexer"}
	c.Tolerations = []corev1.Toleration{{Key: "kubernetes.azure.com/scalesetpriority", Operator: corev1.TolerationOpEqual, Value: "spot", Effect: corev1.TaintEffectNoSchedule}}
	c.Env = []corev1.EnvVar{{Name: "SARISSA_LOG_FORMAT", Value: "json"}}
	c.ConfigPath, c.ConfigMap = "/etc/sarissa/sarissa.yaml", "sarissa-config"
	c.ActiveDeadlineSeconds = ptr[int64](6 * 3600)
	c.Labels = map[string]string{"app.kubernetes.io/instance": "prod"}
	l := e.launcher(t, c, nil)

	if err := l.Launch(t.Context(), compactSpec); err != nil {
		t.Fatalf("Launch: %v", err)
	}
	job, err := e.client.BatchV1().Jobs(e.ns).Get(t.Context(), compactSpec.Name(), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get the launched job: %v", err)
	}
	for k, v := range map[string]string{
		LabelName: "sarissa", LabelComponent: "indexer", LabelManagedBy: "sarissa-agent", LabelKind: "compact", "app.kubernetes.io/instance": "prod",
	} {
		if job.Labels[k] != v {
			t.Errorf("job label %s = %q, want %q (labels %v)", k, job.Labels[k], v, job.Labels)
		}
		if job.Spec.Template.Labels[k] != v {
			t.Errorf("pod label %s = %q, want %q", k, job.Spec.Template.Labels[k], v)
		}
	}
	if got := job.Spec.Template.Labels["azure.workload.identity/use"]; got != "true" {
		t.Errorf("pod label azure.workload.identity/use = %q", got)
	}
	// The server adds its own selector labels; ours must have survived.
	if job.Spec.Template.Labels["batch.kubernetes.io/job-name"] != job.Name {
		t.Errorf("server-side pod labels missing: %v", job.Spec.Template.Labels)
	}
	spec, err := decodeSpec(job.Annotations)
	if err != nil || spec != compactSpec {
		t.Errorf("spec annotation %q: %+v, %v", job.Annotations[AnnotationSpec], spec, err)
	}
	if *job.Spec.BackoffLimit != 2 || *job.Spec.TTLSecondsAfterFinished != 3600 || *job.Spec.ActiveDeadlineSeconds != 6*3600 {
		t.Errorf("backoff %d ttl %d deadline %d", *job.Spec.BackoffLimit, *job.Spec.TTLSecondsAfterFinished, *job.Spec.ActiveDeadlineSeconds)
	}
	pod := job.Spec.Template.Spec
	if pod.ServiceAccountName != "sarissa-indexer" || pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("service account %q restart policy %s", pod.ServiceAccountName, pod.RestartPolicy)
	}
	if !reflect.DeepEqual(pod.NodeSelector, c.NodeSelector) || len(pod.Tolerations) != 1 || pod.Tolerations[0] != c.Tolerations[0] {
		t.Errorf("placement %v %v", pod.NodeSelector, pod.Tolerations)
	}
	ctr := pod.Containers[0]
	wantArgs := []string{"job", "run", "--kind", "compact", "--database", "prod", "--table", "ns$$docs", "--version", "7", "--config", "/etc/sarissa/sarissa.yaml"}
	if ctr.Image != c.Image || ctr.ImagePullPolicy != corev1.PullIfNotPresent || !reflect.DeepEqual(ctr.Command, []string{"sarissa"}) || !reflect.DeepEqual(ctr.Args, wantArgs) {
		t.Errorf("container image %q policy %s command %q args %q", ctr.Image, ctr.ImagePullPolicy, ctr.Command, ctr.Args)
	}
	for name, want := range map[string]resource.Quantity{"requests.cpu": c.Resources.Requests[corev1.ResourceCPU], "requests.memory": c.Resources.Requests[corev1.ResourceMemory], "limits.memory": c.Resources.Limits[corev1.ResourceMemory]} {
		list := ctr.Resources.Requests
		if strings.HasPrefix(name, "limits") {
			list = ctr.Resources.Limits
		}
		if got := list[corev1.ResourceName(strings.SplitN(name, ".", 2)[1])]; got.Cmp(want) != 0 {
			t.Errorf("%s = %s, want %s", name, got.String(), want.String())
		}
	}
	if len(ctr.Env) != 1 || ctr.Env[0].Value != "json" {
		t.Errorf("env %v", ctr.Env)
	}
	if len(pod.Volumes) != 1 || pod.Volumes[0].ConfigMap == nil || pod.Volumes[0].ConfigMap.Name != "sarissa-config" ||
		len(ctr.VolumeMounts) != 1 || ctr.VolumeMounts[0].MountPath != c.ConfigPath || ctr.VolumeMounts[0].SubPath != "sarissa.yaml" {
		t.Errorf("config volume %+v mounts %+v", pod.Volumes, ctr.VolumeMounts)
	}
}

func TestEnvtestDuplicateLaunchIsNoop(t *testing.T) {
	e := newKubeEnv(t)
	a := e.launcher(t, e.config(), nil)
	b := e.launcher(t, e.config(), nil) // a second agent
	if err := a.Launch(t.Context(), indexSpec); err != nil {
		t.Fatal(err)
	}
	first := e.jobs(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			l := a
			if i%2 == 1 {
				l = b
			}
			errs <- l.Launch(t.Context(), indexSpec)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("duplicate Launch: %v", err)
		}
	}
	after := e.jobs(t)
	if len(after) != 1 || after[0].UID != first[0].UID {
		t.Fatalf("%d jobs after duplicate launches, want the first one only", len(after))
	}

	// A Job of that name that no agent created is not a duplicate.
	foreign := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: compactSpec.Name(), Namespace: e.ns},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "x", Image: "busybox"}},
		}}},
	}
	if _, err := e.client.BatchV1().Jobs(e.ns).Create(t.Context(), foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := a.Launch(t.Context(), compactSpec); !errors.Is(err, ErrNameTaken) {
		t.Errorf("Launch over a foreign job: %v, want ErrNameTaken", err)
	}
}

func TestEnvtestInvalidTemplateRefused(t *testing.T) {
	e := newKubeEnv(t)
	tests := []struct {
		name   string
		modify func(*Config)
		field  string // in the server's message
	}{
		{"request above limit", func(c *Config) {
			c.Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("8Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			}
		}, "spec.template.spec.containers[0].resources.requests"},
		{"negative quantity", func(c *Config) {
			c.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")}}
		}, "spec.template.spec.containers[0].resources.requests[cpu]"},
		{"invalid label value in the node selector", func(c *Config) {
			c.NodeSelector = map[string]string{"agentpool": "not a label value"}
		}, "spec.template.spec.nodeSelector"},
		{"toleration Exists with a value", func(c *Config) {
			c.Tolerations = []corev1.Toleration{{Key: "spot", Operator: corev1.TolerationOpExists, Value: "yes"}}
		}, "spec.template.spec.tolerations[0].operator"},
		{"invalid env name", func(c *Config) {
			c.Env = []corev1.EnvVar{{Name: "1=bad", Value: "x"}}
		}, "spec.template.spec.containers[0].env[0].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.config()
			tt.modify(&c)
			l := e.launcher(t, c, nil) // passes Validate: the server is the judge here
			err := l.Launch(t.Context(), indexSpec)
			if err == nil {
				t.Fatal("Launch accepted an invalid template")
			}
			if !apierrors.IsInvalid(err) {
				t.Errorf("error %v: apierrors.IsInvalid is false", err)
			}
			if !strings.Contains(err.Error(), tt.field) || !strings.Contains(err.Error(), "launch index prod/docs@42") {
				t.Errorf("error %q does not name %s and the job", err, tt.field)
			}
			if n := len(e.jobs(t)); n != 0 {
				t.Errorf("%d jobs after a refused launch", n)
			}
		})
	}
	// A label value the server would refuse is refused earlier, by Validate.
	c := e.config()
	c.PodLabels = map[string]string{"azure.workload.identity/use": "yes please"}
	if _, err := New(e.client, c, Deps{}); !errors.Is(err, ErrConfig) {
		t.Errorf("New with an invalid pod label: %v, want ErrConfig", err)
	}
}

func TestEnvtestListMapsStates(t *testing.T) {
	e := newKubeEnv(t)
	l := e.launcher(t, e.config(), nil)
	start := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	end := start.Add(3 * time.Minute)

	spec := func(table string) jobs.Spec {
		return jobs.Spec{Kind: jobs.KindCompact, Database: "prod", Table: table, Version: 3}
	}
	for _, table := range []string{"new", "scheduling", "running", "succeeded", "failed"} {
		if err := l.Launch(t.Context(), spec(table)); err != nil {
			t.Fatal(err)
		}
	}
	e.setStatus(t, spec("scheduling").Name(), batchv1.JobStatus{StartTime: ptr(metav1.NewTime(start)), Active: 1, Ready: ptr[int32](0), Terminating: ptr[int32](0)})
	for _, table := range []string{"running", "succeeded", "failed"} {
		e.setStatus(t, spec(table).Name(), runningStatus(start))
	}
	// The server holds the test to the controller's rules: Complete
	// without SuccessCriteriaMet first is refused.
	job, err := e.client.BatchV1().Jobs(e.ns).Get(t.Context(), spec("succeeded").Name(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	job.Status = completeStatus(start, end)
	job.Status.Conditions = job.Status.Conditions[1:]
	if _, err := e.client.BatchV1().Jobs(e.ns).UpdateStatus(t.Context(), job, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("Complete without SuccessCriteriaMet: %v, want Invalid", err)
	}
	e.setStatus(t, spec("succeeded").Name(), completeStatus(start, end))
	e.setStatus(t, spec("failed").Name(), failedStatus(start, end))

	got, err := l.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]jobs.Status{
		"new":        {Spec: spec("new"), State: jobs.StatePending},
		"scheduling": {Spec: spec("scheduling"), State: jobs.StatePending, Started: start},
		"running":    {Spec: spec("running"), State: jobs.StateRunning, Started: start},
		"succeeded":  {Spec: spec("succeeded"), State: jobs.StateSucceeded, Started: start, Finished: end},
		"failed": {Spec: spec("failed"), State: jobs.StateFailed, Started: start, Finished: end,
			Error: "BackoffLimitExceeded: Job has reached the specified backoff limit"},
	}
	if len(got) != len(want) {
		t.Fatalf("List returned %d jobs, want %d: %+v", len(got), len(want), got)
	}
	for _, st := range got {
		w := want[st.Spec.Table]
		w.Name = w.Spec.Name()
		if st.Name != w.Name || st.Spec != w.Spec || st.State != w.State || st.Error != w.Error || !st.Started.Equal(w.Started) || !st.Finished.Equal(w.Finished) {
			t.Errorf("status\n got %+v\nwant %+v", st, w)
		}
	}

	// Wait sees the running job finish.
	go func() {
		time.Sleep(200 * time.Millisecond)
		job, err := e.client.BatchV1().Jobs(e.ns).Get(context.Background(), spec("running").Name(), metav1.GetOptions{})
		if err != nil {
			return // the Wait below then times out and reports it
		}
		job.Status = completeStatus(start, end)
		_, _ = e.client.BatchV1().Jobs(e.ns).UpdateStatus(context.Background(), job, metav1.UpdateOptions{})
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := l.Wait(ctx, spec("running").Name(), 50*time.Millisecond)
	if err != nil || st.State != jobs.StateSucceeded || !st.Finished.Equal(end) {
		t.Errorf("Wait = %+v, %v", st, err)
	}
	if _, err := l.Wait(ctx, "sarissa-compact-000000000000-v1", 50*time.Millisecond); !errors.Is(err, ErrNotFound) {
		t.Errorf("Wait for a missing job: %v, want ErrNotFound", err)
	}
}

func TestEnvtestCleanup(t *testing.T) {
	e := newKubeEnv(t)
	now := time.Now().Truncate(time.Second)
	l := e.launcher(t, e.config(), func() time.Time { return now })
	longAgo := now.Add(-3 * time.Hour)
	spec := func(table string) jobs.Spec {
		return jobs.Spec{Kind: jobs.KindCleanup, Database: "prod", Table: table, Version: 9}
	}
	cases := []struct {
		table  string
		status []batchv1.JobStatus // written in order
		gone   bool
	}{
		{"old-succeeded", []batchv1.JobStatus{runningStatus(longAgo), completeStatus(longAgo, now.Add(-2*time.Hour))}, true},
		{"old-failed", []batchv1.JobStatus{runningStatus(longAgo), failedStatus(longAgo, now.Add(-2*time.Hour))}, true},
		{"recent-succeeded", []batchv1.JobStatus{runningStatus(longAgo), completeStatus(longAgo, now.Add(-10*time.Minute))}, false},
		{"recent-failed", []batchv1.JobStatus{runningStatus(longAgo), failedStatus(longAgo, now.Add(-10*time.Minute))}, false},
		{"long-running", []batchv1.JobStatus{runningStatus(longAgo)}, false},
		{"pending", nil, false},
	}
	for _, c := range cases {
		if err := l.Launch(t.Context(), spec(c.table)); err != nil {
			t.Fatal(err)
		}
		for _, st := range c.status {
			e.setStatus(t, spec(c.table).Name(), st)
		}
	}
	n, err := l.Cleanup(t.Context(), time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("Cleanup = %d, %v; want 2, nil", n, err)
	}
	left := map[string]bool{}
	for _, j := range e.jobs(t) {
		left[j.Name] = true
	}
	for _, c := range cases {
		if left[spec(c.table).Name()] == c.gone {
			t.Errorf("%s: still there = %v", c.table, left[spec(c.table).Name()])
		}
	}
	// Nothing more to do: a second pass deletes nothing.
	if n, err := l.Cleanup(t.Context(), time.Hour); err != nil || n != 0 {
		t.Errorf("second Cleanup = %d, %v", n, err)
	}
}

// TestEnvtestRBAC runs the launcher as a user bound only to the Role that
// docs/kubernetes-jobs.md asks for, minus watch (nothing uses it yet), so
// the documented permissions are known to suffice.
func TestEnvtestRBAC(t *testing.T) {
	e := newKubeEnv(t)
	env, _ := apiServer(t)
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "sarissa-agent", Namespace: e.ns},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"batch"}, Resources: []string{"jobs"},
			Verbs: []string{"create", "get", "list", "delete"},
		}},
	}
	if _, err := e.client.RbacV1().Roles(e.ns).Create(t.Context(), role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	user := "sarissa-agent-" + e.ns
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "sarissa-agent", Namespace: e.ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	if _, err := e.client.RbacV1().RoleBindings(e.ns).Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	agent, err := env.AddUser(envtest.User{Name: user}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Through a kubeconfig file, as an agent outside the cluster connects.
	kubeconfig, err := agent.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := NewClient(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	l, err := New(client, e.config(), Deps{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for range 2 { // the second launch takes the duplicate path (get)
		if err := l.Launch(ctx, indexSpec); err != nil {
			t.Fatalf("Launch as the agent: %v", err)
		}
	}
	e.setStatus(t, indexSpec.Name(), runningStatus(now.Add(-3*time.Hour)))
	e.setStatus(t, indexSpec.Name(), completeStatus(now.Add(-3*time.Hour), now.Add(-2*time.Hour)))
	if list, err := l.List(ctx); err != nil || len(list) != 1 || list[0].State != jobs.StateSucceeded {
		t.Fatalf("List as the agent = %+v, %v", list, err)
	}
	if _, err := l.Wait(ctx, indexSpec.Name(), 10*time.Millisecond); err != nil {
		t.Fatalf("Wait as the agent: %v", err)
	}
	if n, err := l.Cleanup(ctx, time.Hour); err != nil || n != 1 {
		t.Fatalf("Cleanup as the agent = %d, %v", n, err)
	}
	// And the Role is all it has: another namespace is out of reach.
	other := newKubeEnv(t)
	c := other.config()
	outside, err := New(client, c, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := outside.Launch(ctx, indexSpec); !apierrors.IsForbidden(err) {
		t.Errorf("Launch in a namespace without the Role: %v, want Forbidden", err)
	}
}
