package kafkasource

import (
	"context"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sources/internal/ackonce"
	"github.com/vpcflow/vpcflow/sources/internal/contiguous"
)

// partition is the checkpointer of one owned partition. Batches are tracked
// in offset order; an acknowledged prefix is marked for commit (its last
// offset + 1). Guarded by Source.mu.
type partition struct {
	topic string
	part  int32
	name  string // "topic/N": Batch.Partition and the metrics label

	// revoked: the partition is no longer owned by this state (revoked,
	// lost, reassigned or closed); acks are ignored.
	revoked bool
	// draining: the partition is being revoked or the source is closing.
	// No batch of it is handed out any more; acks of the batches handed
	// out still commit until it is revoked.
	draining bool
	// rewind: a batch was nacked. Records of the partition are discarded
	// until every batch handed out before the nacked one is acknowledged;
	// then the next poll seeks back to the acknowledged position (the
	// nacked batch's first offset, or an earlier batch's if that one was
	// nacked too) and the records are handed out again from there.
	rewind bool
	// gen is bumped by every nack: batches decoded from records fetched
	// before it are discarded.
	gen uint64
	// batches are the batches tracked, in offset order: handed out, then
	// those still queued in Source.pending. Each ends at the offset to
	// commit once it and all before it are acknowledged. The tracker
	// starts at the first offset read (the position a rewind may go back
	// to when nothing was acknowledged yet).
	batches contiguous.Tracker[kgo.EpochOffset]
	// newest is the timestamp of the newest record read.
	newest time.Time
	// base is the offset lag counts from while the group has no commit
	// (start_from latest), or -1.
	base int64
}

func newPartition(topic string, part int32) *partition {
	return &partition{topic: topic, part: part, name: topic + "/" + strconv.FormatInt(int64(part), 10), base: -1}
}

// inflight is one batch handed out (or about to be).
type inflight struct {
	s     *Source
	p     *partition
	first kgo.EpochOffset // the batch's first record
	next  int64           // offset to commit once this batch and all before it are acknowledged
	epoch int32
	gen   uint64 // the partition's gen when the records were fetched
	tk    contiguous.Ticket
	once  ackonce.Guard // the AckFunc acts once
	// b is the batch, recycled once acknowledged (nil when it was never
	// handed out).
	b *flowlog.Batch
	// bytes is what the batch holds against max_in_flight_bytes, released
	// when it is recycled.
	bytes int64
}

// recycle releases a batch's bytes and keeps it for reuse; b is no longer
// used by anyone (acknowledged, or never handed out).
func (s *Source) recycle(in *inflight, b *flowlog.Batch) {
	s.budget.Release(in.bytes)
	in.bytes = 0
	s.batches.Put(b)
}

// trackLocked registers a batch about to be queued and reports whether it
// may be: not when its partition is revoked, draining or rewinding, or was
// rewound since its records were fetched.
func (s *Source) trackLocked(in *inflight) bool {
	p := in.p
	if p.revoked || p.draining || p.rewind || in.gen != p.gen || s.closing {
		return false
	}
	if _, ok := p.batches.Acked(); !ok && p.batches.Pending() == 0 {
		p.batches = *contiguous.New(in.first)
	}
	in.tk = p.batches.Add(kgo.EpochOffset{Epoch: in.epoch, Offset: in.next}, false)
	return true
}

// ack is the batch's AckFunc.
func (in *inflight) ack(_ context.Context, err error) error {
	if e := in.once.Try(); e != nil {
		return e
	}
	s := in.s
	s.mu.Lock()
	s.ackLocked(in, err)
	b := in.b
	in.b = nil
	s.mu.Unlock()
	if b != nil {
		s.recycle(in, b)
	}
	return nil
}

// ackLocked records the outcome of a batch and marks the new contiguous
// acknowledged prefix of its partition for commit. A nack forgets the batch
// and every later one of its partition (their acks are ignored: they are
// read again) and asks for a rewind.
func (s *Source) ackLocked(in *inflight, err error) {
	p := in.p
	if p.revoked || s.closed || p.batches.Stale(in.tk) {
		return // read again: by the partition's next owner or after a rewind
	}
	defer s.signalLocked()
	if err != nil {
		s.met.nacks.Inc()
		p.batches.Truncate(in.tk)
		p.gen++
		s.dropPendingLocked(func(q *partition) bool { return q == p })
		if p.draining {
			s.log.Warn("kafka batch not delivered; the partition's next owner reads it again",
				"partition", p.name, "offset", in.first.Offset, "error", err)
			return
		}
		s.log.Warn("kafka batch not delivered; its partition is read again from its first offset",
			"partition", p.name, "offset", in.first.Offset, "error", err)
		p.rewind = true
		s.rewindIfReadyLocked(p)
		return
	}
	if !p.batches.Ack(in.tk) {
		return
	}
	last, _ := p.batches.Acked()
	s.cl.MarkCommitOffsets(map[string]map[int32]kgo.EpochOffset{p.topic: {p.part: last}})
	s.rewindIfReadyLocked(p)
}

// rewindIfReadyLocked wakes the poll up when p waits for a rewind and
// nothing before the nacked batch is outstanding any more: the poll seeks
// back (SetOffsets is called from the polling goroutine only).
func (s *Source) rewindIfReadyLocked(p *partition) {
	if !p.rewind || p.batches.Pending() > 0 {
		return
	}
	s.rewindReady = true
	if s.wakePoll != nil {
		s.wakePoll()
	}
}

// dropPendingLocked removes from the queue, untracks and recycles the
// batches of the partitions for which drop is true: they were not handed
// out and are read again (after a rewind, or by the next owner).
func (s *Source) dropPendingLocked(drop func(*partition) bool) {
	kept := s.pending[:0]
	for _, pb := range s.pending {
		if !drop(pb.in.p) {
			kept = append(kept, pb)
			continue
		}
		// The first dropped batch of a partition forgets the later ones.
		pb.in.p.batches.Truncate(pb.in.tk)
		pb.in.b = nil
		s.recycle(pb.in, pb.b)
	}
	clear(s.pending[len(kept):])
	s.pending = kept
}

// signalLocked wakes the goroutines waiting in awaitAcked.
func (s *Source) signalLocked() {
	s.acked.Broadcast()
}

// awaitAcked waits until no batch handed out of parts (of every owned
// partition when parts is nil) is unacknowledged, or ctx ends. It returns
// how many are left.
func (s *Source) awaitAcked(ctx context.Context, parts []*partition) int {
	for {
		s.mu.Lock()
		n := 0
		if parts == nil {
			for _, p := range s.parts {
				n += p.batches.Outstanding()
			}
		} else {
			for _, p := range parts {
				if !p.revoked {
					n += p.batches.Outstanding()
				}
			}
		}
		if n == 0 || ctx.Err() != nil {
			s.mu.Unlock()
			return n
		}
		ch := s.acked.Chan()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
}

// waitContext bounds a wait for in-flight batches: 90% of
// rebalance_timeout (the rest is for the commit and the rejoin), and, when
// ctx has a deadline, what leaves a fifth of the time left (at most 2s)
// for committing and leaving the group.
func (s *Source) waitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.cfg.RebalanceTimeout - s.cfg.RebalanceTimeout/10
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		d = min(d, left-min(left/5, 2*time.Second))
	}
	return context.WithTimeout(ctx, d)
}
