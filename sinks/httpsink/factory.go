package httpsink

import (
	"context"

	"github.com/vpcflow/vpcflow/processor/component"
)

// Type is the config `type:` of this sink.
const Type = "http"

// NewFactory returns the factory of sink type http.
func NewFactory() component.SinkFactory {
	return component.SinkFactory{
		Type:             Type,
		NewDefaultConfig: func() any { return NewDefaultConfig() },
		Create: func(_ context.Context, cfg any, set component.Settings) (component.Sink, error) {
			c, err := component.ConfigAs[Config](Type, cfg)
			if err != nil {
				return nil, err
			}
			return New(*c, set)
		},
	}
}
