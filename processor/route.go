package processor

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// job is one source batch on its way to a worker.
type job struct {
	src    *sourceNode
	b      *flowlog.Batch
	t      *tracker
	worker int
	// tapping is set when a tap is open as the batch starts; only then does
	// walk look for taps.
	tapping bool
}

// process runs a source batch through its source's plan, then releases
// the worker's share of the batch's tracker.
func (p *Pipeline) process(ctx context.Context, j *job) {
	b := j.b
	sctx, span := p.tracer.Start(ctx, j.src.span,
		trace.WithLinks(trace.Link{SpanContext: b.Span}),
		trace.WithAttributes(attribute.String("vpcflow.source", j.src.id), attribute.String("vpcflow.partition", b.Partition),
			attribute.Int("vpcflow.records", len(b.Records))))
	if span.IsRecording() {
		j.t.span = span
	} else {
		span.End()
	}
	if len(b.Failed) > 0 {
		p.m.sourceFailed.WithLabelValues(j.src.id).Add(float64(len(b.Failed)))
	}
	j.tapping = p.taps.active.Load() != 0
	p.walk(sctx, j, j.src.root, b)
	j.t.done(nil)
}

// walk runs node's stage on b, routes its failures, then feeds children
// and sinks.
func (p *Pipeline) walk(ctx context.Context, j *job, n *planNode, b *flowlog.Batch) {
	if st := n.stage; st != nil {
		in := len(b.Records)
		b.Failed = b.Failed[:0]
		if err := p.runStage(ctx, st, b); err != nil {
			j.t.setErr(fmt.Errorf("%s: %w", st.where, err))
			return
		}
		out, failed := len(b.Records), len(b.Failed)
		st.in.Add(float64(in))
		st.out.Add(float64(out))
		if failed > 0 {
			st.fail.Add(float64(failed))
		}
		if d := in - out - failed; d > 0 {
			st.drop.Add(float64(d))
		}
	}
	if j.tapping {
		n.errTap.offerFailures(b.Failed)
		n.tap.offerRecords(b.Records)
	}
	if len(b.Failed) > 0 {
		if len(n.errSinks) > 0 {
			eb := &flowlog.Batch{Source: b.Source, Partition: b.Partition, Read: b.Read, Span: b.Span,
				Failed: append([]flowlog.Failure(nil), b.Failed...)}
			for _, s := range n.errSinks {
				p.deliver(ctx, j, s, eb)
			}
		} else {
			n.discarded.Add(float64(len(b.Failed)))
			f := &b.Failed[0]
			n.errLog.Warn("input failed and no sink takes "+n.id+".errors; counted in vpcflow_errors_discarded_total and dropped",
				"records", len(b.Failed), "reason", f.Err, "input", excerpt(f.Raw))
		}
		b.Failed = b.Failed[:0]
	}
	if len(b.Records) == 0 {
		return
	}
	for i, c := range n.children {
		cb := b
		if i < len(n.children)-1 || len(n.sinks) > 0 {
			cb = cloneBatch(b)
		}
		p.walk(ctx, j, c, cb)
	}
	for _, s := range n.sinks {
		p.deliver(ctx, j, s, b)
	}
}

// cloneBatch copies b's record slice so that a sibling branch can filter
// it without disturbing the others; Raw still aliases the source batch.
func cloneBatch(b *flowlog.Batch) *flowlog.Batch {
	c := *b
	c.Records = append([]flowlog.Record(nil), b.Records...)
	c.Failed = nil
	return &c
}

// runStage runs st on b, retrying with capped backoff while it fails (a
// stage error means the batch could not be processed now, e.g. a
// dependency is down); it returns an error only when ctx ends first, and
// then the batch is nacked and read again later.
func (p *Pipeline) runStage(ctx context.Context, st *stageNode, b *flowlog.Batch) error {
	backoff := 100 * time.Millisecond
	for {
		sctx, span := p.tracer.Start(ctx, st.span)
		start := time.Now()
		err := st.stage.Process(sctx, b)
		st.dur.Observe(time.Since(start).Seconds())
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
		if err == nil || ctx.Err() != nil {
			return err
		}
		st.retries.Inc()
		st.limiter.Warn("stage failed on a batch; retrying it", "error", err, "retry_in", backoff)
		if !sleep(ctx, jitter(backoff)) {
			return err
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// excerpt is the start of a failed input for a log line: at most 200
// bytes, with a note of the full length.
func excerpt(raw []byte) string {
	const max = 200
	if len(raw) <= max {
		return string(raw)
	}
	return fmt.Sprintf("%s… (%d bytes)", raw[:max], len(raw))
}
