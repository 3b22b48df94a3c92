package s3sqssource

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// TestCorruptGzip: records before the damage are delivered, the failure
// names bucket and key, and the message moves to the dead-letter queue.
func TestCorruptGzip(t *testing.T) {
	e := newEnv(t)
	const key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/broken.log.gz"
	good := textObject(0, 20000)
	z := gz(good)
	// Keep the first 60% and garble the rest.
	cut := z[:len(z)*6/10]
	bad := append(append([]byte{}, cut...), []byte(strings.Repeat("\xff\x00garbage", 200))...)
	e.put(key, bad)
	e.send(s3Event(key))

	s, reg := e.source(e.config(func(c *Config) { c.DeadLetterQueueURL = e.dlqURL }))
	got := consume(t, s, 20*time.Second, func(c *collected) bool { return len(c.failed) > 0 }, nil)

	// Deflate decodes garbage into garbage for a while before it notices;
	// every line of the intact prefix must be there.
	intact := intactLines(cut)
	lines := got.lines["s3://"+testBucket+"/"+key]
	if intact < 1000 || len(lines) < intact {
		t.Fatalf("%d lines before the damage, %d intact", len(lines), intact)
	}
	want := strings.Split(string(good), "\n")
	for i := range intact {
		if lines[i] != want[i] {
			t.Fatalf("line %d = %q, want %q", i, lines[i], want[i])
		}
	}
	if len(got.failed) != 1 {
		t.Errorf("%d failures, want 1", len(got.failed))
	}
	if f := got.failed[0]; !strings.Contains(f.Err.Error(), "s3://"+testBucket+"/"+key) || !strings.Contains(f.Err.Error(), "corrupt") || f.Stage != "s3" {
		t.Errorf("failure = %+v, want it to name the object and corrupt", f)
	}
	waitFor(t, "message moved to the dead-letter queue", 10*time.Second, func() bool {
		return e.depth(e.queueURL) == 0 && e.depth(e.dlqURL) == 1
	})
	dl := e.receiveAll(e.dlqURL)
	if len(dl) != 1 || !strings.Contains(*dl[0].Body, "broken.log.gz") {
		t.Fatalf("dead-letter queue holds %+v", dl)
	}
	if c := counter(t, reg, "vpcflow_s3sqs_objects_total", "outcome", "corrupt"); c != 1 {
		t.Errorf("corrupt objects = %v, want 1", c)
	}
	if c := counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "dead_lettered"); c != 1 {
		t.Errorf("dead-lettered = %v, want 1", c)
	}
}

// intactLines counts the complete lines a truncated gzip stream holds.
func intactLines(z []byte) int {
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return 0
	}
	data, _ := io.ReadAll(zr)
	return bytes.Count(data, []byte("\n"))
}

// TestMissingObject: without a dead-letter queue the message is left on
// the queue for its redrive policy, invisible, not retried in a loop.
func TestMissingObject(t *testing.T) {
	e := newEnv(t)
	e.send(s3Event("AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/gone.log.gz"))
	s, reg := e.source(e.config(func(c *Config) { c.VisibilityTimeout = time.Minute; c.QueueStatsInterval = 50 * time.Millisecond }))
	got := consume(t, s, 10*time.Second, func(c *collected) bool { return len(c.failed) > 0 }, nil)
	if got.records != 0 || !strings.Contains(got.failed[0].Err.Error(), "not_found") || !strings.Contains(got.failed[0].Err.Error(), "gone.log.gz") {
		t.Fatalf("records %d, failures %v", got.records, got.failed)
	}
	waitFor(t, "failed message counted", 10*time.Second, func() bool {
		return counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "failed") == 1
	})
	if d := e.depth(e.queueURL); d != 1 {
		t.Errorf("queue depth = %d, want the message left on it", d)
	}
	waitFor(t, "queue messages gauge", 5*time.Second, func() bool {
		return counter(t, reg, "vpcflow_source_queue_messages") == 1
	})
	if !s.Ready() {
		t.Error("not ready after SQS answered")
	}
	if r := counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "received"); r != 1 {
		t.Errorf("received %v times, want once (no hot retry loop)", r)
	}
	if c := counter(t, reg, "vpcflow_s3sqs_objects_total", "outcome", "not_found"); c != 1 {
		t.Errorf("not_found = %v, want 1", c)
	}
}

