package processor

import (
	"context"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Stage transforms batches in place: it filters b.Records (dropped records
// count as handled), enriches them, and moves records it cannot handle to
// b.Failed (b.Fail) with the reason. Process may be called concurrently
// from several workers and must not keep b after it returns. An error
// return means the whole batch could not be processed: it is nacked.
type Stage interface {
	Process(ctx context.Context, b *flowlog.Batch) error
}

// StageFunc adapts a function to Stage.
type StageFunc func(ctx context.Context, b *flowlog.Batch) error

// Process calls f.
func (f StageFunc) Process(ctx context.Context, b *flowlog.Batch) error { return f(ctx, b) }

// StageFactory builds a stage of one type from its config.
type StageFactory struct {
	Type             string
	NewDefaultConfig func() any
	Create           func(ctx context.Context, cfg any, set component.Settings) (Stage, error)
}
