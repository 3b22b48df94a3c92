package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// corpus is what a test produced: every line, its partition and offset.
type corpus struct {
	perPart int
	parts   int32
	at      map[string]tp    // line → partition
	offset  map[string]int64 // line → offset
}

// produceCorpus writes perPart one-line records to each partition, in
// Kafka record batches of at most chunk records.
func produceCorpus(kc *cluster, parts int32, perPart, chunk int) *corpus {
	c := &corpus{perPart: perPart, parts: parts, at: map[string]tp{}, offset: map[string]int64{}}
	for from := 0; from < perPart; from += chunk {
		var recs []*kgo.Record
		for p := range parts {
			for n := from; n < min(from+chunk, perPart); n++ {
				l := line(p, n)
				c.at[l], c.offset[l] = tp{topic, p}, int64(n)
				recs = append(recs, rec(p, l))
			}
		}
		kc.produce(recs...)
	}
	return c
}

// ledger counts the records a sink delivered (acknowledged), across
// sources.
type ledger struct {
	mu        sync.Mutex
	delivered map[string]int
}

func newLedger() *ledger { return &ledger{delivered: map[string]int{}} }

func (l *ledger) add(lines []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range lines {
		l.delivered[s]++
	}
}

// count returns how many records of c were delivered at least once, how
// many more than once, and how many were delivered in all.
func (l *ledger) count(c *corpus) (distinct, doubled, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := range c.at {
		if n := l.delivered[s]; n > 0 {
			distinct++
			total += n
			if n > 1 {
				doubled++
			}
		}
	}
	return distinct, doubled, total
}

func lines(b *flowlog.Batch) []string {
	out := make([]string, len(b.Records))
	for i, r := range b.Records {
		out[i] = string(r.Raw)
	}
	return out
}

