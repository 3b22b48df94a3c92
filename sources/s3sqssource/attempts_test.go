package s3sqssource

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/component"
)

// drain reads s in the background, settling each batch with ackErr, until
// the test ends; it returns how many records it saw.
func drain(t *testing.T, s *Source, ackErr error) func() int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu sync.Mutex
		n  int
		wg sync.WaitGroup
	)
	wg.Go(func() {
		for {
			b, ack, err := s.Read(ctx)
			if err != nil {
				return
			}
			mu.Lock()
			n += len(b.Records)
			mu.Unlock()
			ack(ctx, ackErr)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// TestMaxReceiveAttemptsAbandons: without a dead-letter queue, a
// notification whose object cannot be read is tried max_receive_attempts
// times, then logged at error level naming bucket, key and count, counted
// and deleted, rather than left until the queue's retention drops it.
func TestMaxReceiveAttemptsAbandons(t *testing.T) {
	e := newEnv(t)
	const key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/lost.log.gz"
	e.send(s3Event(key)) // the object does not exist
	var logs testkit.Buffer
	reg := prometheus.NewRegistry()
	s, err := New(context.Background(), e.config(func(c *Config) {
		c.VisibilityTimeout = 2 * time.Second
		c.MaxReceiveAttempts = 2
	}), component.Settings{ID: "s3", Registerer: reg, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	drain(t, s, nil)

	waitFor(t, "message abandoned", 15*time.Second, func() bool {
		return counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "abandoned") == 1
	})
	waitFor(t, "queue empty", 5*time.Second, func() bool { return e.depth(e.queueURL) == 0 })
	if r := counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "received"); r != 2 {
		t.Errorf("received %v times, want max_receive_attempts (2)", r)
	}
	if f := counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "failed"); f != 1 {
		t.Errorf("failed (left for a retry) = %v, want 1", f)
	}
	var entry map[string]any
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "abandoning S3 object") {
			if err := json.Unmarshal([]byte(l), &entry); err != nil {
				t.Fatal(err)
			}
		}
	}
	if entry == nil || entry["level"] != "ERROR" || entry["bucket"] != testBucket || entry["key"] != key || entry["receive_count"] != float64(2) {
		t.Fatalf("no error naming bucket, key and receive count; logs:\n%s", logs.String())
	}
}

// TestMaxReceiveAttemptsDeadLetters: a transient failure (S3 500) on the
// last attempt moves the notification to the dead-letter queue, saying
// why.
func TestMaxReceiveAttemptsDeadLetters(t *testing.T) {
	e := newEnv(t)
	const key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/flaky.log.gz"
	e.put(key, gz(textObject(0, 10)))
	e.failing.Store(key, true)
	e.send(s3Event(key))
	s, reg := e.source(e.config(func(c *Config) {
		c.VisibilityTimeout = 2 * time.Second
		c.MaxReceiveAttempts = 2
		c.DeadLetterQueueURL = e.dlqURL
	}))
	drain(t, s, nil)
	waitFor(t, "message moved to the dead-letter queue", 30*time.Second, func() bool {
		return e.depth(e.queueURL) == 0 && e.depth(e.dlqURL) == 1
	})
	if c := counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "dead_lettered"); c != 1 {
		t.Errorf("dead-lettered = %v, want 1", c)
	}
	if c := counter(t, reg, "vpcflow_s3sqs_objects_total", "outcome", "error"); c != 2 {
		t.Errorf("transient object errors = %v, want 2 (one per attempt)", c)
	}
	dl := e.receiveAll(e.dlqURL)
	if len(dl) != 1 {
		t.Fatalf("dead-letter queue holds %d messages", len(dl))
	}
	if why := dl[0].MessageAttributes["vpcflow_error"].StringValue; why == nil || !strings.Contains(*why, "received 2 times (max_receive_attempts 2)") || !strings.Contains(*why, key) {
		t.Errorf("vpcflow_error = %v", why)
	}
}

// TestMaxReceiveAttemptsAtReceipt: a message received more often than
// max_receive_attempts (its earlier attempts never finished: nacked here,
// a crash in production) is given up on receipt, without being read.
func TestMaxReceiveAttemptsAtReceipt(t *testing.T) {
	e := newEnv(t)
	const key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/poison.log.gz"
	e.put(key, gz(textObject(0, 10)))
	e.send(s3Event(key))
	s, reg := e.source(e.config(func(c *Config) {
		c.MaxReceiveAttempts = 2
		c.DeadLetterQueueURL = e.dlqURL
	}))
	seen := drain(t, s, errNack)
	waitFor(t, "message moved to the dead-letter queue", 15*time.Second, func() bool {
		return e.depth(e.queueURL) == 0 && e.depth(e.dlqURL) == 1
	})
	if r := counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "received"); r != 3 {
		t.Errorf("received %v times, want 3 (2 attempts, then given up)", r)
	}
	if n := seen(); n != 2*11 {
		t.Errorf("%d records handed out, want the object twice (22)", n)
	}
	dl := e.receiveAll(e.dlqURL)
	if len(dl) != 1 || !strings.Contains(*dl[0].MessageAttributes["vpcflow_error"].StringValue, "received 3 times (max_receive_attempts 2): no attempt finished") {
		t.Fatalf("dead-letter queue holds %+v", dl)
	}
}
