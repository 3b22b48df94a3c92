package kinesissource

import (
	"context"

	"github.com/vpcflow/vpcflow/processor/component"
)

// Type is the value of the `type:` key of this source.
const Type = "kinesis"

// NewFactory returns the factory of the kinesis source.
func NewFactory() component.SourceFactory {
	return component.SourceFactory{
		Type:             Type,
		NewDefaultConfig: func() any { return NewDefaultConfig() },
		Create: func(ctx context.Context, cfg any, set component.Settings) (component.Source, error) {
			c, err := component.ConfigAs[Config](Type, cfg)
			if err != nil {
				return nil, err
			}
			return New(ctx, *c, set)
		},
	}
}
