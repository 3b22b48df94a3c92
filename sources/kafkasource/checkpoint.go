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
	// failed: a batch was nacked; nothing past it may be committed while
	// this state lives, so later acks are ignored and nothing is tracked.
	failed bool
	// batches are the batches handed out, in offset order; each ends at
	// the offset to commit once it and all before it are acknowledged.
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
	next  int64 // offset to commit once this batch and all before it are acknowledged
	epoch int32
	tk    contiguous.Ticket
	once  ackonce.Guard // the AckFunc acts once
	// b is the batch, recycled once acknowledged (nil when it was never
	// handed out).
	b *flowlog.Batch
}

func (p *partition) track(in *inflight) {
	if p.failed || p.revoked {
		return
	}
	in.tk = p.batches.Add(kgo.EpochOffset{Epoch: in.epoch, Offset: in.next}, false)
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
		s.batches.Put(b)
	}
	return nil
}

// ackLocked records the outcome of a batch and marks the new contiguous
// acknowledged prefix of its partition for commit.
func (s *Source) ackLocked(in *inflight, err error) {
	p := in.p
	if p.revoked || s.closed {
		return // the partition's next owner reads it again
	}
	if err != nil {
		if !p.failed {
			s.met.nacks.Inc()
			s.log.Warn("kafka batch not delivered; its partition commits no further until reassigned or restarted",
				"partition", p.name, "offset", in.next-1, "error", err)
		}
		p.failed = true
		p.batches.Reset()
		return
	}
	if p.failed || !p.batches.Ack(in.tk) {
		return
	}
	last, _ := p.batches.Acked()
	s.cl.MarkCommitOffsets(map[string]map[int32]kgo.EpochOffset{p.topic: {p.part: last}})
}
