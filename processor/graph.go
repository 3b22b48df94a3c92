package processor

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/vpcflow/vpcflow/processor/component"
)

// Factories lists every component type the binary knows.
type Factories struct {
	Sources map[string]component.SourceFactory
	Stages  map[string]component.StageFactory
	Sinks   map[string]component.SinkFactory
}

// NewFactories indexes factory lists by type.
func NewFactories(src []component.SourceFactory, stg []component.StageFactory, snk []component.SinkFactory) Factories {
	f := Factories{Sources: map[string]component.SourceFactory{}, Stages: map[string]component.StageFactory{}, Sinks: map[string]component.SinkFactory{}}
	for _, x := range src {
		f.Sources[x.Type] = x
	}
	for _, x := range stg {
		f.Stages[x.Type] = x
	}
	for _, x := range snk {
		f.Sinks[x.Type] = x
	}
	return f
}

// graph is a checked config: decoded component configs and edges.
type graph struct {
	cfg        *Config
	srcCfg     map[string]any
	stageCfg   map[string]any
	sinkCfg    map[string]any
	consumers  map[string][]string // output id (component or "x.errors") -> consumer ids
	stageOrder []string            // topological
}

func typeNames[V any](m map[string]V) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// decodeComponent decodes a component's keys into its factory's default
// config, checking unknown keys and the config's own Validate.
func decodeComponent(where string, cc ComponentConfig, newCfg func() any, cerr *ConfigError) any {
	cfg := newCfg()
	for _, p := range unknownKeys(cc.Node, reflect.TypeOf(cfg), "") {
		cerr.add("%s: %s", where, p)
	}
	if len(cc.Node.Content) > 0 {
		if err := cc.Node.Decode(cfg); err != nil {
			cerr.add("%s: %s", where, cleanYAMLError(err))
			return cfg
		}
	}
	if v, ok := cfg.(component.Validator); ok {
		if err := v.Validate(); err != nil {
			for _, e := range splitJoined(err) {
				cerr.add("%s: %v", where, e)
			}
		}
	}
	return cfg
}

func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitJoined(e)...)
		}
		return out
	}
	return []error{err}
}

// decodeSection decodes the components of one section ("source",
// "stage", "sink") with their factories' configs.
func decodeSection[F any](kind string, comps map[string]ComponentConfig, facs map[string]F, newCfg func(F) func() any, cerr *ConfigError) map[string]any {
	out := map[string]any{}
	for _, id := range sortedKeys(comps) {
		cc := comps[id]
		fac, ok := facs[cc.Type]
		if !ok {
			if cc.Type != "" {
				cerr.add("%ss.%s: type: unknown %s type %q (known: %s)", kind, id, kind, cc.Type, typeNames(facs))
			}
			continue
		}
		out[id] = decodeComponent(fmt.Sprintf("%ss.%s (%s)", kind, id, cc.Type), cc, newCfg(fac), cerr)
	}
	return out
}

