package processor

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vpcflow/vpcflow/internal/sinkbuf"
)

// Config is the whole pipeline file: components keyed by id, plus the
// engine and telemetry settings.
type Config struct {
	Sources map[string]ComponentConfig
	Stages  map[string]ComponentConfig
	Sinks   map[string]ComponentConfig

	// Workers is the number of shard workers running stages (default
	// GOMAXPROCS). Batches of one source partition always go to the same
	// worker, so their order is kept.
	Workers int
	// MaxInFlight bounds the batches read but not yet acknowledged, over all
	// sources. With the default 64 and sources' batches of a few thousand
	// records, at most a few hundred thousand records (tens of MB) are held.
	MaxInFlight int
	// ShutdownTimeout bounds the whole shutdown on SIGTERM/SIGINT, from the
	// signal: drain, commit, closing every component and flushing
	// telemetry. What is not acknowledged by then is not committed and is
	// redelivered by the sources after a restart.
	ShutdownTimeout time.Duration
	// StuckAfter is how long a source or sink may make no progress while
	// work is pending before /healthz fails.
	StuckAfter time.Duration

	Telemetry TelemetryConfig

	// problems found while parsing that do not stop parsing; reported with
	// the graph's by Validate and Build.
	problems []string
}

// ComponentConfig is one component of the file: its type, its inputs and
// the rest of its keys, decoded later by the component's factory.
type ComponentConfig struct {
	Type       string
	Inputs     []string
	DeadLetter string
	// OnRejected is block (default) or drop: what a sink without
	// dead_letter does with records its destination refused.
	OnRejected string
	// Buffer, on a sink, puts a memory or disk buffer in front of it; nil
	// means none (backpressure).
	Buffer *sinkbuf.Config
	// Node holds the component's mapping with type/inputs/dead_letter
	// removed.
	Node *yaml.Node
	// Line is where the component starts in the file.
	Line int
}

// TelemetryConfig configures metrics, logs and traces.
type TelemetryConfig struct {
	// Listen is the address serving /metrics, /healthz and /readyz, and
	// /graph (the components in order, for vpcflow top) (e.g. ":8080");
	// empty serves nothing.
	Listen string `yaml:"listen"`
	// LogLevel is debug, info (default), warn or error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is json (default) or text.
	LogFormat string        `yaml:"log_format"`
	Tracing   TracingConfig `yaml:"tracing"`
	// Tap serves /tap on the listen address, for vpcflow tap: a sample of
	// the records leaving any source or stage, as they are. Off by default.
	// It shows flow data (addresses, ports, accounts), so it must not be
	// exposed outside the pod: /tap answers only connections from
	// loopback (vpcflow tap run in the pod, or through kubectl
	// port-forward), and the listen address should be one no Ingress or
	// public Service exposes.
	Tap bool `yaml:"tap"`
}

// TracingConfig configures OpenTelemetry tracing; off by default.
type TracingConfig struct {
	// Exporter is none (default), otlp_grpc, otlp_http or stdout.
	Exporter string `yaml:"exporter"`
	// Endpoint is the collector address (host:port), default the
	// exporter's own default (OTEL_EXPORTER_OTLP_ENDPOINT is honoured).
	Endpoint string `yaml:"endpoint"`
	// Insecure disables TLS to the collector.
	Insecure bool `yaml:"insecure"`
	// SampleRatio is the fraction of source batches traced (default 0.01).
	SampleRatio *float64 `yaml:"sample_ratio"`
	// ServiceName defaults to "vpcflow".
	ServiceName string `yaml:"service_name"`
}

type fileConfig struct {
	Sources         yaml.Node       `yaml:"sources"`
	Stages          yaml.Node       `yaml:"stages"`
	Sinks           yaml.Node       `yaml:"sinks"`
	Workers         int             `yaml:"workers"`
	MaxInFlight     int             `yaml:"max_in_flight"`
	ShutdownTimeout time.Duration   `yaml:"shutdown_timeout"`
	StuckAfter      time.Duration   `yaml:"stuck_after"`
	Telemetry       TelemetryConfig `yaml:"telemetry"`
}

// ConfigError lists every problem found in a config file.
type ConfigError struct {
	File     string
	Problems []string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	name := e.File
	if name == "" {
		name = "config"
	}
	fmt.Fprintf(&b, "%s: %d problem(s):", name, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p)
	}
	return b.String()
}

