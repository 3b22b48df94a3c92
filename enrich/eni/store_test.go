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

// Three keys in one pair of hot slots: the map answers for the one not in
// the pair, removing any leaves the others reachable, and a new entry for
// a key replaces the old one in its slot.
func TestHotSlotCollision(t *testing.T) {
	var evicted int
	s := newStore(10, time.Hour, time.Minute, func() { evicted++ })
	a := mkKey(111111111111, 1, 17, 1)
	ks := []key{a}
	for i := uint64(2); len(ks) < 3; i++ {
		if k := mkKey(111111111111, i, 17, 1); s.slot(k)>>1 == s.slot(a)>>1 {
			ks = append(ks, k)
		}
	}
	b, c := ks[1], ks[2]
	now := time.Now()
	ea, eb, ec := &flowlog.ENI{InterfaceID: "a"}, &flowlog.ENI{InterfaceID: "b"}, &flowlog.ENI{InterfaceID: "c"}
	s.put(a, ea, now)
	s.put(b, eb, now)
	s.put(c, ec, now)
	get := func(k key) *flowlog.ENI {
		s.mu.RLock()
		defer s.mu.RUnlock()
		if ent := s.lookupLocked(k); ent != nil {
			return ent.eni
		}
		return nil
	}
	inHot := func(k key) bool { return s.hotCopy(k) != nil }
	if get(a) != ea || get(b) != eb || get(c) != ec {
		t.Fatal("colliding keys not all found")
	}
	var out key // the key that lost its slot
	n := 0
	for _, k := range ks {
		if !inHot(k) {
			out = k
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of 3 keys outside the hot pair", n)
	}
	s.pos.Remove(out)
	if get(out) != nil || evicted != 1 {
		t.Fatalf("after removing the key in the map only: %v, evicted=%d", get(out), evicted)
	}
	s.pos.Remove(c) // c was put last: it holds a slot
	if get(c) != nil || get(a) != ea && out != a || get(b) != eb && out != b {
		t.Fatalf("after removing c: a=%v b=%v c=%v", get(a), get(b), get(c))
	}
	s.put(c, ec, now)
	// A newer entry for a key takes its slot, the old one is not found.
	ec2 := &flowlog.ENI{InterfaceID: "c2"}
	s.put(c, ec2, now)
	if get(c) != ec2 {
		t.Fatalf("replaced entry: %v", get(c))
	}
	s.pos.Remove(c)
	if get(c) != nil {
		t.Fatalf("removed entry still found: %v", get(c))
	}
	// A negative answer replacing a positive one.
	s.put(b, nil, now)
	s.mu.RLock()
	ent := s.lookupLocked(b)
	s.mu.RUnlock()
	if ent == nil || ent.eni != nil || s.neg.Len() != 1 {
		t.Fatalf("negative entry %+v, negative lru %d", ent, s.neg.Len())
	}
}

// The hot table grows with the entries, up to twice the cache size, and
// every entry stays reachable across the growth.
func TestHotTableGrows(t *testing.T) {
	s := newStore(3000, time.Hour, time.Minute, nil)
	if len(s.hot) != hotMin {
		t.Fatalf("empty store has %d hot slots", len(s.hot))
	}
	now := time.Now()
	for i := range 3000 {
		s.put(mkKey(111111111111, uint64(i), 17, 1), &flowlog.ENI{}, now)
	}
	if want := hotSize(3000); len(s.hot) != want || want != 8192 {
		t.Fatalf("%d hot slots, want %d", len(s.hot), want)
	}
	inHot := 0
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := range 3000 {
		k := mkKey(111111111111, uint64(i), 17, 1)
		if s.lookupLocked(k) == nil {
			t.Fatalf("entry %d lost", i)
		}
		if s.hotCopy(k) != nil {
			inHot++
		}
	}
	if inHot < 2800 {
		t.Errorf("only %d of 3000 entries in their hot pair", inHot)
	}
}
