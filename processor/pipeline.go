package processor

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Settings is what the caller injects into the engine.
type Settings struct {
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
	TracerProvider trace.TracerProvider
}

// Pipeline is a built stage graph, ready to Run.
type Pipeline struct {
	cfg    *Config
	log    *slog.Logger
	m      *metrics
	tracer trace.Tracer

	sources []*sourceNode
	stages  map[string]*stageNode
	sinks   map[string]*sinkNode
	order   []string // stage ids, topological

	workers  []chan *job
	sem      chan struct{}
	inflight sync.WaitGroup
	seed     maphash.Seed

	running  atomic.Bool
	fatalMu  sync.Mutex
	fatalErr error
	closed   atomic.Bool
}

type sourceNode struct {
	id   string
	span string // span name, "batch <id>"
	ok   prometheus.Counter
	nack prometheus.Counter
	src  component.Source
	root *planNode
	done atomic.Bool
}

type stageNode struct {
	id    string
	span  string // span name, "stage <id>"
	stage component.Stage
	in    prometheus.Counter
	out   prometheus.Counter
	drop  prometheus.Counter
	fail  prometheus.Counter
	dur   prometheus.Observer
}

type sinkNode struct {
	id         string
	span       string // span name, "sink <id>"
	sink       component.Sink
	deadLetter *sinkNode
	ordered    bool
	lanes      []chan sinkJob

	pending  atomic.Int64
	lastDone atomic.Int64 // unix nanos

	delivered prometheus.Counter
	failed    prometheus.Counter
	dead      prometheus.Counter
	retries   prometheus.Counter
	dur       prometheus.Observer
	log       *slog.Logger
	limiter   *component.RateLimitedLogger
}

// planNode is one step of a source's unrolled graph.
type planNode struct {
	id       string
	stage    *stageNode // nil for the source itself
	children []*planNode
	sinks    []*sinkNode
	errSinks []*sinkNode
}

type job struct {
	src    *sourceNode
	b      *flowlog.Batch
	t      *tracker
	worker int
}

type sinkJob struct {
	b   *flowlog.Batch
	t   *tracker
	ctx context.Context
}

// Build checks cfg and creates every component: sinks first, then stages,
// then sources. On error, what was created is closed again.
func Build(ctx context.Context, cfg *Config, f Factories, set Settings) (*Pipeline, error) {
	g, err := check(cfg, f)
	if err != nil {
		return nil, err
	}
	cs := component.Settings{Logger: set.Logger, Registerer: set.Registerer, TracerProvider: set.TracerProvider}.Normalize()
	m, err := newMetrics(cs.Registerer)
	if err != nil {
		return nil, fmt.Errorf("engine metrics: %w", err)
	}
	p := &Pipeline{
		cfg:     cfg,
		log:     cs.Logger,
		m:       m,
		tracer:  cs.TracerProvider.Tracer("github.com/vpcflow/vpcflow/processor"),
		stages:  map[string]*stageNode{},
		sinks:   map[string]*sinkNode{},
		order:   g.stageOrder,
		sem:     make(chan struct{}, cfg.MaxInFlight),
		seed:    maphash.MakeSeed(),
		workers: make([]chan *job, cfg.Workers),
	}
	settingsFor := func(id string) component.Settings {
		s := cs
		s.ID = id
		s.Logger = cs.Logger.With("component", id)
		return s
	}
	fail := func(err error) (*Pipeline, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		p.closeAll(cctx)
		return nil, err
	}
	for _, id := range sortedKeys(cfg.Sinks) {
		cc := cfg.Sinks[id]
		s, err := f.Sinks[cc.Type].Create(ctx, g.sinkCfg[id], settingsFor(id))
		if err != nil {
			return fail(fmt.Errorf("sinks.%s (%s): %w", id, cc.Type, err))
		}
		sn := &sinkNode{
			id: id, sink: s, span: "sink " + id,
			delivered: m.sinkDelivered.WithLabelValues(id),
			failed:    m.sinkFailed.WithLabelValues(id),
			dead:      m.sinkDeadLettered.WithLabelValues(id),
			retries:   m.sinkWriteRetries.WithLabelValues(id),
			dur:       m.sinkWriteSeconds.WithLabelValues(id),
			log:       cs.Logger.With("sink", id),
		}
		sn.limiter = component.NewRateLimitedLogger(sn.log, time.Second)
		sn.lastDone.Store(time.Now().UnixNano())
		if o, ok := s.(component.Ordered); ok && o.Ordered() {
			sn.ordered = true
		}
		p.sinks[id] = sn
	}
	for id, sn := range p.sinks {
		if dl := cfg.Sinks[id].DeadLetter; dl != "" {
			sn.deadLetter = p.sinks[dl]
		}
	}
	for _, id := range g.stageOrder {
		cc := cfg.Stages[id]
		st, err := f.Stages[cc.Type].Create(ctx, g.stageCfg[id], settingsFor(id))
		if err != nil {
			return fail(fmt.Errorf("stages.%s (%s): %w", id, cc.Type, err))
		}
		p.stages[id] = &stageNode{
			id: id, stage: st, span: "stage " + id,
			in:   m.stageIn.WithLabelValues(id),
			out:  m.stageOut.WithLabelValues(id),
			drop: m.stageDropped.WithLabelValues(id),
			fail: m.stageFailed.WithLabelValues(id),
			dur:  m.stageDuration.WithLabelValues(id),
		}
	}
	for _, id := range sortedKeys(cfg.Sources) {
		cc := cfg.Sources[id]
		src, err := f.Sources[cc.Type].Create(ctx, g.srcCfg[id], settingsFor(id))
		if err != nil {
			return fail(fmt.Errorf("sources.%s (%s): %w", id, cc.Type, err))
		}
		sn := &sourceNode{id: id, src: src, span: "batch " + id,
			ok: m.acks.WithLabelValues(id, "ok"), nack: m.acks.WithLabelValues(id, "nack")}
		sn.root = p.plan(id, nil, g)
		p.sources = append(p.sources, sn)
	}
	return p, nil
}

