package processor_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sources/sourcetest"
)

// hungSink is an intake that never answers: Write blocks until its ctx
// ends (or, with deaf set, until release is closed), and so does Close, as
// a sink abandoning its in-flight requests does.
type hungSink struct {
	deaf    bool
	release chan struct{}

	mu      sync.Mutex
	writing int
	closed  int
}

func (s *hungSink) Write(ctx context.Context, _ *flowlog.Batch) error {
	s.mu.Lock()
	s.writing++
	s.mu.Unlock()
	if s.deaf {
		<-s.release
		return errors.New("released")
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *hungSink) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed++
	s.mu.Unlock()
	<-ctx.Done()
	return errors.New("undelivered requests abandoned")
}

func (s *hungSink) writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writing
}

type shutdownRun struct {
	src     *sourcetest.Static
	sink    *hungSink
	logs    *testkit.Buffer
	spans   *tracetest.InMemoryExporter
	elapsed time.Duration // from cancel to Run's return
	err     error
}

// runAndCancel runs src → hung sink with the given shutdown_timeout,
// cancels once every batch is being written and times Run's return.
func runAndCancel(t *testing.T, sink *hungSink, budget string) *shutdownRun {
	t.Helper()
	r := &shutdownRun{src: endless(sourcetest.New(t, batches(4, 2)...)), sink: sink, logs: &testkit.Buffer{},
		spans: tracetest.NewInMemoryExporter()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(r.spans), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	f := processor.NewFactories(
		[]component.SourceFactory{sourcetest.Factory("static", r.src)},
		nil,
		[]component.SinkFactory{{Type: "hung", NewDefaultConfig: func() any { return &struct{}{} },
			Create: func(context.Context, any, component.Settings) (component.Sink, error) { return sink, nil }}},
	)
	cfg, err := processor.ParseConfig([]byte(`
sources: {in: {type: static}}
sinks: {out: {type: hung, inputs: [in]}}
shutdown_timeout: `+budget+`
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := processor.Build(context.Background(), cfg, f, processor.Settings{
		Logger: slog.New(slog.NewTextHandler(r.logs, nil)), Registerer: prometheus.NewRegistry(), TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for sink.writes() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 4 batches reached the sink", sink.writes())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	start := time.Now()
	select {
	case r.err = <-done:
		r.elapsed = time.Since(start)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
	return r
}

func TestRunReturnsWithinTheShutdownBudgetWhenTheSinkHangs(t *testing.T) {
	const budget = 1600 * time.Millisecond
	r := runAndCancel(t, &hungSink{}, "1600ms")
	t.Logf("Run returned %v after cancellation (budget %v)", r.elapsed, budget)
	if r.err != nil {
		t.Fatalf("Run after cancellation: %v", r.err)
	}
	// It drained until the reserve, then stopped hard, closed and returned
	// before the last quarter of the reserve (kept for telemetry).
	reserve := processor.ShutdownReserve(budget)
	if r.elapsed < budget-reserve-50*time.Millisecond {
		t.Errorf("Run returned after %v: it did not drain until %v", r.elapsed, budget-reserve)
	}
	if r.elapsed > budget {
		t.Errorf("Run returned after %v, beyond the budget of %v", r.elapsed, budget)
	}
	assertAllAcked(t, r.src, true) // nacked: handed out again after a restart
	if r.sink.closed != 1 {
		t.Errorf("sink closed %d times, want once", r.sink.closed)
	}
	for _, want := range []string{"undelivered batches will be redelivered", "batches_in_flight=4"} {
		if !strings.Contains(r.logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, r.logs.String())
		}
	}
	// The cancelled writes ended their spans before Run returned, marked
	// failed, each the child of its failed batch span.
	batchSpans := map[trace.SpanID]tracetest.SpanStub{}
	var sinkSpans []tracetest.SpanStub
	for _, s := range r.spans.GetSpans() {
		switch s.Name {
		case "batch in":
			batchSpans[s.SpanContext.SpanID()] = s
		case "sink out":
			sinkSpans = append(sinkSpans, s)
		}
	}
	if len(batchSpans) != 4 || len(sinkSpans) != 4 {
		t.Fatalf("%d batch and %d sink spans exported, want 4 and 4", len(batchSpans), len(sinkSpans))
	}
	for _, s := range sinkSpans {
		parent, ok := batchSpans[s.Parent.SpanID()]
		if !ok {
			t.Errorf("sink span %v is not the child of a batch span", s.SpanContext.SpanID())
		}
		if s.Status.Code != codes.Error || parent.Status.Code != codes.Error {
			t.Errorf("undelivered batch traced as sink %v, batch %v; want both Error", s.Status.Code, parent.Status.Code)
		}
	}
}

func TestRunReturnsWithinTheShutdownBudgetWhenAWriteIgnoresCancellation(t *testing.T) {
	const budget = 600 * time.Millisecond
	sink := &hungSink{deaf: true, release: make(chan struct{})}
	r := runAndCancel(t, sink, "600ms")
	t.Cleanup(func() {
		// The stuck writes end after the test (a process would exit); their
		// batches are then nacked, before the source checks its acks.
		close(sink.release)
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if acks, _, _ := r.src.Acks(); len(acks) == 4 {
				return
			}
		}
	})
	t.Logf("Run returned %v after cancellation (budget %v)", r.elapsed, budget)
	if r.err != nil {
		t.Fatalf("Run after cancellation: %v", r.err)
	}
	if r.elapsed > budget {
		t.Errorf("Run returned after %v, beyond the budget of %v", r.elapsed, budget)
	}
	if _, n, _ := r.src.Acks(); n != 4 {
		t.Fatalf("%d batches handed out, want 4", n)
	}
	if acks, _, _ := r.src.Acks(); len(acks) != 0 {
		t.Errorf("%d batches acknowledged while their writes are stuck", len(acks))
	}
	if !strings.Contains(r.logs.String(), "writes did not return after cancellation") {
		t.Errorf("log does not say writes were left behind:\n%s", r.logs.String())
	}
}
