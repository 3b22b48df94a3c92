// Package sourcetest provides a scripted source for tests of the engine
// and of stages: it hands out prepared batches and records every
// acknowledgement, failing the test on a double ack.
package sourcetest

import (
	"context"
	"fmt"
	"sync"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Static hands out Batches in order, then ErrEndOfInput (or blocks until
// ctx ends when Endless is set).
type Static struct {
	Batches []*flowlog.Batch
	Endless bool

	mu     sync.Mutex
	next   int
	acks   map[int]error
	double []int
	closed int
}

// Lines builds a batch of raw lines for partition part.
func Lines(part string, lines ...string) *flowlog.Batch {
	o := &flowlog.Origin{Name: part}
	b := &flowlog.Batch{Partition: part}
	for _, l := range lines {
		b.Records = append(b.Records, flowlog.Record{Raw: []byte(l), Origin: o})
	}
	return b
}

// Read implements component.Source.
func (s *Static) Read(ctx context.Context) (*flowlog.Batch, flowlog.AckFunc, error) {
	s.mu.Lock()
	if s.next >= len(s.Batches) {
		s.mu.Unlock()
		if s.Endless {
			<-ctx.Done()
			return nil, nil, ctx.Err()
		}
		return nil, nil, component.ErrEndOfInput
	}
	i := s.next
	s.next++
	b := s.Batches[i]
	s.mu.Unlock()
	return b, func(_ context.Context, err error) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.acks == nil {
			s.acks = map[int]error{}
		}
		if _, dup := s.acks[i]; dup {
			s.double = append(s.double, i)
			return fmt.Errorf("batch %d acknowledged twice", i)
		}
		s.acks[i] = err
		return nil
	}, nil
}

// Close implements component.Source.
func (s *Static) Close(context.Context) error {
	s.mu.Lock()
	s.closed++
	s.mu.Unlock()
	return nil
}

// Acks returns, per handed-out batch index, its ack error, and whether it
// was acknowledged at all.
func (s *Static) Acks() (acked map[int]error, handedOut int, doubles []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[int]error, len(s.acks))
	for k, v := range s.acks {
		m[k] = v
	}
	return m, s.next, append([]int(nil), s.double...)
}

// Factory returns a source factory of type typ whose Create returns src.
func Factory(typ string, src component.Source) component.SourceFactory {
	return component.SourceFactory{
		Type:             typ,
		NewDefaultConfig: func() any { return &struct{}{} },
		Create: func(context.Context, any, component.Settings) (component.Source, error) {
			return src, nil
		},
	}
}
