package events

// AppendRaw exposes Memory.appendRaw to the external tests, which run the
// conformance suite's "undecodable messages are skipped" cases.
func AppendRaw(m *Memory, key string, value []byte) {
	m.appendRaw(memEntry{key: key, value: value})
}

// SetRetention lowers a Memory's retention so tests can reach it.
func SetRetention(m *Memory, n int) { m.retention = n }
