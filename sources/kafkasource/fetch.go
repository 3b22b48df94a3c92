package kafkasource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sources/envelope"
	"github.com/vpcflow/vpcflow/sources/internal/budget"
)

var newline = []byte{'\n'}

// poll fetches, decodes the records into pending batches and lets the group
// rebalance again.
func (s *Source) poll(ctx context.Context) error {
	if s.ctx.Err() != nil {
		return fmt.Errorf("closed: %w", component.ErrEndOfInput)
	}
	pctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	s.mu.Lock()
	s.wakePoll = cancel
	if s.rewindReady {
		cancel() // seek at once, below
	}
	s.mu.Unlock()
	fetches := s.cl.PollRecords(pctx, s.pollSize())
	s.mu.Lock()
	s.wakePoll = nil
	s.mu.Unlock()
	stop()
	cancel()
	defer s.cl.AllowRebalance()
	// Rewinds are applied here, between the poll and AllowRebalance, so
	// that no revocation runs meanwhile.
	rewound := s.rewind()
	failed := false
	fetches.EachError(func(topic string, part int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		failed = true
		msg := fmt.Sprintf("%s/%d: %v", topic, part, err)
		s.lastFetchErr.Store(&msg)
		s.met.fetchErrors.Inc()
		s.log.Warn("kafka fetch error", "topic", topic, "partition", part, "error", err)
	})
	if failed {
		s.failingSince.CompareAndSwap(0, time.Now().UnixNano())
	} else if fetches.NumRecords() > 0 || ctx.Err() == nil {
		s.failingSince.Store(0)
	}
	// Records polled are queued even when ctx ended meanwhile: the client's
	// position has moved past them, so skipping them here would let later
	// batches commit over them. Only records of partitions that are read
	// again from an earlier position are dropped (a rewind, or the next
	// owner after a revocation or Close).
	// Records of a partition waiting for a rewind, or sought back by it
	// just now, are dropped: they are read again from the rewind's offset.
	type chunk struct {
		p    *partition
		gen  uint64
		recs []*kgo.Record
	}
	var chunks []chunk
	s.mu.Lock()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		p := s.partitionLocked(fp.Topic, fp.Partition)
		if p.rewind || rewound[p] || p.draining || p.revoked || s.closing {
			return
		}
		chunks = append(chunks, chunk{p, p.gen, fp.Records})
	})
	s.mu.Unlock()
	// Partitions are decoded in parallel (decompressing envelopes is the
	// costly part); each partition's batches are still queued in order.
	now := time.Now()
	if len(chunks) == 1 || runtime.GOMAXPROCS(0) == 1 {
		for _, c := range chunks {
			s.decodePartition(c.p, c.gen, c.recs, now)
		}
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		for _, c := range chunks {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				s.decodePartition(c.p, c.gen, c.recs, now)
			})
		}
		wg.Wait()
	}
	if fetches.IsClientClosed() || s.ctx.Err() != nil {
		return fmt.Errorf("closed: %w", component.ErrEndOfInput)
	}
	return ctx.Err() // batches queued are handed out by the next Read
}

// rewind seeks the partitions whose nacked batches can be read again back
// to their acknowledged position, and returns them: what this poll fetched
// of them lies past that position and is dropped.
func (s *Source) rewind() map[*partition]bool {
	s.mu.Lock()
	if !s.rewindReady {
		s.mu.Unlock()
		return nil
	}
	s.rewindReady = false
	var (
		seeks   map[string]map[int32]kgo.EpochOffset
		rewound map[*partition]bool
	)
	for _, p := range s.parts {
		if !p.rewind || p.draining || p.batches.Pending() > 0 {
			continue
		}
		pos, ok := p.batches.Acked()
		if !ok {
			continue // not reached: the tracker starts at the first offset read
		}
		p.rewind = false
		if seeks == nil {
			seeks = map[string]map[int32]kgo.EpochOffset{}
			rewound = map[*partition]bool{}
		}
		if seeks[p.topic] == nil {
			seeks[p.topic] = map[int32]kgo.EpochOffset{}
		}
		seeks[p.topic][p.part] = pos
		rewound[p] = true
		s.log.Info("kafka partition read again from a nacked batch", "partition", p.name, "offset", pos.Offset)
	}
	s.mu.Unlock()
	if seeks != nil {
		s.cl.SetOffsets(seeks)
	}
	return rewound
}

// partitionLocked returns the state of an owned partition, creating it if
// the assignment callback has not (it always runs before fetching starts).
func (s *Source) partitionLocked(topic string, part int32) *partition {
	k := tp{topic, part}
	p := s.parts[k]
	if p == nil {
		p = newPartition(topic, part)
		s.parts[k] = p
	}
	return p
}

