package component

import (
	"context"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Stage transforms batches in place: it filters b.Records (dropped records
// count as handled), enriches them, and moves records it cannot handle to
// b.Failed (b.Fail) with the reason. Process may be called concurrently
// from several workers and must not keep b after it returns. An error
// return means the whole batch could not be processed: the engine retries
// it.
type Stage interface {
	Process(ctx context.Context, b *flowlog.Batch) error
}

// StageFunc adapts a function to Stage.
type StageFunc func(ctx context.Context, b *flowlog.Batch) error

// Process calls f.
func (f StageFunc) Process(ctx context.Context, b *flowlog.Batch) error { return f(ctx, b) }

// StageFactory builds a stage of one type from its config.
type StageFactory struct {
	// Type is the value of the `type:` key.
	Type string
	// NewDefaultConfig returns a pointer to a config struct holding the
	// defaults; the engine decodes the component's YAML into it.
	NewDefaultConfig func() any
	// Create builds the stage from the decoded, validated config.
	Create func(ctx context.Context, cfg any, set Settings) (Stage, error)
}
