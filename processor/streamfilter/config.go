package streamfilter

import (
	"errors"
	"fmt"
)

// Config configures the log_stream_filter stage.
type Config struct {
	// LogStreamPrefixes keeps records whose log stream starts with one of
	// them (case-insensitive, like the Lambda's LOG_STREAM_PREFIX). Empty
	// means any stream.
	LogStreamPrefixes []string `yaml:"log_stream_prefixes"`
	// LogGroupPrefixes keeps records whose log group starts with one of
	// them (case-insensitive). Empty means any group.
	LogGroupPrefixes []string `yaml:"log_group_prefixes"`
	// DropWithoutStream drops records that carry no log stream (they did
	// not come in a CloudWatch Logs envelope). False by default.
	DropWithoutStream bool `yaml:"drop_without_stream"`
}

// NewDefaultConfig returns the defaults: keep everything.
func NewDefaultConfig() *Config { return &Config{} }

// Validate checks the config.
func (c *Config) Validate() error {
	var errs []error
	for i, p := range c.LogStreamPrefixes {
		if p == "" {
			errs = append(errs, fmt.Errorf("log_stream_prefixes[%d]: must not be empty", i))
		}
	}
	for i, p := range c.LogGroupPrefixes {
		if p == "" {
			errs = append(errs, fmt.Errorf("log_group_prefixes[%d]: must not be empty", i))
		}
	}
	if len(c.LogStreamPrefixes) == 0 && len(c.LogGroupPrefixes) == 0 && !c.DropWithoutStream {
		errs = append(errs, errors.New("log_stream_prefixes or log_group_prefixes: at least one prefix is needed"))
	}
	return errors.Join(errs...)
}
