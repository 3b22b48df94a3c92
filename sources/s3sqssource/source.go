package s3sqssource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sources/internal/ackonce"
)

// sqsAPI is the part of the SQS client the source uses.
type sqsAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

var (
	_ component.Source    = (*Source)(nil)
	_ component.Starter   = (*Source)(nil)
	_ component.Readier   = (*Source)(nil)
	_ component.Validator = (*Config)(nil)
)

// finalizeTimeout bounds one SQS call that settles a message (delete,
// release, dead-letter) after its last acknowledgement.
const finalizeTimeout = 30 * time.Second

// Source reads S3 event notifications from SQS and hands out the lines of
// the announced objects in batches. It is safe for one Read caller and
// concurrent AckFunc calls.
type Source struct {
	cfg Config
	id  string
	log *slog.Logger
	m   *metrics
	sqs sqsAPI
	s3  s3API

	out     chan pending
	sem     *semaphore.Weighted
	batches flowlog.BatchPool

	ctx    context.Context // cancelled by Close (or kill)
	cancel context.CancelFunc
	closed chan struct{}
	wg     sync.WaitGroup

	startOnce sync.Once
	closeOnce sync.Once
	closeErr  error
	ready     atomic.Bool

	mu       sync.Mutex
	closing  bool
	inflight map[*message]struct{}

	receiveLog rate.Sometimes
}

type pending struct {
	b   *flowlog.Batch
	ack flowlog.AckFunc
}

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
}

// newSource builds a source around ready clients.
func newSource(cfg *Config, set component.Settings, sq sqsAPI, s3c s3API) (*Source, error) {
	set = set.Normalize()
	m, err := newMetrics(set.Registerer, set.ID)
	if err != nil {
		return nil, fmt.Errorf("s3sqssource: metrics: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Source{
		cfg:        *cfg,
		id:         set.ID,
		log:        set.Logger,
		m:          m,
		sqs:        sq,
		s3:         s3c,
		out:        make(chan pending, cfg.MaxInFlightObjects),
		sem:        semaphore.NewWeighted(int64(cfg.MaxInFlightObjects)),
		ctx:        ctx,
		cancel:     cancel,
		closed:     make(chan struct{}),
		inflight:   make(map[*message]struct{}),
		receiveLog: rate.Sometimes{Interval: time.Minute},
	}, nil
}

// Start starts the receive loops, the visibility heartbeat and the queue
// statistics poll. Read starts them too when Start was not called. The
// goroutines live until Close, not until ctx is done.
func (s *Source) Start(context.Context) error {
	s.start()
	return nil
}

func (s *Source) start() {
	s.startOnce.Do(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closing {
			return
		}
		for range s.cfg.Receivers {
			s.wg.Go(s.receive)
		}
		s.wg.Go(s.heartbeat)
		s.wg.Go(s.pollQueueStats)
	})
}

// Ready reports whether SQS answered at least once.
func (s *Source) Ready() bool { return s.ready.Load() }

// Read returns the next batch of lines. Batches of one object come in
// order, with Partition = s3://bucket/key. After Close, Read returns
// component.ErrEndOfInput.
func (s *Source) Read(ctx context.Context) (*flowlog.Batch, flowlog.AckFunc, error) {
	s.start()
	select {
	case p := <-s.out:
		return p.b, p.ack, nil
	case <-s.closed:
		return nil, nil, component.ErrEndOfInput
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// Close stops receiving, stops reading objects and makes every message
// not yet deleted visible again (visibility 0), so that another consumer
// reads it at once. Acknowledgements that arrive afterwards are ignored.
// It is idempotent.
func (s *Source) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.shutdown(ctx, true) })
	return s.closeErr
}

