package processor

import (
	"errors"
	"fmt"
	"time"

	"github.com/vpcflow/vpcflow/processor/component"
)

// Ready reports nil once the graph runs and every source that can tell
// says it is connected.
func (p *Pipeline) Ready() error {
	if !p.running.Load() {
		return errors.New("pipeline not running")
	}
	for _, sn := range p.sources {
		if r, ok := sn.src.(component.Readier); ok && !r.Ready() && !sn.done.Load() {
			return fmt.Errorf("%s: not ready", sn.where)
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
				return fmt.Errorf("%s: %w", sn.where, err)
			}
		}
	}
	for _, id := range p.order {
		if h, ok := p.stages[id].stage.(component.Healther); ok {
			if err := h.Healthy(); err != nil {
				return fmt.Errorf("%s: %w", p.stages[id].where, err)
			}
		}
	}
	now := time.Now()
	for _, id := range sortedKeys(p.sinks) {
		s := p.sinks[id]
		if h, ok := s.sink.(component.Healther); ok {
			if err := h.Healthy(); err != nil {
				return fmt.Errorf("%s: %w", s.where, err)
			}
		}
		if s.buf != nil {
			if err := s.buf.Healthy(); err != nil {
				return fmt.Errorf("%s: %w", s.where, err)
			}
		}
		if s.pending.Load() == 0 {
			continue
		}
		last := s.lastDone.Load()
		if last == 0 {
			continue
		}
		if d := now.Sub(time.Unix(0, last)); d > p.cfg.StuckAfter {
			if be := s.blockedErr(); be != nil {
				return fmt.Errorf("%s: stuck: %d writes pending, none finished for %s; blocked: %v", s.where, s.pending.Load(), d.Round(time.Second), be)
			}
			return fmt.Errorf("%s: stuck: %d writes pending, none finished for %s", s.where, s.pending.Load(), d.Round(time.Second))
		}
	}
	return nil
}
