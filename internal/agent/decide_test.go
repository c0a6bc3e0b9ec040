package agent

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sarissa-db/sarissa/internal/jobs"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the want blocks of testdata/decide/*.yaml with what Decide returns")

// decideCase is one case of a transcript under testdata/decide: inputs of
// Decide (and CleanupCheckDue) and the rendered decision.
type decideCase struct {
	Name   string    `yaml:"name"`
	Now    time.Time `yaml:"now"`
	Policy yaml.Node `yaml:"policy"` // overrides of DefaultPolicy
	State  struct {
		Database         string               `yaml:"database"`
		Table            string               `yaml:"table"`
		Version          uint64               `yaml:"version"`
		Indexes          []caseIndex          `yaml:"indexes"`
		Compaction       caseCompaction       `yaml:"compaction"`
		Versions         map[uint64]time.Time `yaml:"versions"` // absent: not loaded
		LastCleanup      time.Time            `yaml:"last_cleanup"`
		CleanupNotBefore time.Time            `yaml:"cleanup_not_before"`
	} `yaml:"state"`
	Jobs []caseJob `yaml:"jobs"`
	Want string    `yaml:"want"`
}

type caseIndex struct {
	Name           string    `yaml:"name"`
	UnindexedRows  int64     `yaml:"unindexed_rows"`
	UnindexedSince time.Time `yaml:"unindexed_since"`
}

type caseCompaction struct {
	Fragments          int     `yaml:"fragments"`
	PlanFragments      int     `yaml:"plan_fragments"`
	PlanGroups         int     `yaml:"plan_groups"`
	MaxDeletedFraction float64 `yaml:"max_deleted_fraction"`
	Unsupported        string  `yaml:"unsupported"`
}

type caseJob struct {
	Kind     jobs.Kind  `yaml:"kind"`
	Database string     `yaml:"database"` // default: the state's
	Table    string     `yaml:"table"`    // default: the state's
	Version  uint64     `yaml:"version"`
	Index    string     `yaml:"index"`
	State    jobs.State `yaml:"state"`
	Started  time.Time  `yaml:"started"`
}

