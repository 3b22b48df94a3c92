package kafkasource

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vpcflow/vpcflow/sources/internal/budget"
)

// linesValue returns a Kafka record value of n flow lines of partition p.
func linesValue(p int32, from, n int) string {
	var sb strings.Builder
	for i := range n {
		sb.WriteString(line(p, from+i))
		sb.WriteByte('\n')
	}
	return sb.String()
}

// With the budget spent, Read hands out what is decoded and then waits
// for acknowledgements before it polls again; the gauge follows the
// bytes held and drops to zero once everything is acknowledged.
func TestMaxInFlightBytes(t *testing.T) {
	kc := newCluster(t, 1)
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, rec(0, linesValue(0, i*10, 10)))
	}
	kc.produce(recs...)

	cfg := testConfig(kc)
	cfg.BatchMaxRecords = 10 // one Kafka record a batch
	// Room for about three batches of 10 records.
	cfg.MaxInFlightBytes = int(3 * (10*budget.RecordSize + 10*int64(len(line(0, 0))+1)))
	reg := prometheus.NewRegistry()
	s := newSource(t, cfg, "k", reg)

	var held []read
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for len(held) < 20 {
		rctx, rcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		b, ack, err := s.Read(rctx)
		rcancel()
		if err != nil {
			break // waiting for the budget
		}
		held = append(held, read{b, ack})
	}
	if len(held) == 0 || len(held) >= 20 {
		t.Fatalf("read %d batches with the budget spent, want some and not all 20", len(held))
	}
	if used, limit := s.budget.Used(), int64(cfg.MaxInFlightBytes); used < limit {
		t.Fatalf("Read waited with %d of %d bytes in use", used, limit)
	}
	if v, _ := gaugeValue(t, reg, "vpcflow_source_in_flight_bytes", map[string]string{"source": "k"}); v <= 0 {
		t.Fatalf("vpcflow_source_in_flight_bytes = %v with batches in flight", v)
	}
	// Acknowledging lets the rest through, batch by batch.
	n := 0
	for _, r := range held {
		n += len(r.b.Records)
	}
	ackAll(t, held)
	for n < 200 {
		rs := readRecords(t, s, 10)
		n += 10
		ackAll(t, rs)
	}
	eventually(t, 5*time.Second, "in-flight bytes back to zero", func() bool { return s.budget.Used() == 0 })
	if v, _ := gaugeValue(t, reg, "vpcflow_source_in_flight_bytes", map[string]string{"source": "k"}); v != 0 {
		t.Fatalf("vpcflow_source_in_flight_bytes = %v with nothing in flight", v)
	}
}

// A batch is closed before a Kafka record whose lines would take it past
// batch_max_records: its record slice never grows past its capacity.
func TestBatchesDoNotOverflow(t *testing.T) {
	kc := newCluster(t, 1)
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, rec(0, linesValue(0, i*30, 30)))
	}
	kc.produce(recs...)
	cfg := testConfig(kc)
	cfg.BatchMaxRecords = 100
	s := newSource(t, cfg, "k", nil)
	rs := readRecords(t, s, 300)
	for _, r := range rs {
		if len(r.b.Records) > 100 || cap(r.b.Records) > 100 {
			t.Fatalf("batch of %d records, capacity %d, over batch_max_records 100", len(r.b.Records), cap(r.b.Records))
		}
	}
	ackAll(t, rs)
}
