package kinesissource

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/processor/component/componenttest"
)

// load decodes a config file as the engine does: into the defaults, with
// unknown keys rejected, then Validate.
func load(t *testing.T, path string) (*Config, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewFactory().NewDefaultConfig().(*Config)
	return cfg, componenttest.Decode(data, cfg)
}

func TestGoodConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/config/*.good.yaml")
	if len(files) == 0 {
		t.Fatal("no good configs")
	}
	for _, f := range files {
		if _, err := load(t, f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	cfg, _ := load(t, "testdata/config/full.good.yaml")
	if cfg.FailoverTime != 20*time.Second || cfg.HandoffTimeout != 45*time.Second || cfg.PollInterval != 500*time.Millisecond || cfg.MaxLeases != 8 ||
		!cfg.StartTimestamp.Equal(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)) || cfg.leaseTable() != "vpcflow-leases" {
		t.Errorf("full config decoded as %+v", cfg)
	}
	cfg, _ = load(t, "testdata/config/minimal.good.yaml")
	if cfg.leaseTable() != "vpcflow-vpc-flow-logs" || cfg.Payload != PayloadAuto || cfg.FailoverTime != 10*time.Second || cfg.HandoffTimeout != 30*time.Second {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg, _ = load(t, "testdata/config/handoff-off.good.yaml")
	if cfg.HandoffTimeout != 0 || cfg.drainTimeout() != cfg.FailoverTime {
		t.Errorf("handoff_timeout: 0 decoded as %s (drain %s)", cfg.HandoffTimeout, cfg.drainTimeout())
	}
}

func TestBadConfigs(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"no-stream.bad.yaml", []string{"stream must be set"}},
		{"bad-values.bad.yaml", []string{"start_from", "payload", "failover_time", "max_records_per_call", "poll_interval", "max_leases", "handoff_timeout"}},
		{"timestamp-missing.bad.yaml", []string{"start_timestamp"}},
		{"unknown-key.bad.yaml", []string{"shard_count"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := load(t, filepath.Join("testdata/config", tc.file))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestStreamName(t *testing.T) {
	if got := streamName("arn:aws:kinesis:eu-west-1:123456789012:stream/flows"); got != "flows" {
		t.Fatalf("streamName(arn) = %q", got)
	}
	if got := (&Config{Stream: "arn:aws:kinesis:eu-west-1:123456789012:stream/flows"}).leaseTable(); got != "vpcflow-flows" {
		t.Fatalf("leaseTable = %q", got)
	}
}
