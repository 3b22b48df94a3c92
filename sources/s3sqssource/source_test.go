package s3sqssource

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestManyObjects sends notifications in the three shapes (one of them
// announcing two objects), for keys in both AWS layouts, and checks that
// every line of every object arrives once, in order, with the object's
// origin, and that every message is deleted.
func TestManyObjects(t *testing.T) {
	e := newEnv(t)
	const objects, perObject = 24, 500
	want := map[string][]string{}
	var keys []string
	for i := range objects {
		var key string
		if i%2 == 0 {
			key = fmt.Sprintf("AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/25/123456789012_vpcflowlogs_eu-west-1_fl-1_20261125T10%02dZ_h%d.log.gz", i, i)
		} else {
			key = fmt.Sprintf("flows/AWSLogs/aws-account-id=210987654321/aws-service=vpcflowlogs/aws-region=ap-southeast-2/year=2026/month=11/day=25/hour=10/f%d.log.gz", i)
		}
		data := textObject(i*perObject, perObject)
		e.put(key, gz(data))
		want["s3://"+testBucket+"/"+key] = strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		keys = append(keys, key)
	}
	msgs := 0
	for i := 0; i < len(keys); {
		switch i % 4 {
		case 0:
			e.send(s3Event(keys[i]))
			i++
		case 1:
			e.send(snsWrap(s3Event(keys[i])))
			i++
		case 2:
			e.send(ebEvent(keys[i]))
			i++
		case 3:
			if i+1 < len(keys) {
				e.send(s3Event(keys[i], keys[i+1]))
				i += 2
			} else {
				e.send(s3Event(keys[i]))
				i++
			}
		}
		msgs++
	}

	s, reg := e.source(e.config(func(c *Config) {
		c.Receivers = 2
		c.MaxInFlightObjects = 3
		c.BatchMaxRecords = 128
	}))
	got := consume(t, s, 30*time.Second, records(objects*(perObject+1)), nil)

	if len(got.lines) != objects {
		t.Fatalf("read %d objects, want %d", len(got.lines), objects)
	}
	for name, lines := range want {
		if g := got.lines[name]; strings.Join(g, "\n") != strings.Join(lines, "\n") {
			t.Errorf("%s: got %d lines, want %d (in order, header first)", name, len(g), len(lines))
		}
		o := got.origins[name]
		wantAcct, wantRegion := "123456789012", "eu-west-1"
		if strings.Contains(name, "aws-account-id=") {
			wantAcct, wantRegion = "210987654321", "ap-southeast-2"
		}
		if o == nil || o.Name != name || o.Account != wantAcct || o.Region != wantRegion {
			t.Errorf("%s: origin %+v, want account %s region %s", name, o, wantAcct, wantRegion)
		}
	}
	if got.maxBatch > 128 {
		t.Errorf("largest batch has %d records, batch_max_records is 128", got.maxBatch)
	}
	if len(got.failed) != 0 {
		t.Errorf("failures: %v", got.failed)
	}
	// The counter moves once DeleteMessageBatch has returned, just after
	// the queue shows the messages gone.
	waitFor(t, "every message deleted", 10*time.Second, func() bool {
		return e.depth(e.queueURL) == 0 && counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "deleted") == float64(msgs)
	})
	if d := counter(t, reg, "vpcflow_s3sqs_messages_total", "outcome", "deleted"); d != float64(msgs) {
		t.Errorf("deleted = %v, want %d", d, msgs)
	}
	if d := counter(t, reg, "vpcflow_s3sqs_objects_total", "outcome", "done"); d != objects {
		t.Errorf("objects done = %v, want %d", d, objects)
	}
	if d := counter(t, reg, "vpcflow_s3sqs_records_total"); d != objects*(perObject+1) {
		t.Errorf("records = %v, want %d", d, objects*(perObject+1))
	}
	if d := counter(t, reg, "vpcflow_s3sqs_object_bytes_total"); d == 0 {
		t.Error("object bytes not counted")
	}
}

// TestLifecycle closes a source that never started, and one twice.
func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	s, _ := e.source(e.config(nil))
	ctx := context.Background()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Read(ctx); err == nil {
		t.Fatal("Read after Close returned no error")
	}

	// Started on an empty queue with 20s long polls: ready at once, and
	// Close does not wait for the polls to end.
	s2, _ := e.source(e.config(func(c *Config) { c.WaitTime = 20 * time.Second; c.Receivers = 3 }))
	if s2.Ready() {
		t.Error("ready before start")
	}
	if err := s2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ready", 5*time.Second, s2.Ready)
	start := time.Now()
	if err := s2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
}
