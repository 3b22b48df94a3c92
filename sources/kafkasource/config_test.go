package kafkasource

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vpcflow/vpcflow/processor/component"
)

func decode(t *testing.T, doc string) (*Config, error) {
	t.Helper()
	cfg := NewFactory().NewDefaultConfig().(*Config)
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func TestConfigGood(t *testing.T) {
	cfg, err := decode(t, `
brokers: ["b1:9092", "b2:9092"]
topics: [vpc-a, vpc-b]
topic: vpc-a
group: flows
start_from: latest
payload: cloudwatch_logs
client_id: vpcflow-eu
fetch_max_bytes: 10485760
fetch_max_partition_bytes: 1048576
fetch_max_wait: 500ms
max_poll_records: 5000
batch_max_records: 2000
commit_interval: 2s
lag_interval: 10s
session_timeout: 30s
rebalance_timeout: 30s
heartbeat_interval: 1s
tls: {enabled: true, ca_file: /etc/ca.pem, cert_file: c.pem, key_file: k.pem, server_name: kafka}
sasl: {mechanism: SCRAM-SHA-512, user: vpcflow, password: secret}
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := cfg.topics(); strings.Join(got, ",") != "vpc-a,vpc-b" {
		t.Errorf("topics = %v", got)
	}
	if cfg.FetchMaxWait != 500*time.Millisecond || cfg.LagInterval != 10*time.Second {
		t.Errorf("durations: %s %s", cfg.FetchMaxWait, cfg.LagInterval)
	}
	// defaults with the required keys only
	cfg, err = decode(t, "brokers: [b:9092]\ntopic_regex: 'vpc-.*'\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Group != "vpcflow" || cfg.StartFrom != "earliest" || cfg.Payload != "auto" || cfg.BatchMaxRecords != 4096 {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestConfigBad(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown key", "brokers: [b]\ntopic: t\nbroker: x", "field broker not found"},
		{"no brokers", "topic: t", "brokers must name at least one broker"},
		{"empty broker", "brokers: ['']\ntopic: t", "brokers[0] is empty"},
		{"no topic", "brokers: [b]", "one of topic, topics or topic_regex"},
		{"regex and topic", "brokers: [b]\ntopic: t\ntopic_regex: x", "topic_regex cannot be combined"},
		{"bad regex", "brokers: [b]\ntopic_regex: '('", "topic_regex:"},
		{"empty topics item", "brokers: [b]\ntopics: [a, '']", "topics[1] is empty"},
		{"no group", "brokers: [b]\ntopic: t\ngroup: ''", "group must be set"},
		{"start_from", "brokers: [b]\ntopic: t\nstart_from: beginning", "start_from must be earliest or latest"},
		{"payload", "brokers: [b]\ntopic: t\npayload: kpl", "payload: unknown payload \"kpl\""},
		{"fetch bytes", "brokers: [b]\ntopic: t\nfetch_max_bytes: 0", "fetch_max_bytes"},
		{"partition bytes", "brokers: [b]\ntopic: t\nfetch_max_partition_bytes: 4294967296", "fetch_max_partition_bytes"},
		{"fetch wait", "brokers: [b]\ntopic: t\nfetch_max_wait: 1ms", "fetch_max_wait"},
		{"poll records", "brokers: [b]\ntopic: t\nmax_poll_records: -1", "max_poll_records"},
		{"batch records", "brokers: [b]\ntopic: t\nbatch_max_records: 0", "batch_max_records"},
		{"commit interval", "brokers: [b]\ntopic: t\ncommit_interval: 10ms", "commit_interval"},
		{"lag interval", "brokers: [b]\ntopic: t\nlag_interval: 1m", "lag_interval"},
		{"heartbeat", "brokers: [b]\ntopic: t\nheartbeat_interval: 1m", "heartbeat_interval"},
		{"session", "brokers: [b]\ntopic: t\nsession_timeout: 1ms", "session_timeout"},
		{"tls pair", "brokers: [b]\ntopic: t\ntls: {enabled: true, cert_file: c}", "tls.cert_file and tls.key_file"},
		{"tls disabled", "brokers: [b]\ntopic: t\ntls: {ca_file: c}", "tls.enabled must be true"},
		{"sasl unknown", "brokers: [b]\ntopic: t\nsasl: {mechanism: GSSAPI}", "sasl.mechanism must be"},
		{"sasl no password", "brokers: [b]\ntopic: t\nsasl: {mechanism: PLAIN, user: u}", "sasl.password must be set"},
		{"sasl no mechanism", "brokers: [b]\ntopic: t\nsasl: {user: u}", "sasl.mechanism must be set"},
		{"msk without tls", "brokers: [b]\ntopic: t\nsasl: {mechanism: AWS_MSK_IAM}", "AWS_MSK_IAM needs tls.enabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := decode(t, tc.doc)
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// every problem is reported at once
	cfg, _ := decode(t, "batch_max_records: 0")
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "brokers") || !strings.Contains(err.Error(), "batch_max_records") {
		t.Errorf("error = %v", err)
	}
	// the password never shows in errors
	cfg, _ = decode(t, "sasl: {mechanism: FOO, user: u, password: hunter2}")
	if err := cfg.Validate(); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error = %v", err)
	}
}

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type != "kafka" {
		t.Errorf("Type = %q", f.Type)
	}
	if _, err := f.Create(context.Background(), struct{}{}, component.Settings{}); err == nil {
		t.Error("Create accepted a foreign config")
	}
	bad := NewDefaultConfig()
	if _, err := f.Create(context.Background(), bad, component.Settings{}); err == nil || !strings.Contains(err.Error(), "brokers") {
		t.Errorf("Create with invalid config = %v", err)
	}
	if _, err := f.Create(context.Background(), &Config{
		Brokers: []string{"127.0.0.1:1"}, Topic: "t", Group: "g", StartFrom: "earliest", Payload: "auto",
		FetchMaxBytes: 1, FetchMaxPartitionBytes: 1, FetchMaxWait: time.Second, MaxPollRecords: 1, BatchMaxRecords: 1,
		CommitInterval: time.Second, LagInterval: time.Second, SessionTimeout: 10 * time.Second,
		RebalanceTimeout: 10 * time.Second, HeartbeatInterval: time.Second,
		TLS: TLSConfig{Enabled: true, CAFile: "/nonexistent/ca.pem"},
	}, component.Settings{}); err == nil || !strings.Contains(err.Error(), "tls.ca_file") {
		t.Errorf("Create with a missing CA file = %v", err)
	}
}
