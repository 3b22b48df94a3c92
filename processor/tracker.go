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
	err  atomic.Pointer[error]
	span trace.Span
}

func (t *tracker) add() { t.n.Add(1) }

// setErr records err so the batch is nacked when its last delivery ends.
func (t *tracker) setErr(err error) { t.err.CompareAndSwap(nil, &err) }

func (t *tracker) done(err error) {
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
	<-t.p.sem
	t.p.inflight.Done()
}
