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
// drained and delivered (nil), ctx is cancelled (drain within
// ShutdownTimeout, then nil), or a fatal error occurs (returned). It
// closes every component before returning.
func (p *Pipeline) Run(ctx context.Context) error {
	hardCtx, hardCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hardCancel()
	readCtx, readCancel := context.WithCancel(ctx)
	defer readCancel()

	// Start order: sinks, stages, sources (each only if it has Start).
	for _, id := range sortedKeys(p.sinks) {
		if s, ok := p.sinks[id].sink.(component.Starter); ok {
			if err := s.Start(hardCtx); err != nil {
				p.closeAll(hardCtx)
				return fmt.Errorf("%s: start: %w", p.sinks[id].where, err)
			}
		}
	}
	for _, id := range p.order {
		if s, ok := p.stages[id].stage.(component.Starter); ok {
			if err := s.Start(hardCtx); err != nil {
				p.closeAll(hardCtx)
				return fmt.Errorf("%s: start: %w", p.stages[id].where, err)
			}
		}
	}
	for _, sn := range p.sources {
		if s, ok := sn.src.(component.Starter); ok {
			if err := s.Start(hardCtx); err != nil {
				p.closeAll(hardCtx)
				return fmt.Errorf("%s: start: %w", sn.where, err)
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
	readers.Wait()

	// Every reader stopped: the sources are drained, ctx was cancelled or a
	// fatal error occurred. Deliver what is in flight.
	drained := make(chan struct{})
	go func() { p.inflight.Wait(); p.waitBuffers(readCtx); close(drained) }()
	if p.fatal() == nil {
		select {
		case <-drained:
		case <-ctx.Done():
			select {
			case <-drained:
			case <-time.After(p.cfg.ShutdownTimeout):
				p.log.Warn("shutdown timeout reached; unacknowledged batches will be redelivered",
					"timeout", p.cfg.ShutdownTimeout, "batches_in_flight", len(p.sem))
			}
		}
	} else {
		select {
		case <-drained:
		case <-time.After(p.cfg.ShutdownTimeout):
		}
	}
	hardCancel()
	<-drained
	p.running.Store(false)
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

	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.ShutdownTimeout)
	defer cancel()
	if err := p.closeAll(cctx); err != nil && p.fatal() == nil {
		return err
	}
	return p.fatal()
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
		if b := p.sinks[id].buf; b != nil {
			if err := b.Close(); err != nil {
				errs = append(errs, fmt.Errorf("%s: buffer: %w", p.sinks[id].where, err))
			}
		}
		if err := p.sinks[id].sink.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: close: %w", p.sinks[id].where, err))
		}
	}
	return errors.Join(errs...)
}
