package cidrfilter

import (
	"context"
	"fmt"

	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/processor/component"
)

// Type is the stage's config type.
const Type = "cidr_filter"

// NewFactory returns the factory of the cidr_filter stage.
func NewFactory() processor.StageFactory {
	return processor.StageFactory{
		Type:             Type,
		NewDefaultConfig: func() any { return NewDefaultConfig() },
		Create: func(_ context.Context, cfg any, set component.Settings) (processor.Stage, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("%s: config is %T, want *cidrfilter.Config", Type, cfg)
			}
			return New(*c, set)
		},
	}
}
