package processor_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sinks/sinktest"
	"github.com/vpcflow/vpcflow/sources/sourcetest"
)

// faulty is a stage or sink that fails where it is told to.
type faulty struct {
	create, start, process, close error
}

func (f *faulty) Start(context.Context) error                   { return f.start }
func (f *faulty) Process(context.Context, *flowlog.Batch) error { return f.process }
func (f *faulty) Write(context.Context, *flowlog.Batch) error   { return nil }
func (f *faulty) Close(context.Context) error                   { return f.close }
func (f *faulty) Healthy() error                                { return nil }
func (f *faulty) factories() ([]component.StageFactory, []component.SinkFactory) {
	stage := component.StageFactory{Type: "faulty_stage", NewDefaultConfig: func() any { return &struct{}{} },
		Create: func(context.Context, any, component.Settings) (component.Stage, error) {
			if f.create != nil {
				return nil, f.create
			}
			return f, nil
		}}
	sink := component.SinkFactory{Type: "faulty_sink", NewDefaultConfig: func() any { return &struct{}{} },
		Create: func(context.Context, any, component.Settings) (component.Sink, error) {
			if f.create != nil {
				return nil, f.create
			}
			return f, nil
		}}
	return []component.StageFactory{stage}, []component.SinkFactory{sink}
}

// TestComponentErrorsArePrefixedOnce checks that every error the engine
// wraps names the component once, as "<section>.<id> (<type>): ".
func TestComponentErrorsArePrefixedOnce(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name   string
		f      faulty
		in     string // which component is faulty: "stage" or "sink"
		phase  string // where the error shows: "build", "run" or "ack"
		prefix string
	}{
		{"stage create", faulty{create: boom}, "stage", "build", "stages.s (faulty_stage): boom"},
		{"sink create", faulty{create: boom}, "sink", "build", "sinks.k (faulty_sink): boom"},
		{"stage start", faulty{start: boom}, "stage", "run", "stages.s (faulty_stage): start: boom"},
		{"sink start", faulty{start: boom}, "sink", "run", "sinks.k (faulty_sink): start: boom"},
		{"stage close", faulty{close: boom}, "stage", "run", "stages.s (faulty_stage): close: boom"},
		{"sink close", faulty{close: boom}, "sink", "run", "sinks.k (faulty_sink): close: boom"},
		{"stage process", faulty{process: boom}, "stage", "ack", "stages.s (faulty_stage): boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			stages, sinks := f.factories()
			recs := map[string]*sinktest.Recorder{"k": {}}
			stages = append(stages, dropStage())
			sinks = append(sinks, sinktest.Factory("rec", recs))
			stageType, sinkType := "test_filter", "rec"
			if tc.in == "stage" {
				stageType = "faulty_stage"
			} else {
				sinkType = "faulty_sink"
			}
			src := sourcetest.New(t, sourcetest.Lines("p0", "a"))
			fs := processor.NewFactories([]component.SourceFactory{sourcetest.Factory("static", src)}, stages, sinks)
			cfg, err := processor.ParseConfig([]byte(`
sources: {in: {type: static}}
stages: {s: {type: `+stageType+`, inputs: [in]}}
sinks: {k: {type: `+sinkType+`, inputs: [s]}}
shutdown_timeout: 200ms
`), nil)
			if err != nil {
				t.Fatal(err)
			}
			var got error
			p, err := processor.Build(context.Background(), cfg, fs, processor.Settings{})
			switch {
			case tc.phase == "build":
				got = err
			case err != nil:
				t.Fatal(err)
			default:
				ctx := context.Background()
				if tc.phase == "ack" {
					// A failing stage is retried until shutdown; then the
					// batch is nacked with the stage's error.
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
					defer cancel()
				}
				got = p.Run(ctx)
				if tc.phase == "ack" {
					if got != nil {
						t.Fatalf("Run = %v", got)
					}
					acks, _, _ := src.Acks()
					got = acks[0]
				}
			}
			if got == nil || got.Error() != tc.prefix {
				t.Fatalf("error %v, want %q", got, tc.prefix)
			}
			if !errors.Is(got, boom) {
				t.Errorf("error %v does not wrap the component's", got)
			}
			if n := strings.Count(got.Error(), "("); n != 1 {
				t.Errorf("error %q names the component %d times", got, n)
			}
		})
	}
}
