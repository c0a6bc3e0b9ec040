package agent

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestPolicyValidate(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Policy)
		want   []string
	}{
		{"rows", func(p *Policy) { p.IndexMinUnindexedRows = 0 }, []string{"index_min_unindexed_rows 0: must be at least 1"}},
		{"wait", func(p *Policy) { p.IndexMaxWait = -time.Second }, []string{"index_max_wait -1s: must be positive"}},
		{"fragments", func(p *Policy) { p.CompactMinFragments = 0 }, []string{"compact_min_fragments 0: must be at least 1"}},
		{"fraction zero", func(p *Policy) { p.CompactDeletedFraction = 0 }, []string{"compact_deleted_fraction 0: must be in (0, 1]"}},
		{"fraction above one", func(p *Policy) { p.CompactDeletedFraction = 1.5 }, []string{"compact_deleted_fraction 1.5: must be in (0, 1]"}},
		{"target", func(p *Policy) { p.CompactTargetRowsPerFragment = 0 }, []string{"compact_target_rows_per_fragment 0: must be at least 1"}},
		{"retention", func(p *Policy) { p.CleanupRetention = 0 }, []string{"cleanup_retention 0s: must be positive"}},
		{"grace", func(p *Policy) { p.CleanupGrace = 0 }, []string{"cleanup_grace 0s: must be positive"}},
		{"interval", func(p *Policy) { p.CleanupInterval = 0 }, []string{"cleanup_interval 0s: must be positive"}},
		{"all reported", func(p *Policy) { *p = Policy{CompactDeletedFraction: 1} }, []string{
			"index_min_unindexed_rows", "index_max_wait", "compact_min_fragments", "compact_target_rows_per_fragment",
			"cleanup_retention", "cleanup_grace", "cleanup_interval"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultPolicy()
			tc.change(&p)
			err := p.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// A YAML file overrides some fields; the others keep their defaults.
func TestPolicyYAML(t *testing.T) {
	p := DefaultPolicy()
	if err := yaml.Unmarshal([]byte("index_min_unindexed_rows: 500\nindex_max_wait: 2m\ncleanup_retention: 24h\n"), &p); err != nil {
		t.Fatal(err)
	}
	want := DefaultPolicy()
	want.IndexMinUnindexedRows, want.IndexMaxWait, want.CleanupRetention = 500, 2*time.Minute, 24*time.Hour
	if p != want {
		t.Fatalf("got %+v, want %+v", p, want)
	}
	rc := p.RunnerConfig()
	if rc.CleanupRetention != 24*time.Hour || rc.CleanupGrace != want.CleanupGrace ||
		rc.Compact.TargetRowsPerFragment != want.CompactTargetRowsPerFragment ||
		rc.Compact.MaterializeDeletionsThreshold != want.CompactDeletedFraction {
		t.Fatalf("runner config %+v does not match the policy", rc)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{Policy: DefaultPolicy()}).Validate(); err != nil {
		t.Fatalf("zero values select defaults: %v", err)
	}
	d := (Config{}).withDefaults()
	if d.ReconcileInterval != 5*time.Minute || d.Settle != time.Second || d.PollInterval != 2*time.Second || d.Parallelism != 4 {
		t.Fatalf("defaults: %+v", d)
	}
	err := (Config{Policy: DefaultPolicy(), Settle: -1, ReconcileInterval: -1, PollInterval: -1, Parallelism: -1}).Validate()
	for _, w := range []string{"settle", "reconcile_interval", "poll_interval", "parallelism"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not mention %s", err, w)
		}
	}
}