func (e *ConfigError) add(format string, args ...any) {
	e.Problems = append(e.Problems, fmt.Sprintf(format, args...))
}

// LoadConfigFile reads and parses a pipeline file, substituting ${NAME}
// from the environment.
func LoadConfigFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(data, os.LookupEnv)
	if ce, ok := err.(*ConfigError); ok {
		ce.File = path
	}
	return cfg, err
}

// ParseConfig parses a pipeline file. lookup resolves ${NAME} references
// (os.LookupEnv in production; nil means no variables). A file that is not
// YAML or has unknown top-level keys is an error at once; every other
// problem (missing variables, components without type or inputs) is kept
// and reported, with the graph's and the components' own, by Validate and
// Build in one *ConfigError.
func ParseConfig(data []byte, lookup func(string) (string, bool)) (*Config, error) {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	cerr := &ConfigError{}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		cerr.add("%v", err)
		return nil, cerr
	}
	if len(root.Content) == 0 {
		cerr.add("the file is empty")
		return nil, cerr
	}
	substituteEnv(&root, lookup, "", cerr)
	var fc fileConfig
	if probs := unknownKeys(root.Content[0], reflect.TypeOf(fc), ""); len(probs) > 0 {
		cerr.Problems = append(cerr.Problems, probs...)
		return nil, cerr
	}
	if err := root.Content[0].Decode(&fc); err != nil {
		cerr.add("%s", cleanYAMLError(err))
		return nil, cerr
	}
	cfg := &Config{
		Workers:         fc.Workers,
		MaxInFlight:     fc.MaxInFlight,
		ShutdownTimeout: fc.ShutdownTimeout,
		StuckAfter:      fc.StuckAfter,
		Telemetry:       fc.Telemetry,
	}
	cfg.Sources = parseComponents(&fc.Sources, "sources", false, cerr)
	cfg.Stages = parseComponents(&fc.Stages, "stages", true, cerr)
	cfg.Sinks = parseComponents(&fc.Sinks, "sinks", true, cerr)
	if cfg.Workers < 0 {
		cerr.add("workers: must not be negative, got %d", cfg.Workers)
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxInFlight < 0 {
		cerr.add("max_in_flight: must not be negative, got %d", cfg.MaxInFlight)
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 64
	}
	if cfg.ShutdownTimeout < 0 {
		cerr.add("shutdown_timeout: must not be negative")
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if cfg.StuckAfter <= 0 {
		cfg.StuckAfter = 5 * time.Minute
	}
	switch cfg.Telemetry.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		cerr.add("telemetry.log_level: unknown level %q (debug, info, warn, error)", cfg.Telemetry.LogLevel)
	}
	switch cfg.Telemetry.LogFormat {
	case "", "json", "text":
	default:
		cerr.add("telemetry.log_format: unknown format %q (json, text)", cfg.Telemetry.LogFormat)
	}
	switch cfg.Telemetry.Tracing.Exporter {
	case "", "none", "otlp_grpc", "otlp_http", "stdout":
	default:
		cerr.add("telemetry.tracing.exporter: unknown exporter %q (none, otlp_grpc, otlp_http, stdout)", cfg.Telemetry.Tracing.Exporter)
	}
	if r := cfg.Telemetry.Tracing.SampleRatio; r != nil && (*r < 0 || *r > 1) {
		cerr.add("telemetry.tracing.sample_ratio: must be between 0 and 1, got %v", *r)
	}
	cfg.problems = cerr.Problems
	return cfg, nil
}

