package httpsink

import (
	"context"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/sinks"
)

// Type is the config `type:` of this sink.
const Type = "http"

// NewFactory returns the factory of sink type http.
func NewFactory() sinks.Factory {
	return sinks.Factory{
		Type:             Type,
		NewDefaultConfig: func() any { return NewDefaultConfig() },
		Create: func(_ context.Context, cfg any, set component.Settings) (sinks.Sink, error) {
			c, err := component.ConfigAs[Config]("httpsink", cfg)
			if err != nil {
				return nil, err
			}
			return New(*c, set)
		},
	}
}
