package kinesissource

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/sources/internal/srcmetrics"
)

type metrics struct {
	lag         *prometheus.GaugeVec   // source, partition
	leasesHeld  prometheus.Gauge       // source
	records     prometheus.Counter     // source
	bytes       prometheus.Counter     // source
	failures    prometheus.Counter     // source
	calls       *prometheus.CounterVec // source, outcome
	leaseOps    *prometheus.CounterVec // source, op, outcome
	checkpoints prometheus.Counter     // source
	expired     prometheus.Counter     // source

	inFlightBytes prometheus.Gauge   // source
	budgetWaits   prometheus.Counter // source
}

func newMetrics(reg prometheus.Registerer, id string) (*metrics, error) {
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_kinesis_records_total",
		Help: "Kinesis records read (before de-aggregation and envelope decoding).",
	}, []string{"source"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_kinesis_bytes_total",
		Help: "Bytes of Kinesis record data read.",
	}, []string{"source"})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_kinesis_decode_failures_total",
		Help: "Kinesis records or user records that could not be decoded and went to the errors output.",
	}, []string{"source"})
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_kinesis_get_records_total",
		Help: "GetRecords calls by outcome (ok, throttled, expired_iterator, error).",
	}, []string{"source", "outcome"})
	leaseOps := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_kinesis_lease_operations_total",
		Help: "Lease table writes by operation (create, renew, take, steal, release, checkpoint, handoff_request, handoff, handoff_force, handoff_abandon) and outcome (ok, lost, error).",
	}, []string{"source", "op", "outcome"})
	cps := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_kinesis_checkpoints_total",
		Help: "Checkpoints written to the lease table.",
	}, []string{"source"})
	expired := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_kinesis_shards_expired_total",
		Help: "Shards that left the stream (retention) before they were read to their end: their unread records were lost upstream.",
	}, []string{"source"})
	var errs []error
	expired = component.Register(reg, expired, &errs)
	lag := srcmetrics.LagSeconds(reg, id, &errs)
	held := srcmetrics.LeasesHeld(reg, id, &errs)
	inFlight := srcmetrics.InFlightBytes(reg, id, &errs)
	waits := srcmetrics.BudgetWaits(reg, id, &errs)
	records = component.Register(reg, records, &errs)
	bytes = component.Register(reg, bytes, &errs)
	failures = component.Register(reg, failures, &errs)
	calls = component.Register(reg, calls, &errs)
	leaseOps = component.Register(reg, leaseOps, &errs)
	cps = component.Register(reg, cps, &errs)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &metrics{
		inFlightBytes: inFlight,
		budgetWaits:   waits,
		lag:           lag,
		leasesHeld:    held,
		records:       records.WithLabelValues(id),
		bytes:         bytes.WithLabelValues(id),
		failures:      failures.WithLabelValues(id),
		calls:         calls.MustCurryWith(prometheus.Labels{"source": id}),
		leaseOps:      leaseOps.MustCurryWith(prometheus.Labels{"source": id}),
		checkpoints:   cps.WithLabelValues(id),
		expired:       expired.WithLabelValues(id),
	}, nil
}
