package flowlog

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// AckFunc acknowledges a batch to its source. It is called exactly once:
// err == nil means every record was delivered, dropped on purpose or
// dead-lettered and the source may commit; err != nil is a nack and the
// source must redeliver (or leave for redelivery) the batch's data.
type AckFunc func(ctx context.Context, err error) error

// Failure is an input a component could not handle, bound for its
// <id>.errors output.
type Failure struct {
	// Stage is the id of the component that rejected the input.
	Stage string
	// Err says why, naming where (input, line) and what.
	Err error
	// Raw is the original line or payload. It may alias the batch buffer.
	Raw []byte
	// Origin is where Raw came from, when known.
	Origin *Origin
}

// Batch is the unit of work: a slice of records read together from one
// source partition. Stages filter and enrich Records in place; sinks read
// them and must not keep them after Write returns.
type Batch struct {
	// Source is the id of the source component.
	Source string
	// Partition names the source partition (Kafka partition, Kinesis shard,
	// file); order is kept among batches of one partition up to the sinks.
	Partition string
	// Records are the records still in flight.
	Records []Record
	// Failed collects inputs rejected by the last component that ran; the
	// engine routes them to that component's .errors output and clears it.
	Failed []Failure
	// Read is when the source produced the batch.
	Read time.Time
	// Span links to the trace of the source batch, when tracing is on.
	Span trace.SpanContext

	// Buf is storage owned by the batch that Records[i].Raw may point into.
	Buf []byte
}

// Fail records an input rejected by stage.
func (b *Batch) Fail(stage string, err error, raw []byte, o *Origin) {
	b.Failed = append(b.Failed, Failure{Stage: stage, Err: err, Raw: raw, Origin: o})
}

// Reset empties b for reuse, keeping its allocations.
func (b *Batch) Reset() {
	clear(b.Records)
	clear(b.Failed)
	*b = Batch{Records: b.Records[:0], Failed: b.Failed[:0], Buf: b.Buf[:0]}
}

// BatchPool recycles a source's acknowledged batches: their record slices
// (456 bytes a record) and buffers are the bulk of what a source
// allocates. A batch may be put back only once its AckFunc was called,
// when by the Batch contract no stage or sink holds it any more. The zero
// value is ready for use.
type BatchPool struct{ p sync.Pool }

// Get returns an empty recycled batch, or nil when there is none.
func (bp *BatchPool) Get() *Batch {
	b, _ := bp.p.Get().(*Batch)
	return b
}

// Put empties b and keeps it. Of each record only the pointer fields are
// cleared, so that a batch waiting in the pool keeps no line buffer,
// origin or ENI alive; sources append whole Records, which overwrites the
// rest (cheaper than clearing 456 bytes a record twice).
func (bp *BatchPool) Put(b *Batch) {
	for i := range b.Records {
		r := &b.Records[i]
		r.Raw, r.Origin, r.ENI = nil, nil, nil
	}
	clear(b.Failed)
	*b = Batch{Records: b.Records[:0], Failed: b.Failed[:0], Buf: b.Buf[:0]}
	bp.p.Put(b)
}
