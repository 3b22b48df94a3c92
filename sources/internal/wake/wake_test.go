package wake

import "testing"

func TestSignal(t *testing.T) {
	var s Signal
	s.Broadcast() // nobody waits: no channel, nothing to close

	a := s.Chan()
	if b := s.Chan(); b != a {
		t.Fatal("Chan made a second channel before a Broadcast")
	}
	select {
	case <-a:
		t.Fatal("channel closed before Broadcast")
	default:
	}
	s.Broadcast()
	select {
	case <-a:
	default:
		t.Fatal("Broadcast did not close the channel")
	}
	if c := s.Chan(); c == a {
		t.Fatal("Chan returned the closed channel after Broadcast")
	}
}
