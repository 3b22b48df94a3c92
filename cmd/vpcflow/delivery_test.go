package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor"
)

// collector is a local intake that records every line it accepts and can
// be told to fail.
type collector struct {
	mu     sync.Mutex
	lines  map[string]int
	status func(n int64) (int, http.Header) // by request number
	n      atomic.Int64
	maxRaw atomic.Int64
}

func newCollector(status func(n int64) (int, http.Header)) *collector {
	return &collector{lines: map[string]int{}, status: status}
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := c.n.Add(1)
	if c.status != nil {
		if code, h := c.status(n); code != http.StatusOK {
			for k, v := range h {
				w.Header()[k] = v
			}
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(code)
			return
		}
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	if int64(len(body)) > c.maxRaw.Load() {
		c.maxRaw.Store(int64(len(body)))
	}
	c.mu.Lock()
	for _, l := range bytes.Split(body, []byte("\n")) {
		if len(l) > 0 {
			c.lines[string(l)]++
		}
	}
	c.mu.Unlock()
}

func (c *collector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

// TestFanOutDeliversEverythingDespiteOutages runs file -> parse -> three
// http sinks in process: one intake down then throttling, one healthy, one
// answering 400 for ever (dead-lettered to a file). Every record reaches
// every sink or the dead letter; the collector token never reaches the
// logs.
func TestFanOutDeliversEverythingDespiteOutages(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a pipeline for several seconds")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "flows.log")
	const records = 20000
	genFlows(t, in, "--count", fmt.Sprint(records), "--enis", "50")
	want := map[string]bool{}
	for _, l := range readLines(t, in) {
		want[l] = true
	}
	start := time.Now()
	flaky := newCollector(func(n int64) (int, http.Header) {
		switch {
		case time.Since(start) < 1500*time.Millisecond:
			return http.StatusServiceUnavailable, nil
		case n%5 == 0:
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}}
		}
		return http.StatusOK, nil
	})
	healthy := newCollector(nil)
	rejecting := newCollector(func(int64) (int, http.Header) { return http.StatusBadRequest, nil })
	servers := map[string]*httptest.Server{}
	for name, c := range map[string]*collector{"FLAKY": flaky, "HEALTHY": healthy, "REJECTING": rejecting} {
		s := httptest.NewServer(c)
		defer s.Close()
		servers[name] = s
		t.Setenv(name+"_URL", s.URL+"/receiver/v1/http/SECRET-TOKEN-"+name)
	}
	dlq := filepath.Join(dir, "dlq.json")
	cfg, err := processor.ParseConfig([]byte(fmt.Sprintf(`
sources: {in: {type: file, path: %q, batch_max_records: 500}}
stages: {parse: {type: parse_flowlog, inputs: [in]}}
sinks:
  flaky: {type: http, inputs: [parse], url: "${FLAKY_URL}", encoding: sumo_vpc_json, batch: {max_bytes: 20000, timeout: 50ms}, retry: {initial_interval: 20ms, max_interval: 200ms}}
  healthy: {type: http, inputs: [parse], url: "${HEALTHY_URL}", encoding: json, batch: {max_bytes: 50000, timeout: 50ms}}
  rejecting: {type: http, inputs: [parse], url: "${REJECTING_URL}", encoding: raw, dead_letter: dlq}
  dlq: {type: file, inputs: [parse.errors], path: %q, encoding: raw}
max_in_flight: 8
telemetry: {log_level: debug}
`, in, dlq)), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	var logs testkit.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := runPipelineWith(ctx, cfg, &logs, nil); err != nil {
		t.Fatal(err)
	}
	if got := flaky.distinct(); got != len(want) {
		t.Errorf("flaky intake got %d distinct records, want %d", got, len(want))
	}
	if got := healthy.distinct(); got != len(want) {
		t.Errorf("healthy intake got %d distinct records, want %d", got, len(want))
	}
	if got := flaky.maxRaw.Load(); got > 20000 {
		t.Errorf("a request body of %d bytes exceeds batch.max_bytes 20000", got)
	}
	if n := len(readLines(t, dlq)); n != records {
		t.Errorf("dead letter holds %d records, want %d", n, records)
	}
	if flaky.n.Load() < 10 {
		t.Errorf("only %d requests to the flaky intake: no retries happened", flaky.n.Load())
	}
	if strings.Contains(logs.String(), "SECRET-TOKEN") {
		t.Errorf("collector token in the logs")
	}
	if !strings.Contains(logs.String(), "dead letter") {
		t.Errorf("the logs do not mention the dead letter:\n%.3000s", logs.String())
	}
}

// TestRevokedTokenLosesNothing: the intake refuses the collector token
// (401) for a while, then accepts it again. With no dead letter, nothing is
// counted failed or acknowledged undelivered: the sink blocks, retries and
// delivers every record once the token works.
func TestRevokedTokenLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a pipeline for several seconds")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "flows.log")
	const records = 20000
	genFlows(t, in, "--count", fmt.Sprint(records), "--enis", "50")
	start := time.Now()
	const refusal = 3 * time.Second
	c := newCollector(func(int64) (int, http.Header) {
		if time.Since(start) < refusal {
			return http.StatusUnauthorized, nil
		}
		return http.StatusOK, nil
	})
	srv := httptest.NewServer(c)
	defer srv.Close()
	t.Setenv("SUMO_URL", srv.URL+"/receiver/v1/http/SECRET-TOKEN")
	cfg, err := processor.ParseConfig([]byte(fmt.Sprintf(`
sources: {in: {type: file, path: %q, batch_max_records: 500}}
stages: {parse: {type: parse_flowlog, inputs: [in]}}
sinks:
  sumo: {type: http, inputs: [parse], url: "${SUMO_URL}", preset: sumologic, retry: {initial_interval: 20ms, max_interval: 500ms}}
max_in_flight: 8
`, in)), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	var logs testkit.Buffer
	var reg *prometheus.Registry
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := runPipelineWith(ctx, cfg, &logs, func(_ *processor.Pipeline, _ string, r *prometheus.Registry) { reg = r }); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < refusal {
		t.Fatalf("the run ended after %s, before the intake accepted anything", d)
	}
	if got := c.distinct(); got != records {
		t.Errorf("intake got %d distinct records, want %d: records were lost", got, records)
	}
	if got := testkit.Metric(t, reg, "vpcflow_sink_records_failed_total", "sink", "sumo"); got != 0 {
		t.Errorf("%v records counted failed", got)
	}
	if got := testkit.Metric(t, reg, "vpcflow_sink_records_delivered_total", "sink", "sumo"); got != records {
		t.Errorf("delivered %v, want %d", got, records)
	}
	if got := testkit.Metric(t, reg, "vpcflow_sink_blocked", "sink", "sumo"); got != 0 {
		t.Errorf("still blocked after delivery")
	}
	l := logs.String()
	if !strings.Contains(l, "401") || strings.Contains(l, "SECRET-TOKEN") {
		t.Errorf("logs must name the 401 and never the token:\n%.3000s", l)
	}
}

// TestSourceErrorWithoutErrorsSinkIsLogged: a line too long for a record
// with no sink on in.errors is counted and logged with the component, the
// reason and the input; the other lines flow on.
func TestSourceErrorWithoutErrorsSinkIsLogged(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "flows.log")
	good := "2 123456789012 eni-0a1b2c3d 10.0.1.5 10.0.2.6 443 49152 6 10 840 1718000000 1718000060 ACCEPT OK"
	data := good + "\n" + strings.Repeat("x", 1<<20) + "\n" + good + "\n"
	if err := os.WriteFile(in, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.log")
	cfg, err := processor.ParseConfig([]byte(fmt.Sprintf(`
sources: {in: {type: file, path: %q}}
stages: {parse: {type: parse_flowlog, inputs: [in]}}
sinks: {out: {type: file, inputs: [parse], path: %q, encoding: raw}}
`, in, out)), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	var logs testkit.Buffer
	var reg *prometheus.Registry
	if err := runPipelineWith(context.Background(), cfg, &logs, func(_ *processor.Pipeline, _ string, r *prometheus.Registry) { reg = r }); err != nil {
		t.Fatal(err)
	}
	if n := len(readLines(t, out)); n != 2 {
		t.Errorf("%d lines delivered, want 2", n)
	}
	if got := testkit.Metric(t, reg, "vpcflow_errors_discarded_total", "component", "in"); got != 1 {
		t.Errorf("discarded %v, want 1", got)
	}
	l := logs.String()
	for _, want := range []string{"no sink takes in.errors", `"component":"in"`, "xxxxxxxx"} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%.2000s", want, l)
		}
	}
}