func parseComponents(n *yaml.Node, section string, hasInputs bool, cerr *ConfigError) map[string]ComponentConfig {
	out := map[string]ComponentConfig{}
	if n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return out
	}
	if n.Kind != yaml.MappingNode {
		cerr.add("%s: must be a mapping of component ids to components (line %d)", section, n.Line)
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		id := n.Content[i].Value
		body := n.Content[i+1]
		where := fmt.Sprintf("%s.%s", section, id)
		if !validID(id) {
			cerr.add("%s: invalid id %q (letters, digits, '_' and '-'; no '.')", where, id)
			continue
		}
		if body.Kind != yaml.MappingNode {
			cerr.add("%s: must be a mapping with at least a type (line %d)", where, body.Line)
			continue
		}
		cc := ComponentConfig{Line: body.Line}
		rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: body.Line, Column: body.Column}
		for j := 0; j+1 < len(body.Content); j += 2 {
			k, v := body.Content[j], body.Content[j+1]
			switch {
			case k.Value == "type":
				if v.Kind != yaml.ScalarNode {
					cerr.add("%s: type: must be a string", where)
				}
				cc.Type = v.Value
			case k.Value == "inputs" && hasInputs:
				if err := v.Decode(&cc.Inputs); err != nil {
					cerr.add("%s: inputs: must be a list of component ids (line %d)", where, v.Line)
				}
			case k.Value == "dead_letter" && section == "sinks":
				cc.DeadLetter = v.Value
			case k.Value == "on_rejected" && section == "sinks":
				switch v.Value {
				case OnRejectedBlock, OnRejectedDrop:
					cc.OnRejected = v.Value
				default:
					cerr.add("%s: on_rejected: must be block or drop, got %q (line %d)", where, v.Value, v.Line)
				}
			case k.Value == "buffer" && section == "sinks":
				cc.Buffer = parseBuffer(v, where+".buffer", cerr)
			default:
				rest.Content = append(rest.Content, k, v)
			}
		}
		if cc.Type == "" {
			cerr.add("%s: type: missing", where)
		}
		if hasInputs && len(cc.Inputs) == 0 {
			cerr.add("%s: inputs: missing (a %s needs at least one input)", where, strings.TrimSuffix(section, "s"))
		}
		cc.Node = rest
		out[id] = cc
	}
	return out
}

// parseBuffer decodes and checks a sink's buffer key (a disk buffer's
// path is created and must be writable).
func parseBuffer(v *yaml.Node, where string, cerr *ConfigError) *sinkbuf.Config {
	if v.Kind != yaml.MappingNode {
		cerr.add("%s: must be a mapping {type: memory|disk, max_bytes, path, when_full} (line %d)", where, v.Line)
		return nil
	}
	if probs := unknownKeys(v, reflect.TypeOf(sinkbuf.Config{}), where); len(probs) > 0 {
		cerr.Problems = append(cerr.Problems, probs...)
		return nil
	}
	var bc sinkbuf.Config
	if err := v.Decode(&bc); err != nil {
		cerr.add("%s: %s", where, cleanYAMLError(err))
		return nil
	}
	if err := bc.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			cerr.add("%s.%s (line %d)", where, line, v.Line)
		}
		return nil
	}
	bc.ApplyDefaults()
	return &bc
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func validID(id string) bool { return idRE.MatchString(id) }

// envRE matches $${ (an escape) or ${NAME} with an upper-case NAME.
var envRE = regexp.MustCompile(`\$\$\{|\$\{([A-Z_][A-Z0-9_]*)\}`)

// SubstituteEnv replaces ${NAME} (NAME upper-case: A–Z, 0–9, _) from
// lookup; "$${" stands for a literal "${"; lower-case ${field} (flow-log
// format fields) are left as they are. Missing variables are returned.
func SubstituteEnv(s string, lookup func(string) (string, bool)) (string, []string) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var missing []string
	out := envRE.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$${" {
			return "${"
		}
		name := m[2 : len(m)-1]
		v, ok := lookup(name)
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	return out, missing
}

func substituteEnv(n *yaml.Node, lookup func(string) (string, bool), path string, cerr *ConfigError) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			p := path
			if n.Kind == yaml.SequenceNode {
				p = fmt.Sprintf("%s[%d]", path, i)
			}
			substituteEnv(c, lookup, p, cerr)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			substituteEnv(n.Content[i+1], lookup, p, cerr)
		}
	case yaml.ScalarNode:
		v, missing := SubstituteEnv(n.Value, lookup)
		for _, m := range missing {
			cerr.add("%s: environment variable %s is not set (line %d)", path, m, n.Line)
		}
		if v != n.Value {
			// Let the target type decide: "${PORT}" may be a number; a
			// string field takes any value as text.
			n.Value = v
			n.Tag = ""
			n.Style = 0
		}
	}
}

// cleanYAMLError turns yaml.v3's messages into "key: problem" form.
func cleanYAMLError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, 0, len(te.Errors))
		for _, e := range te.Errors {
			msgs = append(msgs, rewriteYAMLMsg(e))
		}
		sort.Strings(msgs)
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

var fieldNotFoundRE = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)

func rewriteYAMLMsg(m string) string {
	if s := fieldNotFoundRE.FindStringSubmatch(m); s != nil {
		return fmt.Sprintf("%s: unknown key (line %s)", s[2], s[1])
	}
	return m
}
