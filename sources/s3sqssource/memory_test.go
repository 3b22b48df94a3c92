package s3sqssource

import (
	"bytes"
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestLargeObjectBoundedMemory streams a 75 MB object (the largest AWS
// writes; 25 MB under the race detector) and samples the heap at every batch: the source must hold a few
// batches, not the object.
func TestLargeObjectBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("75 MB object")
	}
	e := newEnv(t)
	const key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/11/25/big.log"
	size := 75 << 20
	if raceEnabled {
		// Under the race detector the same bound is checked on 25 MB, to
		// keep the package's tests well under a minute.
		size = 25 << 20
	}
	lines := 0
	func() {
		var block bytes.Buffer
		for i := range 1000 {
			block.WriteString(flowLine(i))
			block.WriteByte('\n')
		}
		var b bytes.Buffer
		b.Grow(size + block.Len())
		b.WriteString(header + "\n")
		for b.Len() < size {
			b.Write(block.Bytes())
		}
		lines = bytes.Count(b.Bytes(), []byte("\n"))
		e.put(key, b.Bytes())
	}()
	e.send(s3Event(key))

	// A low GC target makes HeapInuse track live memory closely.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse

	s, reg := e.source(e.config(nil)) // default batches: 4096 records, 1 MiB
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var peak uint64
	got := 0
	for n := 0; got < lines; n++ {
		b, ack, err := s.Read(ctx)
		if err != nil {
			t.Fatalf("read after %d of %d lines: %v", got, lines, err)
		}
		got += len(b.Records)
		if len(b.Failed) > 0 {
			t.Fatalf("failures: %v", b.Failed[0].Err)
		}
		if n%4 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		ack(ctx, nil)
	}
	waitFor(t, "deleted", 10*time.Second, func() bool { return e.depth(e.queueURL) == 0 })
	grow := int64(peak) - int64(base)
	t.Logf("read in %v: %d lines, heap in use %d MiB before, peak %d MiB (+%d MiB)", time.Since(start), lines, base>>20, peak>>20, grow>>20)
	// Reading the object whole would take its 75 MiB plus ~330 MiB of
	// records; streaming takes a few batches (~3 MiB each) plus GC slack.
	if grow > 64<<20 {
		t.Errorf("heap grew by %d MiB while streaming a %d MiB object; want under 64 MiB", grow>>20, size>>20)
	}
	if c := counter(t, reg, "vpcflow_s3sqs_object_bytes_total"); c < float64(size) {
		t.Errorf("bytes read = %v", c)
	}
}
