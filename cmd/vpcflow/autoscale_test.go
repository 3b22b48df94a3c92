package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor"
)

// TestAutoscalingDeliversEachRecordOnce is the autoscaling day through the
// whole pipeline: instance b consumes a 6-partition topic alone, c joins
// mid-stream, then b is stopped (SIGTERM) mid-stream; both deliver to an
// intake that takes 100 ms a request. Partitions change hands exactly where
// delivery stopped: every record reaches the intake once, none twice.
func TestAutoscalingDeliversEachRecordOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two pipelines for several seconds")
	}
	const parts, perPart, linesPer = 6, 300, 10
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(parts, "flows"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	total := 0
	for n := range perPart {
		var recs []*kgo.Record
		for p := range int32(parts) {
			var b strings.Builder
			for k := range linesPer {
				fmt.Fprintf(&b, "2 123456789012 eni-%08x 10.%d.%d.%d 52.1.2.3 %d 443 6 10 %d 1718000000 1718000060 ACCEPT OK\n",
					p, p, n/256, n%256, 1024+k, 100000*int(p)+n*linesPer+k)
				total++
			}
			recs = append(recs, &kgo.Record{Topic: "flows", Partition: p, Value: []byte(b.String())})
		}
		if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	intake := newCollector(nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		intake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	t.Setenv("INTAKE_URL", srv.URL+"/receiver/v1/http/TOKEN")
	cfg := func() *processor.Config {
		c, err := processor.ParseConfig([]byte(fmt.Sprintf(`
sources:
  in:
    type: kafka
    brokers: [%q]
    topic: flows
    group: vpcflow
    payload: lines
    start_from: earliest
    fetch_max_partition_bytes: 1
    batch_max_records: 50
    session_timeout: 6s
    heartbeat_interval: 500ms
stages: {parse: {type: parse_flowlog, inputs: [in]}}
sinks:
  out: {type: http, inputs: [parse], url: "${INTAKE_URL}", encoding: raw, batch: {max_bytes: 8000, timeout: 20ms}}
max_in_flight: 8
shutdown_timeout: 20s
telemetry: {listen: "127.0.0.1:0"}
`, cluster.ListenAddrs()[0])), os.LookupEnv)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	waitFor := func(what string, n int) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for intake.distinct() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%s: only %d of %d records delivered", what, intake.distinct(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var logsB, logsC testkit.Buffer
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	doneB := make(chan error, 1)
	go func() { doneB <- runPipelineWith(ctxB, cfg(), &logsB, nil) }()
	waitFor("b alone", total/5)

	ctxC, stopC := context.WithCancel(context.Background())
	defer stopC()
	doneC := make(chan error, 1)
	go func() { doneC <- runPipelineWith(ctxC, cfg(), &logsC, nil) }()
	waitFor("b and c", total/2)

	stopB() // SIGTERM to b: drain, commit, leave the group
	if err := <-doneB; err != nil {
		t.Fatalf("b: %v\n%s", err, logsB.String())
	}
	waitFor("c alone", total)
	stopC()
	if err := <-doneC; err != nil {
		t.Fatalf("c: %v", err)
	}
	intake.mu.Lock()
	defer intake.mu.Unlock()
	doubled := 0
	for _, n := range intake.lines {
		if n > 1 {
			doubled++
		}
	}
	if len(intake.lines) != total || doubled != 0 {
		t.Fatalf("%d of %d records delivered, %d of them more than once", len(intake.lines), total, doubled)
	}
}
