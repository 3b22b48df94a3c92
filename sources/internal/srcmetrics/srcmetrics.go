// Package srcmetrics declares the metric families that several sources
// share (vpcflow_source_*), once, so that their help texts and labels
// cannot drift apart: sources of different types register them in the one
// registry of the process. Each constructor registers with
// component.Register and returns the family curried with source=<id>, or,
// for a family with no other label, its one metric.
package srcmetrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/processor/component"
)

// LagSeconds is vpcflow_source_lag_seconds{source,partition}.
func LagSeconds(reg prometheus.Registerer, id string, errs *[]error) *prometheus.GaugeVec {
	return gaugeVec(reg, id, errs, prometheus.GaugeOpts{
		Name: "vpcflow_source_lag_seconds",
		Help: "How far the source is behind, in seconds (kinesis: MillisBehindLatest per shard; s3_sqs: age of the oldest notification in flight).",
	}, "partition")
}

// LagRecords is vpcflow_source_lag_records{source,partition}.
func LagRecords(reg prometheus.Registerer, id string, errs *[]error) *prometheus.GaugeVec {
	return gaugeVec(reg, id, errs, prometheus.GaugeOpts{
		Name: "vpcflow_source_lag_records",
		Help: "Records of a partition not yet committed: high watermark minus committed offset.",
	}, "partition")
}

// NewestRecordAge is vpcflow_source_newest_record_age_seconds{source,partition}.
func NewestRecordAge(reg prometheus.Registerer, id string, errs *[]error) *prometheus.GaugeVec {
	return gaugeVec(reg, id, errs, prometheus.GaugeOpts{
		Name: "vpcflow_source_newest_record_age_seconds",
		Help: "Age of the newest record read from a partition, by the record's timestamp, at the last refresh.",
	}, "partition")
}

// QueueMessages is vpcflow_source_queue_messages{source}.
func QueueMessages(reg prometheus.Registerer, id string, errs *[]error) prometheus.Gauge {
	return gauge(reg, id, errs, prometheus.GaugeOpts{
		Name: "vpcflow_source_queue_messages",
		Help: "Messages waiting in the source's queue (SQS ApproximateNumberOfMessages).",
	})
}

// LeasesHeld is vpcflow_source_leases_held{source}.
func LeasesHeld(reg prometheus.Registerer, id string, errs *[]error) prometheus.Gauge {
	return gauge(reg, id, errs, prometheus.GaugeOpts{
		Name: "vpcflow_source_leases_held",
		Help: "Shard leases this instance holds.",
	})
}

// InFlightBytes is vpcflow_source_in_flight_bytes{source}.
func InFlightBytes(reg prometheus.Registerer, id string, errs *[]error) prometheus.Gauge {
	return gauge(reg, id, errs, prometheus.GaugeOpts{
		Name: "vpcflow_source_in_flight_bytes",
		Help: "Bytes held by the batches the source read and are not yet acknowledged (records and payload), bounded by max_in_flight_bytes.",
	})
}

// BudgetWaits is vpcflow_source_budget_waits_total{source}.
func BudgetWaits(reg prometheus.Registerer, id string, errs *[]error) prometheus.Counter {
	v := component.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_source_budget_waits_total",
		Help: "Times the source waited for acknowledgements before reading more, its batches in flight holding max_in_flight_bytes.",
	}, []string{"source"}), errs)
	return v.WithLabelValues(id)
}

func gaugeVec(reg prometheus.Registerer, id string, errs *[]error, opts prometheus.GaugeOpts, labels ...string) *prometheus.GaugeVec {
	v := component.Register(reg, prometheus.NewGaugeVec(opts, append([]string{"source"}, labels...)), errs)
	return v.MustCurryWith(prometheus.Labels{"source": id})
}

// gauge is a gauge family with only the source label: its one metric.
func gauge(reg prometheus.Registerer, id string, errs *[]error, opts prometheus.GaugeOpts) prometheus.Gauge {
	return gaugeVec(reg, id, errs, opts).WithLabelValues()
}
