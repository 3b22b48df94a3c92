package processor

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/vpcflow/vpcflow/processor/component"
)

// Run starts the components and moves data until every finite source is
// drained and delivered (nil), ctx is cancelled (nil, after the shutdown
// below), or a fatal error occurs (returned). It closes every component
// before returning.
//
// Shutdown takes one budget, ShutdownTimeout, counted from the moment ctx
// ends (or a fatal error stops the readers, or the last batch of finite
// sources is delivered):
//
//	[0, T-R)      stop reading; in-flight batches may still be delivered
//	[T-R, T-R/4)  stop hard: in-flight writes are cancelled and their
//	              batches nacked (the sources hand them out again), then
//	              sources, stages and sinks are closed, each getting what
//	              is left of this span
//	[T-R/4, T)    left to the caller, to flush its telemetry
//
// where T is ShutdownTimeout and R is ShutdownReserve(T). Run returns by
// T-R/4 as long as components honour their contexts; a component that does
// not is left behind with a logged error rather than holding the exit.
func (p *Pipeline) Run(ctx context.Context) error {
	hardCtx, hardCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hardCancel()
	readCtx, readCancel := context.WithCancel(ctx)
	defer readCancel()
	clk := newStopClock(p.cfg.ShutdownTimeout)
	defer clk.stop()
	stopWatch := context.AfterFunc(ctx, clk.start)
	defer stopWatch()

	// Start order: sinks, stages, sources (each only if it has Start).
	startFailed := func(where string, err error) error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.ShutdownTimeout)
		defer cancel()
		p.closeAll(cctx)
		return fmt.Errorf("%s: start: %w", where, err)
	}
	for _, id := range sortedKeys(p.sinks) {
		if s, ok := p.sinks[id].sink.(component.Starter); ok {
			if err := s.Start(hardCtx); err != nil {
				return startFailed(p.sinks[id].where, err)
			}
		}
	}
	for _, id := range p.order {
		if s, ok := p.stages[id].stage.(component.Starter); ok {
			if err := s.Start(hardCtx); err != nil {
				return startFailed(p.stages[id].where, err)
			}
		}
	}
	for _, sn := range p.sources {
		if s, ok := sn.src.(component.Starter); ok {
			if err := s.Start(hardCtx); err != nil {
				return startFailed(sn.where, err)
			}
		}
	}

	var wg sync.WaitGroup
	for i := range p.workers {
		ch := make(chan *job, 2)
		p.workers[i] = ch
		wg.Go(func() {
			for j := range ch {
				p.process(hardCtx, j)
			}
		})
	}
	var laneWG sync.WaitGroup
	for _, sn := range p.sinks {
		if !sn.ordered {
			continue
		}
		sn.lanes = make([]chan sinkJob, len(p.workers))
		for i := range sn.lanes {
			ch := make(chan sinkJob, p.cfg.MaxInFlight)
			sn.lanes[i] = ch
			laneWG.Go(func() {
				for sj := range ch {
					p.write(sj.ctx, sn, sj.b, sj.worker, sj.done)
				}
			})
		}
	}
	buffers := p.runBuffers(hardCtx)
	p.running.Store(true)

	var readers sync.WaitGroup
	for _, sn := range p.sources {
		readers.Go(func() { p.readLoop(readCtx, readCancel, sn) })
	}
	readersDone := make(chan struct{})
	go func() { readers.Wait(); close(readersDone) }()

	// Readers stop when the sources are drained, ctx ends or a fatal error
	// occurs. A source whose Read ignores ctx is given up at the drain
	// deadline.
	stopped := true
	select {
	case <-readersDone:
	case <-clk.drain:
		select {
		case <-readersDone:
		default:
			stopped = false
			p.log.Error("a source did not stop reading within shutdown_timeout; closing it", "timeout", p.cfg.ShutdownTimeout)
		}
	}
	if p.fatal() != nil {
		clk.start()
	}

	// Deliver what is in flight: until it is done when the sources are
	// drained, until the drain deadline once the clock runs.
	drained := make(chan struct{})
	if stopped {
		go func() { p.inflight.Wait(); p.waitBuffers(readCtx); close(drained) }()
		select {
		case <-drained:
		case <-clk.drain:
			select {
			case <-drained:
			default:
				p.log.Warn("shutdown_timeout reached; undelivered batches will be redelivered",
					"timeout", p.cfg.ShutdownTimeout, "batches_in_flight", len(p.sem))
			}
		}
	}
	clk.start()

	// Stop hard: cancelled writes return and nack their batches.
	hardCancel()
	clean := false
	if stopped {
		select {
		case <-drained:
			clean = true
		case <-clk.hard:
			p.log.Error("writes did not return after cancellation; stopping without them",
				"timeout", p.cfg.ShutdownTimeout, "batches_in_flight", len(p.sem))
		}
	}
	p.running.Store(false)
	// With the readers stopped nothing sends to the workers any more, and
	// once they are done nothing sends to the lanes: end both, waiting for
	// them unless a write is stuck (then they end whenever it returns).
	if stopped {
		finish := func() {
			for _, ch := range p.workers {
				close(ch)
			}
			wg.Wait()
			for _, sn := range p.sinks {
				for _, ch := range sn.lanes {
					close(ch)
				}
			}
			laneWG.Wait()
			buffers.Wait()
		}
		if clean {
			finish()
		} else {
			go finish()
		}
	}

	cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), clk.closeBy())
	defer cancel()
	err := p.closeAll(cctx)
	switch {
	case p.fatal() != nil:
		return p.fatal()
	case err != nil && ctx.Err() != nil:
		// Asked to stop: what could not be closed in time is redelivered.
		p.log.Warn("components not closed cleanly within shutdown_timeout; undelivered batches will be redelivered", "error", err)
		return nil
	}
	return err
}