// TestNackRedelivers: a nacked batch is handed out again from its first
// offset, in order; batches of its partition handed out after it are read
// again and their acks do not commit past it; every record is delivered;
// the committed offsets end at the end of each partition.
func TestNackRedelivers(t *testing.T) {
	for _, tc := range []struct {
		name string
		// earlierInFlight: the batch before the nacked one is acknowledged
		// only after the nack, so the rewind waits for it.
		earlierInFlight bool
	}{
		{name: "earlier acknowledged"},
		{name: "earlier in flight", earlierInFlight: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc := newCluster(t, 2)
			const perPart = 40
			c := produceCorpus(kc, 2, perPart, perPart)
			cfg := testConfig(kc)
			cfg.BatchMaxRecords = 3
			cfg.MaxPollRecords = 7
			cfg.CommitInterval = time.Hour // commits only when the test says
			s := newSource(t, cfg, "k", nil)

			led := newLedger()
			ack := func(b *flowlog.Batch, ack flowlog.AckFunc, err error) {
				t.Helper()
				ls := lines(b)
				if e := ack(context.Background(), err); e != nil {
					t.Fatal(e)
				}
				if err == nil {
					led.add(ls)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			next := map[int32]int64{} // offset the next batch of each partition must start at
			var (
				p0       []read  // batches of partition 0 held back
				p0first  []int64 // their first offsets
				p0len    []int   // and sizes
				nackedAt int64   = -1
				doubled  int     // records acknowledged after the nacked batch, before the nack
				after    int     // batches of partition 0 handed out after the nack
				late     sync.WaitGroup
			)
			defer late.Wait()
			for {
				if d, _, _ := led.count(c); d == len(c.at) {
					break
				}
				b, a, err := s.Read(ctx)
				if err != nil {
					d, _, _ := led.count(c)
					t.Fatalf("Read after %d of %d records delivered: %v", d, len(c.at), err)
				}
				if len(b.Records) == 0 {
					t.Fatalf("empty batch %s", b.Partition)
				}
				first := string(b.Records[0].Raw)
				p := c.at[first].part
				if got, want := c.offset[first], next[p]; got != want {
					t.Fatalf("partition %d: batch starts at offset %d, want %d (nacked at %d)", p, got, want, nackedAt)
				}
				for i, r := range b.Records {
					if c.offset[string(r.Raw)] != next[p]+int64(i) || c.at[string(r.Raw)].part != p {
						t.Fatalf("partition %d: records out of order in batch %q", p, lines(b))
					}
				}
				next[p] += int64(len(b.Records))
				if p != 0 || nackedAt >= 0 {
					if p == 0 {
						after++
					}
					ack(b, a, nil)
					continue
				}
				// Partition 0 before the nack: hold batches 1 to 4, nack 2.
				p0 = append(p0, read{b, a})
				p0first = append(p0first, c.offset[first])
				p0len = append(p0len, len(b.Records))
				switch len(p0) {
				case 1:
					ack(b, a, nil)
				case 2:
					if !tc.earlierInFlight {
						ack(b, a, nil)
					}
				case 5:
					// Batches 3 and 4, handed out after the one to nack, are
					// delivered first: their acks must not commit past it.
					ack(p0[3].b, p0[3].ack, nil)
					ack(p0[4].b, p0[4].ack, nil)
					doubled = p0len[3] + p0len[4]
					commitNow(t, s)
					want := p0first[2]
					if tc.earlierInFlight {
						want = p0first[1]
					}
					if got := kc.committed("g", 0); got > want {
						t.Fatalf("committed %d with the batch at %d not delivered", got, want)
					}
					nackedAt = p0first[2]
					ack(p0[2].b, p0[2].ack, errors.New("sink down"))
					next[0] = nackedAt
					if tc.earlierInFlight {
						// The rewind waits for this one; meanwhile nothing of
						// partition 0 is handed out (next[0] checks it).
						w := p0[1]
						ls := lines(w.b)
						late.Go(func() {
							time.Sleep(300 * time.Millisecond)
							if err := w.ack(context.Background(), nil); err != nil {
								t.Error(err)
							}
							led.add(ls)
						})
					}
				}
			}
			if after == 0 {
				t.Fatal("nothing of partition 0 was handed out again")
			}
			commitNow(t, s)
			for p := range int32(2) {
				if got := kc.committed("g", p); got != perPart {
					t.Errorf("partition %d committed %d, want %d", p, got, perPart)
				}
			}
			distinct, twice, total := led.count(c)
			t.Logf("%d records, %d deliveries, %d records twice (handed out after the nacked batch at %d)", len(c.at), total, twice, nackedAt)
			if distinct != len(c.at) || twice != doubled {
				t.Errorf("delivered %d distinct, %d twice; want %d and %d", distinct, twice, len(c.at), doubled)
			}
			if v := testutil.ToFloat64(s.met.nacks); v != 1 {
				t.Errorf("nacks = %v", v)
			}
		})
	}
}

// slowSink consumes a source the way the engine does with a slow sink:
// at most maxInFlight batches handed out and not acknowledged, each
// acknowledged asynchronously after 100 to 300 ms. Every batch it is handed
// counts as delivered (a sink delivers what it gets, whether or not the
// source still cares about the acknowledgement).
type slowSink struct {
	src    *Source
	led    *ledger
	cancel context.CancelFunc
	read   sync.WaitGroup // the read loop
	acks   sync.WaitGroup // acknowledgements pending
	sem    chan struct{}
}

func startSlowSink(s *Source, led *ledger, maxInFlight int) *slowSink {
	ctx, cancel := context.WithCancel(context.Background())
	k := &slowSink{src: s, led: led, cancel: cancel, sem: make(chan struct{}, maxInFlight)}
	k.read.Go(func() {
		for {
			select {
			case k.sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			b, ack, err := s.Read(ctx)
			if err != nil {
				<-k.sem
				return
			}
			ls := lines(b)
			delay := time.Duration(100+rand.IntN(200)) * time.Millisecond
			k.acks.Go(func() {
				defer func() { <-k.sem }()
				time.Sleep(delay)
				k.led.add(ls)
				ack(context.Background(), nil)
			})
		}
	})
	return k
}

// stopReading ends the read loop; acknowledgements still come.
func (k *slowSink) stopReading() {
	k.cancel()
	k.read.Wait()
}

func (k *slowSink) stop() {
	k.stopReading()
	k.acks.Wait()
}

// moveTest runs a 6-partition topic through two sources with slow sinks,
// moving partitions between them mid-stream with move, and checks that
// every record was delivered exactly once.
func moveTest(t *testing.T, move func(t *testing.T, kc *cluster, cfg Config, led *ledger, c *corpus) []*slowSink) {
	if testing.Short() {
		t.Skip("moves partitions between consumers with slow sinks")
	}
	kc := newCluster(t, 6)
	const perPart = 250
	// Small record batches and fetches: every poll holds records of
	// several partitions, so batches of every partition are in flight when
	// partitions move.
	c := produceCorpus(kc, 6, perPart, 5)
	cfg := testConfig(kc)
	cfg.FetchMaxPartitionBytes = 1
	cfg.BatchMaxRecords = 10
	cfg.MaxPollRecords = 40
	cfg.CommitInterval = 200 * time.Millisecond
	led := newLedger()
	sinks := move(t, kc, cfg, led, c)
	eventually(t, 30*time.Second, "every record delivered", func() bool {
		d, _, _ := led.count(c)
		return d == len(c.at)
	})
	time.Sleep(500 * time.Millisecond) // would-be duplicates have time to show
	for _, k := range sinks {
		k.stop()
	}
	distinct, doubled, total := led.count(c)
	t.Logf("%d records, %d deliveries, %d distinct, %d delivered more than once", len(c.at), total, distinct, doubled)
	if distinct != len(c.at) || doubled != 0 || total != len(c.at) {
		t.Errorf("delivered %d of %d records, %d more than once (%d deliveries): want each exactly once",
			distinct, len(c.at), doubled, total)
	}
}

// deliveredSoFar waits until at least n records were delivered.
func deliveredSoFar(t *testing.T, led *ledger, c *corpus, n int) {
	t.Helper()
	eventually(t, 20*time.Second, fmt.Sprintf("%d records delivered", n), func() bool {
		_, _, total := led.count(c)
		return total >= n
	})
}

// TestScaleOutExactlyOnce: a consumes alone with a slow sink; b joins
// mid-stream and takes half the partitions. a stops handing out their
// records, waits for its in-flight batches, commits, and only then lets
// them go: nothing is delivered twice, nothing is lost.
func TestScaleOutExactlyOnce(t *testing.T) {
	moveTest(t, func(t *testing.T, kc *cluster, cfg Config, led *ledger, c *corpus) []*slowSink {
		a := newSource(t, cfg, "a", prometheus.NewRegistry())
		ka := startSlowSink(a, led, 8)
		deliveredSoFar(t, led, c, len(c.at)/5)
		b := newSource(t, cfg, "b", prometheus.NewRegistry())
		kb := startSlowSink(b, led, 8)
		eventually(t, 20*time.Second, "partitions shared", func() bool {
			return testutil.ToFloat64(a.met.assigned) == 3 && testutil.ToFloat64(b.met.assigned) == 3
		})
		if d, _, _ := led.count(c); d == len(c.at) {
			t.Fatal("everything was delivered before b joined: the test moved nothing")
		}
		return []*slowSink{ka, kb}
	})
}

// TestScaleInExactlyOnce: a and b share the partitions; b is closed
// (SIGTERM) mid-stream with batches in flight. b stops handing out, waits
// for them, commits and leaves; a takes the partitions over from there.
func TestScaleInExactlyOnce(t *testing.T) {
	moveTest(t, func(t *testing.T, kc *cluster, cfg Config, led *ledger, c *corpus) []*slowSink {
		a := newSource(t, cfg, "a", prometheus.NewRegistry())
		eventually(t, 10*time.Second, "a joined", a.Ready)
		b := newSource(t, cfg, "b", prometheus.NewRegistry())
		ka := startSlowSink(a, led, 8)
		kb := startSlowSink(b, led, 8)
		eventually(t, 20*time.Second, "partitions shared", func() bool {
			return testutil.ToFloat64(a.met.assigned) == 3 && testutil.ToFloat64(b.met.assigned) == 3
		})
		deliveredSoFar(t, led, c, len(c.at)/3)
		// What the engine does on SIGTERM: stop reading, then Close while
		// the sinks still deliver what was handed out.
		kb.stopReading()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "a owns every partition", func() bool {
			return testutil.ToFloat64(a.met.assigned) == 6
		})
		if d, _, _ := led.count(c); d == len(c.at) {
			t.Fatal("everything was delivered before b left: the test moved nothing")
		}
		return []*slowSink{ka, kb}
	})
}
