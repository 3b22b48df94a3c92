package contiguous

import (
	"math/rand/v2"
	"testing"
)

func TestInOrderAndOutOfOrder(t *testing.T) {
	var tr Tracker[int]
	if _, ok := tr.Acked(); ok {
		t.Fatal("zero tracker has an acknowledged position")
	}
	a, b, c := tr.Add(10, false), tr.Add(20, false), tr.Add(30, false)
	if tr.Ack(b) {
		t.Error("ack of the second batch advanced past the unacknowledged first")
	}
	if _, ok := tr.Acked(); ok {
		t.Error("acknowledged position set while the first batch is pending")
	}
	if got := tr.Outstanding(); got != 2 {
		t.Errorf("outstanding = %d, want 2", got)
	}
	if !tr.Ack(a) {
		t.Error("ack of the first batch did not advance")
	}
	if pos, ok := tr.Acked(); !ok || pos != 20 {
		t.Errorf("acked = %d %v, want 20 (first two)", pos, ok)
	}
	if tr.Ack(a) || tr.Ack(b) {
		t.Error("a second ack advanced")
	}
	tr.Ack(c)
	if pos, _ := tr.Acked(); pos != 30 || tr.Pending() != 0 {
		t.Errorf("acked = %d pending %d, want 30 and none", pos, tr.Pending())
	}
}

func TestAddDone(t *testing.T) {
	tr := New(5)
	a := tr.Add(6, false)
	tr.Add(7, true)
	if pos, _ := tr.Acked(); pos != 5 {
		t.Errorf("acked = %d, want the start 5", pos)
	}
	tr.Ack(a)
	if pos, _ := tr.Acked(); pos != 7 {
		t.Errorf("acked = %d, want 7 (the done batch follows)", pos)
	}
	tr.Add(8, true)
	if pos, _ := tr.Acked(); pos != 8 {
		t.Errorf("acked = %d, want 8", pos)
	}
}

func TestReset(t *testing.T) {
	var tr Tracker[int]
	a := tr.Add(1, false)
	b := tr.Add(2, false)
	tr.Ack(a)
	tr.Reset()
	if !tr.Stale(b) || tr.Pending() != 0 {
		t.Fatal("reset left the pending batch")
	}
	if tr.Ack(b) {
		t.Error("a stale ticket advanced")
	}
	if pos, _ := tr.Acked(); pos != 1 {
		t.Errorf("acked = %d, want 1 (kept through the reset)", pos)
	}
	c := tr.Add(2, false)
	tr.Ack(c)
	if pos, _ := tr.Acked(); pos != 2 {
		t.Errorf("acked = %d, want 2", pos)
	}
	if !tr.Stale(Ticket{}) {
		t.Error("the zero ticket is not stale")
	}
}

// TestTruncate: a nacked batch and those after it are forgotten; batches
// before it stay pending and still commit; new batches take their place.
func TestTruncate(t *testing.T) {
	var tr Tracker[int]
	a, b, c, d := tr.Add(10, false), tr.Add(20, false), tr.Add(30, false), tr.Add(40, false)
	tr.Ack(d)
	if !tr.Truncate(c) {
		t.Fatal("truncate of a pending batch reported stale")
	}
	if !tr.Stale(c) || !tr.Stale(d) || tr.Stale(a) || tr.Stale(b) {
		t.Fatalf("stale a %v b %v c %v d %v, want only c and d", tr.Stale(a), tr.Stale(b), tr.Stale(c), tr.Stale(d))
	}
	if tr.Truncate(d) {
		t.Error("truncate of a stale ticket reported done")
	}
	if got := tr.Outstanding(); got != 2 {
		t.Errorf("outstanding = %d, want 2", got)
	}
	c2 := tr.Add(30, false) // the redelivery of c reuses c's index
	if tr.Ack(c) {
		t.Error("the forgotten ticket advanced")
	}
	if tr.Stale(c2) {
		t.Error("the new ticket is stale")
	}
	tr.Ack(c2)
	tr.Ack(b)
	if _, ok := tr.Acked(); ok {
		t.Error("acknowledged position set while the first batch is pending")
	}
	tr.Ack(a)
	if pos, _ := tr.Acked(); pos != 30 || tr.Pending() != 0 {
		t.Errorf("acked = %d pending %d, want 30 and none", pos, tr.Pending())
	}
	// truncating the first pending batch leaves nothing pending
	e := tr.Add(50, false)
	tr.Add(60, false)
	tr.Truncate(e)
	if tr.Pending() != 0 || !tr.Stale(e) {
		t.Errorf("pending %d after truncating from the first", tr.Pending())
	}
	if pos, _ := tr.Acked(); pos != 30 {
		t.Errorf("acked = %d, want 30 (kept through the truncation)", pos)
	}
}

// TestRandomOrder acks batches in random order and checks the invariant:
// the acknowledged position is the end of the longest acknowledged prefix.
func TestRandomOrder(t *testing.T) {
	for round := range 50 {
		r := rand.New(rand.NewPCG(uint64(round), 7))
		var tr Tracker[int]
		n := 1 + r.IntN(200)
		tks := make([]Ticket, n)
		for i := range tks {
			tks[i] = tr.Add(i, false)
		}
		done := make([]bool, n)
		for _, i := range r.Perm(n) {
			tr.Ack(tks[i])
			done[i] = true
			want := -1
			for want+1 < n && done[want+1] {
				want++
			}
			got, ok := tr.Acked()
			if want < 0 && ok || want >= 0 && got != want {
				t.Fatalf("round %d: acked = %d %v, want %d", round, got, ok, want)
			}
		}
		if tr.Pending() != 0 || tr.Outstanding() != 0 {
			t.Fatalf("round %d: %d pending after every ack", round, tr.Pending())
		}
	}
}
