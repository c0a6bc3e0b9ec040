package api_test

import (
	"fmt"
	"testing"

	"github.com/sarissa-db/sarissa/internal/api"
	"github.com/sarissa-db/sarissa/internal/events"
)

// Every committed write publishes one event naming the table, the version
// it committed, the operation and the rows it changed; reads and refused
// writes publish nothing.
func TestWritesPublishEvents(t *testing.T) {
	e := newEnv(t, "mem", api.Config{})
	arrow := []string{"content-type", "application/vnd.apache.arrow.stream"}
	e.createItems("t")
	e.ok(e.post("/v1/table/t/insert/", e.itemStream(item{id: 9}, item{id: 10}), arrow...), nil)
	e.ok(e.post("/v1/table/t/delete/", map[string]any{"predicate": "id = 9"}), nil)
	e.ok(e.post("/v1/table/t/delete/", map[string]any{"predicate": "id = 12345"}), nil) // deletes nothing
	e.ok(e.post("/v1/table/t/update/", map[string]any{"updates": [][]string{{"price", "1"}}, "predicate": "id = 1"}), nil)
	e.ok(e.post("/v1/table/t/merge_insert/?on=id&when_matched_update_all=true&when_not_matched_insert_all=true", e.itemStream(item{id: 1}, item{id: 11}), arrow...), nil)
	e.ok(e.post("/v1/table/t/add_columns/", map[string]any{"new_columns": []map[string]any{{"name": "p2", "expression": "price * 2"}}}), nil)
	e.ok(e.post("/v1/table/t/query/", map[string]any{"k": 1}), nil)
	e.fails(e.post("/v1/table/t/delete/", map[string]any{"predicate": "nope >"}), 400)
	e.ok(e.post("/v1/table/t/rename/", map[string]any{"new_table_name": "u"}), nil)
	e.ok(e.post("/v1/table/u/drop/", nil), nil)
	got := e.events.take()
	want := []string{
		"create_table db/t v1 +4",
		"insert db/t v2 +2",
		"delete db/t v3 -1",
		"update db/t v5 ~1", // v4: the delete that matched nothing (no event)
		"merge_insert db/t v6 +1 ~1",
		"add_columns db/t v7",
		"rename_table db/t v0 -> u",
		"drop_table db/u v0",
	}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i, ev := range got {
		s := fmt.Sprintf("%s %s/%s v%d", ev.Operation, ev.Database, ev.Table, ev.Version)
		if ev.RowsAdded > 0 {
			s += fmt.Sprintf(" +%d", ev.RowsAdded)
		}
		if ev.RowsDeleted > 0 {
			s += fmt.Sprintf(" -%d", ev.RowsDeleted)
		}
		if ev.RowsUpdated > 0 {
			s += fmt.Sprintf(" ~%d", ev.RowsUpdated)
		}
		if ev.NewTable != "" {
			s += " -> " + ev.NewTable
		}
		if s != want[i] {
			t.Errorf("event %d: %s, want %s", i, s, want[i])
		}
		if ev.Schema != events.SchemaVersion || ev.Producer != "test-node" || ev.Time.IsZero() ||
			ev.ID != events.NewID(ev.Database, ev.Table, ev.Version, ev.Operation) {
			t.Errorf("event %d: %+v", i, ev)
		}
		if _, err := events.Decode(mustEncode(t, ev)); err != nil {
			t.Errorf("event %d does not survive the wire: %v", i, err)
		}
	}
}

func mustEncode(t *testing.T, ev events.Event) []byte {
	t.Helper()
	data, err := events.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
