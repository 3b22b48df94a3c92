package kinesissource

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/sources/internal/budget"
)

// Shards stop building batches while those in flight hold
// max_in_flight_bytes, and go on as they are acknowledged.
func TestMaxInFlightBytes(t *testing.T) {
	e := emulators(t)
	stream := e.createStream(t, 1)
	var puts [][2]string
	for i := range 40 {
		var ls []string
		for j := range 10 {
			ls = append(ls, fmt.Sprintf("r%03d line %d", i, j))
		}
		puts = append(puts, [2]string{"k", strings.Join(ls, "\n")})
	}
	e.put(t, stream, puts...)
	cfg := testConfig(stream)
	cfg.BatchMaxRecords = 10 // one Kinesis record a batch
	cfg.MaxInFlightBytes = int(3 * 10 * budget.RecordSize)
	s := e.source(t, cfg, srcOpts{worker: "w"})

	var acks []func()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, ack, err := s.Read(ctx)
		cancel()
		if err != nil {
			break
		}
		acks = append(acks, func() { ack(context.Background(), nil) })
		if len(acks) > 40 {
			break
		}
	}
	// A few batches fill the budget (a batch's slice may have room for
	// more than its 10 records); one more may be built (the check is
	// before a batch) and wait to be handed out.
	if len(acks) < 1 || len(acks) > 4 {
		t.Fatalf("read %d batches without acknowledging, want 1 to 4 of 40 (budget of 3 × 10 records)", len(acks))
	}
	if used := s.budget.Used(); used < int64(cfg.MaxInFlightBytes) {
		t.Fatalf("reading stopped with %d of %d bytes in use", used, cfg.MaxInFlightBytes)
	}
	n := len(acks)
	for _, a := range acks {
		a()
	}
	for n < 40 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, ack, err := s.Read(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Read after %d of 40 batches: %v", n, err)
		}
		n++
		ack(context.Background(), nil)
	}
	if used := s.budget.Used(); used != 0 {
		t.Fatalf("%d bytes in use with every batch acknowledged", used)
	}
}
