package httpsink_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/internal/gen"
	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/processor/parse"
	"github.com/vpcflow/vpcflow/sinks/httpsink"
	"github.com/vpcflow/vpcflow/sinks/sinktest"
	"github.com/vpcflow/vpcflow/sources/filesource"
	"github.com/vpcflow/vpcflow/sources/sourcetest"
)

// Through the engine: an intake that fails for a while and refuses one
// account's records. Every record reaches the intake or the dead letter,
// every source batch is acknowledged, and only the refused record is
// dead-lettered: the rest of its source batch reaches the intake.
// TestPipelineDeliversOrDeadLetters runs a pipeline whose intake answers
// 503 at first and refuses one record (400): every other record is
// delivered and only the refused one dead-lettered, without a buffer (the
// record itself) and with a disk buffer (the sink stores its requests; the
// dead letter gets the record as it was encoded, with the refusal).
func TestPipelineDeliversOrDeadLetters(t *testing.T) {
	t.Run("unbuffered", func(t *testing.T) { testDeliversOrDeadLetters(t, "") })
	t.Run("disk_buffer", func(t *testing.T) {
		testDeliversOrDeadLetters(t, fmt.Sprintf("buffer: {type: disk, path: %q, max_bytes: 64MiB}", t.TempDir()))
	})
}

