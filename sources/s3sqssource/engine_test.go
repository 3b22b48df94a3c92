package s3sqssource

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/parse"
	"github.com/vpcflow/vpcflow/sinks/sinktest"
)

// TestThroughEngine runs the source in the pipeline engine: s3_sqs →
// parse_flowlog (format auto) → two sinks (fan-out), gzip text and Parquet
// objects. Every record reaches both sinks parsed, the header lines are
// consumed by the parse stage, every message is deleted, and SIGTERM
// (context cancelled) ends the run cleanly.
func TestThroughEngine(t *testing.T) {
	e := newEnv(t)
	const objects, perObject = 6, 3000
	for i := range objects {
		key := fmt.Sprintf("AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/25/e%d.log.gz", i)
		e.put(key, gz(textObject(i*perObject, perObject)))
		e.send(s3Event(key))
	}
	pq, pqLines := parquetObject(t, 2000, 700)
	const pqKey = "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/25/p.log.parquet"
	e.put(pqKey, pq)
	e.send(ebEvent(pqKey))
	want := objects*perObject + len(pqLines) - 1

	cfgYAML := fmt.Sprintf(`
sources:
  flows:
    type: s3_sqs
    queue_url: %s
    sqs_endpoint: %s
    s3_endpoint: %s
    force_path_style: true
    wait_time: 1s
    batch_max_records: 500
    queue_stats_interval: 0s
stages:
  parse:
    type: parse_flowlog
    inputs: [flows]
    format: auto
sinks:
  a: {type: rec, inputs: [parse]}
  b: {type: rec, inputs: [parse]}
  errs: {type: rec, inputs: [parse.errors]}
max_in_flight: 4
`, e.queueURL, e.sqsURL, e.s3URL)
	cfg, err := processor.ParseConfig([]byte(cfgYAML), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]*sinktest.Recorder{"a": {}, "b": {}, "errs": {}}
	f := processor.NewFactories(
		[]component.SourceFactory{NewFactory()},
		[]component.StageFactory{parse.NewFactory()},
		[]component.SinkFactory{sinktest.Factory("rec", recs)},
	)
	p, err := processor.Build(context.Background(), cfg, f, processor.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	waitFor(t, "every record in both sinks and every message deleted", 30*time.Second, func() bool {
		return len(recs["a"].Lines()) >= want && len(recs["b"].Lines()) >= want && e.depth(e.queueURL) == 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, id := range []string{"a", "b"} {
		lines := recs[id].Lines()
		if len(lines) != want {
			t.Errorf("sink %s: %d records, want %d", id, len(lines), want)
		}
		seen := map[string]bool{}
		for _, l := range lines {
			if strings.HasPrefix(l, "version ") {
				t.Fatalf("sink %s received a header line", id)
			}
			seen[l] = true
		}
		for _, l := range pqLines[1:] {
			if !seen[l] {
				t.Fatalf("sink %s lacks Parquet line %q", id, l)
			}
		}
	}
	if f := recs["errs"].Failures(); len(f) != 0 {
		t.Errorf("parse failures: %v", f[0].Err)
	}
}
