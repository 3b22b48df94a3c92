package kinesissource

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// faultProxy stands between the Kinesis client and kinesalite and answers
// the first GetRecords calls with the errors queued in faults.
type faultProxy struct {
	mu     sync.Mutex
	faults []string // error types, e.g. ProvisionedThroughputExceededException
	calls  []time.Time
}

func (p *faultProxy) start(t *testing.T, target string) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == "Kinesis_20131202.GetRecords" {
			p.mu.Lock()
			p.calls = append(p.calls, time.Now())
			var fault string
			if len(p.faults) > 0 {
				fault, p.faults = p.faults[0], p.faults[1:]
			}
			p.mu.Unlock()
			if fault != "" {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"__type":"` + fault + `","message":"injected by the test"}`))
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (p *faultProxy) left() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.faults)
}

// GetRecords answered with ProvisionedThroughputExceeded (more often than the
// SDK would retry) and an expired iterator: the source backs off, gets a
// new iterator, and reads everything exactly once.
func TestThrottlingAndExpiredIterator(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 1)
	recs := lines("t", 60)
	e.put(t, stream, recs[:30]...)

	p := &faultProxy{faults: []string{
		"ProvisionedThroughputExceededException",
		"ProvisionedThroughputExceededException",
		"ProvisionedThroughputExceededException",
		"ProvisionedThroughputExceededException",
	}}
	proxied := kinesisClient(p.start(t, e.kinURL))
	cfg := testConfig(stream)
	cfg.MaxRecordsPerCall = 10
	reg := prometheus.NewRegistry()
	s := e.source(t, cfg, srcOpts{worker: "w", reg: reg, kin: func(kinesisAPI) kinesisAPI { return proxied }})
	var c collector
	done := consume(s, &c, nil)
	waitFor(t, 15*time.Second, "first records", func() bool { return c.count() >= 30 })
	if p.left() != 0 {
		t.Fatalf("%d faults not served", p.left())
	}
	p.mu.Lock()
	calls := append([]time.Time(nil), p.calls...)
	p.faults = []string{"ExpiredIteratorException"}
	p.mu.Unlock()
	// Backoff: each retry after a throttle waited at least half of 250ms,
	// 500ms, 1s.
	for i, min := range []time.Duration{125 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond} {
		if d := calls[i+1].Sub(calls[i]); d < min {
			t.Errorf("retry %d after %s, want at least %s", i+1, d, min)
		}
	}
	e.put(t, stream, recs[30:]...)
	waitFor(t, 15*time.Second, "records after the expired iterator", func() bool { return c.count() >= len(recs) })
	s.Close(context.Background())
	<-done
	got, _ := c.snapshot()
	wantAll(t, setOf(t, got, true), recs)
	if len(got) != len(recs) {
		t.Fatalf("read %d records, want %d", len(got), len(recs))
	}
	for outcome, want := range map[string]float64{"throttled": 4, "expired_iterator": 1} {
		if n := testutil.ToFloat64(s.m.calls.WithLabelValues(outcome)); n != want {
			t.Errorf("get_records{outcome=%s} = %v, want %v", outcome, n, want)
		}
	}
}

// lagKinesis reports a fixed MillisBehindLatest (kinesalite reports 0).
type lagKinesis struct {
	kinesisAPI
	ms int64
}

func (l lagKinesis) GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	out, err := l.kinesisAPI.GetRecords(ctx, in, opts...)
	if err == nil {
		out.MillisBehindLatest = aws.Int64(l.ms)
	}
	return out, err
}

func TestLagAndLeaseMetrics(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 2)
	cfg := testConfig(stream)
	reg := prometheus.NewRegistry()
	s := e.source(t, cfg, srcOpts{worker: "w", reg: reg, kin: func(k kinesisAPI) kinesisAPI { return lagKinesis{k, 42500} }})
	var c collector
	done := consume(s, &c, nil)
	lag := func(shard string) float64 {
		return testutil.ToFloat64(s.m.lag.WithLabelValues(shard))
	}
	waitFor(t, 10*time.Second, "lag of both shards", func() bool {
		return lag("shardId-000000000000") == 42.5 && lag("shardId-000000000001") == 42.5
	})
	if n := testutil.ToFloat64(s.m.leasesHeld); n != 2 {
		t.Errorf("leases held = %v, want 2", n)
	}
	s.Close(context.Background())
	<-done
	if n := testutil.ToFloat64(s.m.leasesHeld); n != 0 {
		t.Errorf("leases held after Close = %v, want 0", n)
	}
	if n := testutil.CollectAndCount(reg, "vpcflow_source_lag_seconds"); n != 0 {
		t.Errorf("%d lag series left after Close", n)
	}
}
