package kafkasource

import (
	"context"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/sources"
)

// NewFactory returns the factory of the `kafka` source.
func NewFactory() sources.Factory {
	return sources.Factory{
		Type:             "kafka",
		NewDefaultConfig: func() any { return NewDefaultConfig() },
		Create: func(ctx context.Context, cfg any, set component.Settings) (sources.Source, error) {
			c, err := component.ConfigAs[Config]("kafkasource", cfg)
			if err != nil {
				return nil, err
			}
			return New(ctx, *c, set)
		},
	}
}
