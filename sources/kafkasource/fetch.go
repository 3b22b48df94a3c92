package kafkasource

import (
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
)

// poll fetches, decodes the records into pending batches and lets the group
// rebalance again.
func (s *Source) poll(ctx context.Context) error {
	if s.ctx.Err() != nil {
		return fmt.Errorf("closed: %w", component.ErrEndOfInput)
	}
	pctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	fetches := s.cl.PollRecords(pctx, s.cfg.MaxPollRecords)
	stop()
	cancel()
	defer s.cl.AllowRebalance()
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
	// Records polled are always queued, even when ctx ended meanwhile: the
	// client's position has moved past them, so skipping them here would let
	// later batches commit over them.
	type chunk struct {
		p    *partition
		recs []*kgo.Record
	}
	var chunks []chunk
	s.mu.Lock()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) > 0 {
			chunks = append(chunks, chunk{s.partitionLocked(fp.Topic, fp.Partition), fp.Records})
		}
	})
	s.mu.Unlock()
	// Partitions are decoded in parallel (decompressing envelopes is the
	// costly part); each partition's batches are still queued in order.
	now := time.Now()
	if len(chunks) == 1 || runtime.GOMAXPROCS(0) == 1 {
		for _, c := range chunks {
			s.decodePartition(c.p, c.recs, now)
		}
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		for _, c := range chunks {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				s.decodePartition(c.p, c.recs, now)
			})
		}
		wg.Wait()
	}
	if fetches.IsClientClosed() || s.ctx.Err() != nil {
		return fmt.Errorf("closed: %w", component.ErrEndOfInput)
	}
	return ctx.Err() // batches queued are handed out by the next Read
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
func (s *Source) decodePartition(p *partition, recs []*kgo.Record, now time.Time) {
	var (
		b      *flowlog.Batch
		o      *flowlog.Origin
		first  int64
		newest time.Time
	)
	seal := func(last *kgo.Record) {
		if first == last.Offset {
			o.Name = p.name + "@" + strconv.FormatInt(first, 10)
		} else {
			o.Name = p.name + "@" + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last.Offset, 10)
		}
		in := &inflight{s: s, p: p, next: last.Offset + 1, epoch: last.LeaderEpoch, b: b}
		s.mu.Lock()
		p.track(in)
		empty := len(b.Records) == 0 && len(b.Failed) == 0
		if empty {
			// Nothing to hand out (control messages, empty values): done.
			in.b = nil
			s.ackLocked(in, nil)
		} else {
			s.pending = append(s.pending, pendingBatch{b, in})
		}
		s.mu.Unlock()
		if empty {
			s.batches.Put(b)
		}
		b = nil
	}
	remaining := 0 // estimated flow records not yet decoded
	for _, r := range recs {
		remaining += estimateRecords(r.Value)
	}
	for i, r := range recs {
		if b == nil {
			b = s.newBatch(s.batchCap(len(recs)-i, remaining))
			b.Source, b.Partition, b.Read = s.id, p.name, now
			o = &flowlog.Origin{}
			first = r.Offset
		}
		kind := s.payload
		if kind == envelope.Auto && envelope.Detect(r.Value) == envelope.Lines {
			kind = envelope.Lines
		}
		origin := o
		if kind != envelope.Lines {
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

// batchCap sizes the next batch's slice so that it rarely grows; a batch
// that will be full gets room for the Kafka record that crosses
// batch_max_records.
func (s *Source) batchCap(records, est int) int {
	est = max(records, est)
	if est >= s.cfg.BatchMaxRecords {
		return s.cfg.BatchMaxRecords + min(s.cfg.BatchMaxRecords/8, 512)
	}
	return est
}

func recordName(p *partition, r *kgo.Record) string {
	return p.name + "@" + strconv.FormatInt(r.Offset, 10)
}
