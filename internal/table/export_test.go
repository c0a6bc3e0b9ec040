package table

// WithBeforeCommit returns opts with a hook Compact calls after writing the
// new fragments of each attempt and before committing them, so tests can
// commit concurrent changes at exactly that point.
func WithBeforeCommit(opts CompactOptions, hook func(attempt int)) CompactOptions {
	opts.beforeCommit = hook
	return opts
}
