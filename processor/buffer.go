package processor

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/internal/sinkbuf"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// drainConcurrency is how many batches (frames of up to 2048 records, about
// 1 MB decoded each) a buffered sink's drain writes at once (one for an
// ordered sink): enough to keep the sink's own request concurrency busy and
// the decoding spread over the cores, so that draining after an outage is
// at least as fast as live delivery.
const drainConcurrency = 16

// bufferPut stores b in s's buffer. failed is called when the put fails
// or drops the batch; stored is what the buffer calls (disk: once fsynced;
// memory: once delivered); park, if set, runs once a memory buffer holds
// the batch.
func (p *Pipeline) bufferPut(ctx context.Context, s *sinkNode, b *flowlog.Batch, failed, stored func(error), park func()) {
	err := s.buf.Put(ctx, b, stored)
	switch {
	case err == nil:
		if park != nil {
			park()
		}
	case errors.Is(err, sinkbuf.ErrFull):
		s.bufferFull(batchLen(b))
		failed(nil)
	default:
		s.limiter.Error("cannot write to the sink buffer; the batch is not acknowledged and will be read again", "error", err)
		failed(err)
	}
}

// bufferFull counts and logs n records a full buffer dropped (when_full:
// drop_newest).
func (s *sinkNode) bufferFull(n int) {
	s.bufDropped.Add(float64(n))
	s.limiter.Warn("sink buffer full; newest records dropped (when_full: drop_newest)", "records", n,
		"buffer_bytes", s.buf.Stats().Bytes)
}

// runBuffers starts a drain for each buffered sink; they stop when ctx
// ends, each closing its buffer (a memory buffer nacks what it holds).
func (p *Pipeline) runBuffers(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, s := range p.sinks {
		if s.buf != nil {
			wg.Go(func() { p.drain(ctx, s) })
		}
	}
	return &wg
}

// drain delivers s's buffer to its sink in order, several batches at once
// (one for an ordered sink), with the engine's retries, dead letter and
// on_rejected handling.
func (p *Pipeline) drain(ctx context.Context, s *sinkNode) {
	if s.spooler == nil {
		// A spooling sink stores into its buffer until it is closed:
		// closeAll closes the buffer after it.
		defer s.buf.Close()
	}
	n := drainConcurrency
	if s.ordered {
		n = 1
	}
	slots := make(chan struct{}, n)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		it, err := s.buf.Take(ctx)
		if err != nil {
			<-slots
			return
		}
		wg.Add(1)
		if s.spooler != nil {
			go p.sendStored(ctx, s, it, func() { <-slots; wg.Done() })
			continue
		}
		go func() {
			// Frames are read back and decoded on the writers' goroutines,
			// in parallel; the order of taking them is the buffer's.
			b, err := s.buf.Load(it)
			if err != nil {
				<-slots
				wg.Done()
				return
			}
			s.pending.Add(1)
			p.write(ctx, s, b, 0, func(err error) {
				s.buf.Done(it, err)
				s.buf.Release(b)
				<-slots
				wg.Done()
			})
		}()
	}
}

// waitBuffers waits until every disk buffer is empty (after the sources
// are drained, so that a finite run ends once its records are delivered),
// or ctx ends. Memory buffers are covered by the in-flight batches.
func (p *Pipeline) waitBuffers(ctx context.Context) {
	for _, s := range p.sinks {
		if s.buf != nil {
			_ = s.buf.WaitEmpty(ctx)
		}
	}
}

// bufferCollector exports the buffer gauges, read at scrape time.
type bufferCollector struct {
	bytes, records, oldest, max *prometheus.Desc
	sinks                       func() map[string]*sinkNode
}

func newBufferCollector(sinks func() map[string]*sinkNode) *bufferCollector {
	return &bufferCollector{
		bytes: prometheus.NewDesc("vpcflow_sink_buffer_bytes",
			"Bytes a sink's buffer holds: ready copies and frames (compressed past an eighth of max_bytes) in memory, or segment files on disk.", []string{"sink"}, nil),
		records: prometheus.NewDesc("vpcflow_sink_buffer_records",
			"Records in a sink's buffer not yet delivered.", []string{"sink"}, nil),
		oldest: prometheus.NewDesc("vpcflow_sink_buffer_oldest_seconds",
			"Age of the oldest record in a sink's buffer (0 when empty).", []string{"sink"}, nil),
		max: prometheus.NewDesc("vpcflow_sink_buffer_max_bytes",
			"A sink buffer's max_bytes.", []string{"sink"}, nil),
		sinks: sinks,
	}
}

func (c *bufferCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.bytes
	ch <- c.records
	ch <- c.oldest
	ch <- c.max
}

func (c *bufferCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for id, s := range c.sinks() {
		if s.buf == nil {
			continue
		}
		st := s.buf.Stats()
		age := 0.0
		if !st.Oldest.IsZero() {
			age = now.Sub(st.Oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(st.Bytes), id)
		ch <- prometheus.MustNewConstMetric(c.records, prometheus.GaugeValue, float64(st.Records), id)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, id)
		ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(st.Max), id)
	}
}
