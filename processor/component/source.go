package component

import (
	"context"
	"errors"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// AckFunc acknowledges a batch to its source (see flowlog.AckFunc): called
// exactly once, nil for delivered, an error for "hand these records out
// again".
type AckFunc = flowlog.AckFunc

// ErrEndOfInput is returned by Source.Read of a finite source (file) once
// every batch has been handed out.
var ErrEndOfInput = errors.New("end of input")

// Source turns a transport into batches of raw flow-log lines.
//
// Records of a returned batch have Raw and Origin set; parsing is the
// parse_flowlog stage's job. Inputs that cannot be decoded (a corrupt gzip,
// an unknown envelope) are put in Batch.Failed with the source's id.
//
// # Acknowledgement
//
// Read hands out a batch with an AckFunc. The engine calls it exactly once,
// when every record of the batch was dropped on purpose, delivered by every
// sink that receives it, or dead-lettered (err == nil), or when the batch
// could not be delivered (err != nil, e.g. at shutdown). A source commits a
// position only on ack(nil), and only once every earlier batch of the same
// partition is acknowledged too. A nack means: hand the batch's records out
// again from that position; later batches of that partition wait.
type Source interface {
	// Read blocks until a batch is ready, ctx is done, or the source is
	// drained (ErrEndOfInput). Read is called from one goroutine.
	Read(ctx context.Context) (*flowlog.Batch, AckFunc, error)
	// Close stops reading, commits what was acknowledged and releases
	// resources (leases, group membership). It is idempotent.
	Close(ctx context.Context) error
}

// SourceFactory builds a source of one type from its config.
type SourceFactory struct {
	// Type is the value of the `type:` key.
	Type string
	// NewDefaultConfig returns a pointer to a config struct holding the
	// defaults; the engine decodes the component's YAML into it.
	NewDefaultConfig func() any
	// Create builds the source from the decoded, validated config.
	Create func(ctx context.Context, cfg any, set Settings) (Source, error)
}
