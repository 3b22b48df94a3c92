package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// exportedSpan is what the stdout trace exporter writes for one span.
type exportedSpan struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct{ TraceID, SpanID string }
	Links       []struct {
		SpanContext struct{ TraceID, SpanID string }
	}
	Status struct{ Code string }
}

// spansIn picks the spans out of a log that interleaves them with slog
// lines.
func spansIn(t *testing.T, log string) []exportedSpan {
	t.Helper()
	var spans []exportedSpan
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if !bytes.HasPrefix(sc.Bytes(), []byte(`{"Name":`)) {
			continue
		}
		var s exportedSpan
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("span %q: %v", sc.Text(), err)
		}
		spans = append(spans, s)
	}
	return spans
}

// checkTree checks that every stage and sink span is the child of a batch
// span of the same trace, and that every batch has its stage and sink
// spans. It returns the spans by name.
func checkTree(t *testing.T, spans []exportedSpan, batch string, children ...string) map[string][]exportedSpan {
	t.Helper()
	byName := map[string][]exportedSpan{}
	batches := map[string]exportedSpan{}
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
		if s.Name == batch {
			batches[s.SpanContext.SpanID] = s
		}
	}
	if len(batches) == 0 {
		t.Fatalf("no %q span among %d", batch, len(spans))
	}
	for _, s := range batches {
		if s.Parent.SpanID != "" && strings.Trim(s.Parent.SpanID, "0") != "" {
			t.Errorf("batch span %s has a parent %s; it should start a trace (and link to its producer)", s.SpanContext.SpanID, s.Parent.SpanID)
		}
	}
	for _, name := range children {
		perBatch := map[string]int{}
		for _, s := range byName[name] {
			b, ok := batches[s.Parent.SpanID]
			if !ok {
				t.Errorf("span %q (%s) is not the child of a %q span", name, s.SpanContext.SpanID, batch)
				continue
			}
			if s.SpanContext.TraceID != b.SpanContext.TraceID {
				t.Errorf("span %q is not in its batch's trace", name)
			}
			perBatch[s.Parent.SpanID]++
		}
		if len(perBatch) != len(batches) {
			t.Errorf("%d of %d batches have a %q span", len(perBatch), len(batches), name)
		}
	}
	return byName
}

// TestTracesOfAFiniteRunAreFlushed runs a file pipeline to its end with the
// stdout exporter and checks that every span of the batch → stage → sink
// tree is exported.
func TestTracesOfAFiniteRunAreFlushed(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "flows.log")
	genFlows(t, in, "--count", "3000")
	cfg := filepath.Join(dir, "p.yaml")
	os.WriteFile(cfg, []byte(`
sources: {in: {type: file, path: "`+in+`", batch_max_records: 1000}}
stages:
  parse: {type: parse_flowlog, inputs: [in]}
  internal: {type: cidr_filter, inputs: [parse], drop_when_both_in: ["192.0.2.0/24"]}
sinks: {out: {type: file, inputs: [internal], path: "`+filepath.Join(dir, "out.json")+`", encoding: json}}
telemetry: {tracing: {exporter: stdout, sample_ratio: 1}}
`), 0o644)
	r := vpcflow(t, nil, nil, "run", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	byName := checkTree(t, spansIn(t, r.stderr), "batch in", "stage parse", "stage internal", "sink out")
	if n := len(byName["batch in"]); n != 3 {
		t.Errorf("%d batch spans, want 3 (3000 records in batches of 1000)", n)
	}
	for _, s := range byName["sink out"] {
		if s.Status.Code == "Error" {
			t.Errorf("delivered batch traced as failed")
		}
	}
}

// TestSIGTERMWithAHungIntakeEndsWithinTheBudget sends SIGTERM while the
// only intake holds every request without answering: the process stops
// within shutdown_timeout (3s, from --shutdown-timeout) plus a little for
// the exit itself, exits 0, says
// that the undelivered batches will be redelivered, and has flushed the
// traces of the failed deliveries.
func TestSIGTERMWithAHungIntakeEndsWithinTheBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a shutdown_timeout of 3s")
	}
	quit := make(chan struct{})
	var requests atomic.Int64
	intake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		io.Copy(io.Discard, r.Body)
		select { // never answers
		case <-r.Context().Done():
		case <-quit:
		}
	}))
	defer intake.Close()
	defer close(quit)

	dir := t.TempDir()
	in := filepath.Join(dir, "flows.log")
	genFlows(t, in, "--count", "2000")
	cfg := filepath.Join(dir, "p.yaml")
	os.WriteFile(cfg, []byte(`
sources: {in: {type: file, path: "`+in+`", batch_max_records: 500}}
stages: {parse: {type: parse_flowlog, inputs: [in]}}
sinks:
  intake: {type: http, inputs: [parse], url: "`+intake.URL+`/receiver/v1/http/TOKEN", encoding: json, batch: {timeout: 50ms}}
shutdown_timeout: 30s
telemetry: {tracing: {exporter: stdout, sample_ratio: 1}}
`), 0o644)
	// The flag replaces the file's 30s, as the Helm chart passes it.
	cmd := exec.Command(binary, "run", "--config", cfg, "--shutdown-timeout", "3s")
	var se bytes.Buffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for requests.Load() == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			t.Fatalf("no request reached the intake:\n%s", se.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // delivery in progress
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	const budget, slack = 3 * time.Second, 1500 * time.Millisecond
	select {
	case err := <-done:
		elapsed := time.Since(signalled)
		t.Logf("exited %v after SIGTERM (shutdown_timeout %v)", elapsed, budget)
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, se.String())
		}
		if elapsed > budget+slack {
			t.Errorf("exited %v after SIGTERM, want within %v", elapsed, budget+slack)
		}
	case <-time.After(3 * budget):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running %v after SIGTERM:\n%s", 3*budget, se.String())
	}
	logs := se.String()
	for _, want := range []string{"undelivered batches will be redelivered", `"msg":"pipeline stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%.4000s", want, logs)
		}
	}
	if strings.Contains(logs, "TOKEN") {
		t.Errorf("collector token in the logs")
	}
	byName := checkTree(t, spansIn(t, logs), "batch in", "stage parse", "sink intake")
	for _, s := range append(byName["sink intake"], byName["batch in"]...) {
		if s.Status.Code != "Error" {
			t.Errorf("undelivered batch: span %q has status %q, want Error", s.Name, s.Status.Code)
		}
	}
}
