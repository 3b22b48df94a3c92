package main

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vpcflow/vpcflow/processor"
)

func parseScrape(t *testing.T, at time.Time, text string) *scrape {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fam, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return &scrape{at: at, fam: fam}
}

// Each kind shows its own figures: lag summed over partitions, the ENI
// cache hit ratio and EC2 calls, a blocked sink with its latency, retries
// and buffer.
func TestTopRenderKinds(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	metrics := func(k float64) string {
		// {n} is a counter at n × k.
		return regexp.MustCompile(`\{([0-9.]+)\}`).ReplaceAllStringFunc(`
# TYPE vpcflow_source_records_in_total counter
vpcflow_source_records_in_total{source="k"} {1000}
# TYPE vpcflow_source_lag_records gauge
vpcflow_source_lag_records{source="k",partition="0"} 100
vpcflow_source_lag_records{source="k",partition="1"} 23
# TYPE vpcflow_stage_records_in_total counter
vpcflow_stage_records_in_total{stage="eni"} {1000}
# TYPE vpcflow_stage_records_out_total counter
vpcflow_stage_records_out_total{stage="eni"} {900}
# TYPE vpcflow_eni_cache_hits_total counter
vpcflow_eni_cache_hits_total{stage="eni"} {950}
# TYPE vpcflow_eni_cache_misses_total counter
vpcflow_eni_cache_misses_total{stage="eni"} {50}
# TYPE vpcflow_eni_ec2_calls_total counter
vpcflow_eni_ec2_calls_total{stage="eni",outcome="ok"} {3}
# TYPE vpcflow_sink_records_delivered_total counter
vpcflow_sink_records_delivered_total{sink="sumo"} {800}
# TYPE vpcflow_sink_blocked gauge
vpcflow_sink_blocked{sink="sumo"} 1
# TYPE vpcflow_sink_write_retries_total counter
vpcflow_sink_write_retries_total{sink="sumo"} {2}
# TYPE vpcflow_sink_buffer_bytes gauge
vpcflow_sink_buffer_bytes{sink="sumo"} 3145728
# TYPE vpcflow_sink_buffer_records gauge
vpcflow_sink_buffer_records{sink="sumo"} 7000
# TYPE vpcflow_sink_write_duration_seconds histogram
vpcflow_sink_write_duration_seconds_bucket{sink="sumo",le="+Inf"} {10}
vpcflow_sink_write_duration_seconds_sum{sink="sumo"} {0.5}
vpcflow_sink_write_duration_seconds_count{sink="sumo"} {10}
`, func(m string) string {
			n, _ := strconv.ParseFloat(m[1:len(m)-1], 64)
			return strconv.FormatFloat(n*k, 'f', -1, 64)
		})
	}
	prev := parseScrape(t, t0, metrics(1))
	cur := parseScrape(t, t0.Add(2*time.Second), metrics(2))
	var b strings.Builder
	render(&b, "http://x", []processor.GraphNode{
		{ID: "k", Kind: processor.KindSource, Type: "kafka"},
		{ID: "eni", Kind: processor.KindStage, Type: "eni_enrich"},
		{ID: "sumo", Kind: processor.KindSink, Type: "http"},
	}, prev, cur)
	out := b.String()
	squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		lines = append(lines, squash(l))
	}
	for _, want := range []string{
		"k source kafka 500 500 - - lag 123 records",
		"eni stage eni_enrich 500 450 - - cache hits 95.0% · ec2 1.5 calls/s",
		"sumo sink http - 400 - - BLOCKED · latency 50.0ms · retries 1.0/s · buffer 3.0 MiB (7000 records)",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
