package processor

import (
	"context"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// sinkJob is a write waiting in an ordered sink's lane.
type sinkJob struct {
	b   *flowlog.Batch
	t   *tracker
	ctx context.Context
}

// deliver hands b to sink s under j's tracker: on the worker's lane for an
// ordered sink, on a goroutine of its own otherwise.
func (p *Pipeline) deliver(ctx context.Context, j *job, s *sinkNode, b *flowlog.Batch) {
	j.t.add()
	s.pending.Add(1)
	if s.ordered {
		s.lanes[j.worker] <- sinkJob{b: b, t: j.t, ctx: ctx}
		return
	}
	go p.write(ctx, s, b, j.t)
}

// batchLen is the number of records of b, or of failures for an errors
// batch.
func batchLen(b *flowlog.Batch) int {
	if len(b.Records) > 0 {
		return len(b.Records)
	}
	return len(b.Failed)
}

// write delivers b to s with retries, sends a permanently rejected batch to
// s's dead letter (or counts it as failed), and ends t's share of it.
func (p *Pipeline) write(ctx context.Context, s *sinkNode, b *flowlog.Batch, t *tracker) {
	start := time.Now()
	sctx, span := p.tracer.Start(ctx, s.span, trace.WithAttributes(attribute.Int("vpcflow.records", batchLen(b))))
	err := p.writeRetrying(sctx, s, b)
	n := float64(batchLen(b))
	switch {
	case err == nil:
		s.delivered.Add(n)
	case component.IsPermanent(err):
		if dl := s.deadLetter; dl != nil {
			dl.pending.Add(1)
			err2 := p.writeRetrying(sctx, dl, b)
			dl.pending.Add(-1)
			dl.lastDone.Store(time.Now().UnixNano())
			switch {
			case err2 == nil:
				s.dead.Add(n)
				dl.delivered.Add(n)
				s.limiter.Warn("batch failed permanently; sent to dead letter", "dead_letter", dl.id, "records", int(n), "error", err)
				err = nil
			case component.IsPermanent(err2):
				s.failed.Add(n)
				s.limiter.Error("batch failed permanently and so did its dead letter; records dropped", "dead_letter", dl.id, "records", int(n), "error", err, "dead_letter_error", err2)
				err = nil
			default:
				err = err2
			}
		} else {
			s.failed.Add(n)
			s.limiter.Error("batch failed permanently; no dead_letter configured, records counted as failed", "records", int(n), "error", err)
			err = nil
		}
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	s.dur.Observe(time.Since(start).Seconds())
	s.pending.Add(-1)
	s.lastDone.Store(time.Now().UnixNano())
	t.done(err)
}

// writeRetrying calls Write until it succeeds, fails permanently, or ctx
// ends (then the batch is nacked and redelivered by its source).
func (p *Pipeline) writeRetrying(ctx context.Context, s *sinkNode, b *flowlog.Batch) error {
	backoff := 100 * time.Millisecond
	for {
		err := s.sink.Write(ctx, b)
		if err == nil || component.IsPermanent(err) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		s.retries.Inc()
		s.limiter.Warn("sink write failed; retrying", "error", err, "backoff", backoff)
		d := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return err
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
