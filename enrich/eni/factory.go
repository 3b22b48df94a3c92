package eni

import (
	"context"

	"github.com/vpcflow/vpcflow/processor/component"
)

// Type is the value of the `type:` key of this stage.
const Type = "eni_enrich"

// NewFactory returns the factory of the eni_enrich stage. Options apply to
// every stage it creates (see Opt); the service's registry uses none.
func NewFactory(opts ...Opt) component.StageFactory {
	return component.StageFactory{
		Type:             Type,
		NewDefaultConfig: func() any { return NewDefaultConfig() },
		Create: func(ctx context.Context, cfg any, set component.Settings) (component.Stage, error) {
			c, err := component.ConfigAs[Config](Type, cfg)
			if err != nil {
				return nil, err
			}
			return New(ctx, c, set, opts...)
		},
	}
}
