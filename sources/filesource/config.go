package filesource

import (
	"errors"
	"fmt"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Config configures the file source.
type Config struct {
	// Path is a file, a glob ("/data/*.log.gz") or "-" for standard input.
	Path string `yaml:"path"`
	// BatchRecords is the most lines in one batch (default 4096: with lines
	// of ~100 bytes, batches of ~400 KB, enough to amortise the per-batch
	// costs of the engine and small enough for 64 in flight to stay in tens
	// of MB).
	BatchRecords int `yaml:"batch_records"`
	// MaxLineBytes caps a line; a longer line is sent to the .errors output
	// (its first 256 bytes) and the file goes on. The default and the
	// largest value is 65535, the longest line a record holds.
	MaxLineBytes int `yaml:"max_line_bytes"`
}

// NewDefaultConfig returns the defaults.
func NewDefaultConfig() *Config {
	return &Config{BatchRecords: 4096, MaxLineBytes: flowlog.MaxLineLen}
}

// Validate checks the config.
func (c *Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("path: must be set (a file, a glob, or \"-\" for stdin)"))
	}
	if c.BatchRecords <= 0 {
		errs = append(errs, fmt.Errorf("batch_records: must be positive, got %d", c.BatchRecords))
	}
	if c.MaxLineBytes < 64 || c.MaxLineBytes > flowlog.MaxLineLen {
		errs = append(errs, fmt.Errorf("max_line_bytes: must be between 64 and %d, got %d", flowlog.MaxLineLen, c.MaxLineBytes))
	}
	return errors.Join(errs...)
}
