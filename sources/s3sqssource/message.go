package s3sqssource

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sources/internal/ackonce"
	"github.com/vpcflow/vpcflow/sources/internal/wake"
)

// message is one SQS message whose objects are being read.
type message struct {
	id           string
	receipt      string
	body         string
	sent         time.Time
	receiveCount int
	objects      []objectRef

	ctx    context.Context // cancelled on the first nack
	cancel context.CancelFunc

	mu          sync.Mutex
	outstanding int  // batches handed out and not yet acknowledged
	produced    bool // every object read (or given up)
	nacked      bool
	cut         bool         // reading stopped by shutdown: Close releases it
	settled     bool         // nothing more in flight: to be finalized
	finalizing  bool         // delete, release or dead-letter started
	failure     *objectError // first permanent failure: dead letter
	transient   *objectError // first transient failure: retry later
	extending   int          // heartbeat calls extending it now
	extended    wake.Signal  // broadcast when extending drops to 0
}

// startFinalize reports (once) whether the caller is to finalize m.
func startFinalize(m *message) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.finalizing {
		return false
	}
	m.finalizing = true
	return true
}

// emit hands b out through Read, blocking while the consumer is behind
// (this is the backpressure that bounds memory per object).
func (s *Source) emit(m *message, b *flowlog.Batch) error {
	m.mu.Lock()
	m.outstanding++
	m.mu.Unlock()
	ack := ackonce.Func(func(_ context.Context, err error) {
		s.ack(m, err)
		s.batches.Put(b)
	})
	n := len(b.Records) // b is not ours once sent: it may be acked and reused
	select {
	case s.out <- pending{b: b, ack: ack}:
		s.m.records.Add(float64(n))
		return nil
	case <-m.ctx.Done():
		m.mu.Lock()
		m.outstanding--
		m.mu.Unlock()
		return m.ctx.Err()
	}
}

// ack settles one batch of m.
func (s *Source) ack(m *message, err error) {
	m.mu.Lock()
	m.outstanding--
	if err != nil && !m.nacked {
		m.nacked = true
		m.cancel() // stop reading: the message is read again anyway
	}
	done := s.settleLocked(m)
	m.mu.Unlock()
	if !done {
		return
	}
	s.mu.Lock()
	if s.closing {
		// Close finalizes settled messages itself, once every goroutine
		// has stopped.
		s.mu.Unlock()
		return
	}
	s.wg.Go(func() { s.finalize(m) })
	s.mu.Unlock()
}

// settleLocked reports (once) whether m has nothing more in flight.
func (s *Source) settleLocked(m *message) bool {
	if m.settled || !m.produced || m.outstanding > 0 || m.cut && !m.nacked {
		return false
	}
	m.settled = true
	return true
}

// finalize deletes, releases or dead-letters a settled message.
func (s *Source) finalize(m *message) {
	if !startFinalize(m) {
		return
	}
	defer func() {
		m.cancel()
		s.mu.Lock()
		delete(s.inflight, m)
		s.m.inFlight.Set(float64(len(s.inflight)))
		s.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), finalizeTimeout)
	defer cancel()
	// A visibility extension answered after this call would hide a
	// released message for a whole visibility timeout: let running ones
	// end first (settled, m gets no new one).
	waitExtended(ctx, m)
	switch {
	case m.nacked:
		if s.setVisibility(ctx, m, 0) == nil {
			s.m.messages.WithLabelValues(msgRedelivered).Inc()
		}
	case m.failure != nil:
		s.deadLetter(ctx, m, m.failure.Error())
	case m.transient != nil && s.exhausted(m):
		s.giveUp(ctx, m, m.transient.Error())
	case m.transient != nil:
		// Retry later, backing off with the receive count: 5s, 10s, 20s …
		d := min(5*time.Second<<min(max(m.receiveCount-1, 0), 12), s.cfg.VisibilityTimeout)
		if s.setVisibility(ctx, m, d) == nil {
			s.m.messages.WithLabelValues(msgRedelivered).Inc()
		}
	default:
		if s.deleteMessage(ctx, m) == nil {
			s.m.messages.WithLabelValues(msgDeleted).Inc()
		}
	}
}

