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
// 200-500ms (a slow sink). Every record handed out counts as delivered.
// The returned channel closes once Read failed and every ack was made.
func slowConsume(s *Source, l *ledger, inflight int) <-chan struct{} {
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
			l.mu.Lock()
			for _, r := range b.Records {
				l.times[string(r.Raw)]++
			}
			l.byWorker[s.WorkerID()] += len(b.Records)
			l.total += len(b.Records)
			l.mu.Unlock()
			delay := 200*time.Millisecond + rand.N(300*time.Millisecond)
			acks.Go(func() {
				time.Sleep(delay)
				if err := ack(context.Background(), nil); err != nil {
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
	doneA := slowConsume(a, l, 8)
	waitFor(t, 10*time.Second, "a holds all four shards", func() bool { return a.heldCount() == 4 })
	waitFor(t, 10*time.Second, "a delivering", func() bool { return l.unique() > n/6 })

	b := e.source(t, cfg, srcOpts{worker: "b"})
	doneB := slowConsume(b, l, 8)
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
	doneA := slowConsume(a, l, 8)
	waitFor(t, 10*time.Second, "a holds all four shards", func() bool { return a.heldCount() == 4 })
	b := e.source(t, cfg, srcOpts{worker: "b"})
	doneB := slowConsume(b, l, 8)
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