func (p *Pipeline) plan(id string, st *stageNode, g *graph) *planNode {
	n := &planNode{id: id, stage: st}
	for _, c := range g.consumers[id] {
		if s, ok := p.stages[c]; ok {
			n.children = append(n.children, p.plan(c, s, g))
		} else if s, ok := p.sinks[c]; ok {
			n.sinks = append(n.sinks, s)
		}
	}
	for _, c := range g.consumers[id+".errors"] {
		n.errSinks = append(n.errSinks, p.sinks[c])
	}
	return n
}

var errShutdown = errors.New("pipeline shutting down")

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
				return fmt.Errorf("sinks.%s: start: %w", id, err)
			}
		}
	}
	for _, id := range p.order {
		if s, ok := p.stages[id].stage.(component.Starter); ok {
			if err := s.Start(hardCtx); err != nil {
				p.closeAll(hardCtx)
				return fmt.Errorf("stages.%s: start: %w", id, err)
			}
		}
	}
	for _, sn := range p.sources {
		if s, ok := sn.src.(component.Starter); ok {
			if err := s.Start(hardCtx); err != nil {
				p.closeAll(hardCtx)
				return fmt.Errorf("sources.%s: start: %w", sn.id, err)
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
					p.write(sj.ctx, sn, sj.b, sj.t)
				}
			})
		}
	}
	p.running.Store(true)

	var readers sync.WaitGroup
	for _, sn := range p.sources {
		readers.Go(func() { p.readLoop(readCtx, readCancel, sn) })
	}
	readers.Wait()

	// Every reader stopped: the sources are drained, ctx was cancelled or a
	// fatal error occurred. Deliver what is in flight.
	drained := make(chan struct{})
	go func() { p.inflight.Wait(); close(drained) }()
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

	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.ShutdownTimeout)
	defer cancel()
	if err := p.closeAll(cctx); err != nil && p.fatal() == nil {
		return err
	}
	return p.fatal()
}

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
				p.setFatal(fmt.Errorf("sources.%s: %w", sn.id, err))
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
		w := int(maphash.String(p.seed, sn.id+"\x00"+b.Partition) % uint64(len(p.workers)))
		p.workers[w] <- &job{src: sn, b: b, t: t, worker: w}
	}
}

// tracker counts the outstanding deliveries of one source batch and acks
// it when the last one finishes.
type tracker struct {
	p    *Pipeline
	src  *sourceNode
	ack  flowlog.AckFunc
	read time.Time
	n    atomic.Int32
	err  atomic.Pointer[error]
	span trace.Span
}

func (t *tracker) add() { t.n.Add(1) }

// setErr records err so the batch is nacked when its last delivery ends.
func (t *tracker) setErr(err error) { t.err.CompareAndSwap(nil, &err) }

