package s3sqssource

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/processor/component/componenttest"
)

// decodeConfig decodes like the engine: strict keys into the defaults,
// then Validate.
func decodeConfig(data []byte) (*Config, error) {
	c := NewDefaultConfig()
	return c, componenttest.Decode(data, c)
}

func TestConfigFiles(t *testing.T) {
	for _, tc := range []struct{ file, errContains string }{
		{"full.good.yaml", ""},
		{"minimal.good.yaml", ""},
		{"typo.bad.yaml", "visibilty_timeout"},
		{"values.bad.yaml", "queue_url must be set"},
		{"values.bad.yaml", "visibility_timeout"},
		{"values.bad.yaml", "wait_time"},
		{"values.bad.yaml", "max_line_bytes"},
		{"values.bad.yaml", "max_receive_attempts"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "config", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = decodeConfig(data)
			if tc.errContains == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errContains) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.errContains)
			}
		})
	}
	c, err := decodeConfig([]byte("queue_url: http://localhost/q\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := NewDefaultConfig()
	want.QueueURL = "http://localhost/q"
	if *c != *want || c.VisibilityTimeout != 5*time.Minute || c.WaitTime != 20*time.Second {
		t.Errorf("defaults not kept: %+v", c)
	}
}
