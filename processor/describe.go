package processor

import (
	"sort"
	"strings"
)

// Component kinds in a GraphNode.
const (
	KindSource = "source"
	KindStage  = "stage"
	KindSink   = "sink"
)

// GraphNode describes one component of a built pipeline.
type GraphNode struct {
	ID     string   `json:"id"`
	Kind   string   `json:"kind"` // source, stage or sink
	Type   string   `json:"type"`
	Inputs []string `json:"inputs,omitempty"`
	// DeadLetter is a sink's dead_letter sink, when it has one.
	DeadLetter string `json:"dead_letter,omitempty"`
}

// Graph lists the pipeline's components in the graph's order: sources
// (by id), stages (topologically, as they run), then sinks, each after
// the furthest component it reads from (ties by id).
func (p *Pipeline) Graph() []GraphNode {
	cfg := p.cfg
	var out []GraphNode
	rank := map[string]int{}
	for _, id := range sortedKeys(cfg.Sources) {
		rank[id] = len(out)
		out = append(out, GraphNode{ID: id, Kind: KindSource, Type: cfg.Sources[id].Type})
	}
	for _, id := range p.order {
		rank[id] = len(out)
		c := cfg.Stages[id]
		out = append(out, GraphNode{ID: id, Kind: KindStage, Type: c.Type, Inputs: c.Inputs})
	}
	sinks := sortedKeys(cfg.Sinks)
	after := func(id string) int {
		r := -1
		for _, in := range cfg.Sinks[id].Inputs {
			if k, ok := rank[strings.TrimSuffix(in, ".errors")]; ok && k > r {
				r = k
			}
		}
		return r
	}
	sort.SliceStable(sinks, func(i, j int) bool { return after(sinks[i]) < after(sinks[j]) })
	for _, id := range sinks {
		c := cfg.Sinks[id]
		out = append(out, GraphNode{ID: id, Kind: KindSink, Type: c.Type, Inputs: c.Inputs, DeadLetter: c.DeadLetter})
	}
	return out
}
