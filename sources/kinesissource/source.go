package kinesissource

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sources/internal/ackonce"
	"github.com/vpcflow/vpcflow/sources/internal/budget"
)

var _ component.Source = (*Source)(nil)

// Source reads a Kinesis data stream, sharing its shards with every other
// instance that uses the same lease table.
type Source struct {
	cfg    Config
	id     string
	stream string // name or ARN, as configured
	log    *slog.Logger
	m      *metrics
	kin    kinesisAPI
	table  *leaseTable
	bal    balancer
	decode decoder

	out  chan delivery
	poke chan struct{}

	// runCtx bounds the coordinator, readCtx the shard readers.
	runCtx, readCtx      context.Context
	stopRun, stopReaders context.CancelFunc
	wg                   sync.WaitGroup
	startOnce            sync.Once
	startErr             error
	started              atomic.Bool
	closing              chan struct{}
	closeOnce            sync.Once
	closeErr             error
	// handoffReady receives the held leases whose hand-off drained.
	handoffReady chan *held

	batches flowlog.BatchPool // acknowledged batches, for reuse
	budget  *budget.Bytes     // max_in_flight_bytes: batches built and not yet acknowledged

	mu   sync.Mutex
	held map[string]*held
	seen map[string]seenLease // coordinator only
	// pending holds the leases this instance asked for and whose old owner
	// has not handed them over yet (coordinator, then Close).
	pending map[string]*pendingLease
	// missing holds the unfinished leases whose shard the last shard sync
	// did not find in the stream (coordinator only).
	missing map[string]time.Time
}

// held is a lease this instance owns and reads.
type held struct {
	l         lease // coordinator only
	tr        *tracker
	cancel    context.CancelFunc
	done      chan struct{}
	written   position // last checkpoint written
	renewedAt time.Time
	// handoff is set while the lease is handed over to another instance
	// (coordinator only).
	handoff *handoff
	// children are the shards that GetRecords named at the shard end; set
	// by the reader before done is closed.
	children []types.ChildShard
}

// handoff is a lease being handed over: its reader stopped; ready closes
// once its batches were acknowledged (or handoff_timeout passed).
type handoff struct {
	ready chan struct{}
}

func (h *handoff) isReady() bool {
	select {
	case <-h.ready:
		return true
	default:
		return false
	}
}

// pendingLease is a lease this instance asked for, until its old owner
// hands it over.
type pendingLease struct {
	from    string    // its owner when asked for
	marked  time.Time // when this instance asked
	counter int64     // leaseCounter last seen
	since   time.Time // when counter was first seen
}

type delivery struct {
	b     *flowlog.Batch
	h     *held
	tk    ticket
	bytes int64 // charged to the budget until the batch is recycled
}

// recycle releases a batch's bytes and keeps it for reuse.
func (s *Source) recycle(b *flowlog.Batch, bytes int64) {
	s.budget.Release(bytes)
	s.batches.Put(b)
}

// New builds a source with clients from the default AWS configuration chain.
// Background work starts with Start (or the first Read).
func New(ctx context.Context, cfg Config, set component.Settings) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kin, ddb, err := newClients(ctx, &cfg, set)
	if err != nil {
		return nil, err
	}
	return newSource(cfg, set, kin, ddb)
}

func newSource(cfg Config, set component.Settings, kin kinesisAPI, ddb dynamoAPI) (*Source, error) {
	set = set.Normalize()
	m, err := newMetrics(set.Registerer, set.ID)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if cfg.WorkerID == "" {
		cfg.WorkerID = defaultWorkerID()
	}
	s := &Source{
		cfg:     cfg,
		id:      set.ID,
		stream:  cfg.Stream,
		log:     set.Logger,
		m:       m,
		kin:     kin,
		table:   &leaseTable{db: ddb, name: cfg.leaseTable(), owner: cfg.WorkerID},
		bal:     balancer{me: cfg.WorkerID, failover: cfg.FailoverTime, maxLeases: cfg.MaxLeases, rand: randIntN},
		decode:  decoder{payload: cfg.Payload, source: set.ID, stream: streamName(cfg.Stream)},
		out:     make(chan delivery),
		poke:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		held:    map[string]*held{},
		seen:    map[string]seenLease{},
		pending: map[string]*pendingLease{},

		handoffReady: make(chan *held),
		budget:       budget.New(int64(cfg.MaxInFlightBytes), m.inFlightBytes),
	}
	s.runCtx, s.stopRun = context.WithCancel(context.Background())
	s.readCtx, s.stopReaders = context.WithCancel(context.Background())
	return s, nil
}

func defaultWorkerID() string {
	host, _ := os.Hostname()
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(r[:]))
}

// WorkerID returns the owner name this instance writes in the lease table.
func (s *Source) WorkerID() string { return s.cfg.WorkerID }

