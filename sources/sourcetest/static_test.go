package sourcetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// recordingTB collects what a Static reports, so that the test can check
// Static fails a test without failing this one.
type recordingTB struct {
	testing.TB
	errs     []string
	cleanups []func()
}

func (r *recordingTB) Helper()          {}
func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recordingTB) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestDoubleAckFailsTheTest(t *testing.T) {
	tb := &recordingTB{}
	s := New(tb, Lines("p", "a"))
	_, ack, err := s.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := ack(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if err := ack(context.Background(), nil); err == nil {
		t.Error("second ack returned nil")
	}
	tb.end()
	if len(tb.errs) != 1 || !strings.Contains(tb.errs[0], "batch 0 acknowledged twice") {
		t.Fatalf("test failures %q, want one for the double ack", tb.errs)
	}
	if _, _, doubles := s.Acks(); len(doubles) != 1 {
		t.Errorf("doubles = %v", doubles)
	}
}

func TestDoubleAckWithoutTBPanics(t *testing.T) {
	s := &Static{Batches: []*flowlog.Batch{Lines("p", "a")}}
	_, ack, _ := s.Read(context.Background())
	_ = ack(context.Background(), nil)
	defer func() {
		if recover() == nil {
			t.Error("second ack did not panic")
		}
	}()
	_ = ack(context.Background(), nil)
}

func TestUnacknowledgedBatchFailsTheTest(t *testing.T) {
	tb := &recordingTB{}
	s := New(tb, Lines("p", "a"), Lines("p", "b"), Lines("p", "c"))
	_, ack, _ := s.Read(context.Background())
	_ = ack(context.Background(), errors.New("nack"))
	_, _, _ = s.Read(context.Background())
	tb.end()
	if len(tb.errs) != 1 || !strings.Contains(tb.errs[0], "1 of 2 handed-out batches never acknowledged: [1]") {
		t.Fatalf("test failures %q", tb.errs)
	}
}

func TestAcknowledgedBatchIsPoisonedAndPreparedBatchesKept(t *testing.T) {
	prepared := Lines("p0", "first line", "second line")
	prepared.Fail("in", errors.New("corrupt"), []byte("garbage"), nil)
	s := New(t, prepared, Lines("p1", "x"))
	b, ack, err := s.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b == prepared || len(b.Records) != 2 || string(b.Records[1].Raw) != "second line" ||
		len(b.Failed) != 1 || string(b.Failed[0].Raw) != "garbage" || b.Partition != "p0" {
		t.Fatalf("handed out %+v", b)
	}
	// A stage appending to a record's Raw must not overwrite its neighbour.
	_ = append(b.Records[0].Raw, "!!!"...)
	if string(b.Records[1].Raw) != "second line" {
		t.Fatalf("neighbour overwritten: %q", b.Records[1].Raw)
	}
	kept, keptRaw := b.Records, b.Records[0].Raw // what a sink must not do
	if err := ack(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if string(keptRaw) != strings.Repeat(string(Poison), len("first line")) {
		t.Errorf("Raw after ack = %q, want poison", keptRaw)
	}
	if kept[0].Raw != nil || kept[0].Origin != nil || len(b.Records) != 0 || b.Partition != "" {
		t.Errorf("batch after ack not cleared: %+v", b)
	}
	if string(prepared.Records[0].Raw) != "first line" {
		t.Errorf("prepared batch changed: %q", prepared.Records[0].Raw)
	}
	b2, ack2, _ := s.Read(context.Background())
	if len(b2.Records) != 1 || string(b2.Records[0].Raw) != "x" || b2.Partition != "p1" {
		t.Fatalf("second batch %+v", b2)
	}
	_ = ack2(context.Background(), nil)
	if _, _, err := s.Read(context.Background()); !errors.Is(err, component.ErrEndOfInput) {
		t.Fatalf("Read after the last batch = %v", err)
	}
}
