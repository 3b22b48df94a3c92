package kinesissource

import (
	"testing"
)

func pos(seq string, sub int64) position { return position{Seq: seq, Sub: sub} }

func TestTrackerContiguous(t *testing.T) {
	finished := 0
	tr := newTracker(position{Seq: cpTrimHorizon}, func() { finished++ })
	if _, ok := tr.checkpoint(); ok {
		t.Fatal("checkpoint before any ack")
	}
	a, _ := tr.add(pos("10", 0), false)
	b, _ := tr.add(pos("20", 3), false)
	c, _ := tr.add(pos("30", 0), false)
	tr.ack(b, true)
	if _, ok := tr.checkpoint(); ok {
		t.Fatal("checkpoint moved past an unacknowledged batch")
	}
	tr.ack(a, true)
	if cp, _ := tr.checkpoint(); cp != pos("20", 3) {
		t.Fatalf("checkpoint = %v, want 20/3", cp)
	}
	if n := tr.outstanding(); n != 1 {
		t.Fatalf("outstanding = %d, want 1", n)
	}
	tr.ack(a, true) // late duplicate: ignored
	tr.setEnded()
	if tr.finished() || finished != 0 {
		t.Fatal("finished with a batch pending")
	}
	tr.ack(c, true)
	if !tr.finished() || finished != 1 {
		t.Fatalf("finished = %v (notified %d), want true once", tr.finished(), finished)
	}
	if cp, _ := tr.checkpoint(); cp != pos("30", 0) {
		t.Fatalf("checkpoint = %v, want 30", cp)
	}
}

func TestTrackerStartsAtCheckpoint(t *testing.T) {
	tr := newTracker(pos("5", 2), nil)
	if cp, ok := tr.checkpoint(); !ok || cp != pos("5", 2) {
		t.Fatalf("checkpoint = %v %v", cp, ok)
	}
	done, _ := tr.add(pos("6", 0), true)
	_ = done
	if cp, _ := tr.checkpoint(); cp != pos("6", 0) {
		t.Fatalf("pre-acknowledged batch: checkpoint = %v", cp)
	}
}

func TestTrackerNackRewinds(t *testing.T) {
	tr := newTracker(position{Seq: cpLatest}, nil)
	a, _ := tr.add(pos("1", 0), false)
	b, _ := tr.add(pos("2", 0), false)
	c, _ := tr.add(pos("3", 0), false)
	tr.ack(a, true)
	tr.ack(b, false)
	if _, ok := tr.add(pos("4", 0), false); ok {
		t.Fatal("add accepted while a rewind is pending")
	}
	p, ok, rewind := tr.takeRewind()
	if !rewind || !ok || p != pos("1", 0) {
		t.Fatalf("takeRewind = %v %v %v, want 1 true true", p, ok, rewind)
	}
	if _, _, again := tr.takeRewind(); again {
		t.Fatal("rewind reported twice")
	}
	tr.ack(c, true) // batch of before the rewind: ignored
	if cp, _ := tr.checkpoint(); cp != pos("1", 0) {
		t.Fatalf("checkpoint = %v, want 1", cp)
	}
	b2, ok := tr.add(pos("2", 0), false)
	if !ok {
		t.Fatal("add refused after rewind")
	}
	tr.ack(b2, true)
	if cp, _ := tr.checkpoint(); cp != pos("2", 0) {
		t.Fatalf("checkpoint = %v, want 2", cp)
	}
}

func TestTrackerNackBeforeAnyAck(t *testing.T) {
	tr := newTracker(position{Seq: cpTrimHorizon}, nil)
	a, _ := tr.add(pos("1", 0), false)
	tr.ack(a, false)
	if _, ok, rewind := tr.takeRewind(); !rewind || ok {
		t.Fatalf("rewind = %v, acked = %v; want rewind to the lease start", rewind, ok)
	}
}

func TestTrackerDead(t *testing.T) {
	tr := newTracker(position{Seq: cpTrimHorizon}, func() { t.Error("notified after kill") })
	a, _ := tr.add(pos("1", 0), false)
	tr.setEnded()
	tr.kill()
	tr.ack(a, true)
	if _, ok := tr.checkpoint(); ok || tr.finished() {
		t.Fatal("dead tracker moved")
	}
}

func TestCmpSeq(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"49590338271490256608559692538361571095921575989136588898", "49590338271490256608559692538361571095921575989136588898", 0},
		{"9", "10", -1},
		{"21", "12", 1},
		{"100", "99", 1},
	} {
		if got := cmpSeq(tc.a, tc.b); got != tc.want {
			t.Errorf("cmpSeq(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// Every batch sent to Read is settled once: acknowledged, discarded by Read
// or taken back by the reader; idle closes then.
func TestTrackerIdle(t *testing.T) {
	tr := newTracker(pos("1", 0), nil)
	isClosed := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	if !isClosed(tr.idle()) {
		t.Fatal("idle with nothing sent is not closed")
	}
	a, _ := tr.add(pos("2", 0), false)
	b, _ := tr.add(pos("3", 0), false)
	tr.add(pos("4", 0), true) // nothing to hand out: not sent
	c, _ := tr.add(pos("5", 0), false)
	idle := tr.idle()
	if n := tr.inflight(); n != 3 {
		t.Fatalf("inflight = %d, want 3", n)
	}
	if !tr.handout(a) || !tr.handout(b) {
		t.Fatal("handout refused")
	}
	tr.unsend() // c: the reader stopped before Read took it
	tr.ack(a, true)
	if isClosed(idle) {
		t.Fatal("idle with b unacknowledged")
	}
	tr.ack(b, false) // a nack settles too
	if !isClosed(idle) || tr.inflight() != 0 {
		t.Fatalf("not idle after every batch settled (inflight %d)", tr.inflight())
	}
	if cp, _ := tr.checkpoint(); cp != pos("2", 0) {
		t.Fatalf("checkpoint = %v, want 2", cp)
	}
	_ = c

	// A batch that no longer counts is settled by handout.
	tr2 := newTracker(pos("1", 0), nil)
	d, _ := tr2.add(pos("2", 0), false)
	tr2.kill()
	if tr2.handout(d) {
		t.Fatal("handout of a killed tracker's batch")
	}
	if tr2.inflight() != 0 {
		t.Fatal("discarded batch still in flight")
	}
}
