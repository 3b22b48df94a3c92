package processor_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/sinks/sinktest"
	"github.com/vpcflow/vpcflow/sources/sourcetest"
)

// drain takes what a tap holds once the pipeline has stopped.
func drain(t *processor.Tap) (recs, fails []string) {
	for {
		select {
		case tb := <-t.C():
			for _, r := range tb.Records {
				recs = append(recs, string(r.Raw))
			}
			for _, f := range tb.Failed {
				fails = append(fails, f.Stage+": "+string(f.Raw))
			}
		default:
			return recs, fails
		}
	}
}

// A tap sees exactly what leaves its output: the filter's records are
// what the sinks received, its errors what the errors sink received, and
// the copies outlive the source's recycled batches.
func TestTapSeesWhatLeavesAComponent(t *testing.T) {
	h := &harness{src: sourcetest.New(t, batches(50, 20)...), sinks: map[string]*sinktest.Recorder{"a": {}, "b": {}, "errs": {}}}
	h.src.Batches[3].Records[1].Raw = []byte("please drop me")
	h.src.Batches[7].Records[2].Raw = []byte("a bad line")
	p := build(t, h, fanOut)
	all := processor.TapOptions{Rate: 1 << 20, Buffer: 100}
	filter, err := p.Tap("filter", all)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := p.Tap("filter.errors", all)
	if err != nil {
		t.Fatal(err)
	}
	in, err := p.Tap("in", processor.TapOptions{Limit: 30})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertAllAcked(t, h.src, false)

	got, _ := drain(filter)
	want := h.sinks["a"].Lines()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("tap of filter: %d records, sink a got %d; first differences: %v / %v", len(got), len(want), head(got), head(want))
	}
	if _, fails := drain(errs); !slices.Equal(fails, []string{"filter: a bad line"}) {
		t.Fatalf("tap of filter.errors: %q", fails)
	}
	if recs, _ := drain(in); len(recs) != 30 {
		t.Fatalf("tap of in with limit 30 gave %d records", len(recs))
	}
	for _, tp := range []*processor.Tap{filter, errs, in} {
		tp.Close()
		tp.Close()
	}
	if got := testkit.Metric(t, h.reg, "vpcflow_tap_sessions", "component", "filter"); got != 0 {
		t.Fatalf("sessions after Close = %v", got)
	}
	if got := testkit.Metric(t, h.reg, "vpcflow_tap_dropped_records_total", "component", "filter"); got != 0 {
		t.Fatalf("dropped = %v with room for everything", got)
	}
}

func head(s []string) []string { return s[:min(3, len(s))] }

// A reader that does not read costs the pipeline nothing but drops,
// counted; the rate bounds what is copied.
func TestTapSlowReaderDropsCounted(t *testing.T) {
	h := &harness{src: sourcetest.New(t, batches(40, 50)...), sinks: map[string]*sinktest.Recorder{"a": {}, "b": {}, "errs": {}}}
	p := build(t, h, fanOut)
	slow, err := p.Tap("filter", processor.TapOptions{Buffer: 1, Rate: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	sampled, err := p.Tap("filter", processor.TapOptions{Rate: 70})
	if err != nil {
		t.Fatal(err)
	}
	defer sampled.Close()
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertAllAcked(t, h.src, false)
	if n := len(h.sinks["a"].Lines()); n != 2000 {
		t.Fatalf("sink a got %d records, want 2000", n)
	}
	if got := testkit.Metric(t, h.reg, "vpcflow_tap_dropped_records_total", "component", "filter"); got != 2000-50 {
		t.Fatalf("dropped = %v, want %d (all but the one batch that fit)", got, 2000-50)
	}
	// 2000 records in about a second at most: the rate lets 70 through in
	// each second the run touches.
	if recs, _ := drain(sampled); len(recs) == 0 || len(recs)%70 != 0 || len(recs) > 3*70 {
		t.Fatalf("rate 70 copied %d records", len(recs))
	}
}

func TestTapUnknownOutput(t *testing.T) {
	h := &harness{src: sourcetest.New(t), sinks: map[string]*sinktest.Recorder{"a": {}, "b": {}, "errs": {}}}
	p := build(t, h, fanOut)
	defer p.Run(context.Background())
	for _, tc := range []struct{ output, want string }{
		{"nope", `unknown component "nope": outputs are filter, in (each also as <id>.errors)`},
		{"nope.errors", `unknown component "nope.errors"`},
		{"a", `sinks.a is a sink, nothing leaves it; tap one of its inputs (filter)`},
	} {
		_, err := p.Tap(tc.output, processor.TapOptions{})
		if !errors.Is(err, processor.ErrUnknownComponent) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Tap(%q) = %v, want %q", tc.output, err, tc.want)
		}
	}
}

func TestGraphOrder(t *testing.T) {
	h := &harness{src: sourcetest.New(t), sinks: map[string]*sinktest.Recorder{"a": {}, "b": {}, "errs": {}, "z": {}}}
	p := build(t, h, `
sources: {in: {type: static}}
stages:
  second: {type: test_filter, inputs: [first]}
  first: {type: test_filter, inputs: [in]}
sinks:
  a: {type: rec, inputs: [second]}
  b: {type: rec, inputs: [in.errors]}
  errs: {type: rec, inputs: [first.errors]}
  z: {type: rec, inputs: [in]}
`)
	defer p.Run(context.Background())
	var got []string
	for _, n := range p.Graph() {
		got = append(got, n.Kind+":"+n.ID)
	}
	want := []string{"source:in", "stage:first", "stage:second", "sink:b", "sink:z", "sink:errs", "sink:a"}
	if !slices.Equal(got, want) {
		t.Fatalf("Graph() = %v, want %v", got, want)
	}
}
