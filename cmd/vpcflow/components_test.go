package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/vpcflow/vpcflow/processor"
)

// TestTwoOfEveryComponentShareOneRegistry builds a pipeline with two
// components of each type that can be built offline: their metrics must
// live side by side in one registry.
func TestTwoOfEveryComponentShareOneRegistry(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "flows"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	os.WriteFile(in, []byte("2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n"), 0o644)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	yaml := fmt.Sprintf(`
sources:
  f1: {type: file, path: %[1]q}
  f2: {type: file, path: %[1]q}
  k1: {type: kafka, brokers: [%[2]q], topic: flows, group: g1}
  k2: {type: kafka, brokers: [%[2]q], topic: flows, group: g2}
stages:
  p1: {type: parse_flowlog, inputs: [f1, k1]}
  p2: {type: parse_flowlog, inputs: [f2, k2]}
  c1: {type: cidr_filter, inputs: [p1], drop_when_both_in: ["10.0.0.0/8"]}
  c2: {type: cidr_filter, inputs: [p2], prefix_strings: ["10."]}
  e1: {type: eni_enrich, inputs: [c1], endpoint: "http://127.0.0.1:9"}
  e2: {type: eni_enrich, inputs: [c2], endpoint: "http://127.0.0.1:9"}
  m1: {type: flow_metrics, inputs: [e1]}
  m2: {type: flow_metrics, inputs: [e2]}
  s1: {type: log_stream_filter, inputs: [m1], log_stream_prefixes: [eni-]}
  s2: {type: log_stream_filter, inputs: [m2], log_group_prefixes: [/vpc]}
sinks:
  h1: {type: http, inputs: [s1], url: "http://127.0.0.1:9/a"}
  h2: {type: http, inputs: [s2], url: "http://127.0.0.1:9/b", preset: sumologic}
  o1: {type: file, inputs: [s1], path: %[3]q}
  o2: {type: file, inputs: [p1.errors, p2.errors], path: %[3]q}
`, in, cluster.ListenAddrs()[0], filepath.Join(dir, "out"))
	cfg, err := processor.ParseConfig([]byte(yaml), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	p, err := processor.Build(context.Background(), cfg, factories(), processor.Settings{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // build only: close everything again
	if err := p.Run(ctx); err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}