// TestAccessDenied: a 403 from S3 sends the message to the dead-letter
// queue, with the reason as a message attribute.
func TestAccessDenied(t *testing.T) {
	e := newEnv(t)
	const key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/secret.log.gz"
	e.put(key, gz(textObject(0, 10)))
	e.denied.Store(key, true)
	e.send(s3Event(key))
	s, reg := e.source(e.config(func(c *Config) { c.DeadLetterQueueURL = e.dlqURL }))
	got := consume(t, s, 10*time.Second, func(c *collected) bool { return len(c.failed) > 0 }, nil)
	if !strings.Contains(got.failed[0].Err.Error(), "access_denied") {
		t.Fatalf("failure = %v", got.failed[0].Err)
	}
	waitFor(t, "dead-lettered", 10*time.Second, func() bool { return e.depth(e.dlqURL) == 1 })
	dl := e.receiveAll(e.dlqURL)
	if a, ok := dl[0].MessageAttributes["vpcflow_error"]; !ok || !strings.Contains(*a.StringValue, "secret.log.gz") {
		t.Errorf("dead-letter attributes = %+v", dl[0].MessageAttributes)
	}
	if c := counter(t, reg, "vpcflow_s3sqs_objects_total", "outcome", "access_denied"); c != 1 {
		t.Errorf("access_denied = %v", c)
	}
}

