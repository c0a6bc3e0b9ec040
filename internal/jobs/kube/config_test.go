package kube

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func validConfig() Config {
	return Config{
		Namespace:          "sarissa",
		Image:              "sarissa.azurecr.io/sarissa:1.0.0",
		ServiceAccountName: "sarissa-indexer",
		PodLabels:          map[string]string{"azure.workload.identity/use": "true"},
	}
}

func ptr[T any](v T) *T { return &v }

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // substring of the error; empty: valid
	}{
		{"valid", func(*Config) {}, ""},
		{"valid full", func(c *Config) {
			c.ImagePullPolicy = corev1.PullIfNotPresent
			c.ConfigPath = "/etc/sarissa/sarissa.yaml"
			c.ConfigMap = "sarissa-config"
			c.BackoffLimit = ptr[int32](0)
			c.ActiveDeadlineSeconds = ptr[int64](3600)
			c.TTLSecondsAfterFinished = ptr[int32](0)
			c.Labels = map[string]string{"app.kubernetes.io/instance": "prod", "team": "search"}
			c.Annotations = map[string]string{"example.com/owner": "search team"}
			c.PodAnnotations = map[string]string{"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
		}, ""},
		{"no namespace", func(c *Config) { c.Namespace = "" }, "namespace: Required value"},
		{"bad namespace", func(c *Config) { c.Namespace = "Sarissa_NS" }, `namespace: Invalid value: "Sarissa_NS"`},
		{"no image", func(c *Config) { c.Image = " " }, "image: Required value"},
		{"image with space", func(c *Config) { c.Image = "sarissa :1" }, "image: Invalid value"},
		{"pull policy", func(c *Config) { c.ImagePullPolicy = "Sometimes" }, `image_pull_policy: Unsupported value: "Sometimes"`},
		{"empty command word", func(c *Config) { c.Command = []string{"sarissa", ""} }, "command: Invalid value"},
		{"service account", func(c *Config) { c.ServiceAccountName = "Bad Account" }, "service_account_name: Invalid value"},
		{"relative config path", func(c *Config) { c.ConfigPath = "etc/sarissa.yaml" }, "config_path: Invalid value"},
		{"config map without path", func(c *Config) { c.ConfigMap = "sarissa-config" }, "configuration: config_path: Required value: config_map is mounted there"},
		{"config key without map", func(c *Config) { c.ConfigPath = "/etc/s.yaml"; c.ConfigKey = "s.yaml" }, "config_key: Invalid value"},
		{"bad config map name", func(c *Config) { c.ConfigPath = "/etc/s.yaml"; c.ConfigMap = "Bad_Name" }, "config_map: Invalid value"},
		{"bad config key", func(c *Config) { c.ConfigPath = "/etc/s.yaml"; c.ConfigMap = "cm"; c.ConfigKey = "a/b" }, "config_key: Invalid value"},
		{"negative backoff", func(c *Config) { c.BackoffLimit = ptr[int32](-1) }, "backoff_limit: Invalid value: -1"},
		{"zero deadline", func(c *Config) { c.ActiveDeadlineSeconds = ptr[int64](0) }, "active_deadline_seconds: Invalid value: 0"},
		{"negative ttl", func(c *Config) { c.TTLSecondsAfterFinished = ptr[int32](-5) }, "ttl_seconds_after_finished: Invalid value: -5"},
		{"bad label value", func(c *Config) { c.Labels = map[string]string{"team": "search team"} }, `labels: Invalid value: "search team"`},
		{"bad label key", func(c *Config) { c.Labels = map[string]string{"-team": "x"} }, `labels: Invalid value: "-team"`},
		{"bad pod label", func(c *Config) { c.PodLabels = map[string]string{"a": strings.Repeat("x", 64)} }, "pod_labels: Invalid value"},
		{"reserved label", func(c *Config) { c.Labels = map[string]string{LabelManagedBy: "me"} }, "labels[app.kubernetes.io/managed-by]: Forbidden"},
		{"reserved pod label", func(c *Config) { c.PodLabels = map[string]string{LabelKind: "index"} }, "pod_labels[sarissa.dev/job-kind]: Forbidden"},
		{"reserved annotation", func(c *Config) { c.Annotations = map[string]string{AnnotationSpec: "{}"} }, "annotations[sarissa.dev/job-spec]: Forbidden"},
		{"bad annotation key", func(c *Config) { c.PodAnnotations = map[string]string{"bad key": "x"} }, `pod_annotations: Invalid value: "bad key"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted the config, want an error with %q", tt.want)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error %v does not match ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := validConfig().withDefaults()
	if *c.BackoffLimit != DefaultBackoffLimit || *c.TTLSecondsAfterFinished != DefaultTTLSecondsAfterFinished {
		t.Errorf("defaults: backoff %d ttl %d", *c.BackoffLimit, *c.TTLSecondsAfterFinished)
	}
	if strings.Join(c.Command, " ") != "sarissa" {
		t.Errorf("default command %q", c.Command)
	}
	zero := validConfig()
	zero.BackoffLimit = ptr[int32](0)
	zero.TTLSecondsAfterFinished = ptr[int32](0)
	zero.ConfigPath, zero.ConfigMap = "/etc/sarissa/config.yaml", "cm"
	zero = zero.withDefaults()
	if *zero.BackoffLimit != 0 || *zero.TTLSecondsAfterFinished != 0 {
		t.Errorf("explicit zeros replaced: backoff %d ttl %d", *zero.BackoffLimit, *zero.TTLSecondsAfterFinished)
	}
	if zero.ConfigKey != "config.yaml" {
		t.Errorf("config key defaults to %q, want the path's base name", zero.ConfigKey)
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := New(nil, validConfig(), Deps{}); !errors.Is(err, ErrConfig) {
		t.Errorf("New without a client: %v, want ErrConfig", err)
	}
}
