// Package events carries write events from query nodes to the Lance Agent:
// after a commit, the query node publishes what changed (database, table,
// version, operation, row counts); the agent consumes them and decides which
// index, compaction and cleanup jobs to launch.
//
// Events carry no customer data, and the agent can always re-derive its
// work from the tables' manifests, so a lost event only delays work.
// Delivery is at least once: a consumer may see an event twice (after a
// restart before its commit, or from a producer's retry) and must treat
// duplicates as harmless.
//
// The boundary is two small interfaces, Sink (publish) and Source
// (consume with explicit commits), with an in-process implementation
// (Memory, for `--target all` and tests) and a Kafka one (package kafka,
// franz-go; it also serves Azure Event Hubs through its Kafka endpoint).
// Both run the conformance suite in eventstest. Publisher puts a bounded,
// non-blocking buffer with retries in front of a Sink, so that publishing
// never blocks or fails a committed write.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// SchemaVersion is the version of the event encoding this build writes. A
// consumer refuses events of a newer major schema (ErrSchema) and skips
// them, rather than misreading them.
const SchemaVersion = 1

// Operations an event can report. They name the write that produced the
// version, as the REST API calls it.
const (
	OpCreateTable  = "create_table"
	OpInsert       = "insert"    // append
	OpOverwrite    = "overwrite" // insert with mode=overwrite, create with mode=overwrite
	OpDelete       = "delete"
	OpUpdate       = "update"
	OpMergeInsert  = "merge_insert"
	OpAddColumns   = "add_columns"
	OpAlterColumns = "alter_columns"
	OpDropColumns  = "drop_columns"
	OpRestore      = "restore"
	OpCreateIndex  = "create_index"
	OpDropIndex    = "drop_index"
	OpDropTable    = "drop_table"
	OpRenameTable  = "rename_table"
	// Jobs report their own commits, so that the agent sees the effect of
	// compaction and index work without waiting for a reconcile.
	OpCompact       = "compact"
	OpIndexOptimize = "index_optimize"
	OpCleanup       = "cleanup"
)

// Event is one committed write. The JSON encoding (field names below) is
// the wire format on every transport; docs/events.md documents it.
type Event struct {
	// Schema is the encoding version (SchemaVersion when written by this
	// build).
	Schema int `json:"schema"`
	// ID identifies the event for deduplication across producer retries:
	// the same commit always yields the same ID.
	ID string `json:"id"`
	// Database and Table name the table as the REST API does (Table is the
	// full identifier, namespaces joined with '$').
	Database string `json:"database"`
	Table    string `json:"table"`
	// Version is the table version the write committed (for drop_table: the
	// last version seen; for rename_table the new name is in NewTable).
	Version uint64 `json:"version"`
	// Operation is one of the Op constants; consumers ignore unknown ones.
	Operation string `json:"operation"`
	// RowsAdded, RowsDeleted and RowsUpdated count rows the write changed
	// (as far as the operation knows them; 0 otherwise).
	RowsAdded   int64 `json:"rows_added"`
	RowsDeleted int64 `json:"rows_deleted"`
	RowsUpdated int64 `json:"rows_updated"`
	// Index names the index of create_index / drop_index / index_optimize.
	Index string `json:"index,omitempty"`
	// NewTable is the new identifier of rename_table.
	NewTable string `json:"new_table,omitempty"`
	// Time is when the commit happened (producer's clock, UTC).
	Time time.Time `json:"time"`
	// Producer names the process that published the event (for logs).
	Producer string `json:"producer,omitempty"`
}

// Key is the partitioning key: events of one table keep their order on
// transports that order per key (Kafka partitions).
func (e Event) Key() string { return e.Database + "/" + e.Table }

// NewID returns the deterministic ID of the event for a commit.
func NewID(database, table string, version uint64, op string) string {
	return fmt.Sprintf("%s/%s@%d:%s", database, table, version, op)
}

// Sentinel errors.
var (
	// ErrSchema reports an event this build cannot read (a newer schema or
	// missing required fields). Consumers log and skip it.
	ErrSchema = errors.New("unreadable event")
	// ErrClosed reports use of a closed Sink, Source or Publisher.
	ErrClosed = errors.New("events: closed")
)

// Encode returns the wire form of e, filling Schema when unset.
func Encode(e Event) ([]byte, error) {
	if e.Schema == 0 {
		e.Schema = SchemaVersion
	}
	return json.Marshal(e)
}

// Decode parses the wire form and checks that the event is usable.
func Decode(data []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrSchema, err)
	}
	if e.Schema < 1 || e.Schema > SchemaVersion {
		return Event{}, fmt.Errorf("%w: schema %d (this build reads 1..%d)", ErrSchema, e.Schema, SchemaVersion)
	}
	if e.Database == "" || e.Table == "" || e.Operation == "" {
		return Event{}, fmt.Errorf("%w: database, table and operation are required (got %q, %q, %q)", ErrSchema, e.Database, e.Table, e.Operation)
	}
	return e, nil
}

// Sink publishes events.
type Sink interface {
	// Publish writes the events and returns once the transport holds them
	// durably (Kafka: acknowledged by the brokers). On error some of the
	// events may have been written; publishing them again is harmless.
	// Safe for concurrent use.
	Publish(ctx context.Context, events ...Event) error
	// Close releases the sink. Publish after Close returns ErrClosed.
	Close() error
}

// Message is one consumed event with its transport position.
type Message struct {
	Event Event
	// Partition and Offset locate the message in the transport (Memory: a
	// single partition 0). They order messages within a partition.
	Partition int32
	Offset    int64
}

// Source consumes events as a member of a consumer group: each event is
// delivered to one member of the group, and redelivered after a restart
// unless a Commit covered it.
type Source interface {
	// Fetch blocks until at least one message is available or ctx ends, and
	// returns the messages in order per partition. Messages that fail to
	// decode are skipped (and counted by the implementation), never
	// returned. Not safe for concurrent use: one goroutine consumes.
	Fetch(ctx context.Context) ([]Message, error)
	// Commit records that msgs (and every earlier message of their
	// partitions) are processed, so the group does not see them again.
	Commit(ctx context.Context, msgs []Message) error
	// Close leaves the group. Uncommitted messages are redelivered to the
	// next member or the next start.
	Close() error
}
