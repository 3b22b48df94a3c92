package s3sqssource

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// sqsAPI is the part of the SQS client the source uses.
type sqsAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
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
	rlog       *component.RateLimitedLogger
}

type pending struct {
	b   *flowlog.Batch
	ack flowlog.AckFunc
}

// newSource builds a source around ready clients.
func newSource(cfg *Config, set component.Settings, sq sqsAPI, s3c s3API) (*Source, error) {
	set = set.Normalize()
	m, err := newMetrics(set.Registerer, set.ID)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
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
		rlog:       component.NewRateLimitedLogger(set.Logger, time.Minute),
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
		return fmt.Errorf("close: %w", ctx.Err())
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
	released, err := s.releaseAll(ctx, open)
	s.m.messages.WithLabelValues(msgRedelivered).Add(float64(released))
	if len(open) > 0 {
		s.log.Info("released unfinished messages", "messages", released, "failed", len(open)-released)
	}
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}