func (t *tracker) done(err error) {
	if err != nil {
		t.err.CompareAndSwap(nil, &err)
	}
	if t.n.Add(-1) != 0 {
		return
	}
	var ackErr error
	if e := t.err.Load(); e != nil {
		ackErr = *e
	}
	if t.ack != nil {
		if err := t.ack(context.Background(), ackErr); err != nil {
			t.p.log.Warn("acknowledgement failed", "source", t.src.id, "error", err)
		}
	}
	if t.span != nil {
		if ackErr != nil {
			t.span.SetStatus(codes.Error, ackErr.Error())
		}
		t.span.End()
	}
	if ackErr != nil {
		t.src.nack.Inc()
	} else {
		t.src.ok.Inc()
	}
	t.p.m.latency.Observe(time.Since(t.read).Seconds())
	t.p.m.inFlight.Dec()
	<-t.p.sem
	t.p.inflight.Done()
}

func (p *Pipeline) process(ctx context.Context, j *job) {
	b := j.b
	sctx, span := p.tracer.Start(ctx, j.src.span,
		trace.WithLinks(trace.Link{SpanContext: b.Span}),
		trace.WithAttributes(attribute.String("vpcflow.source", j.src.id), attribute.String("vpcflow.partition", b.Partition),
			attribute.Int("vpcflow.records", len(b.Records))))
	if span.IsRecording() {
		j.t.span = span
	} else {
		span.End()
	}
	if len(b.Failed) > 0 {
		p.m.sourceFailed.WithLabelValues(j.src.id).Add(float64(len(b.Failed)))
	}
	p.walk(sctx, j, j.src.root, b)
	j.t.done(nil)
}

// walk runs node's stage on b, routes its failures, then feeds children
// and sinks.
func (p *Pipeline) walk(ctx context.Context, j *job, n *planNode, b *flowlog.Batch) {
	if st := n.stage; st != nil {
		in := len(b.Records)
		b.Failed = b.Failed[:0]
		sctx, span := p.tracer.Start(ctx, st.span)
		start := time.Now()
		err := st.stage.Process(sctx, b)
		st.dur.Observe(time.Since(start).Seconds())
		span.End()
		if err != nil {
			j.t.setErr(fmt.Errorf("stages.%s: %w", st.id, err))
			return
		}
		out, failed := len(b.Records), len(b.Failed)
		st.in.Add(float64(in))
		st.out.Add(float64(out))
		if failed > 0 {
			st.fail.Add(float64(failed))
		}
		if d := in - out - failed; d > 0 {
			st.drop.Add(float64(d))
		}
	}
	if len(b.Failed) > 0 {
		if len(n.errSinks) > 0 {
			eb := &flowlog.Batch{Source: b.Source, Partition: b.Partition, Read: b.Read, Span: b.Span,
				Failed: append([]flowlog.Failure(nil), b.Failed...)}
			for _, s := range n.errSinks {
				p.deliver(ctx, j, s, eb)
			}
		} else {
			p.m.errorsDiscarded.WithLabelValues(n.id).Add(float64(len(b.Failed)))
		}
		b.Failed = b.Failed[:0]
	}
	if len(b.Records) == 0 {
		return
	}
	for i, c := range n.children {
		cb := b
		if i < len(n.children)-1 || len(n.sinks) > 0 {
			cb = cloneBatch(b)
		}
		p.walk(ctx, j, c, cb)
	}
	for _, s := range n.sinks {
		p.deliver(ctx, j, s, b)
	}
}

func cloneBatch(b *flowlog.Batch) *flowlog.Batch {
	c := *b
	c.Records = append([]flowlog.Record(nil), b.Records...)
	c.Failed = nil
	return &c
}

func (p *Pipeline) deliver(ctx context.Context, j *job, s *sinkNode, b *flowlog.Batch) {
	j.t.add()
	s.pending.Add(1)
	if s.ordered {
		s.lanes[j.worker] <- sinkJob{b: b, t: j.t, ctx: ctx}
		return
	}
	go p.write(ctx, s, b, j.t)
}

func batchLen(b *flowlog.Batch) int {
	if len(b.Records) > 0 {
		return len(b.Records)
	}
	return len(b.Failed)
}

