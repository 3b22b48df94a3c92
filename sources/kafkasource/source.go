package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sources/envelope"
	"github.com/vpcflow/vpcflow/sources/internal/budget"
	"github.com/vpcflow/vpcflow/sources/internal/wake"
)

var (
	_ component.Source           = (*Source)(nil)
	_ component.Readier          = (*Source)(nil)
	_ component.Closer           = (*Source)(nil)
	_ propagation.TextMapCarrier = headerCarrier(nil)
)

// tp names a topic partition.
type tp struct {
	topic string
	part  int32
}

// Source consumes flow logs from Kafka topics as a member of a consumer
// group. Create it with New; it is safe for one Read goroutine plus any
// number of goroutines calling the AckFuncs, Ready and Close.
type Source struct {
	id      string
	cfg     Config
	log     *slog.Logger
	met     *metrics
	payload envelope.Payload
	cl      *kgo.Client
	adm     *kadm.Client

	ctx    context.Context // canceled by Close: stops polls and the lag loop
	cancel context.CancelFunc
	wg     sync.WaitGroup

	ready atomic.Bool
	// failingSince is when fetches started failing without a fetch that
	// succeeded since (unix nanos, 0 when healthy); see Healthy.
	failingSince atomic.Int64
	lastFetchErr atomic.Pointer[string]
	closeOnce    sync.Once
	closeErr     error

	mu      sync.Mutex
	parts   map[tp]*partition // partitions owned now
	pending []pendingBatch    // decoded, not yet handed out
	batches flowlog.BatchPool // acknowledged batches, for reuse
	budget  *budget.Bytes     // max_in_flight_bytes: batches pending or handed out
	// recCost is the bytes a Kafka record costs once decoded (a moving
	// average), to size polls to the budget left.
	recCost float64
	closing bool // Close began: nothing more is handed out
	// closeWait bounds Close's wait for in-flight batches; a revocation
	// during Close waits no longer.
	closeWait context.Context
	closed    bool // Close has finished committing: acks are ignored
	// rewindReady: a nacked partition can be sought back; the next poll
	// does it. wakePoll, set while a poll waits for records, ends that wait.
	rewindReady bool
	wakePoll    context.CancelFunc
	// acked is broadcast on every acknowledgement, for awaitAcked.
	acked wake.Signal
}

type pendingBatch struct {
	b  *flowlog.Batch
	in *inflight
}

// New builds a kafka source and starts joining its consumer group. It
// does not wait for the brokers: Ready reports when the group was joined.
func New(ctx context.Context, cfg Config, set component.Settings) (*Source, error) {
	set = set.Normalize()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	payload, _ := envelope.ParsePayload(cfg.Payload)
	met, err := newMetrics(set.Registerer, set.ID)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s := &Source{
		budget:  budget.New(int64(cfg.MaxInFlightBytes), met.inFlightBytes),
		id:      set.ID,
		cfg:     cfg,
		log:     set.Logger,
		met:     met,
		payload: payload,
		parts:   map[tp]*partition{},
	}
	opts, err := connOpts(ctx, &cfg, set)
	if err != nil {
		return nil, err
	}
	reset := kgo.NewOffset().AtStart()
	if cfg.StartFrom == "latest" {
		reset = kgo.NewOffset().AtEnd()
	}
	opts = append(opts,
		kgo.WithLogger(kgoLogger{set.Logger}),
		kgo.ConsumerGroup(cfg.Group),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(reset),
		kgo.FetchMaxBytes(int32(cfg.FetchMaxBytes)),
		kgo.FetchMaxPartitionBytes(int32(cfg.FetchMaxPartitionBytes)),
		kgo.FetchMaxWait(cfg.FetchMaxWait),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.RebalanceTimeout(cfg.RebalanceTimeout),
		kgo.HeartbeatInterval(cfg.HeartbeatInterval),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(cfg.CommitInterval),
		kgo.AutoCommitCallback(s.onCommitted),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
	)
	if cfg.TopicRegex != "" {
		// kgo matches the expression anywhere in a name; anchor it so that
		// topic_regex means the whole topic name.
		re := "^(?:" + cfg.TopicRegex + ")$"
		if _, err := regexp.Compile(re); err != nil {
			return nil, fmt.Errorf("topic_regex: %w", err)
		}
		opts = append(opts, kgo.ConsumeTopics(re), kgo.ConsumeRegex())
	} else {
		opts = append(opts, kgo.ConsumeTopics(cfg.topics()...))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	s.cl = cl
	s.adm = kadm.NewClient(cl)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.lagLoop()
	return s, nil
}

// Ready reports whether the source has joined its consumer group (it may
// own no partition when the group has more members than partitions).
func (s *Source) Ready() bool { return s.ready.Load() }

// unhealthyAfter is how long fetches may fail without one succeeding
// before Healthy reports the source as stuck.
const unhealthyAfter = 2 * time.Minute

// Healthy reports an error once every fetch has failed for longer than
// two minutes (brokers unreachable, authorization lost); the engine's
// /healthz then fails.
func (s *Source) Healthy() error {
	since := s.failingSince.Load()
	if since == 0 {
		return nil
	}
	if d := time.Since(time.Unix(0, since)); d > unhealthyAfter {
		msg := ""
		if p := s.lastFetchErr.Load(); p != nil {
			msg = *p
		}
		return fmt.Errorf("kafka fetches failing for %s: %s", d.Round(time.Second), msg)
	}
	return nil
}

// Read returns the next batch: the records of one chunk of one partition,
// in offset order. It polls Kafka when no decoded batch is pending.
func (s *Source) Read(ctx context.Context) (*flowlog.Batch, flowlog.AckFunc, error) {
	for {
		if b, ack, ok := s.next(); ok {
			return b, ack, nil
		}
		// Nothing decoded is pending: read more only once the batches
		// in flight hold less than max_in_flight_bytes.
		if err := s.waitBudget(ctx); err != nil {
			return nil, nil, err
		}
		if err := s.poll(ctx); err != nil {
			return nil, nil, err
		}
	}
}

// next pops the first pending batch of a partition still owned and not
// draining or waiting for a rewind. (Such batches are dropped from the
// queue as that happens; this is the guard.)
func (s *Source) next() (*flowlog.Batch, flowlog.AckFunc, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, nil, false // Close dropped the queue
	}
	for len(s.pending) > 0 {
		pb := s.pending[0]
		s.pending[0] = pendingBatch{}
		s.pending = s.pending[1:]
		if p := pb.in.p; p.revoked || p.draining || p.rewind || pb.in.gen != p.gen {
			p.batches.Truncate(pb.in.tk)
			pb.in.b = nil
			s.recycle(pb.in, pb.b)
			continue
		}
		return pb.b, pb.in.ack, true
	}
	s.pending = s.pending[:0]
	return nil, nil, false
}

