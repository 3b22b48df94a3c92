package processor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sinks/sinktest"
	"github.com/vpcflow/vpcflow/sources/sourcetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dropStage drops records whose line contains "drop" and fails those
// containing "bad".
func dropStage() component.StageFactory {
	return component.StageFactory{
		Type:             "test_filter",
		NewDefaultConfig: func() any { return &struct{}{} },
		Create: func(_ context.Context, _ any, set component.Settings) (component.Stage, error) {
			return component.StageFunc(func(_ context.Context, b *flowlog.Batch) error {
				kept := b.Records[:0]
				for _, r := range b.Records {
					switch {
					case bytes.Contains(r.Raw, []byte("drop")):
					case bytes.Contains(r.Raw, []byte("bad")):
						b.Fail(set.ID, fmt.Errorf("line %q is bad", r.Raw), r.Raw, r.Origin)
					default:
						kept = append(kept, r)
					}
				}
				b.Records = kept
				return nil
			}), nil
		},
	}
}

type harness struct {
	src    *sourcetest.Static
	sinks  map[string]*sinktest.Recorder
	stages []component.StageFactory // beyond test_filter
	logs   testkit.Buffer
	reg    *prometheus.Registry
}

func build(t *testing.T, h *harness, yaml string) *processor.Pipeline {
	t.Helper()
	cfg, err := processor.ParseConfig([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	f := processor.NewFactories(
		[]component.SourceFactory{sourcetest.Factory("static", h.src)},
		append([]component.StageFactory{dropStage()}, h.stages...),
		[]component.SinkFactory{sinktest.Factory("rec", h.sinks)},
	)
	h.reg = prometheus.NewRegistry()
	p, err := processor.Build(context.Background(), cfg, f, processor.Settings{Registerer: h.reg, Logger: slog.New(slog.NewTextHandler(&h.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// endless makes s block once its batches are handed out, as a stream does.
func endless(s *sourcetest.Static) *sourcetest.Static {
	s.Endless = true
	return s
}

func batches(n, per int) []*flowlog.Batch {
	var out []*flowlog.Batch
	for i := range n {
		var lines []string
		for j := range per {
			lines = append(lines, fmt.Sprintf("line %d.%d", i, j))
		}
		out = append(out, sourcetest.Lines(fmt.Sprintf("p%d", i%3), lines...))
	}
	return out
}

func assertAllAcked(t *testing.T, src *sourcetest.Static, wantErr bool) {
	t.Helper()
	acks, n, doubles := src.Acks()
	if len(doubles) > 0 {
		t.Fatalf("batches acknowledged twice: %v", doubles)
	}
	if len(acks) != n {
		t.Fatalf("%d of %d batches acknowledged", len(acks), n)
	}
	for i, err := range acks {
		if (err != nil) != wantErr {
			t.Fatalf("batch %d: ack error %v, want error %v", i, err, wantErr)
		}
	}
}

const fanOut = `
sources:
  in: {type: static}
stages:
  filter: {type: test_filter, inputs: [in]}
sinks:
  a: {type: rec, inputs: [filter]}
  b: {type: rec, inputs: [filter]}
  errs: {type: rec, inputs: [filter.errors]}
max_in_flight: 4
workers: 2
`

func TestFanOutDeliversEveryRecordToEverySink(t *testing.T) {
	h := &harness{src: sourcetest.New(t, batches(50, 20)...), sinks: map[string]*sinktest.Recorder{"a": {}, "b": {}, "errs": {}}}
	h.src.Batches[3].Records[1].Raw = []byte("please drop me")
	h.src.Batches[7].Records[2].Raw = []byte("a bad line")
	p := build(t, h, fanOut)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertAllAcked(t, h.src, false)
	for _, id := range []string{"a", "b"} {
		lines := h.sinks[id].Lines()
		if len(lines) != 50*20-2 {
			t.Errorf("sink %s got %d records, want %d", id, len(lines), 50*20-2)
		}
		for _, l := range lines {
			if strings.Contains(l, "drop") || strings.Contains(l, "bad") {
				t.Errorf("sink %s got %q", id, l)
			}
		}
	}
	fails := h.sinks["errs"].Failures()
	if len(fails) != 1 || fails[0].Stage != "filter" || string(fails[0].Raw) != "a bad line" || !strings.Contains(fails[0].Err.Error(), "is bad") {
		t.Fatalf("errors sink got %+v", fails)
	}
	for id, want := range map[string]float64{"a": 998, "b": 998, "errs": 1} {
		if got := testkit.Metric(t, h.reg, "vpcflow_sink_records_delivered_total", "sink", id); got != want {
			t.Errorf("delivered{sink=%s} = %v, want %v", id, got, want)
		}
	}
	if got := testkit.Metric(t, h.reg, "vpcflow_stage_records_dropped_total", "stage", "filter"); got != 1 {
		t.Errorf("dropped = %v, want 1", got)
	}
	for _, r := range h.sinks {
		if r.Closed() != 1 {
			t.Errorf("sink closed %d times", r.Closed())
		}
	}
}

func TestPermanentFailureGoesToDeadLetterThenAcks(t *testing.T) {
	h := &harness{src: sourcetest.New(t, batches(10, 5)...), sinks: map[string]*sinktest.Recorder{
		"main": {Fail: func(b *flowlog.Batch) error {
			if b.Partition == "p1" {
				return component.Permanent(errors.New("400 bad request"))
			}
			return nil
		}},
		"dlq": {},
	}}
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
	main, dlq := len(h.sinks["main"].Lines()), len(h.sinks["dlq"].Lines())
	// p1 holds batches 1, 4, 7.
	if main != 35 || dlq != 15 {
		t.Fatalf("main got %d, dead letter %d; want 35 and 15", main, dlq)
	}
	if got := testkit.Metric(t, h.reg, "vpcflow_sink_records_dead_lettered_total", "sink", "main"); got != 15 {
		t.Fatalf("dead_lettered = %v", got)
	}
}

func TestTransientFailuresAreRetriedUntilDelivered(t *testing.T) {
	var calls atomic.Int32
	h := &harness{src: sourcetest.New(t, batches(3, 4)...), sinks: map[string]*sinktest.Recorder{
		"out": {Fail: func(*flowlog.Batch) error {
			if calls.Add(1) <= 3 {
				return errors.New("503 service unavailable")
			}
			return nil
		}},
	}}
	p := build(t, h, `
sources: {in: {type: static}}
sinks: {out: {type: rec, inputs: [in]}}
`)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertAllAcked(t, h.src, false)
	if n := len(h.sinks["out"].Lines()); n != 12 {
		t.Fatalf("delivered %d records, want 12", n)
	}
}

func TestShutdownNacksWhatCannotBeDelivered(t *testing.T) {
	block := make(chan struct{})
	h := &harness{src: endless(sourcetest.New(t, batches(20, 2)...)), sinks: map[string]*sinktest.Recorder{"out": {Block: block}}}
	p := build(t, h, `
sources: {in: {type: static}}
sinks: {out: {type: rec, inputs: [in]}}
max_in_flight: 4
shutdown_timeout: 100ms
`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	// Backpressure: with the sink blocked, only max_in_flight batches are read.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, n, _ := h.src.Acks()
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %d batches, want 4", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if _, n, _ := h.src.Acks(); n != 4 {
		t.Fatalf("read %d batches while the sink is blocked, want max_in_flight=4", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after SIGTERM: %v", err)
	}
	assertAllAcked(t, h.src, true)
	if len(h.sinks["out"].Lines()) != 0 {
		t.Fatal("blocked sink recorded records")
	}
}

func TestDrainDeliversInFlightOnShutdown(t *testing.T) {
	block := make(chan struct{})
	h := &harness{src: endless(sourcetest.New(t, batches(3, 2)...)), sinks: map[string]*sinktest.Recorder{"out": {Block: block}}}
	p := build(t, h, `
sources: {in: {type: static}}
sinks: {out: {type: rec, inputs: [in]}}
shutdown_timeout: 10s
`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for {
		if _, n, _ := h.src.Acks(); n == 3 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	time.Sleep(20 * time.Millisecond)
	close(block) // the sink recovers within the drain deadline
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	assertAllAcked(t, h.src, false)
	if n := len(h.sinks["out"].Lines()); n != 6 {
		t.Fatalf("delivered %d, want 6", n)
	}
}

func TestOrderKeptPerPartitionForOrderedSinks(t *testing.T) {
	var got []string
	src := sourcetest.New(t)
	for i := range 200 {
		src.Batches = append(src.Batches, sourcetest.Lines("only", fmt.Sprintf("%04d", i)))
	}
	rec := &orderedRecorder{}
	f := processor.NewFactories(
		[]component.SourceFactory{sourcetest.Factory("static", src)},
		[]component.StageFactory{dropStage()},
		[]component.SinkFactory{{Type: "ordered", NewDefaultConfig: func() any { return &struct{}{} },
			Create: func(context.Context, any, component.Settings) (component.Sink, error) { return rec, nil }}},
	)
	cfg, err := processor.ParseConfig([]byte(`
sources: {in: {type: static}}
stages: {f: {type: test_filter, inputs: [in]}}
sinks: {out: {type: ordered, inputs: [f]}}
workers: 4
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := processor.Build(context.Background(), cfg, f, processor.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got = rec.lines
	if len(got) != 200 {
		t.Fatalf("got %d lines", len(got))
	}
	for i, l := range got {
		if l != fmt.Sprintf("%04d", i) {
			t.Fatalf("line %d is %s: order lost", i, l)
		}
	}
}

type orderedRecorder struct {
	lines []string
}

func (o *orderedRecorder) Ordered() bool { return true }
func (o *orderedRecorder) Write(_ context.Context, b *flowlog.Batch) error {
	for _, r := range b.Records {
		o.lines = append(o.lines, string(r.Raw))
	}
	time.Sleep(time.Duration(len(o.lines)%3) * 100 * time.Microsecond)
	return nil
}
func (o *orderedRecorder) Close(context.Context) error { return nil }

func TestFatalSourceErrorStopsWithError(t *testing.T) {
	src := &failingSource{}
	f := processor.NewFactories(
		[]component.SourceFactory{sourcetest.Factory("bad", src)}, nil,
		[]component.SinkFactory{sinktest.Factory("rec", map[string]*sinktest.Recorder{"out": {}})},
	)
	cfg, err := processor.ParseConfig([]byte(`
sources: {in: {type: bad}}
sinks: {out: {type: rec, inputs: [in]}}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := processor.Build(context.Background(), cfg, f, processor.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "sources.in (bad): broker unreachable") {
		t.Fatalf("Run = %v, want the source's error", err)
	}
}

type failingSource struct{}

func (failingSource) Read(context.Context) (*flowlog.Batch, flowlog.AckFunc, error) {
	return nil, nil, errors.New("broker unreachable")
}
func (failingSource) Close(context.Context) error { return nil }

// waitUnhealthy polls p.Healthy every poll until it reports a problem,
// and fails the test with msg if that has not happened by deadline.
func waitUnhealthy(t *testing.T, p *processor.Pipeline, deadline time.Time, poll time.Duration, msg string) {
	t.Helper()
	for p.Healthy() == nil {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(poll)
	}
}

func TestHealthzReportsAStuckSink(t *testing.T) {
	block := make(chan struct{})
	h := &harness{src: endless(sourcetest.New(t, batches(2, 2)...)), sinks: map[string]*sinktest.Recorder{"out": {Block: block}}}
	p := build(t, h, `
sources: {in: {type: static}}
sinks: {out: {type: rec, inputs: [in]}}
stuck_after: 50ms
shutdown_timeout: 10ms
`)
	if err := p.Ready(); err == nil {
		t.Fatal("ready before Run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitUnhealthy(t, p, time.Now().Add(5*time.Second), 10*time.Millisecond,
		"a sink blocked for longer than stuck_after is still healthy")
	if err := p.Healthy(); !strings.Contains(err.Error(), "sinks.out (rec): stuck") {
		t.Fatalf("Healthy = %v", err)
	}
	if err := p.Ready(); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	cancel()
	close(block)
	<-done
}
