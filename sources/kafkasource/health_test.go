package kafkasource

import (
	"strings"
	"testing"
	"time"
)

func TestHealthyAfterFetchesFailForLong(t *testing.T) {
	s := &Source{}
	if err := s.Healthy(); err != nil {
		t.Fatalf("a fresh source is unhealthy: %v", err)
	}
	msg := "flows/0: broker unreachable"
	s.lastFetchErr.Store(&msg)
	s.failingSince.Store(time.Now().Add(-time.Minute).UnixNano())
	if err := s.Healthy(); err != nil {
		t.Fatalf("one minute of failures is already unhealthy: %v", err)
	}
	s.failingSince.Store(time.Now().Add(-3 * time.Minute).UnixNano())
	if err := s.Healthy(); err == nil || !strings.Contains(err.Error(), "broker unreachable") {
		t.Fatalf("Healthy = %v, want the fetch error", err)
	}
	s.failingSince.Store(0) // a fetch succeeded
	if err := s.Healthy(); err != nil {
		t.Fatalf("Healthy after recovery = %v", err)
	}
}
