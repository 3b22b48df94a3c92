package filesource

import (
	"fmt"
	"sync"
)

// position is where a batch's first line starts: its input (an index in
// Source.files), the byte offset in the decompressed stream, and the lines
// before it.
type position struct {
	file   int
	offset int64
	line   int
}

func (p position) less(q position) bool {
	if p.file != q.file {
		return p.file < q.file
	}
	return p.offset < q.offset
}

// mark is what a handed-out batch remembers for its nack.
type mark struct {
	gen    int // the producer generation that read it
	pos    position
	name   string
	reread bool // its input can be opened again at pos
}

// rewinds coordinates nacks (any goroutine) with the producer. A nack of a
// batch asks the producer to go back to the batch's first line and start a
// new generation; batches of older generations that Read has not handed
// out yet are dropped, since the rewind reads their lines again.
type rewinds struct {
	mu          sync.Mutex
	gen         int      // the newest generation, requested or started
	start       position // where generation gen starts
	pending     bool     // gen is requested, the producer has not started it
	outstanding int      // batches made by the producer and not yet settled
	err         error    // a nack that cannot be honoured: the run fails

	wake  chan struct{} // (buffered 1) wakes the producer waiting at the end
	fatal chan struct{} // closed when err is set
}

func (r *rewinds) init() {
	r.wake = make(chan struct{}, 1)
	r.fatal = make(chan struct{})
}

func (r *rewinds) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// made counts a batch about to be sent to Read.
func (r *rewinds) made() { r.mu.Lock(); r.outstanding++; r.mu.Unlock() }

// settled counts a batch acknowledged, nacked, or dropped by Read.
func (r *rewinds) settled() {
	r.mu.Lock()
	r.outstanding--
	if r.outstanding == 0 {
		r.signal()
	}
	r.mu.Unlock()
}

// stale reports whether a batch not yet handed out was read before a
// rewind that reads it again.
func (r *rewinds) stale(at mark) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return at.gen < r.gen
}

// nack asks for the batch at `at` to be read again, or, when its input
// cannot be read again, fails the run with an error naming file and line.
func (r *rewinds) nack(at mark, cause error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !at.reread {
		r.failLocked(fmt.Errorf("%s: the batch from line %d was not delivered (%v) and %s cannot be read again; its records are lost",
			at.name, at.pos.line+1, cause, at.name))
		return r.err
	}
	switch {
	case r.err != nil:
	case at.gen < r.gen && !at.pos.less(r.start):
		// The rewind already asked for reads these lines again.
	case r.pending:
		r.start = at.pos // earlier than the pending rewind's start
	default:
		r.gen++
		r.start = at.pos
		r.pending = true
		r.signal()
	}
	return nil
}

// take returns the rewind the producer is to do, if any.
func (r *rewinds) take() (position, int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.pending {
		return position{}, 0, false
	}
	r.pending = false
	return r.start, r.gen, true
}

// wait blocks the producer at the end of the input until every batch is
// settled (false: the source is drained), a rewind is asked for (true),
// the run failed or stop is closed (false).
func (r *rewinds) wait(stop <-chan struct{}) bool {
	for {
		r.mu.Lock()
		pending, done := r.pending, r.err != nil || r.outstanding <= 0
		r.mu.Unlock()
		if pending {
			return true
		}
		if done {
			return false
		}
		select {
		case <-r.wake:
		case <-stop:
			return false
		}
	}
}

// fail records err as the run's failure (the first one wins) and returns
// the recorded one.
func (r *rewinds) fail(err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failLocked(err)
	return r.err
}

func (r *rewinds) failLocked(err error) {
	if r.err == nil {
		r.err = err
		close(r.fatal)
	}
}

// failed returns the run's failure, if any.
func (r *rewinds) failed() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}
