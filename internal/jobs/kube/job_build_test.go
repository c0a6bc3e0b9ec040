package kube

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/sarissa-db/sarissa/internal/jobs"
)

var (
	indexSpec   = jobs.Spec{Kind: jobs.KindIndex, Database: "prod", Table: "docs", Version: 42, Index: "embedding_idx"}
	compactSpec = jobs.Spec{Kind: jobs.KindCompact, Database: "prod", Table: "ns$docs", Version: 7}
)

func TestJobArgs(t *testing.T) {
	tests := []struct {
		spec       jobs.Spec
		configPath string
		want       []string
	}{
		{indexSpec, "", []string{"job", "run", "--kind", "index", "--database", "prod", "--table", "docs", "--version", "42", "--index", "embedding_idx"}},
		{compactSpec, "/etc/sarissa/sarissa.yaml", []string{"job", "run", "--kind", "compact", "--database", "prod", "--table", "ns$$docs", "--version", "7", "--config", "/etc/sarissa/sarissa.yaml"}},
		{jobs.Spec{Kind: jobs.KindCleanup, Database: "d", Table: "t", Version: 18446744073709551615}, "", []string{"job", "run", "--kind", "cleanup", "--database", "d", "--table", "t", "--version", "18446744073709551615"}},
	}
	for _, tt := range tests {
		if got := jobArgs(tt.spec, tt.configPath); !slices.Equal(got, tt.want) {
			t.Errorf("jobArgs(%v, %q)\n got %q\nwant %q", tt.spec, tt.configPath, got, tt.want)
		}
	}
}

// expandArg applies the kubelet's $(VAR) expansion rule for container
// args (Kubernetes docs, "Define a command and arguments"): $$ is a
// literal $, $(NAME) is replaced when NAME is defined, everything else is
// kept. vars holds the defined names.
func expandArg(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i++
		case next == '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func TestEscapeExpansion(t *testing.T) {
	vars := map[string]string{"HOME": "/root", "X": "expanded"}
	if got := expandArg("$(HOME)/a$$b$c$(NOPE)", vars); got != "/root/a$b$c$(NOPE)" {
		t.Fatalf("the test's expansion rule is off: %q", got)
	}
	for _, s := range []string{"plain", "ns$docs", "a$(HOME)", "$$", "$", "$(X", "x$(X)y$$(X)", "trailing$"} {
		if got := expandArg(escapeExpansion(s), vars); got != s {
			t.Errorf("%q escaped as %q reaches the container as %q", s, escapeExpansion(s), got)
		}
	}
}

func TestSpecAnnotationRoundTrip(t *testing.T) {
	for _, spec := range []jobs.Spec{indexSpec, compactSpec, {Kind: jobs.KindCleanup, Database: "ü\"db", Table: "t\n", Version: 0}} {
		raw, err := encodeSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeSpec(map[string]string{AnnotationSpec: raw})
		if err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		if got != spec {
			t.Errorf("round trip %+v -> %s -> %+v", spec, raw, got)
		}
	}
	// A newer agent's extra field is ignored, not an error.
	got, err := decodeSpec(map[string]string{AnnotationSpec: `{"kind":"compact","database":"d","table":"t","version":3,"priority":9}`})
	if err != nil || got != (jobs.Spec{Kind: jobs.KindCompact, Database: "d", Table: "t", Version: 3}) {
		t.Errorf("extra field: %+v, %v", got, err)
	}
	for _, bad := range []map[string]string{
		nil,
		{AnnotationSpec: "{"},
		{AnnotationSpec: `{"kind":"reindex","database":"d","table":"t"}`},
		{AnnotationSpec: `{"kind":"index","database":"d","table":"t"}`},
	} {
		if _, err := decodeSpec(bad); err == nil {
			t.Errorf("decodeSpec(%v) accepted", bad)
		}
	}
}

