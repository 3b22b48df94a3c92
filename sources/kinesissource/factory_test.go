package kinesissource

import (
	"context"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/processor/component"
)

// isolateAWS points the SDK's default chain at nothing but the test's
// environment.
func isolateAWS(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_KINESIS", "")
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "")
}

func TestFactory(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 1)
	recs := lines("f", 10)
	e.put(t, stream, recs...)
	for _, tc := range []struct {
		name string
		env  bool // endpoints from AWS_ENDPOINT_URL_<SERVICE>, not the file
	}{{"endpoints from the file", false}, {"endpoints from the environment", true}} {
		t.Run(tc.name, func(t *testing.T) {
			isolateAWS(t)
			f := NewFactory()
			if f.Type != "kinesis" {
				t.Fatalf("Type = %q", f.Type)
			}
			cfg := f.NewDefaultConfig().(*Config)
			cfg.Stream = stream
			cfg.LeaseTable = uniq("leases")
			cfg.FailoverTime = time.Second
			cfg.PollInterval = 50 * time.Millisecond
			if tc.env {
				t.Setenv("AWS_ENDPOINT_URL_KINESIS", e.kinURL)
				t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", e.ddbURL)
			} else {
				cfg.Endpoint, cfg.DynamoDBEndpoint = e.kinURL, e.ddbURL
			}
			src, err := f.Create(context.Background(), cfg, componentSettings())
			if err != nil {
				t.Fatal(err)
			}
			s := src.(*Source)
			var c collector
			done := consume(s, &c, nil)
			waitFor(t, 10*time.Second, "records", func() bool { return c.count() >= len(recs) })
			if err := src.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			<-done
			got, _ := c.snapshot()
			wantAll(t, setOf(t, got, true), recs)
			if _, _, err := src.Read(context.Background()); err != component.ErrEndOfInput {
				t.Fatalf("Read after Close: %v, want ErrEndOfInput", err)
			}
		})
	}
}

func TestFactoryRejectsBadConfig(t *testing.T) {
	isolateAWS(t)
	f := NewFactory()
	if _, err := f.Create(context.Background(), f.NewDefaultConfig(), componentSettings()); err == nil {
		t.Fatal("created a source without a stream")
	}
	if _, err := f.Create(context.Background(), "nope", componentSettings()); err == nil {
		t.Fatal("created a source from a string")
	}
}
