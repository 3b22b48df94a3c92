package processor

import (
	"context"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/vpcflow/vpcflow/internal/sinkbuf"
	"github.com/vpcflow/vpcflow/processor/component"
)

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
		where := componentRef("sinks", id, cc.Type)
		s, err := f.Sinks[cc.Type].Create(ctx, g.sinkCfg[id], settingsFor(id))
		if err != nil {
			return fail(fmt.Errorf("%s: %w", where, err))
		}
		sn := &sinkNode{
			id: id, where: where, sink: s, span: "sink " + id,
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
		if cc.Buffer != nil {
			if sn.buf, err = sinkbuf.Open(*cc.Buffer, id, sn.log); err != nil {
				return fail(fmt.Errorf("%s: buffer: %w", where, err))
			}
			sn.bufDropped = m.bufferDropped.WithLabelValues(id)
			if sp, ok := s.(component.Spooler); ok && sn.buf.Durable() {
				sn.spooler = sp
				sp.Spool(sinkSpool{p: p, s: sn})
			}
		}
	}
	for id, sn := range p.sinks {
		if dl := cfg.Sinks[id].DeadLetter; dl != "" {
			sn.deadLetter = p.sinks[dl]
		}
		sn.onRejected = cfg.Sinks[id].OnRejected
		if sn.onRejected == "" {
			sn.onRejected = OnRejectedBlock
		}
	}
	sinks := p.sinks
	if err := cs.Registerer.Register(newBlockedCollector(func() map[string]*sinkNode { return sinks })); err != nil {
		return fail(fmt.Errorf("engine metrics: %w", err))
	}
	if err := cs.Registerer.Register(newBufferCollector(func() map[string]*sinkNode { return sinks })); err != nil {
		return fail(fmt.Errorf("engine metrics: %w", err))
	}
	for _, id := range g.stageOrder {
		cc := cfg.Stages[id]
		where := componentRef("stages", id, cc.Type)
		st, err := f.Stages[cc.Type].Create(ctx, g.stageCfg[id], settingsFor(id))
		if err != nil {
			return fail(fmt.Errorf("%s: %w", where, err))
		}
		p.stages[id] = &stageNode{
			id: id, where: where, stage: st, span: "stage " + id,
			in:   m.stageIn.WithLabelValues(id),
			out:  m.stageOut.WithLabelValues(id),
			drop: m.stageDropped.WithLabelValues(id),
			fail: m.stageFailed.WithLabelValues(id),
			dur:  m.stageDuration.WithLabelValues(id),

			retries: m.stageRetries.WithLabelValues(id),
			limiter: component.NewRateLimitedLogger(cs.Logger.With("component", id), time.Second),
		}
	}
	for _, id := range sortedKeys(cfg.Sources) {
		cc := cfg.Sources[id]
		where := componentRef("sources", id, cc.Type)
		src, err := f.Sources[cc.Type].Create(ctx, g.srcCfg[id], settingsFor(id))
		if err != nil {
			return fail(fmt.Errorf("%s: %w", where, err))
		}
		sn := &sourceNode{id: id, where: where, src: src, span: "batch " + id,
			ok: m.acks.WithLabelValues(id, "ok"), nack: m.acks.WithLabelValues(id, "nack")}
		sn.root = p.plan(id, nil, g)
		p.sources = append(p.sources, sn)
	}
	if err := p.initTaps(cs.Registerer); err != nil {
		return fail(fmt.Errorf("engine metrics: %w", err))
	}
	return p, nil
}

// componentRef is how the engine names a component in the errors it
// wraps: "sources.<id> (<type>)", the form config errors use too.
func componentRef(section, id, typ string) string {
	return section + "." + id + " (" + typ + ")"
}

// plan unrolls the graph below id into a tree of the stages and sinks that
// consume it.
func (p *Pipeline) plan(id string, st *stageNode, g *graph) *planNode {
	n := &planNode{id: id, stage: st, discarded: p.m.errorsDiscarded.WithLabelValues(id),
		errLog: component.NewRateLimitedLogger(p.log.With("component", id), 10*time.Second)}
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
