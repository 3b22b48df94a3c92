package component

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Sink delivers batches.
//
// Write returns nil only when every record of the batch is accepted
// downstream (flushed to a file, 2xx from an HTTP intake). A
// RejectedError names records the destination refused for what they are:
// the engine sends those alone to the sink's dead_letter, or applies
// on_rejected. A Permanent error means the sink gave up on the whole batch
// (max_retry_duration): the engine dead-letters it, or counts it as failed,
// and acknowledges it.
// Any other error nacks the source batch, which is then redelivered.
type Sink interface {
	// Write delivers b.Records, or, for a batch from an <id>.errors output,
	// b.Failed (then b.Records is empty). It may be called concurrently and
	// must not keep b after it returns.
	Write(ctx context.Context, b *flowlog.Batch) error
	// Close flushes and releases resources. It is idempotent.
	Close(ctx context.Context) error
}

// Ordered is implemented by sinks that want the batches of one partition
// written in order, one at a time (files). Other sinks get concurrent
// Writes.
type Ordered interface {
	Ordered() bool
}

// SinkFactory builds a sink of one type from its config.
type SinkFactory struct {
	// Type is the value of the `type:` key.
	Type string
	// NewDefaultConfig returns a pointer to a config struct holding the
	// defaults; the engine decodes the component's YAML into it.
	NewDefaultConfig func() any
	// Create builds the sink from the decoded, validated config.
	Create func(ctx context.Context, cfg any, set Settings) (Sink, error)
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err (or an error it wraps) was marked
// Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// RejectedError reports that a destination refused some records of a
// batch because of the records themselves (HTTP 400 or 422 for the
// request, 413 for a record too large to send alone), while it accepted
// the others. It is the only error a sink returns for records that no
// retry can deliver: the engine writes the refused records alone to the
// sink's dead_letter, or applies on_rejected (block: retry them; drop:
// count and log). An error about the destination (401, 403, 5xx, a
// timeout) is never a RejectedError.
type RejectedError struct {
	// Indexes are the positions of the refused records in the batch
	// (b.Records, or b.Failed for a batch of an .errors output), ascending
	// and without duplicates.
	Indexes []int
	// Err says why (the first refusal), with no secret in it.
	Err error
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("%d records rejected: %v", len(e.Indexes), e.Err)
}

func (e *RejectedError) Unwrap() error { return e.Err }

// Rejected returns a *RejectedError for the records at indexes (sorted
// and deduplicated here), or nil when there are none.
func Rejected(err error, indexes []int) error {
	if len(indexes) == 0 {
		return nil
	}
	idx := slices.Clone(indexes)
	slices.Sort(idx)
	idx = slices.Compact(idx)
	return &RejectedError{Indexes: idx, Err: err}
}

// AsRejected returns the *RejectedError in err's chain, if any.
func AsRejected(err error) (*RejectedError, bool) {
	var r *RejectedError
	ok := errors.As(err, &r)
	return r, ok
}

// Blocker is implemented by sinks that retry internally and can tell when
// they are blocked by their destination (refused, unreachable): the engine
// reports them in vpcflow_sink_blocked and, past stuck_after, in /healthz.
// Blocked returns the reason (no secret in it), or nil.
type Blocker interface {
	Blocked() error
}
