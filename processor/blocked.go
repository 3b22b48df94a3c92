package processor

import (
	"errors"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/processor/component"
)

// OnRejected values: what a sink with no dead_letter does with records its
// destination refused for what they are (HTTP 400, 413 alone, 422).
const (
	// OnRejectedBlock retries them (with capped backoff) and reports the
	// sink blocked; nothing is committed past them. The default.
	OnRejectedBlock = "block"
	// OnRejectedDrop counts them in vpcflow_sink_records_failed_total, logs
	// them (rate limited) and acknowledges them.
	OnRejectedDrop = "drop"
)

// blockState is the part of a sink node that says whether the engine is
// retrying one of its writes.
type blockState struct {
	blocked     atomic.Int32 // writes the engine is retrying
	blockReason atomic.Pointer[string]
}

func (s *blockState) setBlockReason(r string) { s.blockReason.Store(&r) }

// blockedErr says why s cannot deliver: the engine is retrying its writes,
// or the sink reports that its destination blocks it; nil otherwise.
func (s *sinkNode) blockedErr() error {
	if s.blocked.Load() > 0 {
		if r := s.blockReason.Load(); r != nil {
			return errors.New(*r)
		}
		return errors.New("writes are being retried")
	}
	if b, ok := s.sink.(component.Blocker); ok {
		return b.Blocked()
	}
	return nil
}

// blockedCollector exports vpcflow_sink_blocked{sink}: 1 while a sink
// cannot deliver because of its destination (or refused records it must
// keep retrying), read at scrape time.
type blockedCollector struct {
	desc  *prometheus.Desc
	sinks func() map[string]*sinkNode
}

func newBlockedCollector(sinks func() map[string]*sinkNode) *blockedCollector {
	return &blockedCollector{
		desc: prometheus.NewDesc("vpcflow_sink_blocked",
			"1 while a sink cannot deliver: its destination refuses or fails every try (401, 403, 5xx, network), or records it refused are retried (on_rejected: block).",
			[]string{"sink"}, nil),
		sinks: sinks,
	}
}

func (c *blockedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *blockedCollector) Collect(ch chan<- prometheus.Metric) {
	for id, s := range c.sinks() {
		v := 0.0
		if s.blockedErr() != nil {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, id)
	}
}
