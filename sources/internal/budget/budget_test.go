package budget

import (
	"context"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

func TestWaitBlocksUntilReleased(t *testing.T) {
	b := New(100, nil)
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.Charge(60)
	b.Charge(60) // a charge may overshoot
	if got := b.Free(); got != 0 {
		t.Fatalf("Free = %d, want 0", got)
	}
	done := make(chan error, 1)
	go func() { done <- b.Wait(context.Background()) }()
	select {
	case <-done:
		t.Fatal("Wait returned with the budget spent")
	case <-time.After(20 * time.Millisecond):
	}
	b.Release(10) // 110 in use: still spent
	select {
	case <-done:
		t.Fatal("Wait returned at 110 of 100 bytes")
	case <-time.After(20 * time.Millisecond):
	}
	b.Release(60)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return once bytes were released")
	}
	if got := b.Used(); got != 50 {
		t.Fatalf("Used = %d, want 50", got)
	}
}

func TestWaitContext(t *testing.T) {
	b := New(1, nil)
	b.Charge(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := b.Wait(ctx); err == nil {
		t.Fatal("Wait returned nil with the budget spent and ctx done")
	}
}

func TestUnlimited(t *testing.T) {
	b := New(0, nil)
	b.Charge(1 << 40)
	if err := b.Wait(context.Background()); err != nil || b.Free() <= 0 || b.Limit() != 0 {
		t.Fatalf("unlimited budget: Wait %v, Free %d, Limit %d", err, b.Free(), b.Limit())
	}
}

func TestCost(t *testing.T) {
	bt := &flowlog.Batch{Records: make([]flowlog.Record, 2, 10), Buf: make([]byte, 5, 64)}
	if got, want := Cost(bt, 7), 10*RecordSize+64+7; got != want {
		t.Fatalf("Cost = %d, want %d", got, want)
	}
}