// deadLetter handles a message whose object cannot be read (or whose body
// is no notification): it is moved to dead_letter_queue_url; without one
// it is left on the queue, invisible for a full visibility timeout (so it
// is not retried in a hot loop, and a redrive policy may take it), until
// its max_receive_attempts-th receipt, when it is abandoned.
func (s *Source) deadLetter(ctx context.Context, m *message, reason string) {
	switch {
	case s.cfg.DeadLetterQueueURL != "":
		s.moveToDLQ(ctx, m, reason)
	case s.exhausted(m):
		s.giveUp(ctx, m, reason)
	default:
		if s.setVisibility(ctx, m, s.cfg.VisibilityTimeout) == nil {
			s.m.messages.WithLabelValues(msgFailed).Inc()
		}
	}
}

// exhausted reports whether m's current receipt is its last attempt.
func (s *Source) exhausted(m *message) bool {
	return m.receiveCount >= s.cfg.MaxReceiveAttempts
}

// giveUp ends the attempts at m: it is moved to dead_letter_queue_url, or,
// without one, abandoned: logged at error level naming every object,
// counted, and deleted.
func (s *Source) giveUp(ctx context.Context, m *message, reason string) {
	reason = fmt.Sprintf("received %d times (max_receive_attempts %d): %s", m.receiveCount, s.cfg.MaxReceiveAttempts, reason)
	if s.cfg.DeadLetterQueueURL != "" {
		s.moveToDLQ(ctx, m, reason)
		return
	}
	if len(m.objects) == 0 {
		s.log.Error("abandoning SQS message: it was received max_receive_attempts times and no dead_letter_queue_url is set",
			"message_id", m.id, "receive_count", m.receiveCount, "max_receive_attempts", s.cfg.MaxReceiveAttempts, "reason", reason)
	}
	for _, o := range m.objects {
		s.log.Error("abandoning S3 object: its notification was received max_receive_attempts times and no dead_letter_queue_url is set; its records are not delivered",
			"bucket", o.Bucket, "key", o.Key, "receive_count", m.receiveCount, "max_receive_attempts", s.cfg.MaxReceiveAttempts,
			"message_id", m.id, "reason", reason)
	}
	if s.deleteMessage(ctx, m) == nil {
		s.m.messages.WithLabelValues(msgAbandoned).Inc()
	}
}

// moveToDLQ sends m's body to dead_letter_queue_url with the reason as
// the vpcflow_error attribute, then deletes m.
func (s *Source) moveToDLQ(ctx context.Context, m *message, reason string) {
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	_, err := s.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(s.cfg.DeadLetterQueueURL),
		MessageBody: aws.String(m.body),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"vpcflow_error": {DataType: aws.String("String"), StringValue: aws.String(reason)},
		},
	})
	if err != nil {
		s.m.sqsErrors.WithLabelValues("SendMessage").Inc()
		s.log.Error("moving message to the dead-letter queue failed; it is left on the queue", "message_id", m.id, "error", err)
		return
	}
	if s.deleteMessage(ctx, m) == nil {
		s.m.messages.WithLabelValues(msgDeadLettered).Inc()
	}
}

func (s *Source) deleteMessage(ctx context.Context, m *message) error {
	_, err := s.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{
		QueueUrl:      aws.String(s.cfg.QueueURL),
		ReceiptHandle: aws.String(m.receipt),
	})
	if err != nil {
		s.m.sqsErrors.WithLabelValues("DeleteMessage").Inc()
		s.log.Warn("deleting SQS message failed; it will be delivered again", "message_id", m.id, "error", err)
	}
	return err
}

func (s *Source) setVisibility(ctx context.Context, m *message, d time.Duration) error {
	_, err := s.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(s.cfg.QueueURL),
		ReceiptHandle:     aws.String(m.receipt),
		VisibilityTimeout: int32(d / time.Second),
	})
	if err != nil {
		s.m.sqsErrors.WithLabelValues("ChangeMessageVisibility").Inc()
		s.log.Warn("changing SQS message visibility failed", "message_id", m.id, "visibility", d, "error", err)
	}
	return err
}

func (s *Source) unsettled() []*message {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := make([]*message, 0, len(s.inflight))
	for m := range s.inflight {
		m.mu.Lock()
		if !m.settled {
			ms = append(ms, m)
		}
		m.mu.Unlock()
	}
	return ms
}
