package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vpcflow/vpcflow/processor"
)

// cmdTop shows, per component of a running instance, the records per
// second in and out, drops and errors, with each kind's own figures (lag,
// latency, retries, blocked state, buffer fill, ENI cache hits), from two
// scrapes of its /metrics.
func cmdTop(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("top", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", defaultURL, "telemetry address of the running instance")
	once := fs.Bool("once", false, "print one snapshot (rates over one --interval) and exit")
	every := fs.Duration("interval", time.Second, "time between two scrapes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"unexpected arguments: " + strings.Join(fs.Args(), " ")}
	}
	if *every <= 0 {
		return usageError{"--interval must be positive"}
	}
	c, err := newTopClient(*base)
	if err != nil {
		return err
	}
	prev, err := c.scrape(ctx)
	if err != nil {
		return err
	}
	clear := !*once && isTerminal(stdout)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*every):
		}
		cur, err := c.scrape(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		comps, err := c.graph(ctx, cur)
		if err != nil {
			return err
		}
		var b strings.Builder
		if clear {
			b.WriteString("\x1b[H\x1b[2J")
		}
		render(&b, strings.TrimSuffix(c.metrics, "/metrics"), comps, prev, cur)
		if _, err := io.WriteString(stdout, b.String()); err != nil {
			return err
		}
		if *once {
			return nil
		}
		if !clear {
			io.WriteString(stdout, "\n")
		}
		prev = cur
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

type topClient struct {
	metrics, graphURL string
	http              *http.Client
}

func newTopClient(base string) (*topClient, error) {
	m, err := endpoint(base, "/metrics")
	if err != nil {
		return nil, err
	}
	g, _ := endpoint(base, "/graph")
	return &topClient{metrics: m.String(), graphURL: g.String(), http: &http.Client{Timeout: 10 * time.Second}}, nil
}

// scrape is one reading of /metrics.
type scrape struct {
	at  time.Time
	fam map[string]*dto.MetricFamily
}

func (c *topClient) get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, responseError(resp)
	}
	return resp, nil
}

func (c *topClient) scrape(ctx context.Context) (*scrape, error) {
	resp, err := c.get(ctx, c.metrics)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", c.metrics, err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fam, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", c.metrics, err)
	}
	return &scrape{at: time.Now(), fam: fam}, nil
}

