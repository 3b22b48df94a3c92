package s3sqssource

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// held is a batch read and not yet acknowledged.
type held struct {
	partition string
	ack       flowlog.AckFunc
}

// readHeld reads n batches of distinct objects and holds their acks.
func readHeld(t *testing.T, s *Source, n int) []held {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var hs []held
	for len(hs) < n {
		b, ack, err := s.Read(ctx)
		if err != nil {
			t.Fatalf("read after %d batches: %v", len(hs), err)
		}
		hs = append(hs, held{b.Partition, ack})
	}
	return hs
}

// TestVisibilityBatchExtension: with a short visibility timeout, the
// visibility of many messages in flight is extended by batch calls of up
// to 10 entries, and none is delivered twice while held.
func TestVisibilityBatchExtension(t *testing.T) {
	if testing.Short() {
		t.Skip("waits past a visibility timeout")
	}
	e := newEnv(t)
	const objects = 12
	for i := range objects {
		key := fmt.Sprintf("AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/v%02d.log.gz", i)
		e.put(key, gz(textObject(i*100, 50)))
		e.send(s3Event(key))
	}
	s, reg := e.source(e.config(func(c *Config) {
		c.VisibilityTimeout = 2 * time.Second
		c.MaxInFlightObjects = objects
	}))
	// One batch per object (header + 50 lines): hold them all, a slow sink.
	hs := readHeld(t, s, objects)
	seen := map[string]bool{}
	for _, h := range hs {
		seen[h.partition] = true
	}
	if len(seen) != objects {
		t.Fatalf("%d batches of %d objects, want one of each", len(hs), len(seen))
	}
	time.Sleep(5 * time.Second) // 2.5 visibility timeouts
	if r := counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "received"); r != objects {
		t.Errorf("received %v messages while holding %d, want no redelivery", r, objects)
	}
	calls, entries := e.proxy.visCalls.Load(), e.proxy.visEntries.Load()
	if calls < 4 || entries < 4*objects {
		t.Errorf("%d ChangeMessageVisibilityBatch calls with %d entries in 5s, want at least 4 rounds for %d messages", calls, entries, objects)
	}
	if m := e.proxy.maxEntries.Load(); m != maxBatchEntries {
		t.Errorf("largest batch call had %d entries, want %d", m, maxBatchEntries)
	}
	if f := counter(t, reg, "vpcflow_s3sqs_visibility_failures_total", "reason", "call") +
		counter(t, reg, "vpcflow_s3sqs_visibility_failures_total", "reason", "entry"); f != 0 {
		t.Errorf("visibility failures = %v, want 0", f)
	}
	for _, h := range hs {
		if err := h.ack(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every message deleted", 10*time.Second, func() bool {
		return counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "deleted") == objects && e.depth(e.queueURL) == 0
	})
}

// TestVisibilityFailuresCounted: a failed ChangeMessageVisibilityBatch
// call, and refused entries of one that succeeded, are counted and logged;
// a hung call ends at its timeout and the next rounds go on.
func TestVisibilityFailuresCounted(t *testing.T) {
	e := newEnv(t)
	const key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/vf.log.gz"
	e.put(key, gz(textObject(0, 10)))
	e.send(s3Event(key))
	var logs testkit.Buffer
	reg := prometheus.NewRegistry()
	s, err := New(context.Background(), e.config(func(c *Config) { c.VisibilityTimeout = 2 * time.Second }), component.Settings{
		ID: "s3", Registerer: reg, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	hs := readHeld(t, s, 1)

	failures := func(reason string) float64 {
		return counter(t, reg, "vpcflow_s3sqs_visibility_failures_total", "reason", reason)
	}
	e.proxy.visFail.Store(visFailCall)
	waitFor(t, "failed call counted", 10*time.Second, func() bool { return failures("call") >= 1 })
	e.proxy.visFail.Store(visFailEntries)
	waitFor(t, "refused entry counted", 10*time.Second, func() bool { return failures("entry") >= 1 })
	e.proxy.visFail.Store(visOK)

	// A call that hangs is abandoned at its timeout; the next round runs.
	calls := e.proxy.visCalls.Load()
	e.proxy.visHang.Store(1)
	waitFor(t, "two more rounds", 10*time.Second, func() bool { return e.proxy.visCalls.Load() >= calls+2 })
	waitFor(t, "hung call counted", 10*time.Second, func() bool { return failures("call") >= 2 })

	for _, want := range []string{"changing the visibility of SQS messages failed", "SQS refused to change the visibility of a message", "ReceiptHandleIsInvalid"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
	// The message may have come back meanwhile; Close releases it.
	if err := hs[0].ack(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}
