package processor_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sinks/sinktest"
	"github.com/vpcflow/vpcflow/sources/sourcetest"
)

func allLines(bs []*flowlog.Batch) []string {
	var out []string
	for _, b := range bs {
		for _, r := range b.Records {
			out = append(out, string(r.Raw))
		}
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string { slices.Sort(s); return s }

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func acked(src *sourcetest.Static) int {
	a, _, _ := src.Acks()
	return len(a)
}

// A disk buffer acknowledges batches once fsynced: the source is fully
// acknowledged and the other sink fed while the buffered sink is down;
// then the buffer drains and the run ends.
func TestDiskBufferAcknowledgesWhileSinkIsDown(t *testing.T) {
	in := batches(30, 50)
	down := make(chan struct{})
	h := &harness{src: sourcetest.New(t, in...), sinks: map[string]*sinktest.Recorder{"slow": {Block: down}, "fast": {}}}
	p := build(t, h, fmt.Sprintf(`
sources: {in: {type: static}}
sinks:
  slow: {type: rec, inputs: [in], buffer: {type: disk, path: %q, max_bytes: 8MiB}}
  fast: {type: rec, inputs: [in]}
max_in_flight: 2
`, t.TempDir()))
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	waitFor(t, "every batch acknowledged", func() bool { return acked(h.src) == len(in) })
	if got := len(h.sinks["fast"].Lines()); got != 30*50 {
		t.Fatalf("fast sink got %d records while the other was down", got)
	}
	if got := testkit.Metric(t, h.reg, "vpcflow_sink_buffer_records", "sink", "slow"); got != 30*50 {
		t.Fatalf("buffer holds %v records, want %d", got, 30*50)
	}
	if got := testkit.Metric(t, h.reg, "vpcflow_sink_buffer_bytes", "sink", "slow"); got <= 0 {
		t.Fatalf("buffer bytes %v", got)
	}
	if got := testkit.Metric(t, h.reg, "vpcflow_sink_buffer_oldest_seconds", "sink", "slow"); got <= 0 {
		t.Fatalf("oldest %v", got)
	}
	select {
	case err := <-done:
		t.Fatalf("run ended (%v) before the buffer was delivered", err)
	default:
	}
	close(down)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	assertAllAcked(t, h.src, false)
	if got, want := sorted(h.sinks["slow"].Lines()), allLines(in); !slices.Equal(got, want) {
		t.Fatalf("buffered sink got %d records, want %d", len(got), len(want))
	}
	if got := testkit.Metric(t, h.reg, "vpcflow_sink_records_delivered_total", "sink", "slow"); got != 30*50 {
		t.Errorf("delivered %v", got)
	}
}

// A memory buffer lets the other sinks go on past max_in_flight batches
// but acknowledges a batch only once the buffered sink delivered it.
func TestMemoryBufferAbsorbsButAcknowledgesOnDelivery(t *testing.T) {
	in := batches(20, 10)
	down := make(chan struct{})
	h := &harness{src: sourcetest.New(t, in...), sinks: map[string]*sinktest.Recorder{"slow": {Block: down}, "fast": {}}}
	p := build(t, h, `
sources: {in: {type: static}}
sinks:
  slow: {type: rec, inputs: [in], buffer: {type: memory}}
  fast: {type: rec, inputs: [in]}
max_in_flight: 2
`)
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	waitFor(t, "the fast sink fed past max_in_flight", func() bool { return len(h.sinks["fast"].Lines()) == 200 })
	if n := acked(h.src); n != 0 {
		t.Fatalf("%d batches acknowledged before the buffered sink delivered them", n)
	}
	close(down)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	assertAllAcked(t, h.src, false)
	if got := len(h.sinks["slow"].Lines()); got != 200 {
		t.Fatalf("buffered sink got %d", got)
	}
}

// On shutdown a memory buffer nacks what it could not deliver.
func TestMemoryBufferNacksOnShutdown(t *testing.T) {
	in := batches(5, 10)
	h := &harness{src: endless(sourcetest.New(t, in...)), sinks: map[string]*sinktest.Recorder{"slow": {Block: make(chan struct{})}}}
	p := build(t, h, `
sources: {in: {type: static}}
sinks:
  slow: {type: rec, inputs: [in], buffer: {type: memory}}
shutdown_timeout: 200ms
`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "the buffer filled", func() bool {
		return testkit.Metric(t, h.reg, "vpcflow_sink_buffer_records", "sink", "slow") == 50
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	assertAllAcked(t, h.src, true)
}

func randomBatches(n, per int) []*flowlog.Batch {
	var out []*flowlog.Batch
	for i := range n {
		var lines []string
		for range per {
			lines = append(lines, fmt.Sprintf("%016x%016x%016x%016x", rand.Uint64(), rand.Uint64(), rand.Uint64(), rand.Uint64()))
		}
		out = append(out, sourcetest.Lines(fmt.Sprintf("p%d", i%3), lines...))
	}
	return out
}

// A full buffer with when_full: drop_newest drops, counts and logs; the
// source is acknowledged and the other sink gets everything.
func TestFullBufferDropsNewest(t *testing.T) {
	for _, typ := range []string{"memory", "disk"} {
		t.Run(typ, func(t *testing.T) {
			in := randomBatches(40, 1000)
			down := make(chan struct{})
			h := &harness{src: sourcetest.New(t, in...), sinks: map[string]*sinktest.Recorder{"slow": {Block: down}, "fast": {}}}
			path := ""
			if typ == "disk" {
				path = fmt.Sprintf(", path: %q", t.TempDir())
			}
			p := build(t, h, fmt.Sprintf(`
sources: {in: {type: static}}
sinks:
  slow: {type: rec, inputs: [in], buffer: {type: %s, max_bytes: 1MiB, when_full: drop_newest%s}}
  fast: {type: rec, inputs: [in]}
`, typ, path))
			done := make(chan error, 1)
			go func() { done <- p.Run(context.Background()) }()
			waitFor(t, "the fast sink fed", func() bool { return len(h.sinks["fast"].Lines()) == 40000 })
			dropped := testkit.Metric(t, h.reg, "vpcflow_sink_buffer_dropped_records_total", "sink", "slow")
			if dropped == 0 {
				t.Fatal("nothing dropped")
			}
			if b := testkit.Metric(t, h.reg, "vpcflow_sink_buffer_bytes", "sink", "slow"); b > 1<<20 {
				t.Fatalf("buffer holds %v bytes, over max_bytes", b)
			}
			close(down)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			assertAllAcked(t, h.src, false)
			if got := len(h.sinks["slow"].Lines()); got+int(dropped) != 40000 {
				t.Fatalf("slow got %d + dropped %v != 40000", got, dropped)
			}
			if !strings.Contains(h.logs.String(), "drop_newest") {
				t.Error("drops not logged")
			}
		})
	}
}

// With when_full: block a full buffer holds the source back.
func TestFullBufferBlocks(t *testing.T) {
	in := randomBatches(40, 1000)
	down := make(chan struct{})
	h := &harness{src: sourcetest.New(t, in...), sinks: map[string]*sinktest.Recorder{"slow": {Block: down}, "fast": {}}}
	p := build(t, h, fmt.Sprintf(`
sources: {in: {type: static}}
sinks:
  slow: {type: rec, inputs: [in], buffer: {type: disk, max_bytes: 1MiB, path: %q}}
  fast: {type: rec, inputs: [in]}
max_in_flight: 4
`, t.TempDir()))
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	waitFor(t, "the buffer full", func() bool {
		return testkit.Metric(t, h.reg, "vpcflow_sink_buffer_bytes", "sink", "slow") > 1<<19
	})
	time.Sleep(300 * time.Millisecond)
	if n := acked(h.src); n >= 40 {
		t.Fatalf("all %d batches acknowledged though the buffer is full", n)
	}
	close(down)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	assertAllAcked(t, h.src, false)
	if got := len(h.sinks["slow"].Lines()); got != 40000 {
		t.Fatalf("slow got %d", got)
	}
}

// On shutdown a disk buffer keeps what it holds; the batches were
// acknowledged when written.
func TestDiskBufferShutdownKeepsRecords(t *testing.T) {
	in := batches(5, 10)
	dir := t.TempDir()
	h := &harness{src: endless(sourcetest.New(t, in...)), sinks: map[string]*sinktest.Recorder{"slow": {Block: make(chan struct{})}}}
	p := build(t, h, fmt.Sprintf(`
sources: {in: {type: static}}
sinks:
  slow: {type: rec, inputs: [in], buffer: {type: disk, path: %q}}
shutdown_timeout: 200ms
`, dir))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "every batch acknowledged", func() bool { return acked(h.src) == 5 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	assertAllAcked(t, h.src, false)
}
