package kube

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ErrConfig marks every error of Config.Validate.
var ErrConfig = errors.New("kube launcher: invalid configuration")

// Defaults, applied by Config.withDefaults (and nowhere else).
const (
	// DefaultBackoffLimit retries a failed job pod twice: jobs are
	// idempotent, so a retry after a node loss or an OOM kill is safe, and
	// a job that fails three times in a row has a problem a retry won't fix.
	DefaultBackoffLimit int32 = 2
	// DefaultTTLSecondsAfterFinished keeps a finished Job (and its pod's
	// logs) for an hour, long enough for the agent's next List to see the
	// outcome and for a person to read the logs.
	DefaultTTLSecondsAfterFinished int32 = 3600
	// DefaultContainerName names the single container of the job pod.
	DefaultContainerName = "sarissa"
)

// DefaultCommand is the container command when Config.Command is empty:
// the sarissa binary, found on the image's PATH. It is a function so no
// caller can change a shared default.
func DefaultCommand() []string { return []string{"sarissa"} }

// Config is the namespace the launcher works in and the template of every
// Job it creates. Its JSON form uses the same keys as its YAML form, so a
// configuration file can decode the nested Kubernetes types (resources,
// tolerations, env, volumes) through JSON, as manifests do.
//
// Validate checks what the launcher composes itself (names, labels,
// annotations, numbers, paths). The pod fields that are passed through
// unchanged (Resources, NodeSelector, Tolerations, Env, Volumes) are left
// to the API server, whose validation is the authoritative one: an invalid
// value there makes Launch fail with an error for which
// apierrors.IsInvalid is true.
//
// Azure Workload Identity: set ServiceAccountName to a service account
// annotated with azure.workload.identity/client-id, and put the label
// azure.workload.identity/use: "true" in PodLabels. The webhook only
// injects the federated token into pods that carry that label; a label on
// the Job alone is not enough.
type Config struct {
	// Namespace holds the Jobs; the agent needs RBAC on jobs there.
	Namespace string `yaml:"namespace" json:"namespace,omitempty"`

	// Image is the sarissa image the job pod runs.
	Image string `yaml:"image" json:"image,omitempty"`
	// ImagePullPolicy is Always, IfNotPresent, Never or empty (the
	// cluster's default for the image's tag).
	ImagePullPolicy corev1.PullPolicy `yaml:"image_pull_policy" json:"image_pull_policy,omitempty"`
	// Command starts sarissa in the image; the launcher appends
	// `job run --kind ... --database ... --table ... --version ...
	// [--index ...] [--config ...]` as the container's arguments.
	// Empty: DefaultCommand.
	Command []string `yaml:"command" json:"command,omitempty"`
	// ServiceAccountName is the pod's service account (Workload Identity).
	// Empty: the namespace's default account.
	ServiceAccountName string `yaml:"service_account_name" json:"service_account_name,omitempty"`

	// Resources are the container's requests and limits.
	Resources corev1.ResourceRequirements `yaml:"resources" json:"resources,omitempty"`
	// NodeSelector and Tolerations place job pods (e.g. on a spot or
	// high-memory node pool).
	NodeSelector map[string]string   `yaml:"node_selector" json:"node_selector,omitempty"`
	Tolerations  []corev1.Toleration `yaml:"tolerations" json:"tolerations,omitempty"`
	// Env is added to the container's environment.
	Env []corev1.EnvVar `yaml:"env" json:"env,omitempty"`

	// ConfigPath is the sarissa configuration file inside the container,
	// passed as --config. Empty: no --config flag.
	ConfigPath string `yaml:"config_path" json:"config_path,omitempty"`
	// ConfigMap names a ConfigMap that holds the configuration file; the
	// launcher mounts its key ConfigKey read-only at ConfigPath, as a
	// single file (subPath), so the rest of that directory in the image
	// stays visible. Empty: the file is in the image or in one of Volumes.
	ConfigMap string `yaml:"config_map" json:"config_map,omitempty"`
	// ConfigKey is the ConfigMap key of the file. Empty: the base name of
	// ConfigPath.
	ConfigKey string `yaml:"config_key" json:"config_key,omitempty"`
	// Volumes and VolumeMounts are added to the pod and the container (a
	// secret store CSI volume, a scratch disk for index builds, ...).
	Volumes      []corev1.Volume      `yaml:"volumes" json:"volumes,omitempty"`
	VolumeMounts []corev1.VolumeMount `yaml:"volume_mounts" json:"volume_mounts,omitempty"`

	// BackoffLimit is how many times a failed pod is replaced before the
	// Job fails. Nil: DefaultBackoffLimit; 0 is honoured.
	BackoffLimit *int32 `yaml:"backoff_limit" json:"backoff_limit,omitempty"`
	// ActiveDeadlineSeconds bounds a Job's run time, retries included.
	// Nil: no bound.
	ActiveDeadlineSeconds *int64 `yaml:"active_deadline_seconds" json:"active_deadline_seconds,omitempty"`
	// TTLSecondsAfterFinished lets the cluster's TTL controller delete a
	// finished Job. Nil: DefaultTTLSecondsAfterFinished; 0 deletes at once
	// (the agent may then miss the outcome). Launcher.Cleanup does the same
	// where no TTL controller runs.
	TTLSecondsAfterFinished *int32 `yaml:"ttl_seconds_after_finished" json:"ttl_seconds_after_finished,omitempty"`

	// Labels are added to every Job and its pod. The launcher's own keys
	// (app.kubernetes.io/name, component and managed-by, and sarissa.dev/*)
	// are refused here.
	Labels map[string]string `yaml:"labels" json:"labels,omitempty"`
	// Annotations are added to every Job, with the same reserved prefixes.
	Annotations map[string]string `yaml:"annotations" json:"annotations,omitempty"`
	// PodLabels and PodAnnotations are added to the job pod's template
	// (azure.workload.identity/use: "true" goes here).
	PodLabels      map[string]string `yaml:"pod_labels" json:"pod_labels,omitempty"`
	PodAnnotations map[string]string `yaml:"pod_annotations" json:"pod_annotations,omitempty"`
}