// Close stops handing out batches and fetching, waits until the batches
// handed out are acknowledged (at most 90% of rebalance_timeout, and never
// past ctx's deadline: a fifth of the time left, at most 2s, is kept for
// the rest), commits what was acknowledged, leaves the group and closes
// the client. Batches not acknowledged by then are read again by the
// partitions' next owner. Close is idempotent.
func (s *Source) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Source) close(ctx context.Context) error {
	wctx, cancel := s.waitContext(ctx)
	start := time.Now()
	s.mu.Lock()
	s.closing, s.closeWait = true, wctx
	for _, p := range s.parts {
		p.draining = true
	}
	s.dropPendingLocked(func(*partition) bool { return true })
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	left := s.awaitAcked(wctx, nil)
	cancel()
	if left > 0 {
		s.log.Warn("kafka source closing with batches not acknowledged; the partitions' next owners read them again",
			"batches", left, "waited", time.Since(start).Round(time.Millisecond))
	}
	var errs []error
	if err := s.cl.CommitMarkedOffsets(ctx); err != nil {
		errs = append(errs, fmt.Errorf("commit: %w", err))
	}
	// Leaving revokes every partition: onRevoked commits acks that came in
	// meanwhile, then nothing more is committed.
	s.cl.AllowRebalance()
	if err := s.cl.LeaveGroupContext(ctx); err != nil && !errors.Is(err, context.Canceled) {
		errs = append(errs, fmt.Errorf("leave group: %w", err))
	}
	s.cl.Close()
	s.mu.Lock()
	s.closed = true
	for k, p := range s.parts {
		p.revoked = true
		s.met.forget(p.name)
		delete(s.parts, k)
	}
	s.pending = nil
	s.met.assigned.Set(0)
	s.mu.Unlock()
	s.ready.Store(false)
	return errors.Join(errs...)
}

// waitBudget waits until the batches in flight hold less than
// max_in_flight_bytes, ctx is done or the source is closed.
func (s *Source) waitBudget(ctx context.Context) error {
	if s.budget.Free() > 0 {
		return nil
	}
	s.met.budgetWaits.Inc()
	wctx, cancel := context.WithCancel(ctx)
	defer context.AfterFunc(s.ctx, cancel)()
	defer cancel()
	if err := s.budget.Wait(wctx); err != nil {
		if s.ctx.Err() != nil {
			return fmt.Errorf("closed: %w", component.ErrEndOfInput)
		}
		return err
	}
	return nil
}

// notePollCost records what n Kafka records cost once decoded into a
// batch of the given bytes.
func (s *Source) notePollCost(bytes int64, n int) {
	if n == 0 {
		return
	}
	c := float64(bytes) / float64(n)
	s.mu.Lock()
	if s.recCost == 0 {
		s.recCost = c
	} else {
		s.recCost += (c - s.recCost) / 8
	}
	s.mu.Unlock()
}

// pollSize is how many Kafka records the next poll may take: what the
// budget left holds at the records' recent cost, at least one, at most
// max_poll_records.
func (s *Source) pollSize() int {
	s.mu.Lock()
	c := s.recCost
	s.mu.Unlock()
	if c <= 0 {
		return 1 // the cost is not known yet: learn it from one record
	}
	return int(max(1, min(float64(s.cfg.MaxPollRecords), float64(s.budget.Free())/c)))
}
