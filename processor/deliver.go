package processor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// maxBackoff caps the engine's wait between two tries of a write.
const maxBackoff = time.Minute

// sinkJob is a write waiting in an ordered sink's lane.
type sinkJob struct {
	b      *flowlog.Batch
	done   func(error)
	ctx    context.Context
	worker int
}

// deliver hands b to sink s under j's tracker: on the worker's lane for an
// ordered sink, on a goroutine of its own otherwise.
func (p *Pipeline) deliver(ctx context.Context, j *job, s *sinkNode, b *flowlog.Batch) {
	j.t.add()
	if s.buf != nil && !s.buf.Durable() {
		// A memory buffer acknowledges only on delivery, but frees the
		// batch's in-flight slot meanwhile.
		p.bufferPut(ctx, s, b, j.t.done, j.t.parkedDone, j.t.park)
		return
	}
	p.dispatch(ctx, s, b, j.worker, j.t.done)
}

// dispatch writes b to s, keeping s's order lanes, and calls done with
// the outcome.
func (p *Pipeline) dispatch(ctx context.Context, s *sinkNode, b *flowlog.Batch, worker int, done func(error)) {
	if s.buf != nil && s.spooler == nil {
		p.bufferPut(ctx, s, b, done, done, nil)
		return
	}
	s.pending.Add(1)
	if s.ordered {
		s.lanes[worker] <- sinkJob{b: b, done: done, ctx: ctx, worker: worker}
		return
	}
	go p.write(ctx, s, b, worker, done)
}

// batchLen is the number of records of b, or of failures for an errors
// batch.
func batchLen(b *flowlog.Batch) int {
	if len(b.Records) > 0 {
		return len(b.Records)
	}
	return len(b.Failed)
}

// pick returns a batch of b's records (or failures) at idx.
func pick(b *flowlog.Batch, idx []int) *flowlog.Batch {
	out := &flowlog.Batch{Source: b.Source, Partition: b.Partition, Read: b.Read, Span: b.Span}
	if len(b.Records) > 0 {
		out.Records = make([]flowlog.Record, 0, len(idx))
		for _, i := range idx {
			if i >= 0 && i < len(b.Records) {
				out.Records = append(out.Records, b.Records[i])
			}
		}
		return out
	}
	out.Failed = make([]flowlog.Failure, 0, len(idx))
	for _, i := range idx {
		if i >= 0 && i < len(b.Failed) {
			out.Failed = append(out.Failed, b.Failed[i])
		}
	}
	return out
}

// write delivers b to s with retries. Records the destination refused
// (component.RejectedError, or the whole batch for a Permanent error) go
// to s's dead letter, or are dropped or retried as on_rejected says; done
// gets nil once every record is delivered, dead-lettered or dropped on
// purpose, and an error (the batch is nacked) when shutdown came first.
func (p *Pipeline) write(ctx context.Context, s *sinkNode, b *flowlog.Batch, worker int, done func(error)) {
	start := time.Now()
	sctx, span := p.tracer.Start(ctx, s.span, trace.WithAttributes(attribute.Int("vpcflow.records", batchLen(b))))
	err := p.writeRetrying(sctx, s, b)
	n := batchLen(b)
	var refused *flowlog.Batch
	switch r, rejected := component.AsRejected(err); {
	case err == nil:
		if s.spooler == nil { // a spooling sink's records count once sent
			s.delivered.Add(float64(n))
		}
	case rejected:
		refused = pick(b, r.Indexes)
		s.delivered.Add(float64(n - batchLen(refused)))
	case component.IsPermanent(err):
		refused = b
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	s.dur.Observe(time.Since(start).Seconds())
	s.pending.Add(-1)
	s.lastDone.Store(time.Now().UnixNano())
	if refused == nil || batchLen(refused) == 0 {
		if refused != nil {
			err = nil
		}
		done(err)
		return
	}
	p.refused(sctx, s, refused, err, worker, done)
}

// refused handles records s could not deliver because of what they are:
// its dead letter takes them (in its own lanes, reported as itself when it
// is stuck), or on_rejected drops them (counted and logged), or retries
// them until the destination takes them (block, the default).
func (p *Pipeline) refused(ctx context.Context, s *sinkNode, b *flowlog.Batch, cause error, worker int, done func(error)) {
	k := batchLen(b)
	if dl := s.deadLetter; dl != nil {
		s.limiter.Warn("records refused by the destination; sent to dead letter", "dead_letter", dl.id, "records", k, "error", cause)
		p.dispatch(ctx, dl, b, worker, func(err error) {
			if err == nil {
				s.dead.Add(float64(k))
			}
			done(err)
		})
		return
	}
	if s.onRejected == OnRejectedDrop {
		s.failed.Add(float64(k))
		s.limiter.Error("records refused by the destination and dropped (on_rejected: drop)", "records", k, "error", cause)
		done(nil)
		return
	}
	// on_rejected: block. The records stay unacknowledged; the sink reports
	// itself blocked and /healthz fails after stuck_after.
	s.pending.Add(1)
	s.blocked.Add(1)
	finish := func(err error) {
		// Unblocked before the ack, so that nothing sees the batch
		// acknowledged and the sink still blocked.
		s.blocked.Add(-1)
		s.pending.Add(-1)
		s.lastDone.Store(time.Now().UnixNano())
		done(err)
	}
	backoff := time.Second
	for {
		s.setBlockReason(fmt.Sprintf("%d records refused by the destination (on_rejected: block): %v", batchLen(b), cause))
		s.limiter.Error("records refused by the destination; retrying them (on_rejected: block; set dead_letter or on_rejected: drop)",
			"records", batchLen(b), "retry_in", backoff, "error", cause)
		if !sleep(ctx, jitter(backoff)) {
			finish(fmt.Errorf("%d records refused by the destination and not delivered before shutdown: %w", batchLen(b), cause))
			return
		}
		backoff = min(backoff*2, maxBackoff)
		err := p.writeRetrying(ctx, s, b)
		r, rejected := component.AsRejected(err)
		switch {
		case err == nil:
			s.delivered.Add(float64(batchLen(b)))
			finish(nil)
			return
		case rejected:
			nb := pick(b, r.Indexes)
			s.delivered.Add(float64(batchLen(b) - batchLen(nb)))
			b, cause = nb, err
			if batchLen(b) == 0 {
				finish(nil)
				return
			}
		case component.IsPermanent(err):
			cause = err
		default: // shutdown
			finish(err)
			return
		}
	}
}

// writeRetrying calls Write until it succeeds, refuses records, fails
// permanently, or ctx ends (then the batch is nacked and redelivered by
// its source). Meanwhile the sink counts as blocked.
func (p *Pipeline) writeRetrying(ctx context.Context, s *sinkNode, b *flowlog.Batch) error {
	backoff := 100 * time.Millisecond
	blocked := false
	defer func() {
		if blocked {
			s.blocked.Add(-1)
		}
	}()
	for {
		err := s.sink.Write(ctx, b)
		if _, rejected := component.AsRejected(err); err == nil || rejected || component.IsPermanent(err) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		if !blocked {
			blocked = true
			s.blocked.Add(1)
		}
		s.setBlockReason(err.Error())
		s.retries.Inc()
		s.limiter.Warn("sink write failed; retrying", "error", err, "backoff", backoff)
		if !sleep(ctx, jitter(backoff)) {
			return err
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// jitter returns a wait between d/2 and d.
func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }

// sleep waits d, or returns false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
