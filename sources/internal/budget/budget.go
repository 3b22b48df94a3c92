// Package budget bounds the bytes a source holds in memory: the payloads
// and decoded records of the batches it has read and not yet seen
// acknowledged. A source charges a batch's bytes when it builds it,
// releases them when the batch is acknowledged or dropped, and waits
// before reading more while the budget is spent.
package budget

import (
	"context"
	"sync"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sources/internal/wake"
)

// RecordSize is the size of one flowlog.Record in a batch's slice.
const RecordSize = int64(unsafe.Sizeof(flowlog.Record{}))

// Cost is what a batch holds: its record slice (capacity, not length)
// and its own buffer, plus pinned bytes of payload its records point into
// but that the batch does not own (a Kafka fetch buffer, a Kinesis
// record's data).
func Cost(b *flowlog.Batch, pinned int) int64 {
	return int64(cap(b.Records))*RecordSize + int64(cap(b.Buf)) + int64(pinned)
}

// Bytes is a byte budget. Charges never block and may overshoot the limit
// (a batch is never split for it); Wait blocks until the bytes in use are
// below the limit. The zero value is not usable; build it with New.
type Bytes struct {
	limit int64
	gauge prometheus.Gauge // bytes in use, when set

	mu   sync.Mutex
	used int64
	wake wake.Signal // broadcast when bytes are released
}

// New returns a budget of limit bytes; limit <= 0 means no limit. When
// gauge is not nil it follows the bytes in use.
func New(limit int64, gauge prometheus.Gauge) *Bytes { return &Bytes{limit: limit, gauge: gauge} }

// Limit returns the budget's size (0: unlimited).
func (b *Bytes) Limit() int64 {
	if b.limit <= 0 {
		return 0
	}
	return b.limit
}

// Charge adds n bytes in use.
func (b *Bytes) Charge(n int64) {
	b.mu.Lock()
	b.used += n
	if b.gauge != nil {
		b.gauge.Set(float64(b.used))
	}
	b.mu.Unlock()
}

// Release returns n bytes charged earlier and wakes the waiters.
func (b *Bytes) Release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.used < 0 {
		b.used = 0 // never below zero, whatever a caller got wrong
	}
	if b.gauge != nil {
		b.gauge.Set(float64(b.used))
	}
	b.wake.Broadcast()
	b.mu.Unlock()
}

// Used returns the bytes in use.
func (b *Bytes) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Free returns the bytes left below the limit (never negative); with no
// limit, a very large number.
func (b *Bytes) Free() int64 {
	if b.limit <= 0 {
		return 1 << 62
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(b.limit-b.used, 0)
}

// Wait blocks until the bytes in use are below the limit or ctx is done,
// in which case it returns ctx's error.
func (b *Bytes) Wait(ctx context.Context) error {
	if b.limit <= 0 {
		return nil
	}
	for {
		b.mu.Lock()
		if b.used < b.limit {
			b.mu.Unlock()
			return nil
		}
		ch := b.wake.Chan()
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
