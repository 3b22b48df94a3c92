package kinesissource

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// withoutHandoff runs the hand-off tests with handoff_timeout 0 (leases are
// stolen, as before the hand-off existed), to see them fail:
//
//	go test -race -run Handoff ./sources/kinesissource/ -args -without-handoff
var withoutHandoff = flag.Bool("without-handoff", false, "run the hand-off tests with handoff_timeout 0")

// ledger counts every record handed out, by every instance.
type ledger struct {
	mu       sync.Mutex
	times    map[string]int
	byWorker map[string]int
	total    int
}

func newLedger() *ledger { return &ledger{times: map[string]int{}, byWorker: map[string]int{}} }

func (l *ledger) unique() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.times)
}

// check reports the records handed out more than once (and how often in
// all) and the records of want never handed out.
func (l *ledger) check(want int, prefix string) (dups, extra int, missing []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for r, n := range l.times {
		if n > 1 {
			dups++
			extra += n - 1
		}
		_ = r
	}
	for i := range want {
		if r := fmt.Sprintf("%s %d", prefix, i); l.times[r] == 0 {
			missing = append(missing, r)
		}
	}
	return dups, extra, missing
}

// slowConsume reads s as the engine does, with up to inflight batches
// handed out at once, and acknowledges each batch asynchronously after
// 200-500ms (a slow sink). A batch is nacked when nack (optional) says so;
// every record of a batch acknowledged with ack(nil) counts as delivered.
// The returned channel closes once Read failed and every ack was made.
func slowConsume(s *Source, l *ledger, inflight int, nack func() bool) <-chan struct{} {
	done := make(chan struct{})
	sem := make(chan struct{}, inflight)
	var acks sync.WaitGroup
	go func() {
		defer close(done)
		defer acks.Wait()
		for {
			sem <- struct{}{}
			b, ack, err := s.Read(context.Background())
			if err != nil {
				<-sem
				return
			}
			var aerr error
			if nack != nil && nack() {
				aerr = errNack
			}
			raws := make([]string, len(b.Records)) // b is reused once acknowledged
			for i, r := range b.Records {
				raws[i] = string(r.Raw)
			}
			delay := 200*time.Millisecond + rand.N(300*time.Millisecond)
			acks.Go(func() {
				time.Sleep(delay)
				if aerr == nil {
					l.mu.Lock()
					for _, r := range raws {
						l.times[r]++
					}
					l.byWorker[s.WorkerID()] += len(raws)
					l.total += len(raws)
					l.mu.Unlock()
				}
				if err := ack(context.Background(), aerr); err != nil {
					panic(err)
				}
				<-sem
			})
		}
	}()
	return done
}

// produce writes n records "prefix i" in chunks of 100 every 100ms and
// closes the returned channel when done.
func (e *emu) produce(t *testing.T, stream, prefix string, n int) <-chan struct{} {
	done := make(chan struct{})
	recs := lines(prefix, n)
	go func() {
		defer close(done)
		for len(recs) > 0 {
			c := min(len(recs), 100)
			var entries []types.PutRecordsRequestEntry
			for _, r := range recs[:c] {
				entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(r[0]), Data: []byte(r[1])})
			}
			out, err := e.kin.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: &stream, Records: entries})
			if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
				t.Errorf("put records: %v", err) // failed records are retried
				time.Sleep(100 * time.Millisecond)
				continue
			}
			recs = recs[c:]
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return done
}

func handoffConfig(stream string) Config {
	cfg := testConfig(stream)
	cfg.MaxRecordsPerCall = 100 // many small batches in flight
	cfg.HandoffTimeout = 5 * time.Second
	if *withoutHandoff {
		cfg.HandoffTimeout = 0
	}
	return cfg
}

func reportLedger(t *testing.T, l *ledger, n int, prefix string) {
	t.Helper()
	dups, extra, missing := l.check(n, prefix)
	l.mu.Lock()
	t.Logf("%d records written, %d handed out (%v), %d distinct; %d records handed out twice or more (%d extra copies)",
		n, l.total, l.byWorker, len(l.times), dups, extra)
	l.mu.Unlock()
	if dups > 0 {
		t.Errorf("%d records delivered more than once (%d extra copies): a lease moved without its old owner's acknowledged position", dups, extra)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Errorf("%d records never delivered, e.g. %q", len(missing), missing[:min(5, len(missing))])
	}
}

// Scale-out: A reads four shards alone, B joins mid-stream and takes two of
// them by balancing. Nobody crashes, so every record is delivered exactly
// once although acknowledgements lag by hundreds of milliseconds.
func TestHandoffScaleOut(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 4)
	cfg := handoffConfig(stream)
	const n = 6000
	prod := e.produce(t, stream, "out", n)

	l := newLedger()
	a := e.source(t, cfg, srcOpts{worker: "a"})
	doneA := slowConsume(a, l, 8, nil)
	waitFor(t, 10*time.Second, "a holds all four shards", func() bool { return a.heldCount() == 4 })
	waitFor(t, 10*time.Second, "a delivering", func() bool { return l.unique() > n/6 })

	b := e.source(t, cfg, srcOpts{worker: "b"})
	doneB := slowConsume(b, l, 8, nil)
	waitFor(t, 20*time.Second, "two shards each", func() bool { return a.heldCount() == 2 && b.heldCount() == 2 })
	<-prod
	waitFor(t, 30*time.Second, "every record", func() bool { return l.unique() >= n })
	time.Sleep(time.Second) // room for a late duplicate
	if b.heldCount() == 0 {
		t.Error("b holds no shard at the end")
	}
	for _, s := range []*Source{a, b} {
		if err := s.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}
	<-doneA
	<-doneB
	reportLedger(t, l, n, "out")
	for k, ls := range e.leases(t, cfg.LeaseTable) {
		if ls.Owner != "" || ls.CheckpointOwner != "" {
			t.Errorf("lease %s after Close: owner %q, checkpoint owner %q", k, ls.Owner, ls.CheckpointOwner)
		}
	}
}

