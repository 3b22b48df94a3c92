package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// onAssigned runs in the group loop when partitions are assigned (also with
// none: the group was joined).
func (s *Source) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	s.mu.Lock()
	n := 0
	for topic, parts := range assigned {
		for _, part := range parts {
			// A partition assigned again gets a fresh state: acks of batches
			// from its previous ownership must not commit.
			if old := s.parts[tp{topic, part}]; old != nil {
				old.revoked = true
			}
			p := newPartition(topic, part)
			p.draining = s.closing
			s.parts[tp{topic, part}] = p
			n++
		}
	}
	s.met.assigned.Set(float64(len(s.parts)))
	s.mu.Unlock()
	s.ready.Store(true)
	s.met.rebalances.WithLabelValues("assigned").Inc()
	if n > 0 {
		s.log.Info("kafka partitions assigned", "partitions", fmtAssignment(assigned))
	}
}

// onRevoked runs in the group loop when partitions are revoked (another
// member takes them over, or this one leaves the group). It stops handing
// out their batches (those queued are dropped: the next owner reads them),
// waits until the batches handed out are acknowledged (at most 90% of
// rebalance_timeout), commits, and only then returns: the next owner
// starts where delivery stopped, so moving partitions doubles nothing.
// During Close (leaving the group) it waits no longer than Close does.
func (s *Source) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	parts, closeWait := s.startDraining(revoked)
	if len(parts) > 0 {
		var (
			wctx   context.Context
			cancel context.CancelFunc
		)
		if closeWait != nil {
			wctx, cancel = context.WithCancel(closeWait)
		} else {
			wctx, cancel = s.waitContext(ctx)
		}
		start := time.Now()
		left := s.awaitAcked(wctx, parts)
		cancel()
		if left > 0 {
			s.log.Warn("kafka partitions revoked with batches not acknowledged in time; their next owner reads them again",
				"batches", left, "waited", time.Since(start).Round(time.Millisecond))
		} else {
			s.log.Debug("kafka partitions revoked: in-flight batches acknowledged",
				"waited", time.Since(start).Round(time.Millisecond))
		}
	}
	s.drop(revoked)
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		s.met.commits.WithLabelValues("error").Inc()
		s.log.Warn("kafka commit on revocation failed; the next owner reads again from the last commit", "error", err)
	}
	if len(revoked) > 0 {
		s.met.rebalances.WithLabelValues("revoked").Inc()
		s.log.Info("kafka partitions revoked", "partitions", fmtAssignment(revoked))
	}
}

// startDraining stops handing out batches of the partitions and drops those
// queued. It returns the partitions' states and, once Close began, the
// context that bounds its wait.
func (s *Source) startDraining(parts map[string][]int32) ([]*partition, context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*partition
	for topic, ps := range parts {
		for _, part := range ps {
			if p := s.parts[tp{topic, part}]; p != nil {
				p.draining = true
				out = append(out, p)
			}
		}
	}
	s.dropPendingLocked(func(p *partition) bool { return p.draining })
	return out, s.closeWait
}

// onLost forgets partitions lost without a chance to commit (session
// expired, fenced).
func (s *Source) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	s.drop(lost)
	s.ready.Store(false)
	s.met.rebalances.WithLabelValues("lost").Inc()
	if len(lost) > 0 {
		s.log.Warn("kafka partitions lost; their uncommitted work is read again", "partitions", fmtAssignment(lost))
	}
}

func (s *Source) drop(parts map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range parts {
		for _, part := range ps {
			k := tp{topic, part}
			if p := s.parts[k]; p != nil {
				p.revoked = true
				p.batches.Reset()
				delete(s.parts, k)
				s.met.forget(p.name)
			}
		}
	}
	s.dropPendingLocked(func(p *partition) bool { return p.revoked })
	s.signalLocked()
	s.met.assigned.Set(float64(len(s.parts)))
}

func (s *Source) onCommitted(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	if err == nil && resp != nil {
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					err = fmt.Errorf("%s/%d: error code %d", t.Topic, p.Partition, p.ErrorCode)
				}
			}
		}
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return
		}
		s.met.commits.WithLabelValues("error").Inc()
		s.log.Warn("kafka offset commit failed; it is retried with the next one", "error", err)
		return
	}
	s.met.commits.WithLabelValues("ok").Inc()
}

func fmtAssignment(m map[string][]int32) string {
	out := ""
	for t, ps := range m {
		if out != "" {
			out += " "
		}
		out += fmt.Sprintf("%s%v", t, ps)
	}
	return out
}
