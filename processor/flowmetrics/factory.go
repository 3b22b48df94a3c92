package flowmetrics

import (
	"context"
	"fmt"

	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/processor/component"
)

// Type is the stage's config type.
const Type = "flow_metrics"

// NewFactory returns the factory of the flow_metrics stage.
func NewFactory() processor.StageFactory {
	return processor.StageFactory{
		Type:             Type,
		NewDefaultConfig: func() any { return NewDefaultConfig() },
		Create: func(_ context.Context, cfg any, set component.Settings) (processor.Stage, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("%s: config is %T, want *flowmetrics.Config", Type, cfg)
			}
			return NewStage(*c, set)
		},
	}
}
