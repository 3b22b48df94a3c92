package component

import "context"

// Spooler is implemented by sinks that can keep a disk buffer of their own
// finished requests (encoded, batched and compressed) instead of records.
// A sink that does so pays for its encoding once, before the buffer, and
// delivering a backlog costs it no more than sending bytes.
//
// When a sink's config has a disk buffer, the engine calls Spool once,
// before the first Write. From then on Write returns nil once every request
// holding one of the batch's records is stored by Spool.Put (fsynced), and
// the engine calls Send for each stored payload, in order, several at once
// unless the sink is Ordered.
type Spooler interface {
	Sink
	Spool(sp Spool)
	// Send delivers one payload the sink stored, with its usual retries.
	// Records the destination refuses for what they are, and records it
	// gives up on (max_retry_duration), go to Spool.Refused. Send returns
	// nil once the payload is dealt with, an error when ctx ends or the
	// sink is closed first (the payload stays in the buffer), or an error
	// for a payload it cannot read (it is dropped).
	Send(ctx context.Context, payload []byte) error
}

// Spool is the engine's side of a Spooler's buffer.
type Spool interface {
	// Put stores payload, which holds records records, waiting for room
	// when the buffer is full (when_full: block). done(nil) is called once
	// it is durable; done(err) when storing failed (the records' batches
	// are redelivered). A payload dropped because the buffer is full
	// (when_full: drop_newest) is counted and logged by the engine and
	// done(nil) called. An error returned means done will not be called.
	Put(ctx context.Context, payload []byte, records int, done func(error)) error
	// Refused takes the encoded records of a stored payload its
	// destination refused or the sink gave up on, with the reason: the
	// sink's dead letter receives them as failures (the record's encoded
	// form, with the reason), or on_rejected drops them. It returns an
	// error when they are to be retried (on_rejected: block, or the dead
	// letter failed); the sink then sends them again later.
	Refused(ctx context.Context, lines [][]byte, cause error) error
}
