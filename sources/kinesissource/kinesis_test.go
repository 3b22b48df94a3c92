package kinesissource

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/processor/flowlog"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Idle keep-alive connections of the SDK clients are shared by tests.
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"))
}

// setOf returns the raw lines read, failing on a line read twice when
// exactly is set.
func setOf(t *testing.T, recs []got, exactly bool) map[string]bool {
	t.Helper()
	m := map[string]bool{}
	for _, r := range recs {
		if exactly && m[r.raw] {
			t.Errorf("%q read twice", r.raw)
		}
		m[r.raw] = true
	}
	return m
}

func wantAll(t *testing.T, have map[string]bool, want [][2]string) {
	t.Helper()
	missing := 0
	for _, w := range want {
		if !have[w[1]] {
			if missing < 5 {
				t.Errorf("%q was not read", w[1])
			}
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d records lost", missing, len(want))
	}
}

func TestReadCheckpointRelease(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 2)
	first := lines("first", 200)
	e.put(t, stream, first...)
	cfg := testConfig(stream)

	s := e.source(t, cfg, srcOpts{worker: "w1"})
	var c collector
	done := consume(s, &c, nil)
	waitFor(t, 10*time.Second, "first records", func() bool { return c.count() >= len(first) })
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-done
	recs, failed := c.snapshot()
	wantAll(t, setOf(t, recs, true), first)
	if len(failed) > 0 {
		t.Fatalf("failures: %v", failed[0].Err)
	}
	for _, r := range recs {
		if !strings.HasPrefix(r.origin.Name, "kinesis:"+stream+"/"+r.shard+"@") {
			t.Fatalf("origin %q does not name stream and shard %s", r.origin.Name, r.shard)
		}
	}

	// Released with the checkpoint of the last record of each shard.
	ls := e.leases(t, cfg.LeaseTable)
	if len(ls) != 2 {
		t.Fatalf("%d leases, want 2", len(ls))
	}
	for k, l := range ls {
		if l.Owner != "" {
			t.Errorf("lease %s still owned by %q after Close", k, l.Owner)
		}
		if l.Checkpoint.isSentinel() {
			t.Errorf("lease %s checkpoint %q, want a sequence number", k, l.Checkpoint.Seq)
		}
	}

	// A new instance resumes after the checkpoints: only new records.
	second := lines("second", 50)
	e.put(t, stream, second...)
	s2 := e.source(t, cfg, srcOpts{worker: "w2"})
	var c2 collector
	done2 := consume(s2, &c2, nil)
	waitFor(t, 10*time.Second, "second records", func() bool { return c2.count() >= len(second) })
	if err := s2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-done2
	recs2, _ := c2.snapshot()
	have := setOf(t, recs2, true)
	wantAll(t, have, second)
	if len(recs2) != len(second) {
		t.Fatalf("read %d records after restart, want %d (first records read again?)", len(recs2), len(second))
	}
	for k, l := range e.leases(t, cfg.LeaseTable) {
		if l.OwnerSwitches != 0 {
			t.Errorf("lease %s ownerSwitchesSinceCheckpoint %d after a checkpoint", k, l.OwnerSwitches)
		}
	}
}

