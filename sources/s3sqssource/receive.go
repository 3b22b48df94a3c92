package s3sqssource

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// receive is one long-poll loop. It asks for as many messages as there
// are free slots (max_in_flight_objects), at most 10.
func (s *Source) receive() {
	ctx := s.ctx
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if err := s.sem.Acquire(ctx, 1); err != nil {
			return
		}
		n := int64(1)
		for n < 10 && s.sem.TryAcquire(1) {
			n++
		}
		out, err := s.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(s.cfg.QueueURL),
			MaxNumberOfMessages: int32(n),
			WaitTimeSeconds:     int32(s.cfg.WaitTime / time.Second),
			VisibilityTimeout:   int32(s.cfg.VisibilityTimeout / time.Second),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{
				types.MessageSystemAttributeNameSentTimestamp,
				types.MessageSystemAttributeNameApproximateReceiveCount,
			},
		})
		if err != nil {
			s.sem.Release(n)
			if ctx.Err() != nil {
				return
			}
			s.m.sqsErrors.WithLabelValues("ReceiveMessage").Inc()
			s.receiveLog.Do(func() { s.log.Warn("receive from SQS failed; retrying", "error", err, "backoff", backoff) })
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		s.ready.Store(true)
		if got := int64(len(out.Messages)); got < n {
			s.sem.Release(n - got)
		}
		for _, msg := range out.Messages {
			s.handle(msg)
		}
	}
}

// handle dispatches one received message; it owns one semaphore slot.
func (s *Source) handle(msg types.Message) {
	s.m.messages.WithLabelValues(msgReceived).Inc()
	m := &message{
		id:      aws.ToString(msg.MessageId),
		receipt: aws.ToString(msg.ReceiptHandle),
		body:    aws.ToString(msg.Body),
		sent:    time.Now(),
	}
	if ms, err := strconv.ParseInt(msg.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		m.sent = time.UnixMilli(ms)
	}
	m.receiveCount, _ = strconv.Atoi(msg.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])

	n, err := parseNotification([]byte(m.body))
	if err != nil {
		s.sem.Release(1)
		s.m.messages.WithLabelValues(msgInvalid).Inc()
		s.log.Warn("SQS message is no S3 event notification", "message_id", m.id, "error", err)
		s.deadLetter(s.ctx, m, err.Error())
		return
	}
	for _, o := range n.Objects {
		if strings.HasPrefix(o.Key, s.cfg.KeyPrefix) && strings.HasSuffix(o.Key, s.cfg.KeySuffix) {
			m.objects = append(m.objects, o)
		} else {
			s.m.objects.WithLabelValues(objFiltered).Inc()
		}
	}
	if len(m.objects) == 0 {
		s.sem.Release(1)
		outcome := msgFiltered
		if len(n.Objects) == 0 {
			outcome = msgIgnored
		}
		if err := s.deleteMessage(s.ctx, m); err == nil {
			s.m.messages.WithLabelValues(outcome).Inc()
		}
		return
	}

	if m.receiveCount > s.cfg.MaxReceiveAttempts {
		// Every earlier attempt ended without settling the message (a
		// crash while reading, a nack, a failed read): give up before
		// reading it again.
		s.sem.Release(1)
		ctx, cancel := context.WithTimeout(s.ctx, finalizeTimeout)
		defer cancel()
		s.giveUp(ctx, m, "no attempt finished")
		return
	}

	m.ctx, m.cancel = context.WithCancel(s.ctx)
	s.mu.Lock()
	if s.closing {
		// Close already ran its sweep; the message comes back after its
		// visibility timeout.
		s.mu.Unlock()
		m.cancel()
		s.sem.Release(1)
		return
	}
	s.inflight[m] = struct{}{}
	s.m.inFlight.Set(float64(len(s.inflight)))
	s.wg.Go(func() {
		defer s.sem.Release(1)
		s.process(m)
	})
	s.mu.Unlock()
}

// process reads every object of m, one after the other.
func (s *Source) process(m *message) {
	for _, ref := range m.objects {
		if m.ctx.Err() != nil {
			m.mu.Lock()
			m.cut = !m.nacked
			m.mu.Unlock()
			break
		}
		account, region := keyOrigin(ref.Key)
		origin := &flowlog.Origin{Name: ref.String(), Account: account, Region: region}
		bt := &batcher{
			source:     s.id,
			partition:  origin.Name,
			origin:     origin,
			maxRecords: s.cfg.BatchMaxRecords,
			maxBytes:   s.cfg.BatchMaxBytes,
			emit:       func(b *flowlog.Batch) error { return s.emit(m, b) },
			pool:       &s.batches,
		}
		err := s.readObject(m.ctx, ref, bt)
		var oe *objectError
		switch {
		case err == nil:
			s.m.objects.WithLabelValues(objDone).Inc()
		case errors.As(err, &oe):
			s.m.objects.WithLabelValues(oe.Kind).Inc()
			s.log.Warn("S3 object failed", "bucket", ref.Bucket, "key", ref.Key, "reason", oe.Kind,
				"records_before", bt.records, "message_id", m.id, "error", oe.Err)
			m.mu.Lock()
			if oe.permanent() {
				if m.failure == nil {
					m.failure = oe
				}
			} else if m.transient == nil {
				m.transient = oe
			}
			m.mu.Unlock()
		default: // cancelled: nack or shutdown
			s.m.objects.WithLabelValues(objCancelled).Inc()
			m.mu.Lock()
			m.cut = !m.nacked
			m.mu.Unlock()
		}
	}
	m.mu.Lock()
	m.produced = true
	done := s.settleLocked(m)
	m.mu.Unlock()
	if done {
		s.finalize(m)
	}
}
