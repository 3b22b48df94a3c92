package httpsink

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/internal/sinkbuf"
	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/processor/parse"
	"github.com/vpcflow/vpcflow/sinks/encoding/encodingtest"
	"github.com/vpcflow/vpcflow/sinks/sinktest"
	"github.com/vpcflow/vpcflow/sources/sourcetest"
)

// spoolPipeline builds static → parse → http (raw lines, gzip, a disk
// buffer in dir) against url.
func spoolPipeline(t *testing.T, src *sourcetest.Static, url, dir, extra string) (*processor.Pipeline, *prometheus.Registry) {
	return spoolPipelineWith(t, src, url, dir, extra, "", nil)
}

// spoolPipelineWith is spoolPipeline with more keys for the http sink (on
// lines of their own, indented by 4) and recorder sinks (type rec).
func spoolPipelineWith(t *testing.T, src *sourcetest.Static, url, dir, extra, sinkKeys string, recs map[string]*sinktest.Recorder) (*processor.Pipeline, *prometheus.Registry) {
	t.Helper()
	// encoding: raw and compression: gzip unless sinkKeys set them.
	for _, k := range []string{"encoding: raw", "compression: gzip"} {
		if !strings.Contains(sinkKeys, strings.Split(k, ":")[0]+":") {
			sinkKeys = "    " + k + "\n" + sinkKeys
		}
	}
	cfg, err := processor.ParseConfig([]byte(fmt.Sprintf(`
sources: {in: {type: static}}
stages:
  parse: {type: parse_flowlog, inputs: [in]}
sinks:
  sumo:
    type: http
    inputs: [parse]
    url: %q
    batch: {max_bytes: 4096, timeout: 50ms}
    retry: {initial_interval: 5ms, max_interval: 20ms}
    buffer: {type: disk, path: %q, max_bytes: 1MiB %s}
%s
`, url, dir, extra, sinkKeys)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	f := processor.NewFactories(
		[]component.SourceFactory{sourcetest.Factory("static", src)},
		[]component.StageFactory{parse.NewFactory()},
		[]component.SinkFactory{NewFactory(), sinktest.Factory("rec", recs)},
	)
	reg := prometheus.NewRegistry()
	p, err := processor.Build(context.Background(), cfg, f, processor.Settings{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return p, reg
}

// flowLines returns n distinct default-format lines, numbered from from,
// with random addresses and counters (so they compress as real ones do).
// newDownIntake is an intake that answers 503 while down is true, as it
// is at first.
func newDownIntake(t *testing.T) (*intake, *atomic.Bool) {
	down := new(atomic.Bool)
	down.Store(true)
	return newIntake(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}), down
}

// runInBackground starts p.Run; the function it returns waits for the run
// to end without error, failing the test after 30s, saying what was
// awaited.
func runInBackground(t *testing.T, p *processor.Pipeline) func(what string) {
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	return func(what string) {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("run not ended after 30s: %s", what)
		}
	}
}

func flowLines(from, n int) []string {
	rng := rand.New(rand.NewPCG(uint64(from), 1))
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("2 123456789012 eni-%08x 10.%d.%d.%d 52.%d.%d.%d %d 443 6 %d %d 1718000000 1718000060 ACCEPT OK",
			from+i, rng.IntN(256), rng.IntN(256), rng.IntN(256), rng.IntN(256), rng.IntN(256), rng.IntN(256),
			1024+rng.IntN(60000), 1+rng.IntN(10000), rng.Int64N(1e9))
	}
	return out
}

// A spooling sink keeps what it stored across a shutdown while its intake
// is down, and also delivers record frames an earlier version of the
// buffer (or another buffered sink type) left: every line arrives once the
// intake is back.
func TestSpoolKeepsRequestsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	// Record frames, as a buffer of records stores them.
	old := flowLines(0, 5)
	ob := &flowlog.Batch{}
	for _, l := range old {
		ob.Records = append(ob.Records, encodingtest.MustRecord(l, nil))
	}
	buf, err := sinkbuf.Open(sinkbuf.Config{Type: sinkbuf.TypeDisk, Path: dir, MaxBytes: 1 << 20}, "sumo", nil)
	if err != nil {
		t.Fatal(err)
	}
	stored := make(chan error, 1)
	if err := buf.Put(context.Background(), ob, func(err error) { stored <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-stored; err != nil {
		t.Fatal(err)
	}
	buf.Close()

	in, down := newDownIntake(t)
	var batches []*flowlog.Batch
	want := slices.Clone(old)
	for i := range 20 {
		lines := flowLines(100+i*50, 50)
		want = append(want, lines...)
		batches = append(batches, sourcetest.Lines(fmt.Sprintf("p%d", i%3), lines...))
	}
	src := &sourcetest.Static{Batches: batches, Endless: true}
	p, reg := spoolPipeline(t, src, in.srv.URL, dir, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "every batch acknowledged and every record in the buffer", func() bool {
		acks, _, _ := src.Acks()
		return len(acks) == 20 && testkit.Metric(t, reg, "vpcflow_sink_buffer_records", "sink", "sumo") == float64(len(want))
	})
	if in.n.Load() == 0 {
		t.Fatal("no delivery was attempted while the intake was down")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	acks, _, doubles := src.Acks()
	for i, err := range acks {
		if err != nil {
			t.Errorf("batch %d nacked: %v", i, err)
		}
	}
	if len(doubles) > 0 {
		t.Fatalf("doubly acknowledged: %v", doubles)
	}

	down.Store(false)
	// Another encoding and no compression now: what was stored is sent as
	// it was made.
	p, reg = spoolPipelineWith(t, &sourcetest.Static{}, in.srv.URL, dir, "", "    encoding: json\n    compression: none", nil)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := in.lines()
	for _, l := range want {
		if !slices.Contains(got, l) {
			t.Fatalf("line never delivered: %s", l)
		}
	}
	for _, r := range in.requests() {
		if ct, ce := r.header.Get("Content-Type"), r.header.Get("Content-Encoding"); ct != "text/plain; charset=utf-8" || ce != "gzip" {
			t.Fatalf("a stored request sent with Content-Type %q, Content-Encoding %q; want the raw encoding's, gzip", ct, ce)
		}
	}
	if d := testkit.Metric(t, reg, "vpcflow_sink_records_delivered_total", "sink", "sumo"); d != float64(len(want)) {
		t.Errorf("delivered_total %v, want %d", d, len(want))
	}
	if r := testkit.Metric(t, reg, "vpcflow_sink_buffer_records", "sink", "sumo"); r != 0 {
		t.Errorf("%v records left in the buffer", r)
	}
}

// A full buffer, while the intake is down: when_full: drop_newest drops
// stored requests, counted, and the source goes on; block holds the source
// back (no batch past the buffer's room is acknowledged) and drops
// nothing. Everything not dropped arrives once the intake is back, once.
func TestSpoolFull(t *testing.T) {
	for _, whenFull := range []string{"drop_newest", "block"} {
		t.Run(whenFull, func(t *testing.T) {
			in, down := newDownIntake(t)
			var batches []*flowlog.Batch
			const total = 80 * 1000
			for i := range 80 {
				batches = append(batches, sourcetest.Lines("p", flowLines(i*1000, 1000)...))
			}
			src := &sourcetest.Static{Batches: batches}
			p, reg := spoolPipeline(t, src, in.srv.URL, t.TempDir(), ", when_full: "+whenFull)
			wait := runInBackground(t, p)
			acked := func() int { acks, _, _ := src.Acks(); return len(acks) }
			if whenFull == "drop_newest" {
				waitFor(t, "every batch acknowledged", func() bool { return acked() == len(batches) })
				if testkit.Metric(t, reg, "vpcflow_sink_buffer_dropped_records_total", "sink", "sumo") == 0 {
					t.Fatal("a 1MiB buffer took 80,000 records of 4KiB requests without dropping")
				}
			} else {
				// The buffer fills, then acknowledgements stop.
				last, since := -1, time.Now()
				waitFor(t, "acknowledgements stopped", func() bool {
					if n := acked(); n != last {
						last, since = n, time.Now()
					}
					return time.Since(since) > 500*time.Millisecond
				})
				if last == len(batches) {
					t.Fatal("every batch acknowledged though the buffer cannot hold them")
				}
				if b := testkit.Metric(t, reg, "vpcflow_sink_buffer_bytes", "sink", "sumo"); b < 900<<10 {
					t.Fatalf("acknowledgements stopped with the buffer at %v bytes, not full", b)
				}
				if b := testkit.Metric(t, reg, "vpcflow_sink_buffer_bytes", "sink", "sumo"); b > 1<<20 {
					t.Fatalf("the buffer holds %v bytes, more than max_bytes", b)
				}
			}
			dropped := testkit.Metric(t, reg, "vpcflow_sink_buffer_dropped_records_total", "sink", "sumo")
			if whenFull == "block" && dropped != 0 {
				t.Fatalf("when_full: block dropped %v records", dropped)
			}
			down.Store(false)
			wait("the buffer delivered")
			got := in.lines()
			seen := map[string]bool{}
			for _, l := range got {
				seen[l] = true
			}
			if len(seen) != len(got) {
				t.Errorf("%d lines delivered, %d distinct", len(got), len(seen))
			}
			if float64(len(got))+dropped != total {
				t.Errorf("%d delivered + %v dropped, want %d", len(got), dropped, total)
			}
		})
	}
}

// Stored requests that are damaged are refused with a clear error, never a
// panic.
func TestParsePayloadDamaged(t *testing.T) {
	header := http.Header{"X-Sumo-Category": {"aws/vpc"}}
	ends := []int32{9, 18}
	good := append(appendPayloadHead(nil, "", header, ends, true), "line one\nline two"...)
	sr, err := parsePayload(good)
	if err != nil {
		t.Fatal(err)
	}
	if sr.header.Get("X-Sumo-Category") != "aws/vpc" || !slices.Equal(sr.ends, ends) || string(sr.body) != "line one\nline two" || !sr.trimmed {
		t.Fatalf("round trip: %+v", sr)
	}
	for i := range len(good) - len("line one\nline two") {
		if _, err := parsePayload(good[:i]); err == nil {
			t.Errorf("payload cut at %d of %d parsed", i, len(good))
		}
	}
	bad := slices.Clone(good)
	bad[0] = 9
	if _, err := parsePayload(bad); err == nil {
		t.Error("payload of version 9 parsed")
	}
	if _, err := unpack("gzip", []byte("not gzip"), 10); err == nil {
		t.Error("a damaged gzip body unpacked")
	}
}

// on_rejected: block keeps the records an intake refuses out of a stored
// request and sends them again, alone, until it takes them; the sink
// reports itself blocked meanwhile, and nothing else is held back.
func TestSpoolRefusedBlockRetriesUntilTaken(t *testing.T) {
	var refusing atomic.Bool
	refusing.Store(true)
	in := newRefusingIntake(t, func(w http.ResponseWriter, body []byte) bool {
		if refusing.Load() && bytes.Contains(body, []byte("eni-00000007 ")) {
			http.Error(w, "bad record", http.StatusBadRequest)
			return true
		}
		return false
	})
	lines := flowLines(0, 200)
	src := &sourcetest.Static{Batches: []*flowlog.Batch{sourcetest.Lines("p", lines[:100]...), sourcetest.Lines("p", lines[100:]...)}}
	p, reg := spoolPipeline(t, src, in.srv.URL, t.TempDir(), "")
	wait := runInBackground(t, p)
	waitFor(t, "the sink blocked by the refused record", func() bool {
		return testkit.Metric(t, reg, "vpcflow_sink_blocked", "sink", "sumo") == 1
	})
	waitFor(t, "every other record delivered", func() bool { return len(in.lines()) == len(lines)-1 })
	if slices.Contains(in.lines(), lines[7]) {
		t.Fatal("the refused record was delivered while refused")
	}
	refusing.Store(false)
	wait("the refused record sent again")
	got := in.lines()
	if len(got) != len(lines) || !slices.Contains(got, lines[7]) {
		t.Fatalf("%d lines delivered, want %d with the once refused one", len(got), len(lines))
	}
	if b := testkit.Metric(t, reg, "vpcflow_sink_blocked", "sink", "sumo"); b != 0 {
		t.Errorf("still blocked: %v", b)
	}
	if d := testkit.Metric(t, reg, "vpcflow_sink_records_delivered_total", "sink", "sumo"); d != float64(len(lines)) {
		t.Errorf("delivered_total %v, want %d (the once refused record included)", d, len(lines))
	}
}

// A stored request the sink gives up on (max_retry_duration) goes to the
// dead letter, record by record, as failures naming why.
func TestSpoolGiveUpDeadLetters(t *testing.T) {
	in := newIntake(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	lines := flowLines(0, 30)
	src := &sourcetest.Static{Batches: []*flowlog.Batch{sourcetest.Lines("p", lines...)}}
	recs := map[string]*sinktest.Recorder{"dlq": {}}
	p, reg := spoolPipelineWith(t, src, in.srv.URL, t.TempDir(), "", `    max_retry_duration: 200ms
    dead_letter: dlq
  dlq: {type: rec, inputs: [parse.errors]}`, recs)
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range recs["dlq"].Failures() {
		if f.Stage != "sumo" || f.Err == nil || !strings.Contains(f.Err.Error(), "503") {
			t.Errorf("failure from %q: %v; want the sink's id and the last error", f.Stage, f.Err)
		}
		got = append(got, string(f.Raw))
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(lines))
	if !slices.Equal(got, want) {
		t.Fatalf("dead letter got %d lines, want the %d records", len(got), len(want))
	}
	if d := testkit.Metric(t, reg, "vpcflow_sink_records_dead_lettered_total", "sink", "sumo"); d != float64(len(lines)) {
		t.Errorf("dead_lettered_total %v, want %d", d, len(lines))
	}
	if d := testkit.Metric(t, reg, "vpcflow_sink_records_delivered_total", "sink", "sumo"); d != 0 {
		t.Errorf("delivered_total %v, want 0", d)
	}
}

// An intake that hangs: shutdown ends within shutdown_timeout though a
// stored request is being sent, and the request stays stored; the next
// run, with the intake answering, delivers every record.
func TestSpoolShutdownWhileIntakeHangs(t *testing.T) {
	dir := t.TempDir()
	var hang atomic.Bool
	hang.Store(true)
	release := make(chan struct{})
	in := newIntake(t, func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if !hang.Load() {
			return false
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	defer close(release)
	lines := flowLines(0, 200)
	src := &sourcetest.Static{Batches: []*flowlog.Batch{sourcetest.Lines("p", lines...)}, Endless: true}
	p, reg := spoolPipelineWith(t, src, in.srv.URL, dir, "", "shutdown_timeout: 2s", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "the batch acknowledged and a stored request hanging at the intake", func() bool {
		acks, _, _ := src.Acks()
		return len(acks) == 1 && in.inFlight.Load() > 0 &&
			testkit.Metric(t, reg, "vpcflow_sink_buffer_records", "sink", "sumo") == float64(len(lines))
	})
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("shutdown did not end within shutdown_timeout (2s) while the intake hung")
	}
	t.Logf("shut down in %v", time.Since(start).Round(time.Millisecond))
	if acks, _, _ := src.Acks(); acks[0] != nil {
		t.Fatalf("the stored batch was nacked: %v", acks[0])
	}

	hang.Store(false)
	p, _ = spoolPipeline(t, &sourcetest.Static{}, in.srv.URL, dir, "")
	runInBackground(t, p)("the stored requests delivered")
	got := in.lines()
	for _, l := range lines {
		if !slices.Contains(got, l) {
			t.Fatalf("line never delivered: %s", l)
		}
	}
}
