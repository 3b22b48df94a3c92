package kinesissource

import (
	"sync"

	"github.com/vpcflow/vpcflow/sources/internal/contiguous"
	"github.com/vpcflow/vpcflow/sources/internal/wake"
)

// Lease table checkpoint sentinels, as the Kinesis Client Library writes them.
const (
	cpTrimHorizon = "TRIM_HORIZON"
	cpLatest      = "LATEST"
	cpAtTimestamp = "AT_TIMESTAMP"
	cpShardEnd    = "SHARD_END"
)

// position is a place in a shard: everything up to and including the user
// record (Seq, Sub) is done. Sub is the KPL sub-sequence number of the last
// user record of an aggregated record, 0 otherwise. Seq may be a sentinel.
type position struct {
	Seq string
	Sub int64
}

func (p position) isSentinel() bool {
	switch p.Seq {
	case cpTrimHorizon, cpLatest, cpAtTimestamp, cpShardEnd, "":
		return true
	}
	return false
}

// cmpSeq compares two Kinesis sequence numbers (decimal strings without
// leading zeros).
func cmpSeq(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// tracker follows the batches of one shard handed out and acknowledged, and
// yields the highest contiguous acknowledged position: the only position
// that may be checkpointed.
//
// A nack discards every pending batch (their acks are ignored from then on)
// and asks the shard reader to rewind to the last acknowledged position:
// what follows it is read again.
type tracker struct {
	mu     sync.Mutex
	ct     *contiguous.Tracker[position]
	ended  bool // the reader reached the shard end and added every batch
	rewind bool
	dead   bool // the lease was lost or released: acks are ignored
	notify func()
	// sent counts the batches given to Read and not yet acknowledged or
	// discarded; idleSig is broadcast once it is 0.
	sent    int
	idleSig wake.Signal
}

// ticket identifies a batch for ack.
type ticket = contiguous.Ticket

// newTracker starts at the lease's checkpoint, which counts as acknowledged.
// notify (optional) is called without the lock when the shard becomes
// finished.
func newTracker(start position, notify func()) *tracker {
	t := &tracker{ct: &contiguous.Tracker[position]{}, notify: notify}
	if !start.isSentinel() {
		t.ct = contiguous.New(start)
	}
	return t
}

// add registers a batch ending at pos, already acknowledged when done. It
// refuses (ok false) while a rewind is pending: the batch lies beyond the
// position the reader must go back to, and is to be discarded. A batch
// that is not done counts as sent to Read until it is acknowledged,
// discarded by Read (handout) or taken back (unsend).
func (t *tracker) add(pos position, done bool) (tk ticket, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rewind {
		return ticket{}, false
	}
	if !done {
		t.sent++
	}
	return t.ct.Add(pos, done), true
}

// unsend takes back a batch the reader added but could not give to Read
// (its context ended).
func (t *tracker) unsend() {
	t.mu.Lock()
	t.settleLocked()
	t.mu.Unlock()
}

// handout reports whether Read may hand out the batch of tk. A batch that
// no longer counts (see discarded) is settled and must not be handed out.
func (t *tracker) handout(tk ticket) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dead || t.ct.Stale(tk) {
		t.settleLocked()
		return false
	}
	return true
}

func (t *tracker) settleLocked() {
	t.sent--
	if t.sent <= 0 {
		t.idleSig.Broadcast()
	}
}

// idle returns a channel closed once every batch sent to Read was
// acknowledged or discarded. Once the reader stopped, no batch is sent any
// more and the position checkpointed then is final.
func (t *tracker) idle() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sent <= 0 {
		return closedCh
	}
	return t.idleSig.Chan()
}

var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// ack marks a batch acknowledged (ok) or asks for a rewind (!ok). notify is
// called when the shard becomes finished.
func (t *tracker) ack(tk ticket, ok bool) {
	t.mu.Lock()
	t.settleLocked()
	if t.dead || t.ct.Stale(tk) {
		t.mu.Unlock()
		return
	}
	if !ok {
		t.ct.Reset()
		t.ended, t.rewind = false, true
		t.mu.Unlock()
		return
	}
	t.ct.Ack(tk)
	fin := t.finishedLocked()
	t.mu.Unlock()
	if fin && t.notify != nil {
		t.notify()
	}
}

// setEnded records that the reader reached the shard end after adding its
// last batch.
func (t *tracker) setEnded() {
	t.mu.Lock()
	t.ended = true
	fin := t.finishedLocked()
	t.mu.Unlock()
	if fin && t.notify != nil {
		t.notify()
	}
}

func (t *tracker) finishedLocked() bool { return t.ended && t.ct.Pending() == 0 && !t.dead }

// finished reports whether every record of the shard was acknowledged up to
// its end, so SHARD_END may be checkpointed.
func (t *tracker) finished() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.finishedLocked()
}

// checkpoint returns the highest contiguous acknowledged position, if any.
func (t *tracker) checkpoint() (position, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ct.Acked()
}

// takeRewind reports (once) that a nack asked the reader to rewind, and the
// position to resume after.
func (t *tracker) takeRewind() (position, bool, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.rewind {
		return position{}, false, false
	}
	t.rewind = false
	pos, ok := t.ct.Acked()
	return pos, ok, true
}

// outstanding is the number of batches handed out and not yet acknowledged.
func (t *tracker) outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ct.Outstanding()
}

// kill makes every later ack a no-op.
func (t *tracker) kill() {
	t.mu.Lock()
	t.dead = true
	t.mu.Unlock()
}

// inflight is the number of batches sent to Read and not yet acknowledged
// or discarded.
func (t *tracker) inflight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return max(t.sent, 0)
}
