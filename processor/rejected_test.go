package processor_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sinks/sinktest"
	"github.com/vpcflow/vpcflow/sources/sourcetest"
)

// rejectPoison refuses the records whose line contains "poison", as an
// intake answering 400 for them would after the sink split the request.
func rejectPoison(b *flowlog.Batch) error {
	var idx []int
	for i := range b.Records {
		if bytes.Contains(b.Records[i].Raw, []byte("poison")) {
			idx = append(idx, i)
		}
	}
	return component.Rejected(errors.New("400 bad request"), idx)
}

func poisoned() []*flowlog.Batch {
	return []*flowlog.Batch{
		sourcetest.Lines("p0", "a1", "poison 1", "a2", "a3"),
		sourcetest.Lines("p1", "b1", "b2"),
		sourcetest.Lines("p0", "poison 2", "c1", "poison 3"),
	}
}

func TestRejectedRecordsAloneGoToDeadLetter(t *testing.T) {
	h := &harness{src: sourcetest.New(t, poisoned()...), sinks: map[string]*sinktest.Recorder{
		"main": {Fail: rejectPoison}, "dlq": {}}}
	p := build(t, h, `
sources: {in: {type: static}}
sinks:
  main: {type: rec, inputs: [in], dead_letter: dlq}
  dlq: {type: rec, inputs: [in.errors]}
`)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertAllAcked(t, h.src, false)
	dl := h.sinks["dlq"].Lines()
	slices.Sort(dl)
	if got := strings.Join(dl, ","); got != "poison 1,poison 2,poison 3" {
		t.Fatalf("dead letter got %q, want only the refused records", got)
	}
	// The recorder records nothing of a refused write: the accepted
	// records are those the sink reported delivered.
	if got := testkit.Metric(t, h.reg, "vpcflow_sink_records_delivered_total", "sink", "main"); got != 6 {
		t.Errorf("main delivered %v, want 6", got)
	}
	if got := testkit.Metric(t, h.reg, "vpcflow_sink_records_dead_lettered_total", "sink", "main"); got != 3 {
		t.Errorf("dead_lettered %v, want 3", got)
	}
	if got := testkit.Metric(t, h.reg, "vpcflow_sink_records_failed_total", "sink", "main"); got != 0 {
		t.Errorf("failed %v, want 0", got)
	}
}

func TestOnRejectedDropCountsAndLogs(t *testing.T) {
	h := &harness{src: sourcetest.New(t, poisoned()...), sinks: map[string]*sinktest.Recorder{"main": {Fail: rejectPoison}}}
	p := build(t, h, `
sources: {in: {type: static}}
sinks:
  main: {type: rec, inputs: [in], on_rejected: drop}
`)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertAllAcked(t, h.src, false)
	if got := testkit.Metric(t, h.reg, "vpcflow_sink_records_failed_total", "sink", "main"); got != 3 {
		t.Errorf("failed %v, want 3", got)
	}
	if !strings.Contains(h.logs.String(), "on_rejected: drop") {
		t.Errorf("no log of the dropped records:\n%s", h.logs.String())
	}
}

