// Package sinktest provides a recording sink for tests, with injectable
// failures and delays.
package sinktest

import (
	"context"
	"sync"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Recorder keeps a copy of every record and failure it was given.
type Recorder struct {
	// Fail, when set, is asked before each Write; a non-nil error is
	// returned instead of recording.
	Fail func(b *flowlog.Batch) error
	// Block, when set, makes Write wait until it is closed or ctx ends.
	Block chan struct{}

	mu       sync.Mutex
	lines    []string
	failures []flowlog.Failure
	writes   int
	closed   int
}

// Write implements component.Sink.
func (r *Recorder) Write(ctx context.Context, b *flowlog.Batch) error {
	if r.Block != nil {
		select {
		case <-r.Block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if r.Fail != nil {
		if err := r.Fail(b); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes++
	for i := range b.Records {
		r.lines = append(r.lines, string(b.Records[i].Raw))
	}
	for _, f := range b.Failed {
		f.Raw = append([]byte(nil), f.Raw...)
		r.failures = append(r.failures, f)
	}
	return nil
}

// Close implements component.Sink.
func (r *Recorder) Close(context.Context) error {
	r.mu.Lock()
	r.closed++
	r.mu.Unlock()
	return nil
}

// Lines returns the raw lines of every record written so far.
func (r *Recorder) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// Failures returns the failures written so far (from .errors outputs).
func (r *Recorder) Failures() []flowlog.Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]flowlog.Failure(nil), r.failures...)
}

// Writes returns the number of successful Write calls.
func (r *Recorder) Writes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes
}

// Closed returns how often Close was called.
func (r *Recorder) Closed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// Factory returns a sink factory of type typ whose Create returns the
// recorder registered under the component id in m.
func Factory(typ string, m map[string]*Recorder) component.SinkFactory {
	return component.SinkFactory{
		Type:             typ,
		NewDefaultConfig: func() any { return &struct{}{} },
		Create: func(_ context.Context, _ any, set component.Settings) (component.Sink, error) {
			return m[set.ID], nil
		},
	}
}
