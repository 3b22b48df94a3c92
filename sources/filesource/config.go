package filesource

import (
	"errors"
	"fmt"

	"github.com/vpcflow/vpcflow/sources/internal/linelimit"
)

// Config configures the file source.
type Config struct {
	// Path is a file, a glob ("/data/*.log.gz") or "-" for standard input.
	// A batch that is not delivered (nacked) is read again from its first
	// line, which only regular files allow: with standard input or a pipe
	// such a nack fails the run, naming the input and the line.
	Path string `yaml:"path"`
	// BatchMaxRecords is the most lines in one batch (default 4096: with
	// lines of ~100 bytes, batches of ~400 KB, enough to amortise the
	// per-batch costs of the engine and small enough for 64 in flight to
	// stay in tens of MB).
	BatchMaxRecords int `yaml:"batch_max_records"`
	// BatchRecords is the former name of batch_max_records, still accepted
	// (a warning names the new key); when set, it is used.
	BatchRecords int `yaml:"batch_records"`
	// MaxLineBytes caps a line; a longer line is sent to the .errors output
	// (its first 256 bytes) and the file goes on. It is between 64 and
	// 65535, the longest line a record holds, which is the default.
	MaxLineBytes int `yaml:"max_line_bytes"`
}

// NewDefaultConfig returns the defaults.
func NewDefaultConfig() *Config {
	return &Config{BatchMaxRecords: 4096, MaxLineBytes: linelimit.Max}
}

// batchMaxRecords is batch_max_records, or batch_records when that, the
// former name, is set.
func (c *Config) batchMaxRecords() int {
	if c.BatchRecords != 0 {
		return c.BatchRecords
	}
	return c.BatchMaxRecords
}

// Validate checks the config.
func (c *Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("path must be set (a file, a glob, or \"-\" for stdin)"))
	}
	switch {
	case c.BatchRecords < 0:
		errs = append(errs, fmt.Errorf("batch_records must be positive, got %d", c.BatchRecords))
	case c.batchMaxRecords() <= 0:
		errs = append(errs, fmt.Errorf("batch_max_records must be positive, got %d", c.BatchMaxRecords))
	}
	if err := linelimit.Check(c.MaxLineBytes); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
