package agent

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sarissa-db/sarissa/internal/events"
	"github.com/sarissa-db/sarissa/internal/jobs"
)

type metrics struct {
	events           *prometheus.CounterVec
	evaluations      prometheus.Counter
	evaluationErrors prometheus.Counter
	launched         *prometheus.CounterVec
	jobs             *prometheus.GaugeVec
	tables           prometheus.Gauge
	reconciles       prometheus.Counter
	reconcileErrors  prometheus.Counter
	sourceErrors     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		events: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sarissa_agent_events_total",
			Help: "Write events consumed, by operation (operations this build does not know count as \"other\").",
		}, []string{"operation"}),
		evaluations: f.NewCounter(prometheus.CounterOpts{
			Name: "sarissa_agent_evaluations_total",
			Help: "Table evaluations (state loaded and a decision made).",
		}),
		evaluationErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "sarissa_agent_evaluation_errors_total",
			Help: "Table evaluations that failed to load the table's state or to launch a job; the table is evaluated again later.",
		}),
		launched: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sarissa_agent_jobs_launched_total",
			Help: "Jobs the agent launched, by kind.",
		}, []string{"kind"}),
		jobs: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sarissa_agent_jobs",
			Help: "Jobs the launcher lists, by state (finished ones while the launcher remembers them).",
		}, []string{"state"}),
		tables: f.NewGauge(prometheus.GaugeOpts{
			Name: "sarissa_agent_tables",
			Help: "Tables the agent tracks.",
		}),
		reconciles: f.NewCounter(prometheus.CounterOpts{
			Name: "sarissa_agent_reconciles_total",
			Help: "Scans of every table of the catalog.",
		}),
		reconcileErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "sarissa_agent_reconcile_errors_total",
			Help: "Reconciles that could not list the catalog's tables.",
		}),
		sourceErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "sarissa_agent_source_errors_total",
			Help: "Failed event fetches and offset commits (the reconcile finds the work meanwhile).",
		}),
	}
	// Every label value exists from the start, so that dashboards and
	// alerts see zeros rather than absent series.
	for _, k := range jobs.Kinds {
		m.launched.WithLabelValues(string(k))
	}
	for _, s := range []jobs.State{jobs.StatePending, jobs.StateRunning, jobs.StateSucceeded, jobs.StateFailed} {
		m.jobs.WithLabelValues(string(s))
	}
	return m
}

// opLabel bounds the operation label: producers of a newer build may send
// operations this one does not know.
func opLabel(op string) string {
	switch op {
	case events.OpCreateTable, events.OpInsert, events.OpOverwrite, events.OpDelete, events.OpUpdate,
		events.OpMergeInsert, events.OpAddColumns, events.OpAlterColumns, events.OpDropColumns, events.OpRestore,
		events.OpCreateIndex, events.OpDropIndex, events.OpDropTable, events.OpRenameTable, events.OpCompact,
		events.OpIndexOptimize, events.OpCleanup:
		return op
	}
	return "other"
}