// decodePartition splits the records of one partition into batches of at
// most batch_max_records flow records and queues them.
func (s *Source) decodePartition(p *partition, gen uint64, recs []*kgo.Record, now time.Time) {
	var (
		b       *flowlog.Batch
		o       *flowlog.Origin
		first   int64
		firstAt kgo.EpochOffset
		newest  time.Time
		pinned  int // bytes of fetch buffers b's records point into
		values  int // Kafka records decoded into b
	)
	seal := func(last *kgo.Record) {
		if first == last.Offset {
			o.Name = p.name + "@" + strconv.FormatInt(first, 10)
		} else {
			o.Name = p.name + "@" + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last.Offset, 10)
		}
		in := &inflight{s: s, p: p, first: firstAt, next: last.Offset + 1, epoch: last.LeaderEpoch, gen: gen, b: b,
			bytes: budget.Cost(b, pinned)}
		s.budget.Charge(in.bytes)
		s.notePollCost(in.bytes, values)
		s.mu.Lock()
		keep := s.trackLocked(in)
		empty := len(b.Records) == 0 && len(b.Failed) == 0
		switch {
		case !keep:
			// Revoked, closing or rewound meanwhile: read again later.
			in.b = nil
		case empty:
			// Nothing to hand out (control messages, empty values): done.
			in.b = nil
			s.ackLocked(in, nil)
		default:
			s.pending = append(s.pending, pendingBatch{b, in})
		}
		s.mu.Unlock()
		if !keep || empty {
			s.recycle(in, b)
		}
		b, pinned, values = nil, 0, 0
	}
	remaining := 0 // estimated flow records not yet decoded
	for _, r := range recs {
		remaining += estimateRecords(r.Value)
	}
	for i, r := range recs {
		kind := s.payload
		if kind == envelope.Auto && envelope.Detect(r.Value) == envelope.Lines {
			kind = envelope.Lines
		}
		if kind == envelope.Lines && b != nil && len(b.Records) > 0 {
			// A batch is closed before a Kafka record whose lines (at
			// most one per newline, and a last one) would take it past
			// batch_max_records, so that its slice never grows.
			lines := bytes.Count(r.Value, newline) + 1
			if len(b.Records)+lines > s.cfg.BatchMaxRecords {
				seal(recs[i-1])
			}
		}
		if b == nil {
			b = s.newBatch(s.batchCap(len(recs)-i, remaining, kind != envelope.Lines))
			b.Source, b.Partition, b.Read = s.id, p.name, now
			o = &flowlog.Origin{}
			first = r.Offset
			firstAt = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
		}
		origin := o
		values++
		if kind == envelope.Lines {
			pinned += len(r.Value)
		} else {
			// an envelope: its Origin names the exact record
			origin = &flowlog.Origin{Name: recordName(p, r)}
		}
		if err := envelope.Decode(b, r.Value, kind, origin); err != nil {
			s.met.decodeFailures.Inc()
			b.Fail(s.id, fmt.Errorf("%s: %w", recordName(p, r), err), r.Value,
				&flowlog.Origin{Name: recordName(p, r)})
		}
		if !b.Span.IsValid() && len(r.Headers) > 0 {
			b.Span = spanFromHeaders(r.Headers)
		}
		if r.Timestamp.After(newest) {
			newest = r.Timestamp
		}
		remaining -= estimateRecords(r.Value)
		if len(b.Records) >= s.cfg.BatchMaxRecords {
			seal(r)
		}
	}
	if b != nil {
		seal(recs[len(recs)-1])
	}
	if !newest.IsZero() {
		s.mu.Lock()
		if newest.After(p.newest) {
			p.newest = newest
		}
		s.mu.Unlock()
	}
}

// newBatch returns an empty batch with room for n records, recycled when
// one is free.
func (s *Source) newBatch(n int) *flowlog.Batch {
	if b := s.batches.Get(); b != nil {
		if cap(b.Records) < n {
			b.Records = make([]flowlog.Record, 0, n)
		}
		return b
	}
	return &flowlog.Batch{Records: make([]flowlog.Record, 0, n)}
}

// estimateRecords guesses, high, how many flow records a value holds: a
// flow line takes at least ~64 bytes, and a compressed CloudWatch Logs
// envelope about 16 bytes per event.
func estimateRecords(v []byte) int {
	if len(v) > 2 && (v[0] == 0x1f && v[1] == 0x8b || v[0] == 'H' && v[1] == '4') {
		return len(v)/16 + 1
	}
	return len(v)/64 + 1
}

// batchCap sizes the next batch's slice so that it rarely grows. Lines are
// counted before they are added (a batch never crosses batch_max_records),
// but the events of an envelope are not known before it is decoded: a
// batch that starts with one gets room for the envelope that crosses
// batch_max_records.
func (s *Source) batchCap(records, est int, envelopes bool) int {
	est = max(records, est)
	if est >= s.cfg.BatchMaxRecords {
		if envelopes {
			return s.cfg.BatchMaxRecords + min(s.cfg.BatchMaxRecords/8, 512)
		}
		return s.cfg.BatchMaxRecords
	}
	return est
}

func recordName(p *partition, r *kgo.Record) string {
	return p.name + "@" + strconv.FormatInt(r.Offset, 10)
}
