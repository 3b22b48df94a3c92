package kinesissource

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Two instances share four shards; one dies without releasing its leases;
// the other takes them over once they expire and nothing is lost.
func TestFailover(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 4)
	cfg := testConfig(stream)
	before := lines("before", 200)
	e.put(t, stream, before...)

	a := e.source(t, cfg, srcOpts{worker: "a"})
	var ca collector
	doneA := consume(a, &ca, nil)
	waitFor(t, 10*time.Second, "a holds all four shards", func() bool { return a.heldCount() == 4 })

	b := e.source(t, cfg, srcOpts{worker: "b"})
	var cb collector
	doneB := consume(b, &cb, nil)
	// b steals until the shards are shared two and two.
	waitFor(t, 15*time.Second, "two shards each", func() bool { return a.heldCount() == 2 && b.heldCount() == 2 })
	waitFor(t, 10*time.Second, "records before the crash", func() bool { return ca.count()+cb.count() >= len(before) })

	during := lines("during", 100)
	e.put(t, stream, during...)
	// a dies: it stops renewing and does not release or checkpoint.
	a.abandon()
	<-doneA
	crashedAt := time.Now()
	owned := func() int {
		n := 0
		for _, l := range e.leases(t, cfg.LeaseTable) {
			if l.Owner == "b" {
				n++
			}
		}
		return n
	}
	if n := owned(); n != 2 {
		t.Fatalf("b owns %d leases right after the crash, want 2", n)
	}
	waitFor(t, 15*time.Second, "b takes the dead instance's shards", func() bool { return b.heldCount() == 4 })
	// a renewed at most failover_time/3 before it died; its leases must not
	// have been taken before they expired.
	if took := time.Since(crashedAt); took < cfg.FailoverTime-cfg.FailoverTime/3 {
		t.Errorf("leases taken %s after the crash, before they expired (failover_time %s)", took, cfg.FailoverTime)
	}
	after := lines("after", 100)
	e.put(t, stream, after...)

	want := append(append(append([][2]string{}, before...), during...), after...)
	all := func() map[string]bool {
		ra, _ := ca.snapshot()
		rb, _ := cb.snapshot()
		return setOf(t, append(ra, rb...), false)
	}
	waitFor(t, 15*time.Second, "every record", func() bool {
		have := all()
		for _, w := range want {
			if !have[w[1]] {
				return false
			}
		}
		return true
	})
	wantAll(t, all(), want)
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-doneB
	for k, l := range e.leases(t, cfg.LeaseTable) {
		if l.Owner != "" {
			t.Errorf("lease %s owned by %q after b closed", k, l.Owner)
		}
		if l.Checkpoint.isSentinel() {
			t.Errorf("lease %s checkpoint %q", k, l.Checkpoint.Seq)
		}
	}
	rb, _ := cb.snapshot()
	shardsOfB := map[string]bool{}
	for _, r := range rb {
		shardsOfB[r.shard] = true
	}
	if len(shardsOfB) != 4 {
		t.Errorf("b read %d shards, want 4: %v", len(shardsOfB), fmt.Sprint(shardsOfB))
	}
}

// A closing instance releases its leases: the other takes them at its next
// scan, without waiting for failover_time.
func TestReleaseOnClose(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 2)
	cfg := testConfig(stream)
	cfg.FailoverTime = 5 * time.Second // renewals and scans every 1.7s
	a := e.source(t, cfg, srcOpts{worker: "a"})
	var ca, cb collector
	doneA := consume(a, &ca, nil)
	waitFor(t, 10*time.Second, "a holds both shards", func() bool { return a.heldCount() == 2 })
	b := e.source(t, cfg, srcOpts{worker: "b"})
	consume(b, &cb, nil)
	waitFor(t, 10*time.Second, "one shard each", func() bool { return a.heldCount() == 1 && b.heldCount() == 1 })
	recs := lines("r", 40)
	e.put(t, stream, recs...)
	waitFor(t, 10*time.Second, "records", func() bool { return ca.count()+cb.count() >= len(recs) })
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-doneA
	closed := time.Now()
	waitFor(t, 10*time.Second, "b takes the released shard", func() bool { return b.heldCount() == 2 })
	if took := time.Since(closed); took >= cfg.FailoverTime {
		t.Errorf("released lease taken after %s, not before failover_time", took)
	}
	ra, _ := ca.snapshot()
	rb, _ := cb.snapshot()
	wantAll(t, setOf(t, append(ra, rb...), true), recs)
}

// An instance that read batches but never had them acknowledged dies: its
// checkpoint covers only what was acknowledged, so the next owner delivers
// the rest.
func TestCrashWithUnacknowledgedBatches(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 1)
	recs := lines("u", 50)
	e.put(t, stream, recs...)
	cfg := testConfig(stream)
	cfg.MaxRecordsPerCall = 10

	a := e.source(t, cfg, srcOpts{worker: "a"})
	acked := map[string]bool{}
	var held []func(context.Context, error) error
	read := 0
	for read < len(recs) {
		b, ack, err := a.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		read += len(b.Records)
		if len(held) == 0 && len(acked) == 0 {
			for _, r := range b.Records {
				acked[string(r.Raw)] = true
			}
			ack(context.Background(), nil)
			continue
		}
		held = append(held, ack) // in flight in a slow sink
	}
	if len(acked) != 10 {
		t.Fatalf("acknowledged %d records, want 10", len(acked))
	}
	// Let two renewals pass: a checkpoint beyond the acknowledged batch
	// would be written by now.
	key := "shardId-000000000000"
	c0 := e.leases(t, cfg.LeaseTable)[key].Counter
	waitFor(t, 10*time.Second, "two renewals", func() bool { return e.leases(t, cfg.LeaseTable)[key].Counter >= c0+2 })
	a.abandon()
	for _, ack := range held {
		ack(context.Background(), nil) // too late: a is gone
	}
	if l := e.leases(t, cfg.LeaseTable)[key]; l.Owner != "a" {
		t.Fatalf("lease owner %q, want the dead instance", l.Owner)
	}

	b := e.source(t, cfg, srcOpts{worker: "b"})
	var cb collector
	done := consume(b, &cb, nil)
	waitFor(t, 15*time.Second, "the unacknowledged records", func() bool { return cb.count() >= len(recs)-len(acked) })
	b.Close(context.Background())
	<-done
	got, _ := cb.snapshot()
	have := setOf(t, got, true)
	for r := range acked {
		if have[r] {
			t.Errorf("%q read again although acknowledged and checkpointed", r)
		}
		have[r] = true
	}
	wantAll(t, have, recs)
}
