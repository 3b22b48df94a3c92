package httpsink

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// decode reads a config file as the engine does: strict YAML over the
// defaults.
func decode(t *testing.T, file string) (*Config, error) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewDefaultConfig()
	d := yaml.NewDecoder(bytes.NewReader(data))
	d.KnownFields(true)
	if err := d.Decode(cfg); err != nil {
		return nil, err
	}
	return cfg, cfg.Validate()
}

func TestConfigFiles(t *testing.T) {
	cfg, err := decode(t, "testdata/config/full.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Batch.MaxBytes != 500000 || cfg.Batch.IdleTimeout != 20*time.Millisecond || cfg.Retry.MaxInterval != time.Minute ||
		cfg.MaxRetryDuration != time.Hour || cfg.Sumologic.Fields != "account={account-id},region={aws-region}" ||
		cfg.Headers["X-Team"] != "network" || !cfg.IncludeLogInfo || cfg.CompressionLevel != 3 {
		t.Errorf("decoded %+v", cfg)
	}
	for file, want := range map[string][]string{
		"testdata/config/typo.bad.yaml":                     {"max_byte"},
		"testdata/config/values.bad.yaml":                   {"compression must be", "concurrency must be positive", "unknown placeholder {acount-id}"},
		"testdata/config/sumologic-without-preset.bad.yaml": {"sumologic: only used with preset: sumologic"},
	} {
		_, err := decode(t, file)
		if err == nil {
			t.Errorf("%s: no error", file)
			continue
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not contain %q", file, err, w)
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	c := NewDefaultConfig()
	if c.Method != "POST" || c.Compression != "gzip" || c.Batch.MaxBytes != 1_000_000 || c.Batch.Timeout != time.Second ||
		c.Concurrency != 4 || c.MaxRetryDuration != 0 || c.encodingName() != "json" {
		t.Errorf("defaults: %+v", c)
	}
	c.Preset = PresetSumologic
	if c.encodingName() != "sumo_vpc_json" {
		t.Errorf("sumologic preset encoding %q", c.encodingName())
	}
}