func TestCloseBeforeStart(t *testing.T) {
	cfg := testConfig("s")
	s, err := newSource(cfg, componentSettings(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, _, err := s.Read(context.Background()); err == nil {
		t.Fatal("Read after Close succeeded")
	}
}

func TestNackReadsAgain(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 1)
	recs := lines("n", 30)
	e.put(t, stream, recs...)
	cfg := testConfig(stream)
	cfg.MaxRecordsPerCall = 10
	s := e.source(t, cfg, srcOpts{worker: "w1"})
	var c collector
	nacks := 0
	done := consume(s, &c, func(b *flowlog.Batch) error {
		if nacks < 2 && strings.HasPrefix(string(b.Records[0].Raw), "n 10") {
			nacks++
			return errNack
		}
		return nil
	})
	waitFor(t, 10*time.Second, "all records", func() bool { return c.count() >= len(recs) })
	s.Close(context.Background())
	<-done
	got, _ := c.snapshot()
	wantAll(t, setOf(t, got, false), recs)
	if nacks != 2 {
		t.Fatalf("nacked %d times, want 2", nacks)
	}
	// Close checkpointed the last record.
	_, lastSeq, _ := strings.Cut(got[len(got)-1].origin.Name, "@")
	for k, l := range e.leases(t, cfg.LeaseTable) {
		if l.Checkpoint.Seq != lastSeq {
			t.Errorf("lease %s checkpoint %s, want %s", k, l.Checkpoint.Seq, lastSeq)
		}
	}
	// Delivered in order, each exactly once: the nacked batch was read again
	// and nothing after it was acknowledged in between.
	var order []string
	for _, r := range got {
		order = append(order, r.raw)
	}
	for i := range recs {
		if order[i] != recs[i][1] {
			t.Fatalf("record %d = %q, want %q", i, order[i], recs[i][1])
		}
	}
}

func TestRecordsOrderedPerShard(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 3)
	var recs [][2]string
	for i := range 300 {
		recs = append(recs, [2]string{fmt.Sprintf("key%d", i%7), fmt.Sprintf("key%d %06d", i%7, i)})
	}
	e.put(t, stream, recs...)
	cfg := testConfig(stream)
	cfg.MaxRecordsPerCall = 25
	s := e.source(t, cfg, srcOpts{worker: "w"})
	var c collector
	done := consume(s, &c, nil)
	waitFor(t, 15*time.Second, "all records", func() bool { return c.count() >= len(recs) })
	s.Close(context.Background())
	<-done
	got, _ := c.snapshot()
	checkKeyOrder(t, got)
	wantAll(t, setOf(t, got, true), recs)
}

// checkKeyOrder checks that the records of each key ("key N") came in the
// order they were written: one key maps to one shard at a time.
func checkKeyOrder(t *testing.T, recs []got) {
	t.Helper()
	last := map[string]string{}
	for _, r := range recs {
		k, n, _ := strings.Cut(r.raw, " ")
		if prev, ok := last[k]; ok && n <= prev {
			t.Fatalf("%s: %s read after %s", k, n, prev)
		}
		last[k] = n
	}
	_ = slices.Sort[[]string]
}

// One GetRecords answer becomes batches of at most batch_max_records flow
// records (a Kinesis record is not split), and a nack of a middle batch
// reads the rest again: every line once, in order, checkpointed at the end.
func TestAnswerSplitIntoBatches(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 1)
	var puts [][2]string
	var want []string
	for i := range 60 {
		var ls []string
		for j := range 5 {
			ls = append(ls, fmt.Sprintf("r%03d line %d", i, j))
		}
		want = append(want, ls...)
		puts = append(puts, [2]string{"k", strings.Join(ls, "\n")})
	}
	e.put(t, stream, puts...)
	cfg := testConfig(stream)
	cfg.BatchMaxRecords = 12
	s := e.source(t, cfg, srcOpts{worker: "w"})
	var c collector
	var mu sync.Mutex
	var sizes []int
	nacked := false
	done := consume(s, &c, func(b *flowlog.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, len(b.Records))
		if !nacked && strings.HasPrefix(string(b.Records[0].Raw), "r030") {
			nacked = true
			return errNack
		}
		return nil
	})
	waitFor(t, 15*time.Second, "every line", func() bool { return c.count() >= len(want) })
	s.Close(context.Background())
	<-done
	got, _ := c.snapshot()
	if len(got) != len(want) {
		t.Fatalf("read %d lines, want %d", len(got), len(want))
	}
	for i, r := range got {
		if r.raw != want[i] {
			t.Fatalf("line %d = %q, want %q", i, r.raw, want[i])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !nacked {
		t.Fatal("no batch started at record r030 (batches not split at record boundaries?)")
	}
	for _, n := range sizes {
		if n > 12+4 || n%5 != 0 {
			t.Fatalf("batch sizes %v: want at most 12 records plus the rest of one Kinesis record, whole records only", sizes)
		}
	}
	if len(sizes) < len(want)/15 {
		t.Fatalf("%d batches for %d lines: answers not split", len(sizes), len(want))
	}
	_, lastSeq, _ := strings.Cut(got[len(got)-1].origin.Name, "@")
	for k, l := range e.leases(t, cfg.LeaseTable) {
		if l.Checkpoint.Seq != lastSeq {
			t.Errorf("lease %s checkpoint %s, want %s", k, l.Checkpoint.Seq, lastSeq)
		}
	}
}
