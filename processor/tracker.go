package processor

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// tracker counts the outstanding deliveries of one source batch and acks
// it when the last one finishes.
type tracker struct {
	p    *Pipeline
	src  *sourceNode
	ack  flowlog.AckFunc
	read time.Time
	n    atomic.Int32
	// active counts the outstanding deliveries that still hold the batch;
	// a delivery parked in a memory buffer does not (the buffer keeps its
	// own compact copy, bounded by max_bytes). When none holds it, the
	// batch gives back its in-flight slot, though it is acknowledged only
	// when its last delivery ends.
	active   atomic.Int32
	released atomic.Bool
	err      atomic.Pointer[error]
	span     trace.Span
}

func (t *tracker) add() {
	t.n.Add(1)
	t.active.Add(1)
}

// park marks one delivery as held by a memory buffer: it still counts for
// the acknowledgement (parkedDone ends it) but no longer for the slot.
func (t *tracker) park() {
	if t.active.Add(-1) == 0 {
		t.release()
	}
}

// release gives back the batch's in-flight slot, once.
func (t *tracker) release() {
	if t.released.CompareAndSwap(false, true) {
		<-t.p.sem
	}
}

// done ends a delivery that was not parked.
func (t *tracker) done(err error) {
	if t.active.Add(-1) == 0 {
		t.release()
	}
	t.finish(err)
}

// parkedDone ends a parked delivery.
func (t *tracker) parkedDone(err error) { t.finish(err) }

// setErr records err so the batch is nacked when its last delivery ends.
func (t *tracker) setErr(err error) { t.err.CompareAndSwap(nil, &err) }

func (t *tracker) finish(err error) {
	if err != nil {
		t.err.CompareAndSwap(nil, &err)
	}
	if t.n.Add(-1) != 0 {
		return
	}
	var ackErr error
	if e := t.err.Load(); e != nil {
		ackErr = *e
	}
	if t.ack != nil {
		if err := t.ack(context.Background(), ackErr); err != nil {
			t.p.log.Warn("acknowledgement failed", "source", t.src.id, "error", err)
		}
	}
	if t.span != nil {
		if ackErr != nil {
			t.span.SetStatus(codes.Error, ackErr.Error())
		}
		t.span.End()
	}
	if ackErr != nil {
		t.src.nack.Inc()
	} else {
		t.src.ok.Inc()
	}
	t.p.m.latency.Observe(time.Since(t.read).Seconds())
	t.p.m.inFlight.Dec()
	t.release()
	t.p.inflight.Done()
}
