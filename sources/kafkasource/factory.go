package kafkasource

import (
	"context"
	"fmt"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/sources"
)

// NewFactory returns the factory of the `kafka` source.
func NewFactory() sources.Factory {
	return sources.Factory{
		Type:             "kafka",
		NewDefaultConfig: func() any { return NewDefaultConfig() },
		Create: func(ctx context.Context, cfg any, set component.Settings) (sources.Source, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("kafkasource: config is %T, want *kafkasource.Config", cfg)
			}
			return New(ctx, *c, set)
		},
	}
}
