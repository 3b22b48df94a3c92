package kafkasource

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sources/internal/ackonce"
)

func TestConsumeAckCommit(t *testing.T) {
	kc := newCluster(t, 3)
	want := map[string][]string{} // per partition, in order
	for p := range int32(3) {
		name := fmt.Sprintf("%s/%d", topic, p)
		for n := range 20 {
			l := line(p, n)
			want[name] = append(want[name], l)
			if n%5 == 4 { // some records carry two lines
				l2 := line(p, 1000+n)
				want[name] = append(want[name], l2)
				l += "\r\n" + l2 + "\n"
			}
			kc.produce(rec(p, l))
		}
	}
	cfg := testConfig(kc)
	cfg.BatchMaxRecords = 7
	s := newSource(t, cfg, "k", nil)
	rs := readRecords(t, s, 3*24)

	got := map[string][]string{}
	for _, r := range rs {
		b := r.b
		if b.Source != "k" || !strings.HasPrefix(b.Partition, topic+"/") {
			t.Fatalf("batch Source %q Partition %q", b.Source, b.Partition)
		}
		// a two-line Kafka record is never split: one over the limit at most
		if len(b.Records) > cfg.BatchMaxRecords+1 {
			t.Errorf("batch of %d records, batch_max_records %d", len(b.Records), cfg.BatchMaxRecords)
		}
		if b.Read.IsZero() {
			t.Error("Batch.Read not set")
		}
		for _, rec := range b.Records {
			got[b.Partition] = append(got[b.Partition], string(rec.Raw))
			if !strings.HasPrefix(rec.Origin.Name, b.Partition+"@") {
				t.Errorf("origin %q, partition %q", rec.Origin.Name, b.Partition)
			}
		}
	}
	for p, lines := range want {
		if strings.Join(got[p], "\n") != strings.Join(lines, "\n") {
			t.Errorf("partition %s: got %d lines %q, want in order %q", p, len(got[p]), got[p], lines)
		}
	}
	if !s.Ready() {
		t.Error("not ready after reading")
	}
	for p := range int32(3) {
		if c := kc.committed("g", p); c > 0 {
			t.Fatalf("partition %d committed %d before any ack", p, c)
		}
	}
	ackAll(t, rs)
	if err := rs[0].ack(context.Background(), nil); !errors.Is(err, ackonce.ErrTwice) {
		t.Errorf("second ack = %v, want ackonce.ErrTwice", err)
	}
	eventually(t, 5*time.Second, "offsets committed by autocommit", func() bool {
		for p := range int32(3) {
			if kc.committed("g", p) != 20 {
				return false
			}
		}
		return true
	})
}

