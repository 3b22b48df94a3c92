package kinesissource

import (
	"context"
	"fmt"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/sources"
)

// Type is the value of the `type:` key of this source.
const Type = "kinesis"

// NewFactory returns the factory of the kinesis source.
func NewFactory() sources.Factory {
	return sources.Factory{
		Type:             Type,
		NewDefaultConfig: func() any { return NewDefaultConfig() },
		Create: func(ctx context.Context, cfg any, set component.Settings) (sources.Source, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("kinesissource: config is %T, want *kinesissource.Config", cfg)
			}
			return New(ctx, *c, set)
		},
	}
}
