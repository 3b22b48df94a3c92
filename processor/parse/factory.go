package parse

import (
	"context"

	"github.com/vpcflow/vpcflow/processor/component"
)

// Type is the stage's config type.
const Type = "parse_flowlog"

// NewFactory returns the factory of the parse_flowlog stage.
func NewFactory() component.StageFactory {
	return component.StageFactory{
		Type:             Type,
		NewDefaultConfig: func() any { return NewDefaultConfig() },
		Create: func(_ context.Context, cfg any, set component.Settings) (component.Stage, error) {
			c, err := component.ConfigAs[Config](Type, cfg)
			if err != nil {
				return nil, err
			}
			return NewStage(*c, set)
		},
	}
}