// graph asks /graph for the components in order; an instance without it
// gets them from the metrics' labels (sources, stages, sinks, by id).
func (c *topClient) graph(ctx context.Context, s *scrape) ([]processor.GraphNode, error) {
	resp, err := c.get(ctx, c.graphURL)
	if err == nil {
		defer resp.Body.Close()
		var g struct {
			Components []processor.GraphNode `json:"components"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&g); err != nil {
			return nil, fmt.Errorf("reading %s: %w", c.graphURL, err)
		}
		return g.Components, nil
	}
	var out []processor.GraphNode
	for _, k := range []struct{ kind, family, label string }{
		{processor.KindSource, "vpcflow_source_records_in_total", "source"},
		{processor.KindStage, "vpcflow_stage_records_in_total", "stage"},
		{processor.KindSink, "vpcflow_sink_records_delivered_total", "sink"},
	} {
		var ids []string
		if mf := s.fam[k.family]; mf != nil {
			for _, m := range mf.GetMetric() {
				ids = append(ids, label(m, k.label))
			}
		}
		sort.Strings(ids)
		for _, id := range ids {
			out = append(out, processor.GraphNode{ID: id, Kind: k.kind, Type: "-"})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no vpcflow components in " + c.metrics)
	}
	return out, nil
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// value sums family name over the series whose label key is id (all
// series when key is ""); for a histogram it sums the observations'
// sum, and count gives their count. ok is false when no series matches.
func (s *scrape) value(name, key, id string) (v, count float64, ok bool) {
	mf := s.fam[name]
	if mf == nil {
		return 0, 0, false
	}
	for _, m := range mf.GetMetric() {
		if key != "" && label(m, key) != id {
			continue
		}
		ok = true
		switch {
		case m.Counter != nil:
			v += m.Counter.GetValue()
		case m.Gauge != nil:
			v += m.Gauge.GetValue()
		case m.Untyped != nil:
			v += m.Untyped.GetValue()
		case m.Histogram != nil:
			v += m.Histogram.GetSampleSum()
			count += float64(m.Histogram.GetSampleCount())
		}
	}
	return v, count, ok
}

// max is the largest value of family name among id's series.
func (s *scrape) max(name, key, id string) (float64, bool) {
	mf := s.fam[name]
	if mf == nil {
		return 0, false
	}
	best, ok := math.Inf(-1), false
	for _, m := range mf.GetMetric() {
		if label(m, key) == id && m.Gauge != nil {
			best, ok = math.Max(best, m.Gauge.GetValue()), true
		}
	}
	return best, ok
}

// rates compares two scrapes.
type rates struct{ prev, cur *scrape }

// rate is family name's increase per second for id; ok is false when the
// instance does not export it.
func (r rates) rate(name, key, id string) (float64, bool) {
	b, _, ok := r.cur.value(name, key, id)
	if !ok {
		return 0, false
	}
	a, _, _ := r.prev.value(name, key, id)
	d := b - a
	if d < 0 { // restarted
		d = b
	}
	return d / r.cur.at.Sub(r.prev.at).Seconds(), true
}

// mean is a histogram's mean observation between the scrapes.
func (r rates) mean(name, key, id string) (float64, bool) {
	s2, n2, ok := r.cur.value(name, key, id)
	if !ok {
		return 0, false
	}
	s1, n1, _ := r.prev.value(name, key, id)
	if n2-n1 <= 0 {
		return 0, false
	}
	return (s2 - s1) / (n2 - n1), true
}

// topRow is one line of the table.
type topRow struct {
	id, kind, typ      string
	in, out, drop, err string
	details            []string
}

func render(w io.Writer, from string, comps []processor.GraphNode, prev, cur *scrape) {
	r := rates{prev, cur}
	var sum []string
	if v, _, ok := cur.value("vpcflow_pipeline_batches_in_flight", "", ""); ok {
		sum = append(sum, fmt.Sprintf("batches in flight %s", count(v)))
	}
	if v, ok := r.rate("vpcflow_pipeline_batches_acked_total", "outcome", "ok"); ok {
		sum = append(sum, fmt.Sprintf("acked %s/s", perSec(v)))
	}
	if v, ok := r.rate("vpcflow_pipeline_batches_acked_total", "outcome", "nack"); ok && v > 0 {
		sum = append(sum, fmt.Sprintf("NACKED %s/s", perSec(v)))
	}
	if v, ok := r.mean("vpcflow_pipeline_batch_latency_seconds", "", ""); ok {
		sum = append(sum, "read→ack "+seconds(v))
	}
	fmt.Fprintf(w, "vpcflow top  %s  %s  (rates per second over %.1fs)\n", from, cur.at.Format("15:04:05"), cur.at.Sub(prev.at).Seconds())
	if len(sum) > 0 {
		fmt.Fprintf(w, "%s\n", strings.Join(sum, " · "))
	}
	fmt.Fprintln(w)
	var tb strings.Builder
	tw := tabwriter.NewWriter(&tb, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "COMPONENT\tKIND\tTYPE\t%7s\t%7s\t%7s\t%7s\t\n", "IN/S", "OUT/S", "DROP/S", "ERR/S")
	for _, c := range comps {
		x := componentRow(r, c)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%7s\t%7s\t%7s\t%7s\t%s\n", x.id, x.kind, x.typ, x.in, x.out, x.drop, x.err, strings.Join(x.details, " · "))
	}
	tw.Flush()
	for _, l := range strings.SplitAfter(tb.String(), "\n") {
		io.WriteString(w, strings.TrimRight(l, " \n"))
		if strings.HasSuffix(l, "\n") {
			io.WriteString(w, "\n")
		}
	}
}

func componentRow(r rates, c processor.GraphNode) topRow {
	x := topRow{id: c.ID, kind: c.Kind, typ: c.Type, in: "-", out: "-", drop: "-", err: "-"}
	rate := func(dst *string, key string, names ...string) {
		total, any := 0.0, false
		for _, n := range names {
			if v, ok := r.rate(n, key, c.ID); ok {
				total, any = total+v, true
			}
		}
		if any {
			*dst = perSec(total)
		}
	}
	detailRate := func(what, name, key string) {
		if v, ok := r.rate(name, key, c.ID); ok && v > 0 {
			x.details = append(x.details, fmt.Sprintf("%s %s/s", what, perSec(v)))
		}
	}
	switch c.Kind {
	case processor.KindSource:
		rate(&x.in, "source", "vpcflow_source_records_in_total")
		x.out = x.in
		rate(&x.err, "source", "vpcflow_source_inputs_failed_total")
		if v, _, ok := r.cur.value("vpcflow_source_lag_records", "source", c.ID); ok {
			x.details = append(x.details, "lag "+count(v)+" records")
		}
		if v, ok := r.cur.max("vpcflow_source_lag_seconds", "source", c.ID); ok {
			x.details = append(x.details, "lag "+seconds(v))
		}
		if v, _, ok := r.cur.value("vpcflow_source_queue_messages", "source", c.ID); ok {
			x.details = append(x.details, "queue "+count(v)+" messages")
		}
	case processor.KindStage:
		rate(&x.in, "stage", "vpcflow_stage_records_in_total")
		rate(&x.out, "stage", "vpcflow_stage_records_out_total")
		rate(&x.drop, "stage", "vpcflow_stage_records_dropped_total")
		rate(&x.err, "stage", "vpcflow_stage_records_failed_total")
		detailRate("retries", "vpcflow_stage_retries_total", "stage")
		if v, ok := r.mean("vpcflow_stage_batch_duration_seconds", "stage", c.ID); ok {
			x.details = append(x.details, "batch "+seconds(v))
		}
		hits, okh := r.rate("vpcflow_eni_cache_hits_total", "stage", c.ID)
		neg, _ := r.rate("vpcflow_eni_cache_negative_hits_total", "stage", c.ID)
		miss, okm := r.rate("vpcflow_eni_cache_misses_total", "stage", c.ID)
		if okh && okm {
			if all := hits + neg + miss; all > 0 {
				x.details = append(x.details, fmt.Sprintf("cache hits %.1f%%", 100*(hits+neg)/all))
			}
			v, _ := r.rate("vpcflow_eni_ec2_calls_total", "stage", c.ID)
			x.details = append(x.details, fmt.Sprintf("ec2 %s calls/s", perSec(v)))
			detailRate("ec2 throttled", "vpcflow_eni_ec2_throttles_total", "stage")
		}
	case processor.KindSink:
		rate(&x.out, "sink", "vpcflow_sink_records_delivered_total")
		rate(&x.drop, "sink", "vpcflow_sink_buffer_dropped_records_total")
		rate(&x.err, "sink", "vpcflow_sink_records_failed_total", "vpcflow_sink_records_dead_lettered_total")
		if v, _, ok := r.cur.value("vpcflow_sink_blocked", "sink", c.ID); ok && v > 0 {
			x.details = append(x.details, "BLOCKED")
		}
		if v, ok := r.mean("vpcflow_sink_write_duration_seconds", "sink", c.ID); ok {
			x.details = append(x.details, "latency "+seconds(v))
		}
		if v, ok := r.mean("vpcflow_sink_http_request_duration_seconds", "sink", c.ID); ok {
			x.details = append(x.details, "request "+seconds(v))
		}
		retries, ok1 := r.rate("vpcflow_sink_write_retries_total", "sink", c.ID)
		hr, ok2 := r.rate("vpcflow_sink_http_retries_total", "sink", c.ID)
		if (ok1 || ok2) && retries+hr > 0 {
			x.details = append(x.details, fmt.Sprintf("retries %s/s", perSec(retries+hr)))
		}
		if v, _, ok := r.cur.value("vpcflow_sink_buffer_bytes", "sink", c.ID); ok {
			recs, _, _ := r.cur.value("vpcflow_sink_buffer_records", "sink", c.ID)
			s := fmt.Sprintf("buffer %s (%s records)", bytesOf(v), count(recs))
			if age, _, ok := r.cur.value("vpcflow_sink_buffer_oldest_seconds", "sink", c.ID); ok && age > 0 {
				s += ", oldest " + seconds(age)
			}
			x.details = append(x.details, s)
		}
	}
	if c.Kind != processor.KindSink {
		if v, _, ok := r.cur.value("vpcflow_tap_sessions", "component", c.ID); ok && v > 0 {
			x.details = append(x.details, "tapped")
		}
		detailRate("tap drops", "vpcflow_tap_dropped_records_total", "component")
		detailRate("errors discarded", "vpcflow_errors_discarded_total", "component")
	}
	return x
}

// perSec formats a rate: 0, 0.5, 12, 3.4k, 1.25M.
func perSec(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 10:
		return fmt.Sprintf("%.1f", v)
	case v < 1e4:
		return fmt.Sprintf("%.0f", v)
	case v < 1e6:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.2fM", v/1e6)
	}
}

func count(v float64) string {
	if v < 1e6 {
		return fmt.Sprintf("%.0f", v)
	}
	return perSec(v)
}

func seconds(v float64) string {
	d := time.Duration(v * float64(time.Second))
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
}

func bytesOf(v float64) string {
	switch {
	case v < 1<<10:
		return fmt.Sprintf("%.0f B", v)
	case v < 1<<20:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	case v < 1<<30:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	default:
		return fmt.Sprintf("%.1f GiB", v/(1<<30))
	}
}
