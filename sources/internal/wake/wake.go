// Package wake is a broadcast wake-up for goroutines that wait, under a
// lock, for a state another goroutine changes: a waiter takes the channel
// with Chan while holding the lock, releases the lock and waits for the
// channel to close; the changer calls Broadcast while holding the lock.
package wake

// Signal is a channel made only when somebody waits and closed on the
// next Broadcast. The zero value is ready to use. It has no lock of its
// own: its methods are called with the lock that guards the waited-for
// state held.
type Signal struct {
	ch chan struct{}
}

// Chan returns the channel the next Broadcast closes.
func (s *Signal) Chan() <-chan struct{} {
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Broadcast wakes every goroutine waiting on a channel Chan returned.
// With nobody waiting it does nothing.
func (s *Signal) Broadcast() {
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