// TestIgnoredAndFiltered: test events, removals and keys outside the
// prefix/suffix filters are deleted without reading anything.
func TestIgnoredAndFiltered(t *testing.T) {
	e := newEnv(t)
	e.send(`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-25T10:00:00.000Z","Bucket":"flow-logs"}`)
	e.send(snsWrap(`{"Service":"Amazon S3","Event":"s3:TestEvent"}`))
	e.send(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"flow-logs"},"object":{"key":"AWSLogs/x.log.gz"}}}]}`)
	e.send(s3Event("other/x.log.gz"))
	e.send(s3Event("AWSLogs/x.json"))
	const key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/ok.log.gz"
	e.put(key, gz(textObject(0, 3)))
	e.send(s3Event(key))
	const empty = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/empty.log.gz"
	e.put(empty, nil)
	e.send(s3Event(empty))
	s, reg := e.source(e.config(func(c *Config) { c.KeyPrefix = "AWSLogs/"; c.KeySuffix = ".log.gz" }))
	got := consume(t, s, 10*time.Second, records(4), nil)
	if len(got.lines) != 1 {
		t.Fatalf("read objects %v", got.lines)
	}
	waitFor(t, "every message deleted", 10*time.Second, func() bool { return e.depth(e.queueURL) == 0 })
	if c := counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "ignored"); c != 3 {
		t.Errorf("ignored = %v, want 3", c)
	}
	if c := counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "filtered"); c != 2 {
		t.Errorf("filtered = %v, want 2", c)
	}
	if c := counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "deleted"); c != 2 {
		t.Errorf("deleted = %v, want 2 (one object with lines, one empty)", c)
	}
}

// TestInvalidMessage: a body that is no notification goes to the
// dead-letter queue.
func TestInvalidMessage(t *testing.T) {
	e := newEnv(t)
	e.send(`not json at all`)
	s, reg := e.source(e.config(func(c *Config) { c.DeadLetterQueueURL = e.dlqURL }))
	s.Start(context.Background())
	waitFor(t, "invalid message dead-lettered", 10*time.Second, func() bool {
		return e.depth(e.dlqURL) == 1 && e.depth(e.queueURL) == 0
	})
	if c := counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "invalid"); c != 1 {
		t.Errorf("invalid = %v", c)
	}
}

// TestLineGuards: an over-long line is rejected and the rest flows; an
// object inflating past max_object_bytes stops there and is dead-lettered.
func TestLineGuards(t *testing.T) {
	e := newEnv(t)
	const long = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/long.log"
	body := header + "\n" + flowLine(1) + "\n" + strings.Repeat("x", 3000) + "\n" + flowLine(2) + "\r\n" +
		strings.Repeat("y", 300<<10) + "\n  " + flowLine(3) + "  \n\n"
	e.put(long, []byte(body))
	e.send(s3Event(long))
	const bomb = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/bomb.log.gz"
	e.put(bomb, gz(textObject(0, 10000))) // ~1 MB inflated
	e.send(s3Event(bomb))

	s, reg := e.source(e.config(func(c *Config) {
		c.MaxLineBytes = 2048
		c.BatchMaxBytes = 4096
		c.MaxObjectBytes = 400 << 10
		c.DeadLetterQueueURL = e.dlqURL
	}))
	got := consume(t, s, 10*time.Second, func(c *collected) bool {
		for _, f := range c.failed {
			if strings.Contains(f.Err.Error(), "too_large") {
				return len(c.lines["s3://"+testBucket+"/"+long]) == 4
			}
		}
		return false
	}, nil)
	want := []string{header, flowLine(1), flowLine(2), flowLine(3)}
	if g := got.lines["s3://"+testBucket+"/"+long]; strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines = %q, want %q", g, want)
	}
	var tooLong, tooLarge int
	for _, f := range got.failed {
		switch {
		case strings.Contains(f.Err.Error(), "exceeds max_line_bytes"):
			tooLong++
			if len(f.Raw) == 0 || len(f.Raw) > maxFailedRaw {
				t.Errorf("rejected line raw has %d bytes", len(f.Raw))
			}
		case strings.Contains(f.Err.Error(), "too_large") && strings.Contains(f.Err.Error(), "bomb.log.gz"):
			tooLarge++
		default:
			t.Errorf("unexpected failure %v", f.Err)
		}
	}
	if tooLong != 2 || tooLarge != 1 {
		t.Errorf("too long %d (want 2), too large %d (want 1)", tooLong, tooLarge)
	}
	if n := len(got.lines["s3://"+testBucket+"/"+bomb]); n == 0 || n > 400<<10/100 {
		t.Errorf("%d lines of the bomb delivered", n)
	}
	waitFor(t, "long-line object deleted, bomb dead-lettered", 10*time.Second, func() bool {
		return e.depth(e.queueURL) == 0 && e.depth(e.dlqURL) == 1
	})
	if c := counter(t, reg, "vpcflow_s3sqs_lines_rejected_total", "reason", "too_long"); c != 2 {
		t.Errorf("too_long = %v", c)
	}
}

// TestNackRedelivers: ack(err) makes the message visible again at once;
// the second delivery is acknowledged and deleted.
func TestNackRedelivers(t *testing.T) {
	e := newEnv(t)
	const key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/n.log.gz"
	e.put(key, gz(textObject(0, 1000)))
	e.send(s3Event(key))
	s, reg := e.source(e.config(func(c *Config) { c.BatchMaxRecords = 100; c.VisibilityTimeout = time.Minute }))
	first := true
	name := "s3://" + testBucket + "/" + key
	// Read until the second delivery (from its header line) is complete.
	got := consume(t, s, 20*time.Second, func(c *collected) bool {
		l := c.lines[name]
		for i := len(l) - 1; i > 0; i-- {
			if l[i] == header {
				return len(l)-i == 1001
			}
		}
		return false
	}, func(*flowlog.Batch) error {
		if first {
			first = false
			return errNack
		}
		return nil
	})
	// The nacked batch's records, and every later one, came again.
	l := got.lines[name]
	want := strings.Split(strings.TrimSuffix(string(textObject(0, 1000)), "\n"), "\n")
	if again := l[len(l)-1001:]; strings.Join(again, "\n") != strings.Join(want, "\n") {
		t.Errorf("second delivery differs from the object")
	}
	if l[0] != header || len(l) < 1001+100 {
		t.Errorf("first delivery: %d lines before the second", len(l)-1001)
	}
	waitFor(t, "message deleted after redelivery", 20*time.Second, func() bool {
		return counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "deleted") == 1
	})
	if r := counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "received"); r != 2 {
		t.Errorf("received = %v, want 2", r)
	}
	waitFor(t, "queue empty", 10*time.Second, func() bool { return e.depth(e.queueURL) == 0 })
}

// TestCloseReleases: Close makes an unfinished message visible at once;
// a second source reads it all.
func TestCloseReleases(t *testing.T) {
	e := newEnv(t)
	const key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/c.log.gz"
	e.put(key, gz(textObject(0, 3000)))
	e.send(s3Event(key))
	cfg := e.config(func(c *Config) { c.BatchMaxRecords = 100; c.VisibilityTimeout = 10 * time.Minute })
	a, regA := e.source(cfg)
	ctx := context.Background()
	b, ack, err := a.Read(ctx)
	if err != nil || len(b.Records) == 0 {
		t.Fatalf("read: %v", err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ack(ctx, nil); err != nil { // late ack: ignored
		t.Fatal(err)
	}
	if c := counter(t, regA, "vpcflow_s3sqs_messages_total", "outcome", "redelivered"); c != 1 {
		t.Errorf("released = %v, want 1", c)
	}
	bsrc, _ := e.source(cfg)
	got := consume(t, bsrc, 10*time.Second, records(3001), nil)
	if n := len(got.lines["s3://"+testBucket+"/"+key]); n != 3001 {
		t.Errorf("second source read %d lines", n)
	}
	waitFor(t, "queue empty", 10*time.Second, func() bool { return e.depth(e.queueURL) == 0 })
}

// kill stops s as a crash would: no visibility change, no deletion.
func kill(s *Source) {
	s.closeOnce.Do(func() { s.closeErr = s.shutdown(context.Background(), false) })
}

// TestKilledMidObject: a process dies after delivering part of an object;
// the message comes back after its visibility timeout and the next
// process delivers the whole object: nothing is lost.
func TestKilledMidObject(t *testing.T) {
	e := newEnv(t)
	const key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/k.log.gz"
	data := textObject(0, 5000)
	e.put(key, gz(data))
	e.send(s3Event(key))
	cfg := e.config(func(c *Config) { c.BatchMaxRecords = 100; c.VisibilityTimeout = 2 * time.Second })

	start := time.Now() // before the first receipt
	a, regA := e.source(cfg)
	first := consume(t, a, 10*time.Second, func(c *collected) bool { return c.batches >= 10 }, nil)
	kill(a)
	if d := counter(t, regA, "vpcflow_s3sqs_messages_total", "outcome", "deleted"); d != 0 {
		t.Fatalf("killed source deleted %v messages", d)
	}
	if first.records >= 5001 {
		t.Fatalf("first source read everything")
	}

	b, _ := e.source(cfg)
	got := consume(t, b, 20*time.Second, records(5001), nil)
	if d := time.Since(start); d < cfg.VisibilityTimeout {
		t.Errorf("redelivered %v after the first receipt, before the visibility timeout", d)
	}
	want := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if g := got.lines["s3://"+testBucket+"/"+key]; strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Fatalf("second source read %d lines, want all %d", len(g), len(want))
	}
	waitFor(t, "queue empty", 10*time.Second, func() bool { return e.depth(e.queueURL) == 0 })
}

// TestHeartbeat: a message held longer than its visibility timeout is not
// delivered twice, because its visibility is extended while in flight.
func TestHeartbeat(t *testing.T) {
	if testing.Short() {
		t.Skip("waits past a visibility timeout")
	}
	e := newEnv(t)
	const key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/h.log.gz"
	e.put(key, gz(textObject(0, 500)))
	e.send(s3Event(key))
	s, reg := e.source(e.config(func(c *Config) { c.BatchMaxRecords = 100; c.VisibilityTimeout = 3 * time.Second }))
	ctx := context.Background()
	b, ack, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := len(b.Records) // b is reused once acknowledged
	// A slow sink: hold the first batch past the visibility timeout.
	time.Sleep(4500 * time.Millisecond)
	if lag := counter(t, reg, "vpcflow_source_lag_seconds", "partition", "queue"); lag < 1 {
		t.Errorf("lag = %vs while a notification has been in flight for 4.5s", lag)
	}
	if err := ack(ctx, nil); err != nil {
		t.Fatal(err)
	}
	got := consume(t, s, 10*time.Second, records(501-first), nil)
	waitFor(t, "deleted", 10*time.Second, func() bool { return e.depth(e.queueURL) == 0 })
	waitFor(t, "lag back to 0", 5*time.Second, func() bool {
		return counter(t, reg, "vpcflow_source_lag_seconds", "partition", "queue") == 0
	})
	if r := counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "received"); r != 1 {
		t.Errorf("received %v times, want 1 (lines after the first batch: %d)", r, got.records)
	}
}

// TestEndpointsFromEnvironment: AWS_ENDPOINT_URL_SQS and
// AWS_ENDPOINT_URL_S3 are honoured with no endpoint in the config.
func TestEndpointsFromEnvironment(t *testing.T) {
	e := newEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_SQS", e.sqsURL)
	t.Setenv("AWS_ENDPOINT_URL_S3", e.s3URL)
	const key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/env.log.gz"
	e.put(key, gz(textObject(0, 5)))
	e.send(ebEvent(key))
	s, _ := e.source(e.config(func(c *Config) { c.SQSEndpoint, c.S3Endpoint = "", "" }))
	got := consume(t, s, 10*time.Second, records(6), nil)
	if len(got.lines["s3://"+testBucket+"/"+key]) != 6 {
		t.Errorf("lines = %v", got.lines)
	}
}

// Without dead_letter_queue_url, a queue with no redrive policy is named in
// a warning once SQS answered; a queue with one, or a configured
// dead-letter queue, gives none.
func TestRedrivePolicyChecked(t *testing.T) {
	e := newEnv(t)
	redriven := fmt.Sprintf("flows-%d-redriven", queueSeq.Add(1))
	if _, err := e.sqs.CreateQueue(context.Background(), &sqs.CreateQueueInput{
		QueueName: aws.String(redriven),
		Attributes: map[string]string{"RedrivePolicy": `{"maxReceiveCount":"5","deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:` +
			path.Base(e.dlqURL) + `"}`},
	}); err != nil {
		t.Fatal(err)
	}
	const warning = "the queue has no redrive policy"
	for _, tc := range []struct {
		name  string
		mut   func(*Config)
		warns bool
	}{
		{"no redrive, no dead-letter queue", nil, true},
		{"redrive policy", func(c *Config) { c.QueueURL = e.sqsURL + "/000000000000/" + redriven }, false},
		{"dead_letter_queue_url", func(c *Config) { c.DeadLetterQueueURL = e.dlqURL }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs testkit.Buffer
			s, err := New(context.Background(), e.config(tc.mut), component.Settings{
				ID: "s3", Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(context.Background())
			if err := s.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "ready", 10*time.Second, s.Ready)
			s.Close(context.Background())
			if got := strings.Contains(logs.String(), warning); got != tc.warns {
				t.Fatalf("warning logged: %v, want %v; logs:\n%s", got, tc.warns, logs.String())
			}
			if tc.warns && !strings.Contains(logs.String(), `"queue":"`+path.Base(e.queueURL)+`"`) {
				t.Fatalf("warning does not name the queue:\n%s", logs.String())
			}
		})
	}
}
