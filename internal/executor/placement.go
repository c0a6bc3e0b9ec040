package executor

import (
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Placement is rendezvous (highest random weight) hashing: every node
// scores every key, and a key's owners are the nodes with the highest
// scores. Adding or removing a node moves only the keys it gains or held
// (1/N of them), with no ring state to agree on; any two query nodes with
// the same member list place every key on the same executors, so each
// executor's cache holds its share of the data.

// score is node's weight for key.
func score(node, key string) uint64 {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(node)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(key)
	return d.Sum64()
}

// Owners returns the nodes in key's preference order: the first is the
// primary, the next ones its replicas. Every node appears once, so a caller
// that runs out of replicas goes on down the list.
func Owners(nodes []string, key string) []string {
	type scored struct {
		node string
		s    uint64
	}
	list := make([]scored, len(nodes))
	for i, n := range nodes {
		list[i] = scored{n, score(n, key)}
	}
	slices.SortFunc(list, func(a, b scored) int {
		switch {
		case a.s > b.s:
			return -1
		case a.s < b.s:
			return 1
		case a.node < b.node:
			return -1
		case a.node > b.node:
			return 1
		}
		return 0
	})
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.node
	}
	return out
}

// pick returns the node a unit runs on. The unit's first r owners are its
// replicas, each of which keeps the unit warm in its cache: queries take
// turns among them (turn), so every replica stays warm and losing one costs
// latency, not availability. Excluded nodes (failed, or down) are skipped:
// the next replica, then the owners beyond the first r (any executor can
// serve any unit, from storage). "" when every node is excluded.
func pick(owners []string, r, turn int, excluded func(string) bool) string {
	r = min(max(r, 1), len(owners))
	for i := range r {
		if n := owners[(turn+i)%r]; !excluded(n) {
			return n
		}
	}
	for _, n := range owners[r:] {
		if !excluded(n) {
			return n
		}
	}
	return ""
}
