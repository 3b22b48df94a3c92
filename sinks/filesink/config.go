package filesink

import (
	"errors"
	"fmt"

	"github.com/vpcflow/vpcflow/sinks/encoding"
)

// Config configures the file sink.
type Config struct {
	// Path is the output file, or "-" for standard output (default).
	Path string `yaml:"path"`
	// Encoding is json (default), sumo_vpc_json or raw.
	Encoding string `yaml:"encoding"`
	// Append adds to an existing file instead of truncating it.
	Append bool `yaml:"append"`
	// Sync fsyncs the file after every batch (slower; survives a host crash).
	Sync bool `yaml:"sync"`
	// IncludeLogInfo adds logStream/logGroup (sumo_vpc_json).
	IncludeLogInfo bool `yaml:"include_log_info"`
}

// NewDefaultConfig returns the defaults.
func NewDefaultConfig() *Config { return &Config{Path: "-", Encoding: "json"} }

// Validate checks the config.
func (c *Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("path: must be set (a file or \"-\" for stdout)"))
	}
	if _, err := encoding.New(c.Encoding, encoding.Options{}); err != nil {
		errs = append(errs, fmt.Errorf("encoding: %w", err))
	}
	return errors.Join(errs...)
}