func TestBuildJob(t *testing.T) {
	c := validConfig()
	c.ImagePullPolicy = corev1.PullAlways
	c.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("8Gi")},
	}
	c.NodeSelector = map[string]string{"agentpool": "indexer"}
	c.Tolerations = []corev1.Toleration{{Key: "kubernetes.azure.com/scalesetpriority", Operator: corev1.TolerationOpEqual, Value: "spot", Effect: corev1.TaintEffectNoSchedule}}
	c.Env = []corev1.EnvVar{{Name: "SARISSA_LOG_LEVEL", Value: "debug"}}
	c.ConfigPath, c.ConfigMap = "/etc/sarissa/sarissa.yaml", "sarissa-config"
	c.Volumes = make([]corev1.Volume, 1, 4) // spare capacity must stay unused
	c.Volumes[0] = corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}
	c.ActiveDeadlineSeconds = ptr[int64](7200)
	c.Labels = map[string]string{"team": "search"}
	c.Annotations = map[string]string{"example.com/owner": "search"}
	c.PodAnnotations = map[string]string{"example.com/pod": "yes"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c = c.withDefaults()

	job, err := buildJob(c, indexSpec)
	if err != nil {
		t.Fatal(err)
	}
	if job.Name != indexSpec.Name() || job.Namespace != "sarissa" {
		t.Errorf("job %s/%s, want sarissa/%s", job.Namespace, job.Name, indexSpec.Name())
	}
	if msgs := validation.IsDNS1123Label(job.Name); len(msgs) > 0 {
		t.Errorf("job name %q: %v", job.Name, msgs)
	}
	wantLabels := map[string]string{LabelName: "sarissa", LabelComponent: "indexer", LabelManagedBy: "sarissa-agent", LabelKind: "index", "team": "search"}
	if !reflect.DeepEqual(job.Labels, wantLabels) {
		t.Errorf("job labels %v, want %v", job.Labels, wantLabels)
	}
	wantPodLabels := map[string]string{LabelName: "sarissa", LabelComponent: "indexer", LabelManagedBy: "sarissa-agent", LabelKind: "index", "team": "search", "azure.workload.identity/use": "true"}
	if !reflect.DeepEqual(job.Spec.Template.Labels, wantPodLabels) {
		t.Errorf("pod labels %v, want %v", job.Spec.Template.Labels, wantPodLabels)
	}
	if job.Annotations["example.com/owner"] != "search" || job.Spec.Template.Annotations["example.com/pod"] != "yes" {
		t.Errorf("annotations: job %v pod %v", job.Annotations, job.Spec.Template.Annotations)
	}
	var annotated jobs.Spec
	if err := json.Unmarshal([]byte(job.Annotations[AnnotationSpec]), &annotated); err != nil || annotated != indexSpec {
		t.Errorf("spec annotation %q: %+v, %v", job.Annotations[AnnotationSpec], annotated, err)
	}

	js := job.Spec
	if *js.BackoffLimit != DefaultBackoffLimit || *js.TTLSecondsAfterFinished != DefaultTTLSecondsAfterFinished || *js.ActiveDeadlineSeconds != 7200 {
		t.Errorf("backoff %d ttl %d deadline %d", *js.BackoffLimit, *js.TTLSecondsAfterFinished, *js.ActiveDeadlineSeconds)
	}
	if *js.Parallelism != 1 || *js.Completions != 1 {
		t.Errorf("parallelism %d completions %d", *js.Parallelism, *js.Completions)
	}
	pod := js.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || pod.ServiceAccountName != "sarissa-indexer" {
		t.Errorf("restart policy %s service account %q", pod.RestartPolicy, pod.ServiceAccountName)
	}
	if !reflect.DeepEqual(pod.NodeSelector, c.NodeSelector) || !reflect.DeepEqual(pod.Tolerations, c.Tolerations) {
		t.Errorf("placement: %v %v", pod.NodeSelector, pod.Tolerations)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	ctr := pod.Containers[0]
	if ctr.Image != c.Image || ctr.ImagePullPolicy != corev1.PullAlways || !slices.Equal(ctr.Command, []string{"sarissa"}) {
		t.Errorf("container image %q policy %s command %q", ctr.Image, ctr.ImagePullPolicy, ctr.Command)
	}
	if want := jobArgs(indexSpec, "/etc/sarissa/sarissa.yaml"); !slices.Equal(ctr.Args, want) {
		t.Errorf("args %q, want %q", ctr.Args, want)
	}
	if !reflect.DeepEqual(ctr.Resources, c.Resources) || !reflect.DeepEqual(ctr.Env, c.Env) {
		t.Errorf("resources %v env %v", ctr.Resources, ctr.Env)
	}
	wantVolumes := []string{"scratch", configVolume}
	var gotVolumes []string
	for _, v := range pod.Volumes {
		gotVolumes = append(gotVolumes, v.Name)
	}
	if !slices.Equal(gotVolumes, wantVolumes) || pod.Volumes[1].ConfigMap == nil || pod.Volumes[1].ConfigMap.Name != "sarissa-config" {
		t.Errorf("volumes %v (%+v)", gotVolumes, pod.Volumes)
	}
	wantMount := corev1.VolumeMount{Name: configVolume, MountPath: "/etc/sarissa/sarissa.yaml", SubPath: "sarissa.yaml", ReadOnly: true}
	if len(ctr.VolumeMounts) != 2 || ctr.VolumeMounts[0].Name != "scratch" || !reflect.DeepEqual(ctr.VolumeMounts[1], wantMount) {
		t.Errorf("mounts %+v", ctr.VolumeMounts)
	}

	// The Job shares no memory with the configuration: changing one
	// Job (as the fake clientset's callers might) changes nothing else.
	if got := c.Volumes[:cap(c.Volumes)][1]; got.Name != "" {
		t.Errorf("buildJob wrote %q into the configuration's spare capacity", got.Name)
	}
	job.Spec.Template.Spec.NodeSelector["agentpool"] = "changed"
	job.Labels["team"] = "changed"
	job.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1")
	if c.NodeSelector["agentpool"] != "indexer" || c.Labels["team"] != "search" || c.Resources.Requests.Cpu().String() != "2" {
		t.Error("the Job aliases the configuration")
	}
}

func TestBuildJobMinimal(t *testing.T) {
	job, err := buildJob(validConfig().withDefaults(), compactSpec)
	if err != nil {
		t.Fatal(err)
	}
	pod := job.Spec.Template.Spec
	if len(pod.Volumes) != 0 || len(pod.Containers[0].VolumeMounts) != 0 {
		t.Errorf("volumes without a config map: %+v %+v", pod.Volumes, pod.Containers[0].VolumeMounts)
	}
	if slices.Contains(pod.Containers[0].Args, "--config") || slices.Contains(pod.Containers[0].Args, "--index") {
		t.Errorf("args %q", pod.Containers[0].Args)
	}
	if job.Spec.ActiveDeadlineSeconds != nil {
		t.Errorf("deadline %d without one configured", *job.Spec.ActiveDeadlineSeconds)
	}
	if job.Labels[LabelKind] != "compact" {
		t.Errorf("kind label %q", job.Labels[LabelKind])
	}
}

func TestManagedSelector(t *testing.T) {
	if got, want := managedSelector(), "app.kubernetes.io/managed-by=sarissa-agent,app.kubernetes.io/name=sarissa"; got != want {
		t.Errorf("selector %q, want %q", got, want)
	}
}