// withDefaults returns a copy of c with every unset default filled in.
func (c Config) withDefaults() Config {
	if len(c.Command) == 0 {
		c.Command = DefaultCommand()
	}
	if c.BackoffLimit == nil {
		v := DefaultBackoffLimit
		c.BackoffLimit = &v
	}
	if c.TTLSecondsAfterFinished == nil {
		v := DefaultTTLSecondsAfterFinished
		c.TTLSecondsAfterFinished = &v
	}
	if c.ConfigMap != "" && c.ConfigKey == "" && c.ConfigPath != "" {
		c.ConfigKey = path.Base(c.ConfigPath)
	}
	return c
}

// Validate reports the first group of problems of c, every one with the
// field it concerns. All errors match ErrConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs field.ErrorList
	add := func(list field.ErrorList) { errs = append(errs, list...) }

	if c.Namespace == "" {
		add(field.ErrorList{field.Required(field.NewPath("namespace"), "the launcher creates its Jobs there")})
	} else {
		add(dnsLabel(field.NewPath("namespace"), c.Namespace))
	}
	if strings.TrimSpace(c.Image) == "" {
		add(field.ErrorList{field.Required(field.NewPath("image"), "the sarissa image job pods run")})
	} else if strings.ContainsAny(c.Image, " \t\r\n") {
		add(field.ErrorList{field.Invalid(field.NewPath("image"), c.Image, "must not contain whitespace")})
	}
	switch c.ImagePullPolicy {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		add(field.ErrorList{field.NotSupported(field.NewPath("image_pull_policy"), c.ImagePullPolicy,
			[]corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever})})
	}
	if slices.Contains(c.Command, "") {
		add(field.ErrorList{field.Invalid(field.NewPath("command"), c.Command, "must not contain empty words")})
	}
	if c.ServiceAccountName != "" {
		for _, msg := range validation.IsDNS1123Subdomain(c.ServiceAccountName) {
			add(field.ErrorList{field.Invalid(field.NewPath("service_account_name"), c.ServiceAccountName, msg)})
		}
	}
	add(c.validateConfigFile())
	if *c.BackoffLimit < 0 {
		add(field.ErrorList{field.Invalid(field.NewPath("backoff_limit"), *c.BackoffLimit, "must be >= 0")})
	}
	if c.ActiveDeadlineSeconds != nil && *c.ActiveDeadlineSeconds <= 0 {
		add(field.ErrorList{field.Invalid(field.NewPath("active_deadline_seconds"), *c.ActiveDeadlineSeconds, "must be > 0 (leave unset for no deadline)")})
	}
	if *c.TTLSecondsAfterFinished < 0 {
		add(field.ErrorList{field.Invalid(field.NewPath("ttl_seconds_after_finished"), *c.TTLSecondsAfterFinished, "must be >= 0")})
	}
	add(validateLabels(field.NewPath("labels"), c.Labels))
	add(validateLabels(field.NewPath("pod_labels"), c.PodLabels))
	add(validateAnnotations(field.NewPath("annotations"), c.Annotations))
	add(validateAnnotations(field.NewPath("pod_annotations"), c.PodAnnotations))

	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errs.ToAggregate())
	}
	return nil
}

