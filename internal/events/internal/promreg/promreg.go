// Package promreg registers the events packages' Prometheus collectors so
// that several instances can share one Registerer.
//
// promauto panics when a second instance registers the same series (a
// Source reopened after an error, two sources of one process). Here the
// second registration reuses the collector already registered, so the
// series become process-wide totals, which is what an operator reads.
package promreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with reg and returns the collector to use: c itself,
// or the equal collector registered earlier. A nil reg registers nothing
// (the collector still counts, for tests that do not read it). A conflict
// that is not a plain re-registration (same name, other help or labels) is
// returned as an error.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
