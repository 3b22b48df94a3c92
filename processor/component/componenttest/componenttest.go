// Package componenttest helps components test their configuration.
package componenttest

import (
	"bytes"

	"go.yaml.in/yaml/v3"

	"github.com/vpcflow/vpcflow/processor/component"
)

// Decode decodes a component's YAML section into cfg as the engine does:
// over the defaults cfg holds, unknown keys rejected, then cfg.Validate
// when cfg has one.
func Decode(data []byte, cfg any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return err
	}
	if v, ok := cfg.(component.Validator); ok {
		return v.Validate()
	}
	return nil
}
