package parse

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// maxLoggedLine bounds how much of a bad line a log message repeats.
const maxLoggedLine = 256

// Stage is the parse_flowlog stage. It is safe for concurrent use.
type Stage struct {
	id      string
	format  *Format // nil in auto mode
	log     *component.RateLimitedLogger
	metrics *metrics
}

var _ component.Stage = (*Stage)(nil)

// NewStage builds the stage from a validated config.
func NewStage(cfg Config, set component.Settings) (*Stage, error) {
	set = set.Normalize()
	s := &Stage{id: set.ID, log: component.NewRateLimitedLogger(set.Logger, time.Second)}
	if cfg.Format != FormatAuto {
		f, err := Compile(cfg.Format)
		if err != nil {
			return nil, fmt.Errorf("format: %w", err)
		}
		s.format = f
	}
	m, err := newMetrics(set.Registerer, set.ID)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	return s, nil
}

// Process parses every record of b in place. Header lines are dropped (in
// auto mode their format is stored in the record's Origin first); lines
// that do not parse move to b.Failed. The remaining records keep their
// order.
func (s *Stage) Process(_ context.Context, b *flowlog.Batch) error {
	out := 0
	for i := range b.Records {
		r := &b.Records[i]
		if IsHeader(r.Raw) {
			s.header(b, r)
			continue
		}
		f := s.format
		if f == nil {
			f = originFormat(r.Origin)
		}
		if err := f.Parse(r); err != nil {
			s.fail(b, r, err, reasonOf(err))
			continue
		}
		if out != i {
			b.Records[out] = *r
		}
		out++
	}
	clear(b.Records[out:])
	b.Records = b.Records[:out]
	return nil
}

// originFormat returns the format an auto-mode input announced in its
// header line, or the default format.
func originFormat(o *flowlog.Origin) *Format {
	if o != nil {
		if f, ok := o.Format.Load().(*Format); ok && f != nil {
			return f
		}
	}
	return defaultFormat
}

func (s *Stage) header(b *flowlog.Batch, r *flowlog.Record) {
	s.metrics.headers.Inc()
	if s.format != nil || r.Origin == nil {
		return
	}
	f, err := ParseHeader(r.Raw)
	if err != nil {
		// A header naming a field twice: the input's lines cannot be read.
		s.fail(b, r, &ParseError{Err: err}, "header")
		return
	}
	r.Origin.Format.Store(f)
}

func (s *Stage) fail(b *flowlog.Batch, r *flowlog.Record, err error, reason string) {
	name := ""
	if r.Origin != nil {
		name = r.Origin.Name
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		pe.Input = name
	}
	if c, ok := s.metrics.errors[reason]; ok {
		c.Inc()
	}
	s.log.Warn("flow-log line does not parse", "input", name, "error", err, "line", showLine(r.Raw))
	b.Fail(s.id, err, r.Raw, r.Origin)
}

// showLine returns the start of line for a log message.
func showLine(line []byte) string {
	if len(line) > maxLoggedLine {
		return string(line[:maxLoggedLine]) + "…"
	}
	return string(line)
}
