package component

import (
	"context"
	"errors"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Sink delivers batches.
//
// Write returns nil only when every record of the batch is accepted
// downstream (flushed to a file, 2xx from an HTTP intake). A Permanent
// error means retrying cannot help (a 4xx): the engine sends the batch to
// the sink's dead_letter sink, or counts it as failed, and acknowledges it.
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
