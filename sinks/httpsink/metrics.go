package httpsink

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vpcflow/vpcflow/processor/component"
)

// metrics are the sink's collectors, labelled sink=<id>. Several http sinks
// share the collectors when they share a registry.
type metrics struct {
	delivered   prometheus.Counter
	failed      prometheus.Counter
	requests    *prometheus.CounterVec // outcome: success | retry | rejected | permanent
	latency     prometheus.Observer
	retries     *prometheus.CounterVec // class: 4xx | 5xx | network
	batchBytes  prometheus.Observer
	sentBytes   prometheus.Counter
	inFlight    prometheus.Gauge
	pendingSize prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, id string) (*metrics, error) {
	var errs []error
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, append([]string{"sink"}, labels...))
		return component.Register(reg, c, &errs)
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"sink"})
		return component.Register(reg, g, &errs).WithLabelValues(id)
	}
	hist := func(name, help string, buckets []float64) prometheus.Observer {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, []string{"sink"})
		return component.Register(reg, h, &errs).WithLabelValues(id)
	}
	m := &metrics{
		delivered: counter("vpcflow_sink_http_records_delivered_total",
			"Records an http sink delivered (2xx).").WithLabelValues(id),
		failed: counter("vpcflow_sink_http_records_failed_total",
			"Records an http sink could not deliver: refused by the intake for their content (400, 422, 413 alone), or retried past max_retry_duration.").WithLabelValues(id),
		requests: counter("vpcflow_sink_http_requests_total",
			"HTTP requests (attempts) by outcome: success, retry (destination error), rejected (400/413/422: split or refused records), permanent (max_retry_duration passed).", "outcome").MustCurryWith(prometheus.Labels{"sink": id}),
		latency: hist("vpcflow_sink_http_request_duration_seconds",
			"Duration of one HTTP attempt, until the response is read.",
			[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}),
		retries: counter("vpcflow_sink_http_retries_total",
			"Attempts that will be retried, by class: 4xx (401, 403, 404, 408, 429…), 5xx, network (errors and timeouts).", "class").MustCurryWith(prometheus.Labels{"sink": id}),
		batchBytes: hist("vpcflow_sink_http_batch_bytes",
			"Uncompressed body size of one request.", prometheus.ExponentialBuckets(1024, 4, 9)),
		sentBytes: counter("vpcflow_sink_http_sent_bytes_total",
			"Body bytes sent on the wire (compressed), every attempt counted.").WithLabelValues(id),
		inFlight:    gauge("vpcflow_sink_http_requests_in_flight", "Requests being sent or retried."),
		pendingSize: gauge("vpcflow_sink_http_pending_bytes", "Encoded bytes waiting to fill a request."),
	}
	return m, errors.Join(errs...)
}
