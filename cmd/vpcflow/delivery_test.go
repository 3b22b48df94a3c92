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
	if r := vpcflow(t, nil, nil, "gen", "--count", fmt.Sprint(records), "--enis", "50", "-o", in); r.code != 0 {
		t.Fatalf("gen: %+v", r)
	}
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
sources: {in: {type: file, path: %q, batch_records: 500}}
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
