// Package contiguous tracks the batches a source hands out from one ordered
// stream (a Kafka partition, a Kinesis shard) and yields the highest
// position up to which every batch is acknowledged: the only position the
// source may commit or checkpoint.
package contiguous

// Tracker follows the batches of one stream in the order they were added.
// Position is what a batch ends at (a Kafka offset, a Kinesis sequence
// number). Its zero value is ready, with nothing acknowledged yet. A
// Tracker is not safe for concurrent use: its owner locks.
type Tracker[Position any] struct {
	gen     uint64 // bumped by Reset and Truncate: tickets of later adds differ
	next    uint64 // index of the next batch
	base    uint64 // index of pending[0]
	pending []entry[Position]
	acked   Position // highest contiguous acknowledged
	hasAck  bool
}

type entry[Position any] struct {
	pos  Position
	done bool
	gen  uint64 // the generation of the ticket naming this entry
}

// Ticket names a batch added to a Tracker. The zero Ticket names none.
type Ticket struct{ gen, idx uint64 }

// New returns a tracker whose stream is acknowledged up to start.
func New[Position any](start Position) *Tracker[Position] {
	return &Tracker[Position]{acked: start, hasAck: true}
}

// Add registers the next batch, ending at pos, already acknowledged when
// done (a batch with nothing to hand out).
func (t *Tracker[P]) Add(pos P, done bool) Ticket {
	if t.gen == 0 {
		t.gen = 1
	}
	tk := Ticket{gen: t.gen, idx: t.next}
	t.next++
	t.pending = append(t.pending, entry[P]{pos: pos, done: done, gen: t.gen})
	t.advance()
	return tk
}

// Ack marks the batch of tk acknowledged and reports whether the
// acknowledged position moved. Stale tickets (see Reset) and tickets
// acknowledged before change nothing.
func (t *Tracker[P]) Ack(tk Ticket) (advanced bool) {
	if t.Stale(tk) {
		return false
	}
	t.pending[tk.idx-t.base].done = true
	return t.advance()
}

// advance drops the acknowledged prefix of pending.
func (t *Tracker[P]) advance() bool {
	i := 0
	for i < len(t.pending) && t.pending[i].done {
		i++
	}
	if i == 0 {
		return false
	}
	t.acked, t.hasAck = t.pending[i-1].pos, true
	n := copy(t.pending, t.pending[i:])
	clear(t.pending[n:])
	t.pending = t.pending[:n]
	t.base += uint64(i)
	return true
}

// Reset forgets every batch not yet part of the acknowledged prefix (after
// a nack: they are to be read again); their tickets become stale. The
// acknowledged position stays.
func (t *Tracker[P]) Reset() {
	t.gen++
	clear(t.pending)
	t.pending = t.pending[:0]
	t.base = t.next
}

// Truncate forgets the batch of tk and every batch added after it (after a
// nack: they are to be read again from that batch on); their tickets become
// stale. Batches added before tk stay pending, and the acknowledged
// position stays. It reports false, changing nothing, when tk is stale.
func (t *Tracker[P]) Truncate(tk Ticket) bool {
	if t.Stale(tk) {
		return false
	}
	i := tk.idx - t.base
	clear(t.pending[i:])
	t.pending = t.pending[:i]
	t.next = tk.idx
	t.gen++ // the indexes from tk.idx on are issued again, to new tickets
	return true
}

// Stale reports whether tk no longer names a pending batch: Reset or
// Truncate forgot it, it was acknowledged, or it is the zero Ticket.
func (t *Tracker[P]) Stale(tk Ticket) bool {
	if tk.gen == 0 || tk.idx < t.base || tk.idx >= t.next {
		return true
	}
	return t.pending[tk.idx-t.base].gen != tk.gen
}

// Acked returns the highest contiguous acknowledged position, if any.
func (t *Tracker[P]) Acked() (P, bool) { return t.acked, t.hasAck }

// Pending is the number of batches behind the acknowledged prefix: not yet
// acknowledged, or acknowledged after one that is not.
func (t *Tracker[P]) Pending() int { return len(t.pending) }

// Outstanding is the number of batches added and not yet acknowledged.
func (t *Tracker[P]) Outstanding() int {
	n := 0
	for _, e := range t.pending {
		if !e.done {
			n++
		}
	}
	return n
}