// ShutdownReserve is the part of a shutdown budget of timeout kept for
// stopping hard, committing, closing and flushing telemetry once the drain
// ends: a quarter of it, at least 200ms (or half of a shorter budget) and at
// most 5s. With the default 30s the drain has 25s.
func ShutdownReserve(timeout time.Duration) time.Duration {
	r := min(timeout/4, 5*time.Second)
	if r < 200*time.Millisecond {
		r = min(200*time.Millisecond, timeout/2)
	}
	return r
}

// stopClock measures one shutdown budget from its start: drain is closed
// when the drain must end, hard when closing must end.
type stopClock struct {
	budget, reserve time.Duration
	drain, hard     chan struct{}

	mu      sync.Mutex
	at      time.Time // end of the budget; zero until started
	timers  []*time.Timer
	stopped bool
}

func newStopClock(budget time.Duration) *stopClock {
	return &stopClock{budget: budget, reserve: ShutdownReserve(budget), drain: make(chan struct{}), hard: make(chan struct{})}
}

// start starts the clock; later calls do nothing.
func (c *stopClock) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || !c.at.IsZero() {
		return
	}
	c.at = time.Now().Add(c.budget)
	c.timers = append(c.timers,
		time.AfterFunc(c.budget-c.reserve, func() { close(c.drain) }),
		time.AfterFunc(c.budget-c.reserve/4, func() { close(c.hard) }))
}

// closeBy is when closing must be done; the clock must have started.
func (c *stopClock) closeBy() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at.Add(-c.reserve / 4)
}

func (c *stopClock) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	for _, t := range c.timers {
		t.Stop()
	}
}

// setFatal keeps the first fatal error; Run returns it.
func (p *Pipeline) setFatal(err error) {
	p.fatalMu.Lock()
	if p.fatalErr == nil {
		p.fatalErr = err
	}
	p.fatalMu.Unlock()
}

func (p *Pipeline) fatal() error {
	p.fatalMu.Lock()
	defer p.fatalMu.Unlock()
	return p.fatalErr
}

// readLoop reads sn until it is drained, ctx ends or it fails (which stops
// every reader), taking an in-flight slot before each Read.
func (p *Pipeline) readLoop(ctx context.Context, stopAll context.CancelFunc, sn *sourceNode) {
	defer sn.done.Store(true)
	recIn := p.m.sourceRecords.WithLabelValues(sn.id)
	batches := p.m.sourceBatches.WithLabelValues(sn.id)
	for {
		// Backpressure: take an in-flight slot before reading.
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		b, ack, err := sn.src.Read(ctx)
		if err != nil {
			<-p.sem
			switch {
			case errors.Is(err, component.ErrEndOfInput):
				p.log.Info("source drained", "source", sn.id)
			case ctx.Err() != nil:
			default:
				p.setFatal(fmt.Errorf("%s: %w", sn.where, err))
				p.log.Error("source failed", "source", sn.id, "error", err)
				stopAll()
			}
			return
		}
		if b == nil {
			<-p.sem
			if ack != nil {
				_ = ack(ctx, nil)
			}
			continue
		}
		b.Source = sn.id
		if b.Read.IsZero() {
			b.Read = time.Now()
		}
		recIn.Add(float64(len(b.Records) + len(b.Failed)))
		batches.Inc()
		p.inflight.Add(1)
		p.m.inFlight.Inc()
		t := &tracker{p: p, src: sn, ack: ack, read: b.Read}
		t.n.Store(1)
		t.active.Store(1)
		w := int(maphash.String(p.seed, sn.id+"\x00"+b.Partition) % uint64(len(p.workers)))
		p.workers[w] <- &job{src: sn, b: b, t: t, worker: w}
	}
}

// closeAll closes sources, then stages, then sinks.
func (p *Pipeline) closeAll(ctx context.Context) error {
	if p.closed.Swap(true) {
		return nil
	}
	var errs []error
	for _, sn := range p.sources {
		if err := sn.src.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: close: %w", sn.where, err))
		}
	}
	for i := len(p.order) - 1; i >= 0; i-- {
		if st, ok := p.stages[p.order[i]]; ok {
			if c, ok := st.stage.(component.Closer); ok {
				if err := c.Close(ctx); err != nil {
					errs = append(errs, fmt.Errorf("%s: close: %w", st.where, err))
				}
			}
		}
	}
	for _, id := range sortedKeys(p.sinks) {
		s := p.sinks[id]
		// A spooling sink stores what it still holds into its buffer as it
		// closes: the buffer closes after it; other buffers before.
		closeBuf := func() {
			if s.buf != nil {
				if err := s.buf.Close(); err != nil {
					errs = append(errs, fmt.Errorf("%s: buffer: %w", s.where, err))
				}
			}
		}
		if s.spooler == nil {
			closeBuf()
		}
		if err := s.sink.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: close: %w", s.where, err))
		}
		if s.spooler != nil {
			closeBuf()
		}
	}
	return errors.Join(errs...)
}
