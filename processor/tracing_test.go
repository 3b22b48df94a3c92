package processor_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/sinks/sinktest"
	"github.com/vpcflow/vpcflow/sources/sourcetest"
)

func TestSpansPerBatchStageAndSinkLinkedToTheSource(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	defer tp.Shutdown(context.Background())

	producer := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	b := sourcetest.Lines("p0", "a", "b")
	b.Span = producer
	src := sourcetest.New(t, b)
	recs := map[string]*sinktest.Recorder{"x": {}, "y": {}}
	f := processor.NewFactories([]component.SourceFactory{sourcetest.Factory("static", src)},
		[]component.StageFactory{dropStage()}, []component.SinkFactory{sinktest.Factory("rec", recs)})
	cfg, err := processor.ParseConfig([]byte(`
sources: {in: {type: static}}
stages: {f: {type: test_filter, inputs: [in]}}
sinks:
  x: {type: rec, inputs: [f]}
  y: {type: rec, inputs: [f]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := processor.Build(context.Background(), cfg, f, processor.Settings{Registerer: prometheus.NewRegistry(), TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	root, ok := byName["batch in"]
	if !ok {
		t.Fatalf("no batch span among %d spans", len(spans))
	}
	if len(root.Links) != 1 || root.Links[0].SpanContext.TraceID() != producer.TraceID() {
		t.Fatalf("batch span not linked to the producer's span: %+v", root.Links)
	}
	for _, name := range []string{"stage f", "sink x", "sink y"} {
		s, ok := byName[name]
		if !ok {
			t.Fatalf("no span %q", name)
		}
		if s.Parent.SpanID() != root.SpanContext.SpanID() {
			t.Errorf("span %q is not a child of the batch span", name)
		}
	}
}
