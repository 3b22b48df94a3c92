package processor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpcflow/vpcflow/internal/sinkbuf"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// A sink that implements component.Spooler and has a disk buffer stores
// its own finished requests in it (sinkSpool); the drain hands them back
// to its Send (sendStored). Its Writes go to the sink directly and return
// once the requests holding their records are fsynced.

// errRefusedBlock asks a Spooler to send refused records again later
// (on_rejected: block, or the dead letter failed).
var errRefusedBlock = errors.New("refused records kept (on_rejected: block)")

// sinkSpool is the engine's side of a Spooler's buffer.
type sinkSpool struct {
	p *Pipeline
	s *sinkNode
}

func (sp sinkSpool) Put(ctx context.Context, payload []byte, records int, done func(error)) error {
	s := sp.s
	err := s.buf.PutPayload(ctx, payload, records, done)
	if errors.Is(err, sinkbuf.ErrFull) {
		s.bufferFull(records)
		done(nil)
		return nil
	}
	return err
}

// refusedKey carries, in a Send's context, the count of records it handed
// to Refused.
type refusedKey struct{}

func (sp sinkSpool) Refused(ctx context.Context, lines [][]byte, cause error) error {
	s, k := sp.s, len(lines)
	// Records dead-lettered or dropped are not delivered; those kept to be
	// sent again are, once taken.
	dealt := func() {
		if n, ok := ctx.Value(refusedKey{}).(*atomic.Int64); ok {
			n.Add(int64(k))
		}
	}
	if dl := s.deadLetter; dl != nil {
		b := &flowlog.Batch{Source: s.id, Failed: make([]flowlog.Failure, k)}
		for i, l := range lines {
			b.Failed[i] = flowlog.Failure{Stage: s.id, Err: cause, Raw: l}
		}
		s.limiter.Warn("records refused by the destination; sent to dead letter", "dead_letter", dl.id, "records", k, "error", cause)
		res := make(chan error, 1)
		sp.p.dispatch(ctx, dl, b, 0, func(err error) { res <- err })
		if err := <-res; err != nil {
			return fmt.Errorf("dead letter %s: %w", dl.id, err)
		}
		s.dead.Add(float64(k))
		dealt()
		return nil
	}
	if s.onRejected == OnRejectedDrop {
		dealt()
		s.failed.Add(float64(k))
		s.limiter.Error("records refused by the destination and dropped (on_rejected: drop)", "records", k, "error", cause)
		return nil
	}
	s.setBlockReason(fmt.Sprintf("%d records refused by the destination (on_rejected: block): %v", k, cause))
	s.limiter.Error("records refused by the destination; retrying them (on_rejected: block; set dead_letter or on_rejected: drop)",
		"records", k, "error", cause)
	return errRefusedBlock
}

// sendStored delivers one taken frame of a spooling sink: a stored request
// through Send, or a frame of records (written before the sink spooled)
// through Write, which stores it again as requests.
func (p *Pipeline) sendStored(ctx context.Context, s *sinkNode, it *sinkbuf.Item, release func()) {
	payload, free, ok, err := s.buf.LoadPayload(it)
	if err != nil {
		release()
		return
	}
	if !ok {
		b, err := s.buf.Load(it)
		if err != nil {
			release()
			return
		}
		s.pending.Add(1)
		p.write(ctx, s, b, 0, func(err error) {
			s.buf.Done(it, err)
			s.buf.Release(b)
			release()
		})
		return
	}
	s.pending.Add(1)
	start := time.Now()
	var refused atomic.Int64
	sctx, span := p.tracer.Start(ctx, s.span, trace.WithAttributes(attribute.Int("vpcflow.records", it.Records()),
		attribute.Bool("vpcflow.stored", true)))
	err = s.spooler.Send(context.WithValue(sctx, refusedKey{}, &refused), payload)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	free()
	s.dur.Observe(time.Since(start).Seconds())
	s.pending.Add(-1)
	s.lastDone.Store(time.Now().UnixNano())
	switch {
	case err == nil:
		s.delivered.Add(float64(int64(it.Records()) - refused.Load()))
	case component.IsPermanent(err):
		// Unreadable: Send logged it; it cannot be delivered.
		s.failed.Add(float64(it.Records()))
		err = nil
	}
	s.buf.Done(it, err)
	release()
}