func (p *Pipeline) write(ctx context.Context, s *sinkNode, b *flowlog.Batch, t *tracker) {
	start := time.Now()
	sctx, span := p.tracer.Start(ctx, s.span, trace.WithAttributes(attribute.Int("vpcflow.records", batchLen(b))))
	err := p.writeRetrying(sctx, s, b)
	n := float64(batchLen(b))
	switch {
	case err == nil:
		s.delivered.Add(n)
	case component.IsPermanent(err):
		if dl := s.deadLetter; dl != nil {
			dl.pending.Add(1)
			err2 := p.writeRetrying(sctx, dl, b)
			dl.pending.Add(-1)
			dl.lastDone.Store(time.Now().UnixNano())
			switch {
			case err2 == nil:
				s.dead.Add(n)
				dl.delivered.Add(n)
				s.limiter.Warn("batch failed permanently; sent to dead letter", "dead_letter", dl.id, "records", int(n), "error", err)
				err = nil
			case component.IsPermanent(err2):
				s.failed.Add(n)
				s.limiter.Error("batch failed permanently and so did its dead letter; records dropped", "dead_letter", dl.id, "records", int(n), "error", err, "dead_letter_error", err2)
				err = nil
			default:
				err = err2
			}
		} else {
			s.failed.Add(n)
			s.limiter.Error("batch failed permanently; no dead_letter configured, records counted as failed", "records", int(n), "error", err)
			err = nil
		}
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	s.dur.Observe(time.Since(start).Seconds())
	s.pending.Add(-1)
	s.lastDone.Store(time.Now().UnixNano())
	t.done(err)
}

// writeRetrying calls Write until it succeeds, fails permanently, or ctx
// ends (then the batch is nacked and redelivered by its source).
func (p *Pipeline) writeRetrying(ctx context.Context, s *sinkNode, b *flowlog.Batch) error {
	backoff := 100 * time.Millisecond
	for {
		err := s.sink.Write(ctx, b)
		if err == nil || component.IsPermanent(err) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		s.retries.Inc()
		s.limiter.Warn("sink write failed; retrying", "error", err, "backoff", backoff)
		d := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return err
		}
		backoff = min(backoff*2, 10*time.Second)
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
			errs = append(errs, fmt.Errorf("sources.%s: close: %w", sn.id, err))
		}
	}
	for i := len(p.order) - 1; i >= 0; i-- {
		if st, ok := p.stages[p.order[i]]; ok {
			if c, ok := st.stage.(component.Closer); ok {
				if err := c.Close(ctx); err != nil {
					errs = append(errs, fmt.Errorf("stages.%s: close: %w", st.id, err))
				}
			}
		}
	}
	for _, id := range sortedKeys(p.sinks) {
		if err := p.sinks[id].sink.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sinks.%s: close: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// Ready reports nil once the graph runs and every source that can tell
// says it is connected.
func (p *Pipeline) Ready() error {
	if !p.running.Load() {
		return errors.New("pipeline not running")
	}
	for _, sn := range p.sources {
		if r, ok := sn.src.(component.Readier); ok && !r.Ready() && !sn.done.Load() {
			return fmt.Errorf("source %s not ready", sn.id)
		}
	}
	return nil
}

// Healthy reports an error when the pipeline failed or a sink has had
// writes pending with no progress for longer than StuckAfter.
func (p *Pipeline) Healthy() error {
	if err := p.fatal(); err != nil {
		return err
	}
	for _, sn := range p.sources {
		if h, ok := sn.src.(component.Healther); ok {
			if err := h.Healthy(); err != nil {
				return fmt.Errorf("source %s: %w", sn.id, err)
			}
		}
	}
	for _, id := range p.order {
		if h, ok := p.stages[id].stage.(component.Healther); ok {
			if err := h.Healthy(); err != nil {
				return fmt.Errorf("stage %s: %w", id, err)
			}
		}
	}
	now := time.Now()
	for _, id := range sortedKeys(p.sinks) {
		if h, ok := p.sinks[id].sink.(component.Healther); ok {
			if err := h.Healthy(); err != nil {
				return fmt.Errorf("sink %s: %w", id, err)
			}
		}
		s := p.sinks[id]
		if s.pending.Load() == 0 {
			continue
		}
		last := s.lastDone.Load()
		if last == 0 {
			continue
		}
		if d := now.Sub(time.Unix(0, last)); d > p.cfg.StuckAfter {
			return fmt.Errorf("sink %s stuck: %d writes pending, none finished for %s", id, s.pending.Load(), d.Round(time.Second))
		}
	}
	return nil
}
