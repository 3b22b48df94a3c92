package processor_test

import (
	"context"
	"strings"
	"testing"

	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sinks/sinktest"
	"github.com/vpcflow/vpcflow/sources/sourcetest"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestSubstituteEnv(t *testing.T) {
	for _, tc := range []struct{ in, want, missing string }{
		{"${URL}", "https://collector/receiver/v1/http/TOKEN", ""},
		{"prefix-${A}-${B_2}", "prefix-1-2", ""},
		{"${version} ${srcaddr}", "${version} ${srcaddr}", ""},
		{"$${URL}", "${URL}", ""},
		{"${NOPE}", "${NOPE}", "NOPE"},
		{"${Mixed}", "${Mixed}", ""},
		{"no vars", "no vars", ""},
	} {
		got, missing := processor.SubstituteEnv(tc.in, env(map[string]string{"URL": "https://collector/receiver/v1/http/TOKEN", "A": "1", "B_2": "2"}))
		if got != tc.want || strings.Join(missing, ",") != tc.missing {
			t.Errorf("SubstituteEnv(%q) = %q, %v; want %q, %q", tc.in, got, missing, tc.want, tc.missing)
		}
	}
}

type numCfg struct {
	Port   int    `yaml:"port"`
	Format string `yaml:"format"`
	Batch  struct {
		MaxBytes int `yaml:"max_bytes"`
	} `yaml:"batch"`
	List []string `yaml:"list"`
}

func (c *numCfg) Validate() error {
	if c.Port < 0 {
		return errString("port: must not be negative")
	}
	return nil
}

type errString string

func (e errString) Error() string { return string(e) }

func testFactories() processor.Factories {
	return processor.NewFactories(
		[]component.SourceFactory{{Type: "static", NewDefaultConfig: func() any { return &numCfg{} },
			Create: func(context.Context, any, component.Settings) (component.Source, error) {
				return &sourcetest.Static{}, nil
			}}},
		[]component.StageFactory{{Type: "noop", NewDefaultConfig: func() any { return &numCfg{} },
			Create: func(context.Context, any, component.Settings) (component.Stage, error) {
				return component.StageFunc(func(context.Context, *flowlog.Batch) error { return nil }), nil
			}}},
		[]component.SinkFactory{sinktest.Factory("rec", map[string]*sinktest.Recorder{})},
	)
}

func TestEnvValuesAreTyped(t *testing.T) {
	cfg, err := processor.ParseConfig([]byte(`
sources: {in: {type: static, port: "${PORT}", format: "${version} ${srcaddr}"}}
sinks: {out: {type: rec, inputs: [in]}}
`), env(map[string]string{"PORT": "9092"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := processor.Validate(cfg, testFactories()); err != nil {
		t.Fatal(err)
	}
}

func TestConfigProblemsAreAllReported(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{"unknown top-level key", "sourcez: {}\nsinks: {}", nil, []string{"sourcez: unknown key (line 1); did you mean \"sources\"?"}},
		{"missing env", `
sources: {in: {type: static}}
sinks: {out: {type: rec, inputs: [in], url: "${SUMO_URL}"}}`, nil, []string{"sinks.out.url: environment variable SUMO_URL is not set"}},
		{"graph", `
sources:
  in: {type: static, port: -1, portz: 3}
  lonely: {type: static}
stages:
  a: {type: noop, inputs: [b]}
  b: {type: noop, inputs: [a]}
  c: {type: nope, inputs: [in]}
  d: {type: noop, inputs: [parse]}
  e: {type: noop, inputs: [in.errors]}
  f: {type: noop}
sinks:
  out: {type: rec, inputs: [a, c, d, e, f, out2]}
  out2: {type: rec, inputs: [in], dead_letter: in}
  noin: {type: rec}
`, nil, []string{
			`sources.in (static): portz: unknown key (line 3); did you mean "port"?`,
			`sources.in (static): port: must not be negative`,
			`sources.lonely: nothing takes its output`,
			`stages: cycle among a, b`,
			`stages.c: type: unknown stage type "nope" (known: noop)`,
			`stages.d: inputs: "parse" is not a source or stage`,
			`stages.e: inputs: "in.errors": only sinks may take an .errors output`,
			`stages.f: inputs: missing`,
			`sinks.out: inputs: "out2" is a sink; sinks have no output`,
			`sinks.out2: dead_letter: "in" is not a sink`,
			`sinks.noin: inputs: missing`,
		}},
		{"nested unknown key", `
sources: {in: {type: static, batch: {max_bytez: 1}}}
sinks: {out: {type: rec, inputs: [in]}}`, nil, []string{`sources.in (static): batch.max_bytez: unknown key (line 2); did you mean "max_bytes"?`}},
		{"bad value type", `
sources: {in: {type: static, port: abc}}
sinks: {out: {type: rec, inputs: [in]}}`, nil, []string{"sources.in (static): line 2: cannot unmarshal !!str `abc` into int"}},
		{"engine settings", `
sources: {in: {type: static}}
sinks: {out: {type: rec, inputs: [in]}}
workers: -1
telemetry: {log_level: loud, tracing: {exporter: zipkin}}`, nil, []string{
			"workers: must not be negative", `telemetry.log_level: unknown level "loud"`, `telemetry.tracing.exporter: unknown exporter "zipkin"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := processor.ParseConfig([]byte(tc.yaml), env(tc.env))
			if err == nil {
				err = processor.Validate(cfg, testFactories())
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !processor.IsConfigError(err) {
				t.Fatalf("not a config error: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