// TestAckOrder: out-of-order acks commit only the contiguous prefix; a nack
// stops commits of the partition; an un-acked batch is not committed on Close.
func TestAckOrder(t *testing.T) {
	kc := newCluster(t, 2)
	for n := range 6 {
		kc.produce(rec(0, line(0, n)), rec(1, line(1, n)))
	}
	cfg := testConfig(kc)
	cfg.BatchMaxRecords = 1
	cfg.CommitInterval = time.Hour // commits only when the test says
	s := newSource(t, cfg, "k", nil)
	rs := readRecords(t, s, 12)
	byPart := map[string][]read{}
	for _, r := range rs {
		byPart[r.b.Partition] = append(byPart[r.b.Partition], r)
	}
	p0, p1 := byPart[topic+"/0"], byPart[topic+"/1"]
	if len(p0) != 6 || len(p1) != 6 {
		t.Fatalf("batches per partition: %d, %d", len(p0), len(p1))
	}
	ack := func(r read, err error) {
		t.Helper()
		if e := r.ack(context.Background(), err); e != nil {
			t.Fatal(e)
		}
		commitNow(t, s)
	}
	check := func(p int32, want int64) {
		t.Helper()
		if got := kc.committed("g", p); got != want {
			t.Fatalf("partition %d committed %d, want %d", p, got, want)
		}
	}
	// partition 0: acks 2, 4 then 0, 1, 3
	ack(p0[2], nil)
	ack(p0[4], nil)
	check(0, -1)
	ack(p0[0], nil)
	check(0, 1)
	ack(p0[1], nil)
	check(0, 3)
	ack(p0[3], nil)
	check(0, 5)
	// partition 1: 0 acked, 1 nacked, 2 and 3 acked, 4 never acked
	ack(p1[0], nil)
	check(1, 1)
	ack(p1[1], errors.New("sink down"))
	ack(p1[2], nil)
	ack(p1[3], nil)
	check(1, 1)
	if v := testutil.ToFloat64(s.met.nacks); v != 1 {
		t.Errorf("nacks = %v", v)
	}
	// Close with p0[5] and p1[4..5] un-acked: it waits for them until its
	// deadline (less a reserve), then commits nothing more.
	cctx, ccancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer ccancel()
	if err := s.Close(cctx); err != nil {
		t.Fatal(err)
	}
	check(0, 5)
	check(1, 1)
	// acks after Close are ignored
	ack2 := func(r read) {
		if err := r.ack(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	ack2(p0[5])
	ack2(p1[4])
	check(0, 5)
	// A new member of the group resumes from the commits.
	s2 := newSource(t, cfg, "k2", nil)
	rs2 := readRecords(t, s2, 1+5)
	var lines []string
	for _, r := range rs2 {
		for _, rec := range r.b.Records {
			lines = append(lines, string(rec.Raw))
		}
	}
	for _, want := range []string{line(0, 5), line(1, 1), line(1, 5)} {
		if !contains(lines, want) {
			t.Errorf("redelivery misses %q", want)
		}
	}
	if contains(lines, line(0, 4)) || contains(lines, line(1, 0)) {
		t.Errorf("committed records delivered again: %q", lines)
	}
	ackAll(t, rs2)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestGroupTakeover: three sources share a 6-partition topic; one is closed
// mid-stream with batches in flight; the others take its partitions over and
// every record is delivered at least once.
func TestGroupTakeover(t *testing.T) {
	kc := newCluster(t, 6)
	const perPart = 60
	all := map[string]bool{}
	var recs []*kgo.Record
	for p := range int32(6) {
		for n := range perPart {
			l := line(p, n)
			all[l] = true
			recs = append(recs, rec(p, l))
		}
	}
	cfg := testConfig(kc)
	cfg.BatchMaxRecords = 5
	cfg.MaxPollRecords = 20

	var mu sync.Mutex
	delivered := map[string]int{}
	deliver := func(b *flowlog.Batch) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range b.Records {
			delivered[string(r.Raw)]++
		}
	}
	done := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for l := range all {
			if delivered[l] == 0 {
				return false
			}
		}
		return true
	}

	victim := newSource(t, cfg, "a", prometheus.NewRegistry())
	eventually(t, 10*time.Second, "first member joined", victim.Ready)
	b1 := newSource(t, cfg, "b", prometheus.NewRegistry())
	b2 := newSource(t, cfg, "c", prometheus.NewRegistry())
	eventually(t, 10*time.Second, "partitions spread over three members", func() bool {
		return testutil.ToFloat64(victim.met.assigned) > 0 && testutil.ToFloat64(b1.met.assigned) > 0 &&
			testutil.ToFloat64(b2.met.assigned) > 0
	})
	kc.produce(recs...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range []*Source{b1, b2} {
		wg.Go(func() {
			for {
				b, ack, err := s.Read(ctx)
				if err != nil {
					return
				}
				deliver(b)
				ack(ctx, nil)
			}
		})
	}
	// The victim delivers and acks a few batches, then reads more that it
	// never delivers, and is closed. The lines of those are copied when
	// read: an ack recycles a batch and empties it.
	var lost []read
	var lostLines []string
	for i := range 8 {
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		b, ack, err := victim.Read(rctx)
		rcancel()
		if err != nil {
			t.Fatalf("victim read %d: %v", i, err)
		}
		if i < 3 {
			deliver(b)
			ack(ctx, nil)
		} else {
			lost = append(lost, read{b, ack})
			for _, rec := range b.Records {
				lostLines = append(lostLines, string(rec.Raw))
			}
		}
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer ccancel()
	if err := victim.Close(cctx); err != nil { // waits in vain for the undelivered batches
		t.Fatal(err)
	}
	for _, r := range lost { // too late: ignored
		r.ack(ctx, nil)
	}
	eventually(t, 20*time.Second, "every record delivered by the remaining members", done)
	cancel()
	wg.Wait()
	if n := testutil.ToFloat64(b1.met.assigned) + testutil.ToFloat64(b2.met.assigned); n != 6 {
		t.Errorf("remaining members own %v partitions, want 6", n)
	}
	if len(lostLines) == 0 {
		t.Fatal("the closed member held no undelivered record: the check below would be empty")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, l := range lostLines {
		if delivered[l] == 0 {
			t.Errorf("un-acked record of the closed member never redelivered: %q", l)
		}
	}
}

// TestRebalanceAndLag: a second member joins and takes partitions over; the
// lag gauge reports the backlog and reaches 0 once everything is committed.
func TestRebalanceAndLag(t *testing.T) {
	kc := newCluster(t, 4)
	for p := range int32(4) {
		for n := range 10 {
			kc.produce(rec(p, line(p, n)))
		}
	}
	cfg := testConfig(kc)
	regA := prometheus.NewRegistry()
	a := newSource(t, cfg, "src", regA)
	eventually(t, 10*time.Second, "lag of the backlog reported", func() bool {
		for p := range 4 {
			v, ok := gaugeValue(t, regA, "vpcflow_source_lag_records", map[string]string{"source": "src", "partition": fmt.Sprintf("%s/%d", topic, p)})
			if !ok || v != 10 {
				return false
			}
		}
		return true
	})
	ackAll(t, readRecords(t, a, 40))
	eventually(t, 10*time.Second, "lag 0 once caught up", func() bool {
		for p := range 4 {
			v, ok := gaugeValue(t, regA, "vpcflow_source_lag_records", map[string]string{"partition": fmt.Sprintf("%s/%d", topic, p)})
			if !ok || v != 0 {
				return false
			}
		}
		return true
	})
	if v, ok := gaugeValue(t, regA, "vpcflow_source_newest_record_age_seconds", map[string]string{"partition": topic + "/0"}); !ok || v < 0 || v > 60 {
		t.Errorf("newest record age = %v, %v", v, ok)
	}

	regB := prometheus.NewRegistry()
	b := newSource(t, cfg, "src", regB)
	eventually(t, 10*time.Second, "partitions shared", func() bool {
		// a keeps polling so that it takes part in the rebalance
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, ack, err := a.Read(ctx); err == nil {
			ack(ctx, nil)
		}
		na, nb := testutil.ToFloat64(a.met.assigned), testutil.ToFloat64(b.met.assigned)
		return na == 2 && nb == 2
	})
	// a's revoked partitions have no series any more
	mfs, _ := regA.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "vpcflow_source_lag_records" && len(mf.GetMetric()) != 2 {
			t.Errorf("a exports lag for %d partitions, owns 2", len(mf.GetMetric()))
		}
	}
	// new records go to both; all are delivered at least once
	for p := range int32(4) {
		kc.produce(rec(p, line(p, 100)))
	}
	seen := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for len(seen) < 4 {
		for _, s := range []*Source{a, b} {
			rctx, rcancel := context.WithTimeout(ctx, 100*time.Millisecond)
			bt, ack, err := s.Read(rctx)
			rcancel()
			if ctx.Err() != nil {
				t.Fatalf("saw %d of 4 new records", len(seen))
			}
			if err != nil {
				continue
			}
			for _, r := range bt.Records {
				seen[string(r.Raw)] = true
			}
			ack(ctx, nil)
		}
	}
}

type cwEvent struct {
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
	Message   string `json:"message"`
}

func cwEnvelope(t *testing.T, msgType, group string, msgs ...string) []byte {
	t.Helper()
	var evs []string
	for i, m := range msgs {
		evs = append(evs, fmt.Sprintf(`{"id":"%d","timestamp":1718000000000,"message":%q}`, i, m+"\n"))
	}
	doc := fmt.Sprintf(`{"messageType":%q,"owner":"123456789012","logGroup":%q,"logStream":"eni-1-all","subscriptionFilters":["f"],"logEvents":[%s]}`,
		msgType, group, strings.Join(evs, ","))
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write([]byte(doc))
	w.Close()
	return buf.Bytes()
}

func TestEnvelopesAndCorruptPayloads(t *testing.T) {
	kc := newCluster(t, 2)
	corrupt := cwEnvelope(t, "DATA_MESSAGE", "/g", "x")
	corrupt = corrupt[:len(corrupt)-10]
	kc.produce(
		rec(0, line(0, 0)),
		&kgo.Record{Partition: 0, Value: cwEnvelope(t, "DATA_MESSAGE", "/vpc/a", line(0, 1), line(0, 2))},
		&kgo.Record{Partition: 0, Value: []byte(base64.StdEncoding.EncodeToString(cwEnvelope(t, "DATA_MESSAGE", "/vpc/b", line(0, 3))))},
		&kgo.Record{Partition: 0, Value: cwEnvelope(t, "CONTROL_MESSAGE", "/vpc/a", "CWL CONTROL MESSAGE: Checking health of destination")},
		&kgo.Record{Partition: 0, Value: corrupt},
		&kgo.Record{Partition: 0, Value: []byte(`{"messageType":"SOMETHING_ELSE","logEvents":[]}`)},
		rec(0, line(0, 4)),
		// partition 1 holds only a control message: nothing to hand out,
		// yet its offset is committed
		&kgo.Record{Partition: 1, Value: cwEnvelope(t, "CONTROL_MESSAGE", "/vpc/a", "CWL CONTROL MESSAGE")},
	)
	cfg := testConfig(kc)
	s := newSource(t, cfg, "k", nil)
	rs := readRecords(t, s, 5+2)
	var lines []string
	var failed []flowlog.Failure
	groups := map[string]string{}
	for _, r := range rs {
		if r.b.Partition != topic+"/0" {
			t.Fatalf("batch from %s", r.b.Partition)
		}
		for _, rec := range r.b.Records {
			lines = append(lines, string(rec.Raw))
			groups[string(rec.Raw)] = rec.Origin.LogGroup
		}
		failed = append(failed, r.b.Failed...)
	}
	want := []string{line(0, 0), line(0, 1), line(0, 2), line(0, 3), line(0, 4)}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("lines = %q, want %q", lines, want)
	}
	if groups[line(0, 1)] != "/vpc/a" || groups[line(0, 3)] != "/vpc/b" || groups[line(0, 0)] != "" {
		t.Errorf("log groups = %v", groups)
	}
	if len(failed) != 2 {
		t.Fatalf("failed = %v", failed)
	}
	for i, f := range failed {
		wantName := fmt.Sprintf("%s/0@%d", topic, 4+i)
		if f.Stage != "k" || !strings.Contains(f.Err.Error(), wantName) || f.Origin.Name != wantName || len(f.Raw) == 0 {
			t.Errorf("failure %d = %+v, err %v", i, f, f.Err)
		}
	}
	if !strings.Contains(failed[0].Err.Error(), "gunzip") || !strings.Contains(failed[1].Err.Error(), "SOMETHING_ELSE") {
		t.Errorf("failure reasons: %v; %v", failed[0].Err, failed[1].Err)
	}
	if v := testutil.ToFloat64(s.met.decodeFailures); v != 2 {
		t.Errorf("decode failures = %v", v)
	}
	ackAll(t, rs)
	commitNow(t, s)
	if c0, c1 := kc.committed("g", 0), kc.committed("g", 1); c0 != 7 || c1 != 1 {
		t.Errorf("committed %d, %d; want 7, 1", c0, c1)
	}
}

func TestPayloadLines(t *testing.T) {
	kc := newCluster(t, 1)
	gz := cwEnvelope(t, "DATA_MESSAGE", "/g", line(0, 1))
	kc.produce(rec(0, line(0, 0)), &kgo.Record{Value: gz})
	cfg := testConfig(kc)
	cfg.Payload = "lines"
	s := newSource(t, cfg, "k", nil)
	rs := readRecords(t, s, 2)
	// in lines mode a gzip value is taken as (garbage) text, not decoded
	var n int
	for _, r := range rs {
		for _, rec := range r.b.Records {
			if strings.Contains(string(rec.Raw), "/g") {
				t.Errorf("lines payload decoded an envelope")
			}
			n++
		}
	}
	if n < 2 {
		t.Errorf("%d records", n)
	}
	ackAll(t, rs)
}

func TestTraceparent(t *testing.T) {
	kc := newCluster(t, 1)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	kc.produce(rec(0, line(0, 0)),
		&kgo.Record{Value: []byte(line(0, 1)), Headers: []kgo.RecordHeader{{Key: "x", Value: []byte("y")}, {Key: "Traceparent", Value: []byte(tp)}}})
	s := newSource(t, testConfig(kc), "k", nil)
	rs := readRecords(t, s, 2)
	sc := rs[len(rs)-1].b.Span // the batch of the record with the header (the first poll takes one record)
	if !sc.IsValid() || !sc.IsRemote() || sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" ||
		sc.SpanID().String() != "00f067aa0ba902b7" || sc.TraceFlags() != trace.FlagsSampled {
		t.Errorf("span = %+v", sc)
	}
	ackAll(t, rs)
}

func TestLifecycle(t *testing.T) {
	kc := newCluster(t, 1)
	cfg := testConfig(kc)
	s := newSource(t, cfg, "k", nil)
	eventually(t, 10*time.Second, "ready", s.Ready)
	// Read is released by Close
	errc := make(chan error, 1)
	go func() {
		_, _, err := s.Read(context.Background())
		errc <- err
	}()
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, component.ErrEndOfInput) {
		t.Errorf("Read during Close = %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, _, err := s.Read(context.Background()); !errors.Is(err, component.ErrEndOfInput) {
		t.Errorf("Read after Close = %v", err)
	}
	if s.Ready() {
		t.Error("ready after Close")
	}
	// Read honours its context
	s2 := newSource(t, cfg, "k2", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := s2.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Read with expiring context = %v", err)
	}
	// Close right after New, before anything was read
	s3 := newSource(t, cfg, "k3", nil)
	if err := s3.Close(context.Background()); err != nil {
		t.Errorf("Close before reading = %v", err)
	}
}

func TestTopicRegex(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "vpc-a", "vpc-b", "xvpc-c", "other"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	kc := &cluster{t: t, c: c, addrs: c.ListenAddrs(), prod: prod}
	for i, tp := range []string{"vpc-a", "vpc-b", "xvpc-c", "other"} {
		kc.produce(&kgo.Record{Topic: tp, Value: []byte(line(0, i))})
	}
	cfg := testConfig(kc)
	cfg.Topic = ""
	cfg.TopicRegex = "vpc-.*"
	s := newSource(t, cfg, "k", nil)
	parts := map[string]bool{}
	for _, r := range readRecords(t, s, 2) {
		parts[r.b.Partition] = true
		r.ack(context.Background(), nil)
	}
	if !parts["vpc-a/0"] || !parts["vpc-b/0"] {
		t.Errorf("read from %v, want vpc-a/0 and vpc-b/0", parts)
	}
	// nothing from xvpc-c (the expression is anchored) or other
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if b, _, err := s.Read(ctx); err == nil {
		t.Errorf("read a batch from %s", b.Partition)
	}
}

// TestRevokedAcksIgnored: batches of a partition revoked while in flight,
// and not acknowledged within the revocation's wait, do not commit when
// acknowledged late; the new owner reads them again.
func TestRevokedAcksIgnored(t *testing.T) {
	kc := newCluster(t, 2)
	for n := range 5 {
		kc.produce(rec(0, line(0, n)), rec(1, line(1, n)))
	}
	cfg := testConfig(kc)
	cfg.BatchMaxRecords = 1
	cfg.CommitInterval = time.Hour
	cfg.RebalanceTimeout = time.Second // the revocation waits 0.9 s in vain
	a := newSource(t, cfg, "a", prometheus.NewRegistry())
	inflight := readRecords(t, a, 10) // nothing acknowledged yet
	b := newSource(t, cfg, "b", prometheus.NewRegistry())
	eventually(t, 10*time.Second, "one partition each", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		a.Read(ctx) // nothing new to read: lets the rebalance through
		return testutil.ToFloat64(a.met.assigned) == 1 && testutil.ToFloat64(b.met.assigned) == 1
	})
	a.mu.Lock()
	var kept int32 = -1
	for k := range a.parts {
		kept = k.part
	}
	a.mu.Unlock()
	lost := 1 - kept
	ackAll(t, inflight)
	commitNow(t, a)
	if got := kc.committed("g", kept); got != 5 {
		t.Errorf("kept partition %d committed %d, want 5", kept, got)
	}
	if got := kc.committed("g", lost); got != -1 {
		t.Errorf("revoked partition %d committed %d by late acks", lost, got)
	}
	rs := readRecords(t, b, 5)
	for i, r := range rs {
		if want := line(lost, i); string(r.b.Records[0].Raw) != want {
			t.Errorf("new owner read %q, want %q", r.b.Records[0].Raw, want)
		}
	}
	ackAll(t, rs)
	commitNow(t, b)
	if got := kc.committed("g", lost); got != 5 {
		t.Errorf("partition %d committed %d by its new owner, want 5", lost, got)
	}
}

// TestAutoGzipLines: with payload auto, a gzip value that is not a
// CloudWatch Logs document is read as compressed lines.
func TestAutoGzipLines(t *testing.T) {
	kc := newCluster(t, 1)
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write([]byte(line(0, 0) + "\n" + line(0, 1) + "\n"))
	w.Close()
	kc.produce(&kgo.Record{Value: buf.Bytes()})
	s := newSource(t, testConfig(kc), "k", nil)
	rs := readRecords(t, s, 2)
	if got := rs[0].b.Records; string(got[0].Raw) != line(0, 0) || string(got[1].Raw) != line(0, 1) || got[0].Origin.Name != topic+"/0@0" {
		t.Errorf("records %q %q, origin %q", got[0].Raw, got[1].Raw, got[0].Origin.Name)
	}
	ackAll(t, rs)
}