func testDeliversOrDeadLetters(t *testing.T, buffer string) {
	var n atomic.Int64
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("X-Sumo-Category") == "aws/vpc/666666666666" {
			http.Error(w, "refused", http.StatusBadRequest)
			return
		}
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Error(err)
			return
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(zr); err != nil {
			t.Error(err)
		}
		mu.Lock()
		got = append(got, strings.Split(b.String(), "\n")...)
		mu.Unlock()
	}))
	defer srv.Close()

	var batches []*flowlog.Batch
	var all, poison []string
	for i := range 20 {
		var lines []string
		for j := range 50 {
			acct := "123456789012"
			if i == 7 && j == 3 {
				acct = "666666666666"
			}
			l := fmt.Sprintf("2 %s eni-%08x 10.0.%d.%d 52.1.2.3 %d 443 6 10 %d 1718000000 1718000060 ACCEPT OK",
				acct, j, i, j, 1024+j, 100+i*50+j)
			lines = append(lines, l)
			all = append(all, l)
			if i == 7 && j == 3 {
				poison = append(poison, l) // only the refused record is dead-lettered
			}
		}
		batches = append(batches, sourcetest.Lines(fmt.Sprintf("p%d", i%3), lines...))
	}
	src := &sourcetest.Static{Batches: batches}
	recs := map[string]*sinktest.Recorder{"dlq": {}}
	cfg, err := processor.ParseConfig([]byte(`
sources: {in: {type: static}}
stages:
  parse: {type: parse_flowlog, inputs: [in]}
sinks:
  sumo:
    type: http
    inputs: [parse]
    url: "${SUMO_URL}"
    preset: sumologic
    encoding: raw
    sumologic: {category: "aws/vpc/{account-id}"}
    retry: {initial_interval: 5ms, max_interval: 20ms}
    dead_letter: dlq
    `+buffer+`
  dlq: {type: rec, inputs: [parse.errors]}
`), func(name string) (string, bool) {
		if name == "SUMO_URL" {
			return srv.URL + "/receiver/v1/http/TOKEN", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	f := processor.NewFactories(
		[]component.SourceFactory{sourcetest.Factory("static", src)},
		[]component.StageFactory{parse.NewFactory()},
		[]component.SinkFactory{httpsink.NewFactory(), sinktest.Factory("rec", recs)},
	)
	p, err := processor.Build(context.Background(), cfg, f, processor.Settings{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	acks, handed, doubles := src.Acks()
	if len(doubles) > 0 || len(acks) != handed || handed != 20 {
		t.Fatalf("acks %d of %d handed out, doubles %v", len(acks), handed, doubles)
	}
	for i, err := range acks {
		if err != nil {
			t.Errorf("batch %d nacked: %v", i, err)
		}
	}
	dl := recs["dlq"].Lines()
	for _, f := range recs["dlq"].Failures() {
		if f.Stage != "sumo" || f.Err == nil || !strings.Contains(f.Err.Error(), "400") {
			t.Errorf("dead-lettered failure %q from %q: %v; want the sink's id and the refusal", f.Raw, f.Stage, f.Err)
		}
		dl = append(dl, string(f.Raw))
	}
	if buffer != "" && len(recs["dlq"].Lines()) > 0 {
		t.Errorf("a spooling sink dead-lettered records, not its encoded lines: %q", recs["dlq"].Lines())
	}
	mu.Lock()
	defer mu.Unlock()
	for _, l := range all {
		if !slices.Contains(got, l) && !slices.Contains(dl, l) {
			t.Fatalf("line lost: %s", l)
		}
	}
	for _, l := range poison {
		if !slices.Contains(dl, l) {
			t.Errorf("poison batch line not dead-lettered: %s", l)
		}
	}
	if slices.Contains(got, poison[0]) {
		t.Error("the refused record reached the intake")
	}
	if len(dl) != len(poison) {
		t.Errorf("%d lines dead-lettered, want %d", len(dl), len(poison))
	}
	for _, l := range all {
		if !slices.Contains(poison, l) && !slices.Contains(got, l) {
			t.Errorf("accepted line not delivered: %s", l)
		}
	}
}

// benchFlowsFile writes n synthetic default-format records (1000
// interfaces, 3 accounts, seed 1) to a file of the benchmark's temporary
// directory, and returns its path and its FileInfo.
func benchFlowsFile(b *testing.B, n int) (string, os.FileInfo) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "flows.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := gen.Run(context.Background(), f, gen.Config{Format: "default", Count: n, ENIs: 1000, Accounts: 3, Seed: 1, Region: "us-east-1"}); err != nil {
		b.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(path)
	return path, fi
}

// BenchmarkPipelineFileToHTTP runs file → parse_flowlog → http
// (preset sumologic: sumo_vpc_json, gzip, 1 MB bodies) against a local
// intake that reads and discards bodies, over 1M synthetic default-format
// records per iteration.
//
//	go test -run '^$' -bench PipelineFileToHTTP -benchtime 3x -count 3 ./sinks/httpsink/
func BenchmarkPipelineFileToHTTP(b *testing.B) {
	const n = 1_000_000
	path, fi := benchFlowsFile(b, n)

	var bodies atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		bodies.Add(1)
	}))
	defer srv.Close()
	yml := []byte(fmt.Sprintf(`
sources: {flows: {type: file, path: %q}}
stages:
  parse: {type: parse_flowlog, inputs: [flows]}
sinks:
  sumo: {type: http, inputs: [parse], url: "%s/receiver/v1/http/TOKEN", preset: sumologic}
`, path, srv.URL))
	fs := processor.NewFactories(
		[]component.SourceFactory{filesource.NewFactory()},
		[]component.StageFactory{parse.NewFactory()},
		[]component.SinkFactory{httpsink.NewFactory()},
	)
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	cpu0 := testkit.CPUTime()
	for b.Loop() {
		cfg, err := processor.ParseConfig(yml, func(string) (string, bool) { return "", false })
		if err != nil {
			b.Fatal(err)
		}
		p, err := processor.Build(context.Background(), cfg, fs, processor.Settings{Registerer: prometheus.NewRegistry()})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
	if cpu := testkit.CPUTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N*n)/cpu.Seconds(), "records/cpu-s")
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPipelineFileToHTTPBuffered is BenchmarkPipelineFileToHTTP with
// a disk buffer (buffer: {type: disk}) on the http sink, over the same 1M
// records per iteration. The sink spools: it stores its finished requests
// (encoded, gzipped) and sends them from the buffer as they are.
//
//   - disk: end to end; a run ends once the buffer is delivered, so
//     records/s compares with the unbuffered benchmark.
//
//   - drain: the intake answers 503 until the whole file is acknowledged
//     into the buffer (an outage); records/s is then the time to deliver
//     the full buffer once the intake is back.
//
// Both check that every record was delivered.
//
//	go test -run '^$' -bench PipelineFileToHTTP -benchtime 3x -count 3 ./sinks/httpsink/
func BenchmarkPipelineFileToHTTPBuffered(b *testing.B) {
	const n = 1_000_000
	path, fi := benchFlowsFile(b, n)
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	fs := processor.NewFactories(
		[]component.SourceFactory{filesource.NewFactory()},
		[]component.StageFactory{parse.NewFactory()},
		[]component.SinkFactory{httpsink.NewFactory()},
	)
	build := func(b *testing.B, maxBytes string) (*processor.Pipeline, *prometheus.Registry) {
		yml := []byte(fmt.Sprintf(`
sources: {flows: {type: file, path: %q}}
stages:
  parse: {type: parse_flowlog, inputs: [flows]}
sinks:
  sumo:
    type: http
    inputs: [parse]
    url: "%s/receiver/v1/http/TOKEN"
    preset: sumologic
    retry: {initial_interval: 10ms, max_interval: 50ms}
    buffer: {type: disk, path: %q, max_bytes: %s}
`, path, srv.URL, b.TempDir(), maxBytes))
		cfg, err := processor.ParseConfig(yml, func(string) (string, bool) { return "", false })
		if err != nil {
			b.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		p, err := processor.Build(context.Background(), cfg, fs, processor.Settings{Registerer: reg})
		if err != nil {
			b.Fatal(err)
		}
		return p, reg
	}
	b.Run("disk", func(b *testing.B) {
		b.SetBytes(fi.Size())
		cpu0 := testkit.CPUTime()
		for b.Loop() {
			p, reg := build(b, "1GiB")
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			if got := testkit.Metric(b, reg, "vpcflow_sink_records_delivered_total", "sink", "sumo"); got != n {
				b.Fatalf("delivered %v records, want %d", got, n)
			}
		}
		b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		if cpu := testkit.CPUTime() - cpu0; cpu > 0 {
			b.ReportMetric(float64(b.N*n)/cpu.Seconds(), "records/cpu-s")
		}
		b.ReportMetric(0, "ns/op")
	})
	b.Run("drain", func(b *testing.B) {
		benchDrain(b, n, &down, func() (*processor.Pipeline, *prometheus.Registry) { return build(b, "1GiB") })
	})
}

// benchDrain measures how fast a full buffer is delivered once the intake
// is back.
func benchDrain(b *testing.B, n int, down *atomic.Bool, build func() (*processor.Pipeline, *prometheus.Registry)) {
	{
		var drained time.Duration
		var bufBytes float64
		for range b.N {
			down.Store(true)
			p, reg := build()
			done := make(chan error, 1)
			go func() { done <- p.Run(context.Background()) }()
			for testkit.Metric(b, reg, "vpcflow_pipeline_batches_acked_total", "source", "flows", "outcome", "ok") == 0 ||
				testkit.Metric(b, reg, "vpcflow_pipeline_batches_in_flight") > 0 ||
				testkit.Metric(b, reg, "vpcflow_sink_buffer_records", "sink", "sumo") < float64(n) {
				time.Sleep(5 * time.Millisecond)
			}
			bufBytes = testkit.Metric(b, reg, "vpcflow_sink_buffer_bytes", "sink", "sumo")
			start := time.Now()
			down.Store(false)
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			drained += time.Since(start)
			if got := testkit.Metric(b, reg, "vpcflow_sink_records_delivered_total", "sink", "sumo"); got != float64(n) {
				b.Fatalf("delivered %v records, want %d", got, n)
			}
		}
		b.ReportMetric(float64(b.N*n)/drained.Seconds(), "records/s")
		b.ReportMetric(bufBytes/float64(n), "buffer-bytes/record")
		b.ReportMetric(0, "ns/op")
	}
}