// check validates the whole config against the factories and returns the
// decoded graph, or a *ConfigError listing every problem.
func check(cfg *Config, f Factories) (*graph, error) {
	cerr := &ConfigError{Problems: append([]string(nil), cfg.problems...)}
	g := &graph{cfg: cfg, consumers: map[string][]string{}}
	kind := map[string]string{}
	for _, sec := range []struct {
		name string
		m    map[string]ComponentConfig
	}{{"sources", cfg.Sources}, {"stages", cfg.Stages}, {"sinks", cfg.Sinks}} {
		for _, id := range sortedKeys(sec.m) {
			if prev, ok := kind[id]; ok {
				cerr.add("%s.%s: id already used in %s", sec.name, id, prev)
				continue
			}
			kind[id] = sec.name
		}
	}
	if len(cfg.Sources) == 0 {
		cerr.add("sources: at least one source is needed")
	}
	if len(cfg.Sinks) == 0 {
		cerr.add("sinks: at least one sink is needed")
	}
	g.srcCfg = decodeSection("source", cfg.Sources, f.Sources, func(x component.SourceFactory) func() any { return x.NewDefaultConfig }, cerr)
	g.stageCfg = decodeSection("stage", cfg.Stages, f.Stages, func(x component.StageFactory) func() any { return x.NewDefaultConfig }, cerr)
	g.sinkCfg = decodeSection("sink", cfg.Sinks, f.Sinks, func(x component.SinkFactory) func() any { return x.NewDefaultConfig }, cerr)
	for _, id := range sortedKeys(cfg.Sinks) {
		cc := cfg.Sinks[id]
		if dl := cc.DeadLetter; dl != "" {
			switch {
			case dl == id:
				cerr.add("sinks.%s: dead_letter: a sink cannot be its own dead letter", id)
			case kind[dl] != "sinks":
				cerr.add("sinks.%s: dead_letter: %q is not a sink", id, dl)
			case cfg.Sinks[dl].DeadLetter != "":
				cerr.add("sinks.%s: dead_letter: %q has a dead_letter of its own; chains are not supported", id, dl)
			}
		}
	}
	// Edges.
	addEdges := func(section, id string, inputs []string, allowErrors bool) {
		seen := map[string]bool{}
		for _, in := range inputs {
			if seen[in] {
				cerr.add("%s.%s: inputs: %q listed twice", section, id, in)
				continue
			}
			seen[in] = true
			base, isErr := strings.CutSuffix(in, ".errors")
			if isErr && !allowErrors {
				cerr.add("%s.%s: inputs: %q: only sinks may take an .errors output", section, id, in)
				continue
			}
			switch kind[base] {
			case "sources", "stages":
			case "sinks":
				cerr.add("%s.%s: inputs: %q is a sink; sinks have no output", section, id, in)
				continue
			default:
				cerr.add("%s.%s: inputs: %q is not a source or stage%s", section, id, in, suggestID(base, kind))
				continue
			}
			if base == id {
				cerr.add("%s.%s: inputs: a component cannot take its own output", section, id)
				continue
			}
			g.consumers[in] = append(g.consumers[in], id)
		}
	}
	for _, id := range sortedKeys(cfg.Stages) {
		addEdges("stages", id, cfg.Stages[id].Inputs, false)
	}
	for _, id := range sortedKeys(cfg.Sinks) {
		addEdges("sinks", id, cfg.Sinks[id].Inputs, true)
	}
	// Every source and stage must lead somewhere.
	for _, id := range sortedKeys(cfg.Sources) {
		if len(g.consumers[id]) == 0 {
			cerr.add("sources.%s: nothing takes its output (no stage or sink lists it in inputs)", id)
		}
	}
	for _, id := range sortedKeys(cfg.Stages) {
		if len(g.consumers[id]) == 0 {
			cerr.add("stages.%s: nothing takes its output (no stage or sink lists it in inputs)", id)
		}
	}
	// Cycles among stages (Kahn).
	indeg := map[string]int{}
	for _, id := range sortedKeys(cfg.Stages) {
		for _, in := range cfg.Stages[id].Inputs {
			if kind[in] == "stages" {
				indeg[id]++
			}
		}
	}
	var queue []string
	for _, id := range sortedKeys(cfg.Stages) {
		if indeg[id] == 0 {
			queue = append(queue, id)
		}
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		g.stageOrder = append(g.stageOrder, id)
		for _, c := range g.consumers[id] {
			if kind[c] == "stages" {
				indeg[c]--
				if indeg[c] == 0 {
					queue = append(queue, c)
				}
			}
		}
	}
	if len(g.stageOrder) < len(cfg.Stages) {
		var cyc []string
		for _, id := range sortedKeys(cfg.Stages) {
			if indeg[id] > 0 {
				cyc = append(cyc, id)
			}
		}
		cerr.add("stages: cycle among %s", strings.Join(cyc, ", "))
	}
	if len(cerr.Problems) > 0 {
		return nil, cerr
	}
	return g, nil
}

func suggestID(id string, kind map[string]string) string {
	best, bestD := "", 3
	for k := range kind {
		if d := editDistance(id, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// Validate checks cfg against the known component types without building
// anything. The error is a *ConfigError listing every problem.
func Validate(cfg *Config, f Factories) error {
	_, err := check(cfg, f)
	return err
}

// IsConfigError reports whether err is a configuration problem (exit 2).
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}
