package s3sqssource

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/sources/internal/srcmetrics"
)

// metrics are the source's collectors; every series carries source=<id>.
type metrics struct {
	lag           prometheus.Gauge       // vpcflow_source_lag_seconds{partition="queue"}
	queueMessages prometheus.Gauge       // vpcflow_source_queue_messages
	inFlight      prometheus.Gauge       // vpcflow_s3sqs_messages_in_flight
	messages      *prometheus.CounterVec // vpcflow_s3sqs_messages_total{outcome}
	objects       *prometheus.CounterVec // vpcflow_s3sqs_objects_total{outcome}
	bytes         prometheus.Counter     // vpcflow_s3sqs_object_bytes_total
	records       prometheus.Counter     // vpcflow_s3sqs_records_total
	lines         *prometheus.CounterVec // vpcflow_s3sqs_lines_rejected_total{reason}
	sqsErrors     *prometheus.CounterVec // vpcflow_s3sqs_sqs_errors_total{op}
	visFailures   *prometheus.CounterVec // vpcflow_s3sqs_visibility_failures_total{reason}
}

// Message outcomes.
const (
	msgReceived     = "received"
	msgDeleted      = "deleted"       // every record acknowledged
	msgIgnored      = "ignored"       // test events, non-creation events
	msgFiltered     = "filtered"      // no key matched key_prefix/key_suffix
	msgDeadLettered = "dead_lettered" // moved to dead_letter_queue_url
	msgFailed       = "failed"        // left for the queue's redrive policy
	msgRedelivered  = "redelivered"   // nack, transient error or shutdown
	msgInvalid      = "invalid"       // body is no S3 notification
	msgAbandoned    = "abandoned"     // max_receive_attempts reached, no dead-letter queue: deleted
)

// Object outcomes.
const (
	objDone      = "done"
	objFiltered  = "filtered"
	objNotFound  = "not_found"
	objDenied    = "access_denied"
	objCorrupt   = "corrupt"
	objTooLarge  = "too_large"
	objError     = "error" // transient: network, throttling, 5xx
	objCancelled = "cancelled"
)

func newMetrics(reg prometheus.Registerer, id string) (*metrics, error) {
	src := prometheus.Labels{"source": id}
	inFlight := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vpcflow_s3sqs_messages_in_flight",
		Help: "SQS messages received and not yet deleted, released or dead-lettered.",
	}, []string{"source"})
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_s3sqs_messages_total",
		Help: "SQS messages by outcome: received, deleted, ignored, filtered, dead_lettered, failed, redelivered, invalid, abandoned.",
	}, []string{"source", "outcome"})
	objects := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_s3sqs_objects_total",
		Help: "S3 objects by outcome: done, filtered, not_found, access_denied, corrupt, too_large, error, cancelled.",
	}, []string{"source", "outcome"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_s3sqs_object_bytes_total",
		Help: "Bytes read from S3 (as stored, before decompression).",
	}, []string{"source"})
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_s3sqs_records_total",
		Help: "Lines read from S3 objects and handed out as records (header lines included).",
	}, []string{"source"})
	lines := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_s3sqs_lines_rejected_total",
		Help: "Lines put in the failed list instead of being handed out, by reason (too_long, truncated).",
	}, []string{"source", "reason"})
	sqsErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_s3sqs_sqs_errors_total",
		Help: "Failed SQS calls by operation.",
	}, []string{"source", "op"})
	visFailures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_s3sqs_visibility_failures_total",
		Help: "SQS messages whose visibility could not be changed (extended while in flight, or released), by reason: call (the ChangeMessageVisibilityBatch call failed) or entry (SQS refused that message).",
	}, []string{"source", "reason"})

	var errs []error
	lag := srcmetrics.LagSeconds(reg, id, &errs)
	qm := srcmetrics.QueueMessages(reg, id, &errs)
	inFlight = component.Register(reg, inFlight, &errs)
	messages = component.Register(reg, messages, &errs)
	objects = component.Register(reg, objects, &errs)
	bytes = component.Register(reg, bytes, &errs)
	records = component.Register(reg, records, &errs)
	lines = component.Register(reg, lines, &errs)
	sqsErrors = component.Register(reg, sqsErrors, &errs)
	visFailures = component.Register(reg, visFailures, &errs)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m := &metrics{
		lag:           lag.WithLabelValues("queue"),
		queueMessages: qm,
		inFlight:      inFlight.With(src),
		messages:      messages.MustCurryWith(src),
		objects:       objects.MustCurryWith(src),
		bytes:         bytes.With(src),
		records:       records.With(src),
		lines:         lines.MustCurryWith(src),
		sqsErrors:     sqsErrors.MustCurryWith(src),
		visFailures:   visFailures.MustCurryWith(src),
	}
	// Create the series so dashboards see zeros rather than gaps.
	for _, o := range []string{msgReceived, msgDeleted, msgIgnored, msgFiltered, msgDeadLettered, msgFailed, msgRedelivered, msgInvalid, msgAbandoned} {
		m.messages.WithLabelValues(o)
	}
	for _, r := range []string{visCall, visEntry} {
		m.visFailures.WithLabelValues(r)
	}
	for _, o := range []string{objDone, objFiltered, objNotFound, objDenied, objCorrupt, objTooLarge, objError, objCancelled} {
		m.objects.WithLabelValues(o)
	}
	return m, nil
}
