package eni

import (
	"testing"
	"time"
	"unsafe"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

func TestEntryFitsACacheLine(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n > 64 {
		t.Fatalf("entry is %d bytes", n)
	}
}

// Two keys in one hot slot: the map answers for the one not in the slot,
// and removing either leaves the other reachable.
func TestHotSlotCollision(t *testing.T) {
	var evicted int
	s := newStore(10, time.Hour, time.Minute, func() { evicted++ })
	a := mkKey(111111111111, 1, 17, 1)
	var b key
	for i := uint64(2); ; i++ {
		b = mkKey(111111111111, i, 17, 1)
		if s.slot(b) == s.slot(a) {
			break
		}
	}
	now := time.Now()
	ea, eb := &flowlog.ENI{InterfaceID: "a"}, &flowlog.ENI{InterfaceID: "b"}
	s.put(a, ea, now)
	s.put(b, eb, now)
	get := func(k key) *flowlog.ENI {
		s.mu.RLock()
		defer s.mu.RUnlock()
		if ent := s.lookupLocked(k); ent != nil {
			return ent.eni
		}
		return nil
	}
	if get(a) != ea || get(b) != eb {
		t.Fatal("colliding keys not both found")
	}
	s.pos.Remove(b) // b holds the slot
	if get(b) != nil || get(a) != ea || evicted != 1 {
		t.Fatalf("after removing b: a=%v b=%v evicted=%d", get(a), get(b), evicted)
	}
	s.put(b, eb, now)
	s.pos.Remove(a) // a is only in the map
	if get(a) != nil || get(b) != eb {
		t.Fatalf("after removing a: a=%v b=%v", get(a), get(b))
	}
	// A negative answer replacing a positive one.
	s.put(b, nil, now)
	s.mu.RLock()
	ent := s.lookupLocked(b)
	s.mu.RUnlock()
	if ent == nil || ent.eni != nil || s.pos.Len() != 0 || s.neg.Len() != 1 {
		t.Fatalf("negative entry %+v, lru %d/%d", ent, s.pos.Len(), s.neg.Len())
	}
}