// Scale-in: A and B share four shards; B is closed mid-stream and A takes
// its leases at once, from where B's delivery stopped.
func TestHandoffScaleIn(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 4)
	cfg := handoffConfig(stream)
	const n = 6000
	l := newLedger()
	a := e.source(t, cfg, srcOpts{worker: "a"})
	doneA := slowConsume(a, l, 8, nil)
	waitFor(t, 10*time.Second, "a holds all four shards", func() bool { return a.heldCount() == 4 })
	b := e.source(t, cfg, srcOpts{worker: "b"})
	doneB := slowConsume(b, l, 8, nil)
	waitFor(t, 20*time.Second, "two shards each", func() bool { return a.heldCount() == 2 && b.heldCount() == 2 })

	prod := e.produce(t, stream, "in", n)
	waitFor(t, 20*time.Second, "b delivering", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.byWorker["b"] > n/8
	})
	closed := time.Now()
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-doneB
	t.Logf("b closed in %s", time.Since(closed).Round(time.Millisecond))
	waitFor(t, 10*time.Second, "a takes b's shards", func() bool { return a.heldCount() == 4 })
	if took := time.Since(closed); took >= cfg.FailoverTime+time.Second+cfg.drainTimeout() {
		t.Errorf("released leases taken %s after Close began", took)
	}
	<-prod
	waitFor(t, 30*time.Second, "every record", func() bool { return l.unique() >= n })
	time.Sleep(time.Second)
	if err := a.Close(context.Background()); err != nil {
		t.Error(err)
	}
	<-doneA
	reportLedger(t, l, n, "in")
}

// A nack during a hand-off: the old owner checkpoints only up to the
// nacked batch, and the new owner hands its records out again. Nothing is
// lost (records of batches after a nack may be delivered twice: the nack
// contract reads them again).
func TestHandoffWithNacks(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 4)
	cfg := handoffConfig(stream)
	const n = 3000
	prod := e.produce(t, stream, "nack", n)
	l := newLedger()
	var mu sync.Mutex
	nacks := 0
	everyFifth := func() bool {
		mu.Lock()
		defer mu.Unlock()
		nacks++
		return nacks%5 == 0
	}
	a := e.source(t, cfg, srcOpts{worker: "a"})
	doneA := slowConsume(a, l, 8, everyFifth)
	waitFor(t, 10*time.Second, "a holds all four shards", func() bool { return a.heldCount() == 4 })
	waitFor(t, 10*time.Second, "a delivering", func() bool { return l.unique() > n/6 })
	b := e.source(t, cfg, srcOpts{worker: "b"})
	doneB := slowConsume(b, l, 8, everyFifth)
	waitFor(t, 20*time.Second, "two shards each", func() bool { return a.heldCount() == 2 && b.heldCount() == 2 })
	<-prod
	waitFor(t, 30*time.Second, "every record", func() bool { return l.unique() >= n })
	for _, s := range []*Source{a, b} {
		if err := s.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}
	<-doneA
	<-doneB
	_, extra, missing := l.check(n, "nack")
	t.Logf("%d batches, every fifth nacked; %d records delivered again after a nack", nacks, extra)
	if len(missing) > 0 {
		t.Errorf("%d records never delivered", len(missing))
	}
}

// The owner crashes after a lease was asked for and before it handed it
// over: the taker waits until the lease's counter stood still for
// failover_time, then takes it from its last checkpoint (at least once).
func TestHandoffOwnerCrashes(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 2)
	cfg := handoffConfig(stream)
	cfg.HandoffTimeout = 5 * time.Second
	const n = 1000
	e.put(t, stream, lines("crash", n)...)
	l := newLedger()
	a := e.source(t, cfg, srcOpts{worker: "a"})
	doneA := slowConsume(a, l, 8, nil)
	waitFor(t, 10*time.Second, "a holds both shards", func() bool { return a.heldCount() == 2 })
	b := e.source(t, cfg, srcOpts{worker: "b"})
	doneB := slowConsume(b, l, 8, nil)
	marked := func() bool {
		for _, ls := range e.leases(t, cfg.LeaseTable) {
			if ls.CheckpointOwner == "a" && ls.Owner == "b" {
				return true
			}
		}
		return false
	}
	waitFor(t, 10*time.Second, "a lease asked for", marked)
	a.abandon() // crash: no renewal, no checkpoint, no hand-off
	<-doneA
	crashed := time.Now()
	if !marked() {
		t.Skip("a handed the lease over before it crashed")
	}
	waitFor(t, 15*time.Second, "b takes both shards", func() bool { return b.heldCount() == 2 })
	if took := time.Since(crashed); took < cfg.FailoverTime/2 {
		t.Errorf("lease taken %s after the crash, before its counter stood still", took)
	}
	waitFor(t, 15*time.Second, "every record", func() bool { return l.unique() >= n })
	if err := b.Close(context.Background()); err != nil {
		t.Error(err)
	}
	<-doneB
	if _, _, missing := l.check(n, "crash"); len(missing) > 0 {
		t.Errorf("%d records never delivered", len(missing))
	}
	for k, ls := range e.leases(t, cfg.LeaseTable) {
		if ls.CheckpointOwner != "" {
			t.Errorf("lease %s still has checkpoint owner %q", k, ls.CheckpointOwner)
		}
	}
}