func (c decideCase) inputs(t *testing.T) (TableState, []jobs.Status, Policy) {
	t.Helper()
	p := DefaultPolicy()
	if c.Policy.Kind != 0 {
		if err := c.Policy.Decode(&p); err != nil {
			t.Fatalf("%s: policy: %v", c.Name, err)
		}
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	s := c.State
	st := TableState{
		Database: s.Database, Table: s.Table, Version: s.Version,
		Compaction:  CompactionState(s.Compaction),
		LastCleanup: s.LastCleanup, CleanupNotBefore: s.CleanupNotBefore,
	}
	if st.Database == "" {
		st.Database = "db"
	}
	if st.Table == "" {
		st.Table = "t"
	}
	for _, in := range s.Indexes {
		st.Indexes = append(st.Indexes, IndexState(in))
	}
	if s.Versions != nil {
		st.Versions = []VersionStamp{}
		for v, at := range s.Versions {
			st.Versions = append(st.Versions, VersionStamp{Version: v, Timestamp: at})
		}
	}
	var statuses []jobs.Status
	for _, j := range c.Jobs {
		spec := jobs.Spec{Kind: j.Kind, Database: j.Database, Table: j.Table, Version: j.Version, Index: j.Index}
		if spec.Database == "" {
			spec.Database = st.Database
		}
		if spec.Table == "" {
			spec.Table = st.Table
		}
		if err := spec.Validate(); err != nil {
			t.Fatalf("%s: job %+v: %v", c.Name, j, err)
		}
		statuses = append(statuses, jobs.Status{Spec: spec, Name: spec.Name(), State: j.State, Started: j.Started})
	}
	return st, statuses, p
}

// render writes a decision one fact a line, so that a transcript diff says
// exactly what changed.
func render(now time.Time, st TableState, statuses []jobs.Status, p Policy) string {
	var b strings.Builder
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(&b, "cleanup_check_due %t\n", CleanupCheckDue(now, st, statuses, p))
	d := Decide(now, st, statuses, p)
	for _, s := range d.Launch {
		fmt.Fprintf(&b, "launch %s\n", s)
	}
	for _, pd := range d.Pending {
		what := string(pd.Kind)
		if pd.Index != "" {
			what += " " + pd.Index
		}
		fmt.Fprintf(&b, "pending %s: %s\n", what, pd.Reason)
	}
	fmt.Fprintf(&b, "next_check %s\n", ts(d.NextCheck))
	fmt.Fprintf(&b, "cleanup_not_before %s\n", ts(d.CleanupNotBefore))
	fmt.Fprintf(&b, "old_versions %d\n", d.OldVersions)
	return b.String()
}

// TestDecide runs the transcripts: every rule and threshold edge of Decide
// (index.yaml, compact.yaml, cleanup.yaml). go test -run TestDecide
// -rewrite fills the want blocks; review the diff before committing it.
func TestDecide(t *testing.T) {
	files, err := filepath.Glob("testdata/decide/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var doc yaml.Node
			if err := yaml.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.SequenceNode {
				t.Fatalf("%s: want a sequence of cases", file)
			}
			seen := map[string]bool{}
			for _, n := range doc.Content[0].Content {
				var c decideCase
				if err := n.Decode(&c); err != nil {
					t.Fatalf("%s line %d: %v", file, n.Line, err)
				}
				if c.Name == "" || seen[c.Name] || c.Now.IsZero() {
					t.Fatalf("%s line %d: every case needs a unique name and now", file, n.Line)
				}
				seen[c.Name] = true
				st, statuses, p := c.inputs(t)
				got := render(c.Now, st, statuses, p)
				if *rewrite {
					setWant(n, got)
					continue
				}
				if got != c.Want {
					t.Errorf("%s (line %d):\ngot:\n%swant:\n%s", c.Name, n.Line, got, c.Want)
				}
			}
			if *rewrite {
				var buf bytes.Buffer
				enc := yaml.NewEncoder(&buf)
				enc.SetIndent(2)
				if err := enc.Encode(&doc); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// setWant replaces (or adds) the case's want block.
func setWant(c *yaml.Node, want string) {
	val := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: want, Style: yaml.LiteralStyle}
	for i := 0; i+1 < len(c.Content); i += 2 {
		if c.Content[i].Value == "want" {
			c.Content[i+1] = val
			return
		}
	}
	c.Content = append(c.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "want"}, val)
}

func TestTrackUnindexed(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	job := func(index string, state jobs.State, started time.Time) jobs.Status {
		s := jobs.Spec{Kind: jobs.KindIndex, Database: "db", Table: "t", Version: 3, Index: index}
		return jobs.Status{Spec: s, Name: s.Name(), State: state, Started: started}
	}
	for _, tc := range []struct {
		name       string
		prev       map[string]time.Time
		rows       map[string]int64
		firstWrite time.Time
		jobs       []jobs.Status
		want       map[string]time.Time
	}{
		{name: "first seen without events: now", rows: map[string]int64{"i": 5}, want: map[string]time.Time{"i": at(100)}},
		{name: "first seen after an event: the write's time", rows: map[string]int64{"i": 5}, firstWrite: at(40),
			want: map[string]time.Time{"i": at(40)}},
		{name: "an event from the future counts as now", rows: map[string]int64{"i": 5}, firstWrite: at(400),
			want: map[string]time.Time{"i": at(100)}},
		{name: "kept while rows stay unindexed", prev: map[string]time.Time{"i": at(10)}, rows: map[string]int64{"i": 50},
			firstWrite: at(90), want: map[string]time.Time{"i": at(10)}},
		{name: "forgotten at zero and when the index is gone", prev: map[string]time.Time{"i": at(10), "gone": at(10)},
			rows: map[string]int64{"i": 0}, want: map[string]time.Time{}},
		{name: "a succeeded job moves it to the job's start", prev: map[string]time.Time{"i": at(10)},
			rows: map[string]int64{"i": 5, "j": 5}, jobs: []jobs.Status{job("i", jobs.StateSucceeded, at(60)), job("j", jobs.StateFailed, at(60))},
			want: map[string]time.Time{"i": at(60), "j": at(100)}},
		{name: "an older job does not", prev: map[string]time.Time{"i": at(70)}, rows: map[string]int64{"i": 5},
			jobs: []jobs.Status{job("i", jobs.StateSucceeded, at(60)), job("i", jobs.StateRunning, at(80))},
			want: map[string]time.Time{"i": at(70)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := trackUnindexed(at(100), tc.prev, tc.rows, tc.firstWrite, "db", "t", tc.jobs)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if !got[k].Equal(v) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