// Start creates the lease table if needed and starts taking leases.
func (s *Source) Start(ctx context.Context) error {
	s.startOnce.Do(func() {
		select {
		case <-s.closing:
			s.startErr = errors.New("start after close")
			return
		default:
		}
		if err := s.table.ensure(ctx); err != nil {
			s.startErr = err
			return
		}
		s.started.Store(true)
		s.wg.Go(s.coordinate)
	})
	return s.startErr
}

// Ready reports whether the lease table is usable.
func (s *Source) Ready() bool { return s.started.Load() }

// Read returns the next batch of any shard this instance holds. Its records
// have Raw and Origin set; Partition is the shard id.
func (s *Source) Read(ctx context.Context) (*flowlog.Batch, flowlog.AckFunc, error) {
	if err := s.Start(ctx); err != nil {
		return nil, nil, err
	}
	for {
		select {
		case d := <-s.out:
			if !d.h.tr.handout(d.tk) {
				// The lease was lost (its new owner reads this again) or a
				// nack came since: the reader reads it again after the
				// last acknowledged batch. Handing it out would only
				// deliver it twice.
				s.recycle(d.b, d.bytes)
				continue
			}
			ack := ackonce.Func(func(_ context.Context, err error) {
				d.h.tr.ack(d.tk, err == nil)
				s.recycle(d.b, d.bytes)
			})
			return d.b, ack, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-s.closing:
			return nil, nil, component.ErrEndOfInput
		}
	}
}

// Close stops reading, waits (until ctx is done, at most handoff_timeout,
// or failover_time when the hand-off is off) for the batches already handed
// out to be acknowledged, checkpoints what was acknowledged and releases
// the leases so other instances take them at once, from where delivery
// stopped. Leases this instance asked for and was not handed yet are given
// up. It is idempotent and safe before Start.
func (s *Source) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.startOnce.Do(func() { s.startErr = errors.New("closed") })
		if !s.started.Load() {
			s.stopRun()
			s.stopReaders()
			return
		}
		// The coordinator keeps renewing (and checkpointing) meanwhile.
		s.stopReaders()
		dctx, cancel := context.WithTimeout(ctx, s.cfg.drainTimeout())
		s.drain(dctx)
		cancel()
		s.stopRun()
		s.wg.Wait()
		s.closeErr = s.releaseAll(ctx)
	})
	return s.closeErr
}

// drain waits until the readers stopped and every batch they handed out
// was acknowledged, or ctx is done.
func (s *Source) drain(ctx context.Context) {
	for _, h := range s.heldList() {
		select {
		case <-h.done:
		case <-ctx.Done():
		}
		select {
		case <-h.tr.idle():
		case <-ctx.Done():
		}
	}
	n := 0
	for _, h := range s.heldList() {
		n += h.tr.inflight()
	}
	if n > 0 {
		s.log.Warn("closing with unacknowledged batches; they will be read again", "batches", n)
	}
}

// abandon stops everything without checkpointing or releasing, as a crash
// would (tests).
func (s *Source) abandon() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.stopReaders()
		s.stopRun()
		s.wg.Wait()
	})
}

// releaseAll checkpoints and releases every held lease.
func (s *Source) releaseAll(ctx context.Context) error {
	s.mu.Lock()
	hs := make([]*held, 0, len(s.held))
	for _, h := range s.held {
		hs = append(hs, h)
	}
	s.held = map[string]*held{}
	s.mu.Unlock()
	var errs []error
	for _, h := range hs {
		cp := s.pendingCheckpoint(h)
		h.tr.kill() // acks from now on are too late: their batches are read again
		err := s.table.renew(ctx, &h.l, cp, true)
		s.countOp("release", err)
		if err != nil && !errors.Is(err, errLeaseLost) {
			errs = append(errs, fmt.Errorf("release lease %s: %w", h.l.Key, err))
		}
		if err == nil && cp != nil {
			s.m.checkpoints.Inc()
		}
		s.m.lag.DeleteLabelValues(h.l.Key)
	}
	s.m.leasesHeld.Set(0)
	for key := range s.pending {
		err := s.table.abandonHandoff(ctx, key)
		s.countOp("handoff_abandon", err)
		if err != nil && !errors.Is(err, errLeaseLost) {
			errs = append(errs, fmt.Errorf("give up lease %s: %w", key, err))
		}
		delete(s.pending, key)
	}
	return errors.Join(errs...)
}

// pendingCheckpoint returns the checkpoint to write for h, nil when the
// table already holds it.
func (s *Source) pendingCheckpoint(h *held) *position {
	if h.tr.finished() {
		if h.written.Seq == cpShardEnd {
			return nil
		}
		return &position{Seq: cpShardEnd}
	}
	cp, ok := h.tr.checkpoint()
	if !ok || cp == h.written || cp == h.l.Checkpoint {
		return nil
	}
	return &cp
}