// With on_rejected: block (the default) refused records are not
// acknowledged: they are retried, the sink reports itself blocked, and
// once the destination takes them the batch is acknowledged.
func TestOnRejectedBlockRetriesUntilAccepted(t *testing.T) {
	var accept atomic.Bool
	h := &harness{src: sourcetest.New(t, poisoned()...), sinks: map[string]*sinktest.Recorder{
		"main": {Fail: func(b *flowlog.Batch) error {
			if accept.Load() {
				return nil
			}
			return rejectPoison(b)
		}}}}
	p := build(t, h, `
sources: {in: {type: static}}
sinks:
  main: {type: rec, inputs: [in]}
stuck_after: 100ms
`)
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	deadline := time.Now().Add(10 * time.Second)
	for testkit.Metric(t, h.reg, "vpcflow_sink_blocked", "sink", "main") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("vpcflow_sink_blocked never 1")
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitUnhealthy(t, p, deadline, 20*time.Millisecond, "healthy while refused records are retried past stuck_after")
	if err := p.Healthy(); !strings.Contains(err.Error(), "sinks.main (rec): stuck") || !strings.Contains(err.Error(), "400 bad request") {
		t.Errorf("Healthy = %v, want it to name the sink and the refusal", err)
	}
	if acks, _, _ := h.src.Acks(); len(acks) != 1 { // only the batch with no poison
		t.Fatalf("%d batches acknowledged while their records are refused", len(acks))
	}
	accept.Store(true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	assertAllAcked(t, h.src, false)
	if got := testkit.Metric(t, h.reg, "vpcflow_sink_blocked", "sink", "main"); got != 0 {
		t.Errorf("vpcflow_sink_blocked %v after delivery", got)
	}
	if got := testkit.Metric(t, h.reg, "vpcflow_sink_records_delivered_total", "sink", "main"); got != 9 {
		t.Errorf("delivered %v, want 9", got)
	}
}

// A dead letter that cannot deliver is reported stuck as itself; the
// primary, whose own writes ended, is not.
func TestStuckDeadLetterReportedAsItself(t *testing.T) {
	block := make(chan struct{})
	h := &harness{src: sourcetest.New(t, poisoned()...), sinks: map[string]*sinktest.Recorder{
		"main": {Fail: rejectPoison}, "dlq": {Block: block}}}
	p := build(t, h, `
sources: {in: {type: static}}
sinks:
  main: {type: rec, inputs: [in], dead_letter: dlq}
  dlq: {type: rec, inputs: [in.errors]}
stuck_after: 100ms
shutdown_timeout: 50ms
`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitUnhealthy(t, p, time.Now().Add(10*time.Second), 20*time.Millisecond, "a blocked dead letter is still healthy")
	if err := p.Healthy(); !strings.Contains(err.Error(), "sinks.dlq (rec): stuck") {
		t.Errorf("Healthy = %v, want the dead letter named", err)
	}
	cancel()
	close(block)
	<-done
}

// flaky fails its first n batches, then works.
func flaky(n int32, calls *atomic.Int32) component.StageFactory {
	return component.StageFactory{
		Type:             "flaky",
		NewDefaultConfig: func() any { return &struct{}{} },
		Create: func(context.Context, any, component.Settings) (component.Stage, error) {
			return component.StageFunc(func(context.Context, *flowlog.Batch) error {
				if calls.Add(1) <= n {
					return errors.New("dependency down")
				}
				return nil
			}), nil
		},
	}
}

func TestStageErrorsAreRetriedNotNacked(t *testing.T) {
	var calls atomic.Int32
	h := &harness{src: sourcetest.New(t, batches(2, 3)...), sinks: map[string]*sinktest.Recorder{"out": {}},
		stages: []component.StageFactory{flaky(3, &calls)}}
	p := build(t, h, `
sources: {in: {type: static}}
stages: {f: {type: flaky, inputs: [in]}}
sinks: {out: {type: rec, inputs: [f]}}
workers: 1
`)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertAllAcked(t, h.src, false)
	if n := len(h.sinks["out"].Lines()); n != 6 {
		t.Errorf("delivered %d records, want 6", n)
	}
	if got := testkit.Metric(t, h.reg, "vpcflow_stage_retries_total", "stage", "f"); got != 3 {
		t.Errorf("stage retries %v, want 3", got)
	}
	if !strings.Contains(h.logs.String(), "dependency down") {
		t.Errorf("the stage error was not logged:\n%s", h.logs.String())
	}
}

// Failures of an .errors output that no sink takes are counted and logged
// (rate limited) with the component, the reason and the input.
func TestUnconsumedErrorsAreLogged(t *testing.T) {
	h := &harness{src: sourcetest.New(t, sourcetest.Lines("p0", "good", "a bad line", "fine")), sinks: map[string]*sinktest.Recorder{"out": {}}}
	p := build(t, h, `
sources: {in: {type: static}}
stages: {filter: {type: test_filter, inputs: [in]}}
sinks: {out: {type: rec, inputs: [filter]}}
`)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertAllAcked(t, h.src, false)
	if got := testkit.Metric(t, h.reg, "vpcflow_errors_discarded_total", "component", "filter"); got != 1 {
		t.Errorf("discarded %v, want 1", got)
	}
	logs := h.logs.String()
	for _, want := range []string{"component=filter", "no sink takes filter.errors", "is bad", "input=\"a bad line\""} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}
