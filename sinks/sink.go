// Package sinks defines the Sink interface every vpcflow sink implements,
// its Factory, and the Permanent error marker.
//
// # Acknowledgement
//
// Write returns nil only when every record of the batch is accepted
// downstream (flushed to a file, 2xx from an HTTP intake). A Permanent
// error means retrying cannot help (a 4xx): the engine sends the batch to
// the sink's dead_letter sink, or counts it as failed, and acknowledges it.
// Any other error nacks the source batch, which is then redelivered.
package sinks

import (
	"context"
	"errors"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Sink delivers batches.
type Sink interface {
	// Write delivers b.Records, or, for a batch from an <id>.errors output,
	// b.Failed (then b.Records is empty). It may be called concurrently and
	// must not keep b after it returns.
	Write(ctx context.Context, b *flowlog.Batch) error
	// Close flushes and releases resources. It is idempotent.
	Close(ctx context.Context) error
}

// Factory builds a sink of one type from its config.
type Factory struct {
	Type             string
	NewDefaultConfig func() any
	Create           func(ctx context.Context, cfg any, set component.Settings) (Sink, error)
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