func (c Config) validateConfigFile() field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("config_path")
	if c.ConfigPath != "" && !path.IsAbs(c.ConfigPath) {
		errs = append(errs, field.Invalid(p, c.ConfigPath, "must be an absolute path in the container"))
	}
	if c.ConfigMap == "" {
		if c.ConfigKey != "" {
			errs = append(errs, field.Invalid(field.NewPath("config_key"), c.ConfigKey, "needs config_map"))
		}
		return errs
	}
	if c.ConfigPath == "" {
		errs = append(errs, field.Required(p, "config_map is mounted there"))
	}
	for _, msg := range validation.IsDNS1123Subdomain(c.ConfigMap) {
		errs = append(errs, field.Invalid(field.NewPath("config_map"), c.ConfigMap, msg))
	}
	if c.ConfigPath != "" || c.ConfigKey != "" {
		// Without a path there is no default key to complain about.
		for _, msg := range validation.IsConfigMapKey(c.ConfigKey) {
			errs = append(errs, field.Invalid(field.NewPath("config_key"), c.ConfigKey, msg))
		}
	}
	return errs
}

func dnsLabel(p *field.Path, v string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(v) {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

// reservedKey reports whether a label or annotation key belongs to the
// launcher: List finds its Jobs and rebuilds their specs through those
// keys, so a configured value must never shadow them. Other
// app.kubernetes.io/ keys (instance, part-of, version) are the operator's.
func reservedKey(k string) bool {
	switch k {
	case LabelName, LabelComponent, LabelManagedBy:
		return true
	}
	return strings.HasPrefix(k, sarissaPrefix)
}

func validateLabels(p *field.Path, labels map[string]string) field.ErrorList {
	errs := metav1validation.ValidateLabels(labels, p)
	return append(errs, reservedKeys(p, labels)...)
}

func validateAnnotations(p *field.Path, annotations map[string]string) field.ErrorList {
	errs := apivalidation.ValidateAnnotations(annotations, p)
	return append(errs, reservedKeys(p, annotations)...)
}

func reservedKeys(p *field.Path, m map[string]string) field.ErrorList {
	var errs field.ErrorList
	for _, k := range sortedKeys(m) {
		if reservedKey(k) {
			errs = append(errs, field.Forbidden(p.Key(k), "set by the launcher ("+LabelName+", "+LabelComponent+", "+LabelManagedBy+" and "+sarissaPrefix+"*)"))
		}
	}
	return errs
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
