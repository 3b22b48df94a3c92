package cidrfilter

import (
	"context"

	"github.com/vpcflow/vpcflow/processor/component"
)

// Type is the stage's config type.
const Type = "cidr_filter"

// NewFactory returns the factory of the cidr_filter stage.
func NewFactory() component.StageFactory {
	return component.StageFactory{
		Type:             Type,
		NewDefaultConfig: func() any { return NewDefaultConfig() },
		Create: func(_ context.Context, cfg any, set component.Settings) (component.Stage, error) {
			c, err := component.ConfigAs[Config](Type, cfg)
			if err != nil {
				return nil, err
			}
			return New(*c, set)
		},
	}
}
