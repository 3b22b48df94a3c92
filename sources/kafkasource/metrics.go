package kafkasource

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/sources/internal/srcmetrics"
)

// metrics of one kafka source. Label values are bounded: source is the
// component id, partition is "topic/N" for the partitions this instance
// owns (series are removed when a partition is revoked).
type metrics struct {
	lag            *prometheus.GaugeVec // partition
	age            *prometheus.GaugeVec // partition
	assigned       prometheus.Gauge
	decodeFailures prometheus.Counter
	fetchErrors    prometheus.Counter
	nacks          prometheus.Counter
	commits        *prometheus.CounterVec // outcome
	rebalances     *prometheus.CounterVec // event
	inFlightBytes  prometheus.Gauge
	budgetWaits    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, id string) (*metrics, error) {
	assigned := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpcflow_kafka_partitions_assigned",
		Help: "Partitions this instance currently owns in its consumer group.",
	}, []string{"source"})
	decode := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_kafka_decode_failures_total",
		Help: "Kafka records whose payload could not be decoded (corrupt gzip, unknown envelope); they go to the errors output.",
	}, []string{"source"})
	fetchErrs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_kafka_fetch_errors_total",
		Help: "Errors returned by fetches (the client retries them).",
	}, []string{"source"})
	nacks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_kafka_nacks_total",
		Help: "Batches negatively acknowledged; their partition is read again from the nacked batch.",
	}, []string{"source"})
	commits := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_kafka_commits_total",
		Help: "Offset commit requests by outcome (ok, error).",
	}, []string{"source", "outcome"})
	rebalances := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_kafka_rebalance_events_total",
		Help: "Consumer group events: assigned, revoked, lost.",
	}, []string{"source", "event"})
	var errs []error
	lag := srcmetrics.LagRecords(reg, id, &errs)
	age := srcmetrics.NewestRecordAge(reg, id, &errs)
	inFlight := srcmetrics.InFlightBytes(reg, id, &errs)
	waits := srcmetrics.BudgetWaits(reg, id, &errs)
	assigned = component.Register(reg, assigned, &errs)
	decode = component.Register(reg, decode, &errs)
	fetchErrs = component.Register(reg, fetchErrs, &errs)
	nacks = component.Register(reg, nacks, &errs)
	commits = component.Register(reg, commits, &errs)
	rebalances = component.Register(reg, rebalances, &errs)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	src := prometheus.Labels{"source": id}
	return &metrics{
		lag:            lag,
		age:            age,
		assigned:       assigned.WithLabelValues(id),
		decodeFailures: decode.WithLabelValues(id),
		fetchErrors:    fetchErrs.WithLabelValues(id),
		nacks:          nacks.WithLabelValues(id),
		commits:        commits.MustCurryWith(src),
		rebalances:     rebalances.MustCurryWith(src),
		inFlightBytes:  inFlight,
		budgetWaits:    waits,
	}, nil
}

// forget removes the series of a partition this instance no longer owns.
func (m *metrics) forget(partition string) {
	m.lag.DeleteLabelValues(partition)
	m.age.DeleteLabelValues(partition)
}