// shutdown stops every goroutine; release says whether unfinished
// messages are made visible again (a kill leaves them to their timeout).
func (s *Source) shutdown(ctx context.Context, release bool) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.cancel()
	close(s.closed)

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("s3sqssource: close: %w", ctx.Err())
	}
	if !release {
		return nil
	}
	s.mu.Lock()
	var open, settled []*message
	for m := range s.inflight {
		m.mu.Lock()
		switch {
		case !m.settled:
			// Unfinished: released below. Acks arriving later are ignored.
			m.settled, m.finalizing = true, true
			open = append(open, m)
		case !m.finalizing:
			// Fully acknowledged while closing: finalized as usual.
			settled = append(settled, m)
		}
		m.mu.Unlock()
	}
	s.mu.Unlock()
	for _, m := range settled {
		s.finalize(m)
	}
	s.mu.Lock()
	clear(s.inflight)
	s.mu.Unlock()
	s.m.inFlight.Set(0)
	s.m.lag.Set(0)
	var errs []error
	for _, m := range open {
		if err := s.setVisibility(ctx, m, 0); err != nil {
			errs = append(errs, err)
			continue
		}
		s.m.messages.WithLabelValues(msgRedelivered).Inc()
	}
	if len(open) > 0 {
		s.log.Info("released unfinished messages", "messages", len(open))
	}
	return errors.Join(errs...)
}

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
	switch {
	case m.nacked:
		if s.setVisibility(ctx, m, 0) == nil {
			s.m.messages.WithLabelValues(msgRedelivered).Inc()
		}
	case m.failure != nil:
		s.deadLetter(ctx, m, m.failure.Error())
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

// deadLetter moves m to dead_letter_queue_url, or leaves it on the queue
// (invisible for a full visibility timeout, so it is not retried in a hot
// loop) for the queue's redrive policy.
func (s *Source) deadLetter(ctx context.Context, m *message, reason string) {
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	if s.cfg.DeadLetterQueueURL == "" {
		if s.setVisibility(ctx, m, s.cfg.VisibilityTimeout) == nil {
			s.m.messages.WithLabelValues(msgFailed).Inc()
		}
		return
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

// heartbeat extends the visibility of every message in flight at half the
// visibility timeout, and keeps the lag gauge current.
func (s *Source) heartbeat() {
	extend := time.NewTicker(s.cfg.VisibilityTimeout / 2)
	defer extend.Stop()
	lag := time.NewTicker(time.Second)
	defer lag.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-lag.C:
			s.updateLag()
		case <-extend.C:
			for _, m := range s.unsettled() {
				if s.ctx.Err() != nil {
					return
				}
				_ = s.setVisibility(s.ctx, m, s.cfg.VisibilityTimeout)
			}
		}
	}
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

// updateLag sets vpcflow_source_lag_seconds to the age of the oldest
// notification in flight (0 when none is).
func (s *Source) updateLag() {
	var oldest time.Time
	for _, m := range s.unsettled() {
		if oldest.IsZero() || m.sent.Before(oldest) {
			oldest = m.sent
		}
	}
	if oldest.IsZero() {
		s.m.lag.Set(0)
		return
	}
	s.m.lag.Set(max(time.Since(oldest).Seconds(), 0))
}

// pollQueueStats keeps vpcflow_source_queue_messages current. Its first
// call also makes the source ready without waiting for a long poll to end;
// with queue_stats_interval 0 it is the only call.
func (s *Source) pollQueueStats() {
	var tick <-chan time.Time
	if s.cfg.QueueStatsInterval > 0 {
		t := time.NewTicker(s.cfg.QueueStatsInterval)
		defer t.Stop()
		tick = t.C
	}
	// Without dead_letter_queue_url, notifications whose object cannot be
	// read rely on the queue's redrive policy: check once that it has one.
	checked := s.cfg.DeadLetterQueueURL != ""
	for {
		names := []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages}
		if !checked {
			names = append(names, types.QueueAttributeNameRedrivePolicy)
		}
		out, err := s.sqs.GetQueueAttributes(s.ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(s.cfg.QueueURL),
			AttributeNames: names,
		})
		if err == nil {
			s.ready.Store(true)
			if v, perr := strconv.ParseFloat(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)], 64); perr == nil {
				s.m.queueMessages.Set(v)
			}
			if !checked {
				checked = true
				if out.Attributes[string(types.QueueAttributeNameRedrivePolicy)] == "" {
					s.log.Warn("the queue has no redrive policy and dead_letter_queue_url is not set: a notification whose object cannot be read (NoSuchKey, AccessDenied, corrupt data) is received again every visibility_timeout until the queue's retention period deletes it",
						"queue", path.Base(s.cfg.QueueURL))
				}
			}
		} else if s.ctx.Err() == nil {
			s.m.sqsErrors.WithLabelValues("GetQueueAttributes").Inc()
		}
		if tick == nil {
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-tick:
		}
	}
}
