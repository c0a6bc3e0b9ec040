package api

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the query node's Prometheus series. Route labels are the
// registered patterns (bounded), never raw paths.
type metrics struct {
	requests    *prometheus.CounterVec
	errors      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	inFlight    prometheus.Gauge
	rowsWritten *prometheus.CounterVec
	bodyBytes   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sarissa_http_requests_total",
			Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sarissa_http_request_errors_total",
			Help: "HTTP requests answered with a 4xx or 5xx status, by route and status code.",
		}, []string{"route", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sarissa_http_request_duration_seconds",
			Help:    "Time from receiving a request to finishing its response, by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"route"}),
		inFlight: f.NewGauge(prometheus.GaugeOpts{
			Name: "sarissa_http_requests_in_flight",
			Help: "Requests being served.",
		}),
		rowsWritten: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sarissa_rows_written_total",
			Help: "Rows written to tables by committed operations (create, insert, merge_insert, update), by operation.",
		}, []string{"operation"}),
		bodyBytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sarissa_http_request_body_bytes_total",
			Help: "Request body bytes read, by route.",
		}, []string{"route"}),
	}
}
