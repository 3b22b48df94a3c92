package kafkasource

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// lagLoop refreshes the lag and age gauges every lag_interval.
func (s *Source) lagLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.LagInterval)
	defer t.Stop()
	for {
		s.refreshLag()
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Source) refreshLag() {
	s.mu.Lock()
	var topics []string
	seen := map[string]bool{}
	for k := range s.parts {
		if !seen[k.topic] {
			seen[k.topic] = true
			topics = append(topics, k.topic)
		}
	}
	s.mu.Unlock()
	if len(topics) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, max(s.cfg.LagInterval, time.Second))
	defer cancel()
	ends, err := s.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Debug("kafka lag: list end offsets", "error", err)
		}
		return
	}
	committed := s.cl.CommittedOffsets()
	type owned struct {
		k tp
		p *partition
	}
	s.mu.Lock()
	var snap []owned
	needStarts := false
	for k, p := range s.parts {
		snap = append(snap, owned{k, p})
		if c, ok := committed[k.topic][k.part]; (!ok || c.Offset < 0) && p.base < 0 && s.cfg.StartFrom == "earliest" {
			needStarts = true
		}
	}
	s.mu.Unlock()
	var starts kadm.ListedOffsets
	if needStarts {
		// no commit yet: the group starts from the log start offset
		if starts, err = s.adm.ListStartOffsets(ctx, topics...); err != nil {
			return
		}
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range snap {
		k, p := o.k, o.p
		if s.parts[k] != p {
			continue // revoked meanwhile
		}
		end, ok := ends.Lookup(k.topic, k.part)
		if !ok || end.Err != nil || end.Offset < 0 {
			continue
		}
		pos := int64(-1)
		if c, ok := committed[k.topic][k.part]; ok && c.Offset >= 0 {
			pos = c.Offset
		} else if p.base >= 0 {
			pos = p.base
		} else if s.cfg.StartFrom == "latest" {
			p.base, pos = end.Offset, end.Offset
		} else if st, ok := starts.Lookup(k.topic, k.part); ok && st.Err == nil && st.Offset >= 0 {
			pos = st.Offset
		}
		if pos < 0 {
			continue
		}
		s.met.lag.WithLabelValues(p.name).Set(float64(max(end.Offset-pos, 0)))
		if !p.newest.IsZero() {
			s.met.age.WithLabelValues(p.name).Set(now.Sub(p.newest).Seconds())
		}
	}
}
