package processor

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's collectors. Label values are component ids and
// fixed words only.
type metrics struct {
	sourceRecords *prometheus.CounterVec
	sourceBatches *prometheus.CounterVec
	sourceFailed  *prometheus.CounterVec

	stageIn       *prometheus.CounterVec
	stageOut      *prometheus.CounterVec
	stageDropped  *prometheus.CounterVec
	stageFailed   *prometheus.CounterVec
	stageDuration *prometheus.HistogramVec
	stageRetries  *prometheus.CounterVec

	sinkDelivered    *prometheus.CounterVec
	sinkFailed       *prometheus.CounterVec
	sinkDeadLettered *prometheus.CounterVec
	sinkWriteRetries *prometheus.CounterVec
	sinkWriteSeconds *prometheus.HistogramVec
	bufferDropped    *prometheus.CounterVec

	errorsDiscarded *prometheus.CounterVec
	inFlight        prometheus.Gauge
	acks            *prometheus.CounterVec
	latency         prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sourceRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_source_records_in_total", Help: "Records read by a source.",
		}, []string{"source"}),
		sourceBatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_source_batches_total", Help: "Batches read by a source.",
		}, []string{"source"}),
		sourceFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_source_inputs_failed_total", Help: "Inputs a source could not decode (corrupt gzip, unknown envelope).",
		}, []string{"source"}),
		stageIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_stage_records_in_total", Help: "Records entering a stage.",
		}, []string{"stage"}),
		stageOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_stage_records_out_total", Help: "Records leaving a stage.",
		}, []string{"stage"}),
		stageDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_stage_records_dropped_total", Help: "Records a stage dropped on purpose (filtered, header lines).",
		}, []string{"stage"}),
		stageFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_stage_records_failed_total", Help: "Records a stage could not handle, sent to its .errors output.",
		}, []string{"stage"}),
		stageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vpcflow_stage_batch_duration_seconds", Help: "Time a stage spent on one batch.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 4, 10),
		}, []string{"stage"}),
		sinkDelivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_sink_records_delivered_total", Help: "Records a sink delivered.",
		}, []string{"sink"}),
		sinkFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_sink_records_failed_total", Help: "Records a sink failed permanently to deliver and that had no dead letter to go to.",
		}, []string{"sink"}),
		sinkDeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_sink_records_dead_lettered_total", Help: "Records a sink failed permanently that went to its dead_letter sink.",
		}, []string{"sink"}),
		sinkWriteRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_sink_write_retries_total", Help: "Batch writes the engine retried after a transient sink error.",
		}, []string{"sink"}),
		sinkWriteSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vpcflow_sink_write_duration_seconds", Help: "Time from handing a batch to a sink to its delivery.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"sink"}),
		bufferDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_sink_buffer_dropped_records_total", Help: "Records a full sink buffer dropped (when_full: drop_newest).",
		}, []string{"sink"}),
		stageRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_stage_retries_total", Help: "Batches a stage failed on and the engine retried (with backoff, until it succeeds or shutdown).",
		}, []string{"stage"}),
		errorsDiscarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_errors_discarded_total", Help: "Failed records of an .errors output that no sink takes (counted, then dropped).",
		}, []string{"component"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vpcflow_pipeline_batches_in_flight", Help: "Batches read and not yet acknowledged.",
		}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpcflow_pipeline_batches_acked_total", Help: "Source batches acknowledged (ok) or nacked (redelivered later).",
		}, []string{"source", "outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vpcflow_pipeline_batch_latency_seconds", Help: "Time from a source reading a batch to its acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
	}
	for _, c := range []prometheus.Collector{
		m.sourceRecords, m.sourceBatches, m.sourceFailed, m.stageIn, m.stageOut, m.stageDropped, m.stageFailed, m.stageDuration,
		m.sinkDelivered, m.sinkFailed, m.sinkDeadLettered, m.sinkWriteRetries, m.sinkWriteSeconds, m.bufferDropped,
		m.stageRetries, m.errorsDiscarded, m.inFlight, m.acks, m.latency,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
