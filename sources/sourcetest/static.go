// Package sourcetest provides a scripted source for tests of the engine
// and of stages.
//
// Static hands out copies of prepared batches and behaves towards the
// engine as the real sources do: each batch handed out lives in storage of
// its own (records and a line buffer) that its AckFunc poisons and puts
// back into a flowlog.BatchPool for the next Read. A stage or sink that
// keeps a batch, its records or their Raw bytes after the batch was
// acknowledged then reads poison ('#' bytes, emptied records) or a later
// batch, and a race detector sees the write. A second ack of a batch fails
// the test.
package sourcetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Poison is the byte an acknowledged batch's line buffer is overwritten
// with before the batch is recycled.
const Poison = '#'

// Static hands out copies of Batches in order, then ErrEndOfInput (or
// blocks until ctx ends when Endless is set).
type Static struct {
	// Batches are the prepared batches. They are copied at Read, never
	// handed out themselves, so a test may build them before Run and read
	// them after.
	Batches []*flowlog.Batch
	// Endless makes Read block until ctx ends once Batches are handed out,
	// like a stream source, instead of returning ErrEndOfInput.
	Endless bool
	// TB is the test a double ack fails (with Errorf). New sets it; a
	// Static without TB panics on a double ack.
	TB testing.TB

	pool flowlog.BatchPool

	mu     sync.Mutex
	next   int
	acks   map[int]error
	double []int
	closed int
}

// New returns a Static handing out batches that fails tb on a double ack
// and, when the test ends, on a handed-out batch that was never
// acknowledged.
func New(tb testing.TB, batches ...*flowlog.Batch) *Static {
	tb.Helper()
	s := &Static{Batches: batches, TB: tb}
	tb.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.acks) != s.next {
			var missing []int
			for i := range s.next {
				if _, ok := s.acks[i]; !ok {
					missing = append(missing, i)
				}
			}
			tb.Errorf("sourcetest: %d of %d handed-out batches never acknowledged: %v", len(missing), s.next, missing)
		}
	})
	return s
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
	src := s.Batches[i]
	s.mu.Unlock()

	b := s.pool.Get()
	if b == nil {
		b = &flowlog.Batch{}
	}
	fill(b, src)
	return b, func(_ context.Context, err error) error {
		s.mu.Lock()
		if s.acks == nil {
			s.acks = map[int]error{}
		}
		if _, dup := s.acks[i]; dup {
			s.double = append(s.double, i)
			s.mu.Unlock()
			msg := fmt.Sprintf("sourcetest: batch %d acknowledged twice (first %v, now %v)", i, s.acks[i], err)
			if s.TB == nil {
				panic(msg)
			}
			s.TB.Errorf("%s", msg)
			return fmt.Errorf("batch %d acknowledged twice", i)
		}
		s.acks[i] = err
		s.mu.Unlock()
		recycle(&s.pool, b)
		return nil
	}, nil
}

// fill makes b a copy of src whose lines live in b.Buf, as a source's
// batch read from the wire does.
func fill(b, src *flowlog.Batch) {
	n := 0
	for i := range src.Records {
		n += len(src.Records[i].Raw)
	}
	for i := range src.Failed {
		n += len(src.Failed[i].Raw)
	}
	buf := slices.Grow(b.Buf[:0], n) // no reallocation below: Raw slices stay valid
	own := func(raw []byte) []byte {
		if raw == nil {
			return nil
		}
		start := len(buf)
		buf = append(buf, raw...)
		return buf[start:len(buf):len(buf)]
	}
	recs := b.Records[:0]
	for _, r := range src.Records {
		r.Raw = own(r.Raw)
		recs = append(recs, r)
	}
	failed := b.Failed[:0]
	for _, f := range src.Failed {
		f.Raw = own(f.Raw)
		failed = append(failed, f)
	}
	*b = flowlog.Batch{
		Source: src.Source, Partition: src.Partition, Read: src.Read, Span: src.Span,
		Records: recs, Failed: failed, Buf: buf,
	}
}

// recycle poisons the acknowledged b, so that whoever still reads it sees
// it, and puts it back for reuse.
func recycle(pool *flowlog.BatchPool, b *flowlog.Batch) {
	for i := range b.Buf {
		b.Buf[i] = Poison
	}
	pool.Put(b)
}

// Close implements component.Source.
func (s *Static) Close(context.Context) error {
	s.mu.Lock()
	s.closed++
	s.mu.Unlock()
	return nil
}

// Acks returns, per handed-out batch index, its ack error, how many
// batches were handed out, and which batches were acknowledged twice.
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
