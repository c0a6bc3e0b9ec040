package kube

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/sarissa-db/sarissa/internal/jobs"
)

// Labels and annotations on every Job the launcher creates.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelKind carries the job kind, for kubectl get jobs -l.
	LabelKind = "sarissa.dev/job-kind"
	// AnnotationSpec carries the jobs.Spec as JSON, from which List
	// rebuilds it: database and table names are not valid label values
	// in general, and a hash in the name cannot be reversed.
	AnnotationSpec = "sarissa.dev/job-spec"

	ValueName      = "sarissa"
	ValueComponent = "indexer"
	ValueManagedBy = "sarissa-agent"

	sarissaPrefix = "sarissa.dev/"
	// configVolume is the pod volume of Config.ConfigMap.
	configVolume = "sarissa-config"
)

// managedSelector selects the Jobs of every sarissa agent: agents that
// share a namespace share their jobs, as deterministic names intend.
func managedSelector() string {
	return labels.Set{LabelManagedBy: ValueManagedBy, LabelName: ValueName}.String()
}

// jobArgs is the container's argument list after Config.Command.
func jobArgs(spec jobs.Spec, configPath string) []string {
	args := []string{
		"job", "run",
		"--kind", string(spec.Kind),
		"--database", spec.Database,
		"--table", spec.Table,
		"--version", strconv.FormatUint(spec.Version, 10),
	}
	if spec.Index != "" {
		args = append(args, "--index", spec.Index)
	}
	if configPath != "" {
		args = append(args, "--config", configPath)
	}
	for i, a := range args {
		args[i] = escapeExpansion(a)
	}
	return args
}

// escapeExpansion protects a literal argument from Kubernetes' $(VAR)
// expansion of container args: table identifiers join namespaces with '$',
// and a name such as "a$(HOME)" must reach sarissa as written. The kubelet
// turns "$$" into "$" and leaves every other "$" sequence that is not a
// defined $(VAR) alone, so doubling each '$' is exact.
func escapeExpansion(s string) string {
	return strings.ReplaceAll(s, "$", "$$")
}

// encodeSpec is the AnnotationSpec value of spec.
func encodeSpec(spec jobs.Spec) (string, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return "", fmt.Errorf("encode job spec %s: %w", spec, err)
	}
	return string(b), nil
}

// decodeSpec rebuilds the spec of a Job from its annotations. Unknown JSON
// fields are ignored so that Jobs written by a newer agent stay readable.
func decodeSpec(annotations map[string]string) (jobs.Spec, error) {
	raw, ok := annotations[AnnotationSpec]
	if !ok {
		return jobs.Spec{}, fmt.Errorf("no %s annotation", AnnotationSpec)
	}
	var spec jobs.Spec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return jobs.Spec{}, fmt.Errorf("annotation %s: %w", AnnotationSpec, err)
	}
	if err := spec.Validate(); err != nil {
		return jobs.Spec{}, fmt.Errorf("annotation %s: %w", AnnotationSpec, err)
	}
	return spec, nil
}

// ownLabels are the launcher's labels of spec's Job and pod.
func ownLabels(spec jobs.Spec) map[string]string {
	return map[string]string{
		LabelName:      ValueName,
		LabelComponent: ValueComponent,
		LabelManagedBy: ValueManagedBy,
		LabelKind:      string(spec.Kind),
	}
}

// merged returns the union of ms; later maps win, so the launcher's own
// keys go last (Validate refuses them in configured maps anyway).
func merged(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// buildJob is the Job that runs spec under the (defaulted, validated)
// configuration c. It shares no memory with c.
func buildJob(c Config, spec jobs.Spec) (*batchv1.Job, error) {
	specJSON, err := encodeSpec(spec)
	if err != nil {
		return nil, err
	}
	own := ownLabels(spec)

	container := corev1.Container{
		Name:            DefaultContainerName,
		Image:           c.Image,
		ImagePullPolicy: c.ImagePullPolicy,
		Command:         c.Command,
		Args:            jobArgs(spec, c.ConfigPath),
		Env:             c.Env,
		Resources:       c.Resources,
	}
	// Clones: appending to the configuration's own slices could write
	// into their spare capacity, which every Job shares.
	volumes := slices.Clone(c.Volumes)
	container.VolumeMounts = slices.Clone(c.VolumeMounts)
	if c.ConfigMap != "" {
		volumes = append(volumes, corev1.Volume{
			Name: configVolume,
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: c.ConfigMap},
			}},
		})
		container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{
			Name:      configVolume,
			MountPath: c.ConfigPath,
			SubPath:   c.ConfigKey,
			ReadOnly:  true,
		})
	}

	var one int32 = 1
	job := &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        spec.Name(),
			Namespace:   c.Namespace,
			Labels:      merged(c.Labels, own),
			Annotations: merged(c.Annotations, map[string]string{AnnotationSpec: specJSON}),
		},
		Spec: batchv1.JobSpec{
			// One pod at a time: the work is one commit, and a second
			// concurrent pod would only lose the compare-and-swap.
			Parallelism:             &one,
			Completions:             &one,
			BackoffLimit:            c.BackoffLimit,
			ActiveDeadlineSeconds:   c.ActiveDeadlineSeconds,
			TTLSecondsAfterFinished: c.TTLSecondsAfterFinished,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      merged(c.Labels, c.PodLabels, own),
					Annotations: merged(c.PodAnnotations),
				},
				Spec: corev1.PodSpec{
					// Never: a failed attempt is a new pod whose
					// predecessor's logs stay readable, and BackoffLimit
					// counts attempts.
					RestartPolicy:      corev1.RestartPolicyNever,
					ServiceAccountName: c.ServiceAccountName,
					NodeSelector:       c.NodeSelector,
					Tolerations:        c.Tolerations,
					Volumes:            volumes,
					Containers:         []corev1.Container{container},
				},
			},
		},
	}
	// The fake clientset keeps the objects it is given; a deep copy keeps
	// the configuration's slices and maps out of every Job.
	return job.DeepCopy(), nil
}
