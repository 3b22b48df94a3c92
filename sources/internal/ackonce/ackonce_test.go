package ackonce

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestFunc(t *testing.T) {
	var calls atomic.Int32
	var got error
	ack := Func(func(_ context.Context, err error) { calls.Add(1); got = err })
	nack := errors.New("sink failed")
	if err := ack(context.Background(), nack); err != nil {
		t.Fatalf("first ack = %v", err)
	}
	if err := ack(context.Background(), nil); !errors.Is(err, ErrTwice) {
		t.Fatalf("second ack = %v, want ErrTwice", err)
	}
	if calls.Load() != 1 || got != nack {
		t.Errorf("f called %d times with %v, want once with the first error", calls.Load(), got)
	}
}

func TestGuardConcurrent(t *testing.T) {
	var g Guard
	var first atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if g.Try() == nil {
				first.Add(1)
			}
		})
	}
	wg.Wait()
	if first.Load() != 1 {
		t.Errorf("%d calls got through, want 1", first.Load())
	}
}
