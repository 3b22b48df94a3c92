// Package streamfilter implements the `log_stream_filter` stage: it keeps
// only records that came in CloudWatch Logs envelopes whose log stream (or
// log group) starts with one of the configured prefixes, compared without
// regard to case. It replaces the Sumo Logic Lambda's LOG_STREAM_PREFIX.
//
// Records that did not come in a CloudWatch Logs envelope (files, S3
// objects, plain Kafka lines) have no log stream: they are kept unless
// drop_without_stream is set.
package streamfilter

import (
	"context"
	"errors"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// NewFactory returns the factory of the `log_stream_filter` stage.
func NewFactory() component.StageFactory {
	return component.StageFactory{
		Type:             "log_stream_filter",
		NewDefaultConfig: func() any { return NewDefaultConfig() },
		Create: func(_ context.Context, cfg any, set component.Settings) (component.Stage, error) {
			c, err := component.ConfigAs[Config]("log_stream_filter", cfg)
			if err != nil {
				return nil, err
			}
			return New(*c, set)
		},
	}
}

// Stage filters records by their CloudWatch Logs origin.
type Stage struct {
	cfg     Config
	streams []string
	groups  []string
	dropped *prometheus.CounterVec
}

// New builds the stage.
func New(cfg Config, set component.Settings) (*Stage, error) {
	set = set.Normalize()
	s := &Stage{cfg: cfg}
	for _, p := range cfg.LogStreamPrefixes {
		s.streams = append(s.streams, strings.ToLower(p))
	}
	for _, p := range cfg.LogGroupPrefixes {
		s.groups = append(s.groups, strings.ToLower(p))
	}
	s.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vpcflow_log_stream_filter_dropped_total",
		Help: "Records the log_stream_filter stage dropped, by reason: stream, group, no_stream.",
	}, []string{"stage", "reason"})
	var errs []error
	s.dropped = component.Register(set.Registerer, s.dropped, &errs)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s.dropped = s.dropped.MustCurryWith(prometheus.Labels{"stage": set.ID})
	return s, nil
}

func hasPrefixFold(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			return true
		}
	}
	return false
}

// decision caches the verdict per origin within a batch (records of one
// envelope share their Origin).
func (s *Stage) keep(o *flowlog.Origin) (bool, string) {
	if o == nil || (o.LogStream == "" && o.LogGroup == "") {
		if s.cfg.DropWithoutStream {
			return false, "no_stream"
		}
		return true, ""
	}
	if len(s.streams) > 0 && !hasPrefixFold(o.LogStream, s.streams) {
		return false, "stream"
	}
	if len(s.groups) > 0 && !hasPrefixFold(o.LogGroup, s.groups) {
		return false, "group"
	}
	return true, ""
}

// Process drops the records of envelopes whose stream or group does not
// match.
func (s *Stage) Process(_ context.Context, b *flowlog.Batch) error {
	var last *flowlog.Origin
	var keep bool
	var reason string
	counts := map[string]int{}
	kept := b.Records[:0]
	for i := range b.Records {
		r := &b.Records[i]
		if r.Origin != last || i == 0 {
			last = r.Origin
			keep, reason = s.keep(r.Origin)
		}
		if keep {
			kept = append(kept, *r)
		} else {
			counts[reason]++
		}
	}
	clear(b.Records[len(kept):])
	b.Records = kept
	for k, n := range counts {
		s.dropped.WithLabelValues(k).Add(float64(n))
	}
	return nil
}
