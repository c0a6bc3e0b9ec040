package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/sarissa-db/sarissa/internal/vector"
)

// A query runs as plan fragments, Tasks: Execute plans the query on the
// query node, cuts the work into units — data fragments to scan or search
// exactly, and partitions of index files to search — and hands Tasks over
// those units to a Fleet. A Fleet runs them on plan executors, placing each
// unit by its key next to the executor's cache, or in this process. Task
// results are partial: a search task returns its k + offset best rows with
// the columns the query needs, a scan task its first offset + k matching
// rows, a count task a count; Execute merges them, applies offset and
// limit, post-filters and projects.

// TaskKind is what a task computes.
type TaskKind uint8

const (
	// TaskSearch searches fragments exactly and index partitions by the
	// index, and returns one working batch per query vector: the k + offset
	// nearest eligible rows (refined when the query asks), nearest first,
	// with the columns the rest of the query reads, _rowid and _distance.
	TaskSearch TaskKind = iota + 1
	// TaskScan scans fragments in manifest order and returns up to
	// offset + k rows matching the filter, with the columns the projection
	// reads and _rowid.
	TaskScan
	// TaskCount counts the rows of the fragments that match the filter:
	// one batch of one Int64 "count" value.
	TaskCount
)

var taskKindNames = map[TaskKind]string{TaskSearch: "search", TaskScan: "scan", TaskCount: "count"}

func (k TaskKind) String() string {
	if s, ok := taskKindNames[k]; ok {
		return s
	}
	return "TaskKind(" + strconv.Itoa(int(k)) + ")"
}

// Task is one plan fragment.
type Task struct {
	Kind    TaskKind
	Request Request
	// Fragments are the fragment ids to scan (TaskScan, TaskCount) or to
	// search exactly (TaskSearch), in manifest order.
	Fragments []uint64
	// Metric, when set, replaces the plan's distance type for the exact
	// search and the refine step: a search through an index uses the
	// index's metric everywhere, so distances compare.
	Metric vector.Metric
	// Index holds the index partitions a TaskSearch searches.
	Index *IndexTask
}

// IndexTask is the index part of a search task.
type IndexTask struct {
	// Name is the index (for messages).
	Name     string         `json:"name"`
	Segments []IndexSegment `json:"segments"`
}

// IndexSegment is one index file of a search task.
type IndexSegment struct {
	// File is the index file, relative to the table root.
	File string `json:"file"`
	// Stale fragments' rows must not be returned (vindex.SegmentPlan).
	Stale []uint64 `json:"stale,omitempty"`
	// Partitions lists, per query vector, the partitions to search.
	Partitions [][]int `json:"partitions"`
}

// Unit is one placeable piece of a task.
type Unit struct {
	// Key places the unit: "f<id>" for a fragment, "p<file>#<partition>"
	// for an index partition. Placement combines it with the table's
	// location, so that units of different tables spread independently.
	Key string
	// Fragment is the fragment id of a fragment unit; Segment (an index
	// into Index.Segments) and Partition locate a partition unit.
	Fragment           uint64
	Segment, Partition int
	isPartition        bool
}

// Units returns the task's units: its fragments in order, then the
// distinct partitions of each index segment.
func (t *Task) Units() []Unit {
	units := make([]Unit, 0, len(t.Fragments))
	for _, f := range t.Fragments {
		units = append(units, Unit{Key: "f" + strconv.FormatUint(f, 10), Fragment: f})
	}
	if t.Index == nil {
		return units
	}
	for si, s := range t.Index.Segments {
		seen := map[int]bool{}
		for _, parts := range s.Partitions {
			for _, p := range parts {
				if seen[p] {
					continue
				}
				seen[p] = true
				units = append(units, Unit{Key: "p" + s.File + "#" + strconv.Itoa(p), Segment: si, Partition: p, isPartition: true})
			}
		}
	}
	return units
}

// Subset returns the task restricted to the given units (from Units).
func (t *Task) Subset(units []Unit) Task {
	out := Task{Kind: t.Kind, Request: t.Request, Metric: t.Metric}
	type segPart struct{ seg, part int }
	parts := map[segPart]bool{}
	for _, u := range units {
		if u.isPartition {
			parts[segPart{u.Segment, u.Partition}] = true
		} else {
			out.Fragments = append(out.Fragments, u.Fragment)
		}
	}
	if t.Index == nil || len(parts) == 0 {
		return out
	}
	out.Index = &IndexTask{Name: t.Index.Name}
	for si, s := range t.Index.Segments {
		seg := IndexSegment{File: s.File, Stale: s.Stale, Partitions: make([][]int, len(s.Partitions))}
		some := false
		for qi, ps := range s.Partitions {
			for _, p := range ps {
				if parts[segPart{si, p}] {
					seg.Partitions[qi] = append(seg.Partitions[qi], p)
					some = true
				}
			}
		}
		if some {
			out.Index.Segments = append(out.Index.Segments, seg)
		}
	}
	return out
}

// taskWire is the JSON form of a Task.
type taskWire struct {
	Kind      string          `json:"kind"`
	Request   json.RawMessage `json:"request"`
	Fragments []uint64        `json:"fragments,omitempty"`
	Metric    string          `json:"metric,omitempty"`
	Index     *IndexTask      `json:"index,omitempty"`
}

// MarshalJSON encodes the task for a plan executor.
func (t Task) MarshalJSON() ([]byte, error) {
	w := taskWire{Kind: t.Kind.String(), Request: EncodeRequest(t.Request), Fragments: t.Fragments, Index: t.Index}
	if t.Metric != 0 {
		w.Metric = t.Metric.String()
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes and checks a task; errors wrap ErrInvalidRequest.
func (t *Task) UnmarshalJSON(data []byte) error {
	var w taskWire
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return invalid("task: %v", err)
	}
	var out Task
	for k, name := range taskKindNames {
		if name == w.Kind {
			out.Kind = k
		}
	}
	if out.Kind == 0 {
		return invalid("task: unknown kind %q", w.Kind)
	}
	req, err := ParseRequest(w.Request)
	if err != nil {
		return fmt.Errorf("task: %w", err)
	}
	out.Request = req
	out.Fragments = w.Fragments
	if w.Metric != "" {
		if out.Metric, err = vector.ParseMetric(w.Metric); err != nil {
			return invalid("task: %v", err)
		}
	}
	if w.Index != nil {
		if out.Kind != TaskSearch {
			return invalid("task: a %s task has no index part", w.Kind)
		}
		for _, s := range w.Index.Segments {
			if len(s.Partitions) != len(req.Vectors) {
				return invalid("task: index file %s lists partitions for %d query vectors, the request has %d", s.File, len(s.Partitions), len(req.Vectors))
			}
		}
		out.Index = w.Index
	}
	*t = out
	return nil
}
