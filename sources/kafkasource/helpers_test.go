package kafkasource

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const topic = "flows"

type cluster struct {
	t     testing.TB
	c     *kfake.Cluster
	addrs []string
	prod  *kgo.Client
	adm   *kadm.Client
}

func newCluster(t testing.TB, partitions int32) *cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	addrs := c.ListenAddrs()
	prod, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0))
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	kc := &cluster{t: t, c: c, addrs: addrs, prod: prod, adm: kadm.NewClient(prod)}
	t.Cleanup(func() { prod.Close(); c.Close() })
	return kc
}

// produce writes records synchronously.
func (kc *cluster) produce(recs ...*kgo.Record) {
	kc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, r := range recs {
		if r.Topic == "" {
			r.Topic = topic
		}
	}
	if err := kc.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		kc.t.Fatal(err)
	}
}

// line returns a distinct flow line for partition p, sequence n.
func line(p int32, n int) string {
	return fmt.Sprintf("2 123456789012 eni-%08d 10.0.%d.%d 10.1.0.1 %d 443 6 1 40 1718000000 1718000060 ACCEPT OK", n, p, n%250, 1024+n)
}

func rec(p int32, value string) *kgo.Record {
	return &kgo.Record{Partition: p, Value: []byte(value)}
}

// committed returns the group's committed offset of partition p, or -1.
func (kc *cluster) committed(group string, p int32) int64 {
	kc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	offs, err := kc.adm.FetchOffsets(ctx, group)
	if err != nil {
		kc.t.Fatal(err)
	}
	o, ok := offs.Lookup(topic, p)
	if !ok {
		return -1
	}
	return o.At
}

func testConfig(kc *cluster) Config {
	cfg := *NewDefaultConfig()
	cfg.Brokers = kc.addrs
	cfg.Topic = topic
	cfg.Group = "g"
	cfg.CommitInterval = 100 * time.Millisecond
	cfg.LagInterval = 50 * time.Millisecond
	cfg.HeartbeatInterval = 100 * time.Millisecond
	cfg.FetchMaxWait = 100 * time.Millisecond
	cfg.SessionTimeout = 10 * time.Second
	cfg.RebalanceTimeout = 5 * time.Second
	return cfg
}

func newSource(t testing.TB, cfg Config, id string, reg prometheus.Registerer) *Source {
	t.Helper()
	s, err := New(context.Background(), cfg, component.Settings{ID: id, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

type read struct {
	b   *flowlog.Batch
	ack flowlog.AckFunc
}

// readRecords reads batches until they hold n records and failures
// together, failing the test after a timeout.
func readRecords(t testing.TB, s *Source, n int) []read {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []read
	got := 0
	for got < n {
		b, ack, err := s.Read(ctx)
		if err != nil {
			t.Fatalf("Read after %d of %d records: %v", got, n, err)
		}
		out = append(out, read{b, ack})
		got += len(b.Records) + len(b.Failed)
	}
	if got != n {
		t.Fatalf("read %d records, want %d", got, n)
	}
	return out
}

func ackAll(t testing.TB, rs []read) {
	t.Helper()
	for _, r := range rs {
		if err := r.ack(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
}

// eventually polls cond every 20ms until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// commitNow commits the marked offsets at once (tests do not wait for the
// autocommit interval).
func commitNow(t testing.TB, s *Source) {
	t.Helper()
	if err := s.cl.CommitMarkedOffsets(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func gaugeValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	var pairs []string
	for k, v := range labels {
		pairs = append(pairs, k, v)
	}
	v, ok, err := testkit.MetricValue(reg, name, pairs...)
	if err != nil {
		t.Fatal(err)
	}
	return v, ok
}
