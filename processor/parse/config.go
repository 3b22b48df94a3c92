package parse

import "fmt"

// FormatAuto is the format value that reads the format from each input's
// S3 header line.
const FormatAuto = "auto"

// Config configures the parse_flowlog stage.
type Config struct {
	// Format is "default" (the version 2 default format), "auto" (read
	// from the header line S3 delivery writes at the top of each object;
	// the default format for inputs without one) or a custom format
	// string, "${version} ${vpc-id} ${srcaddr} …", exactly as given to
	// AWS when the flow log was created.
	Format string `yaml:"format"`
}

// NewDefaultConfig returns the default configuration: format "default",
// what CloudWatch Logs and Kinesis deliveries of a flow log created
// without a custom format carry.
func NewDefaultConfig() *Config {
	return &Config{Format: "default"}
}

// Validate checks the format.
func (c *Config) Validate() error {
	if c.Format == FormatAuto {
		return nil
	}
	if _, err := Compile(c.Format); err != nil {
		return fmt.Errorf("format: %w", err)
	}
	return nil
}
