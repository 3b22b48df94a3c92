package kinesissource

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sources/internal/budget"
)

// Per-shard read limits of Kinesis Data Streams.
const (
	minCallInterval = 200 * time.Millisecond // 5 GetRecords a second
	maxBytesPerSec  = 2 << 20                // 2 MB a second
	// callBytes is about what one GetRecords call asks for: the shard's
	// read rate for a second, so that reading at full speed needs no more
	// (each call is followed by a wait in proportion to its bytes), while
	// an answer held in memory (by the SDK, twice: JSON body and records)
	// stays near 2 MiB instead of the API's 10 MB.
	callBytes    = maxBytesPerSec
	maxBackoff   = 10 * time.Second
	firstBackoff = 250 * time.Millisecond
	// callTimeout bounds one Kinesis call, so that a hung connection
	// cannot stall a shard.
	callTimeout = 30 * time.Second
)

// sleep waits d or until ctx is done; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff returns the jittered wait before retry n (0-based).
func backoff(n int) time.Duration {
	d := firstBackoff << min(n, 6)
	d = min(d, maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// iterator returns a shard iterator at from and, for AT_SEQUENCE_NUMBER, the
// position whose user records are to be skipped. at, when set, replaces
// start_timestamp for AT_TIMESTAMP. It retries until ctx is done.
func (s *Source) iterator(ctx context.Context, shard string, from position, at time.Time) (*string, *position, error) {
	in := &kinesis.GetShardIteratorInput{ShardId: aws.String(shard)}
	if isARN(s.stream) {
		in.StreamARN = aws.String(s.stream)
	} else {
		in.StreamName = aws.String(s.stream)
	}
	var skip *position
	switch from.Seq {
	case "", cpTrimHorizon:
		in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
	case cpLatest:
		in.ShardIteratorType = types.ShardIteratorTypeLatest
	case cpAtTimestamp:
		if !at.IsZero() {
			in.ShardIteratorType = types.ShardIteratorTypeAtTimestamp
			in.Timestamp = aws.Time(at)
			break
		}
		if s.cfg.StartTimestamp.IsZero() {
			// Created by an instance configured with at_timestamp; this one
			// has no timestamp: read all that is kept.
			in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
			break
		}
		in.ShardIteratorType = types.ShardIteratorTypeAtTimestamp
		in.Timestamp = aws.Time(s.cfg.StartTimestamp)
	default:
		in.StartingSequenceNumber = aws.String(from.Seq)
		if s.decode.aggregates() {
			// The checkpoint may lie inside a KPL aggregate: read the
			// record again and skip its user records up to from.Sub.
			in.ShardIteratorType = types.ShardIteratorTypeAtSequenceNumber
			skip = &from
		} else {
			in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		}
	}
	for n := 0; ; n++ {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		out, err := s.kin.GetShardIterator(cctx, in)
		cancel()
		if err == nil {
			return out.ShardIterator, skip, nil
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		s.log.Warn("get shard iterator", "shard", shard, "type", in.ShardIteratorType, "error", err)
		if !sleep(ctx, backoff(n)) {
			return nil, nil, ctx.Err()
		}
	}
}

// readShard reads one shard from start until its end, the lease is lost or
// the source closes. Each GetRecords response with records becomes a batch.
func (s *Source) readShard(ctx context.Context, h *held, shard string, start position) {
	log := s.log.With("shard", shard)
	dec := s.decode // own scratch
	dec.users = nil
	// origin is where reading started, as a position that can be read
	// from again: LATEST becomes the time it was asked for, so that a
	// rewind before any acknowledgement does not skip what was read.
	origin, at := start, time.Time{}
	if start.Seq == cpLatest {
		origin, at = position{Seq: cpAtTimestamp}, time.Now().Add(-time.Second)
	}
	iter, skip, err := s.iterator(ctx, shard, start, time.Time{})
	if err != nil {
		return
	}
	last := origin // last record read: where to resume after an expired iterator
	fails := 0
	// recBytes is the recent mean size of the shard's records, to ask for
	// about callBytes per call.
	recBytes := 0.0
	for {
		if pos, ok, rewind := h.tr.takeRewind(); rewind {
			// A batch was nacked: read again from the last acknowledged
			// position (or the lease's start).
			if !ok {
				pos = origin
			}
			last = pos
			if iter, skip, err = s.iterator(ctx, shard, pos, at); err != nil {
				return
			}
		}
		callStart := time.Now()
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		out, err := s.kin.GetRecords(cctx, &kinesis.GetRecordsInput{
			ShardIterator: iter,
			Limit:         aws.Int32(int32(callLimit(s.cfg.MaxRecordsPerCall, recBytes))),
		}, func(o *kinesis.Options) { o.RetryMaxAttempts = 1 }) // retried here, with the shard's limits in mind
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var thr *types.ProvisionedThroughputExceededException
			var exp *types.ExpiredIteratorException
			switch {
			case errors.As(err, &thr):
				s.m.calls.WithLabelValues("throttled").Inc()
				log.Debug("read throttled", "error", err)
			case errors.As(err, &exp):
				s.m.calls.WithLabelValues("expired_iterator").Inc()
				log.Info("shard iterator expired, getting a new one")
				if iter, skip, err = s.iterator(ctx, shard, last, at); err != nil {
					return
				}
				continue
			default:
				s.m.calls.WithLabelValues("error").Inc()
				log.Warn("get records", "error", err)
				if fails >= 3 {
					// The iterator itself may be the problem: start over
					// after the last record read.
					if iter, skip, err = s.iterator(ctx, shard, last, at); err != nil {
						return
					}
				}
			}
			if !sleep(ctx, backoff(fails)) {
				return
			}
			fails++
			continue
		}
		fails = 0
		s.m.calls.WithLabelValues("ok").Inc()
		if out.MillisBehindLatest != nil && ctx.Err() == nil {
			s.m.lag.WithLabelValues(shard).Set(float64(*out.MillisBehindLatest) / 1000)
		}
		var nbytes int
		for _, r := range out.Records {
			nbytes += len(r.Data)
		}
		if len(out.Records) > 0 {
			m := float64(nbytes) / float64(len(out.Records))
			if recBytes == 0 {
				recBytes = m
			} else {
				recBytes += (m - recBytes) / 4
			}
		}
		s.m.records.Add(float64(len(out.Records)))
		s.m.bytes.Add(float64(nbytes))
		// The answer becomes batches of at most batch_max_records flow
		// records (a Kinesis record is never split), each ending at the
		// position of its last Kinesis record.
		var b *flowlog.Batch
		pinned := 0 // bytes of records' data the batch's lines may point into
		nacked := false
		for i, r := range out.Records {
			if b == nil {
				// Build more only while the batches in flight hold less
				// than max_in_flight_bytes.
				if s.budget.Free() == 0 {
					s.m.budgetWaits.Inc()
					if s.budget.Wait(ctx) != nil {
						return
					}
				}
				if b = s.batches.Get(); b == nil {
					b = &flowlog.Batch{}
				}
				b.Source, b.Partition, b.Read = s.id, shard, time.Now()
			}
			res := dec.add(b, shard, r, skip)
			pinned += len(r.Data)
			skip = nil // only the first record can be the checkpointed one
			if len(b.Records) < s.cfg.BatchMaxRecords && i < len(out.Records)-1 {
				continue
			}
			pos := position{Seq: aws.ToString(r.SequenceNumber), Sub: max(res.lastSub, 0)}
			s.m.failures.Add(float64(len(b.Failed)))
			last = pos
			empty := len(b.Records) == 0 && len(b.Failed) == 0 // control messages
			tk, ok := h.tr.add(pos, empty)
			if !ok {
				// A nack came in: what follows the last acknowledged
				// position is read again, this batch included.
				s.batches.Put(b)
				nacked = true
				break
			}
			if empty {
				s.batches.Put(b)
			} else {
				cost := budget.Cost(b, pinned)
				s.budget.Charge(cost)
				select {
				case s.out <- delivery{b: b, h: h, tk: tk, bytes: cost}:
				case <-ctx.Done():
					s.budget.Release(cost)
					h.tr.unsend()
					return
				}
			}
			b, pinned = nil, 0
		}
		if nacked {
			// Rewind first, within the call rate.
			if !sleep(ctx, minCallInterval-time.Since(callStart)) {
				return
			}
			continue
		}
		if out.NextShardIterator == nil || *out.NextShardIterator == "" {
			log.Debug("shard end reached", "children", len(out.ChildShards))
			h.children = out.ChildShards
			h.tr.setEnded()
			return
		}
		iter = out.NextShardIterator
		// 5 calls and 2 MB a second per shard; idle or caught-up shards are
		// polled every poll_interval.
		wait := max(minCallInterval, time.Duration(nbytes)*time.Second/maxBytesPerSec)
		if len(out.Records) == 0 || len(out.Records) < s.cfg.MaxRecordsPerCall && aws.ToInt64(out.MillisBehindLatest) == 0 {
			wait = max(wait, s.cfg.PollInterval)
		}
		if !sleep(ctx, wait-time.Since(callStart)) {
			return
		}
	}
}

// callLimit is the Limit of the next GetRecords call: about callBytes of
// records of the recent mean size, at least 1 and at most limit.
func callLimit(limit int, recBytes float64) int {
	if recBytes <= 0 {
		return min(limit, 100) // the record size is not known yet
	}
	return int(min(float64(limit), float64(callBytes)/recBytes+1))
}
