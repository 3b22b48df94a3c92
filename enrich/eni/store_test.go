package eni

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/vpcflow/vpcflow/enrich/eni/ec2stub"

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
	s := newStore(10, time.Hour, time.Hour, time.Minute, func() { evicted++ })
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
	s := newStore(3000, time.Hour, time.Hour, time.Minute, nil)
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

// checkHot verifies that every hot copy mirrors a current entry of its key
// and that every entry is found with its own content.
func checkHot(t *testing.T, s *store) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	same := func(c, e *entry) bool {
		return c.k == e.k && c.eni == e.eni && c.expires == e.expires && c.subnet == e.subnet &&
			c.v4 == e.v4 && c.lo4 == e.lo4 && c.hi4 == e.hi4 && c.nv4 == e.nv4 && c.all4 == e.all4
	}
	for i := range s.hot {
		c := &s.hot[i]
		if c.k == (key{}) {
			continue
		}
		e := s.entries[c.k]
		if e == nil || !same(c, e) {
			t.Fatalf("hot slot %d holds %+v, entry %+v", i, c, e)
		}
	}
	for k, e := range s.entries {
		if got := s.lookupLocked(k); got == nil || !same(got, e) {
			t.Fatalf("entry %+v found as %+v", e, got)
		}
	}
}

// Puts, replacements (positive ↔ negative), evictions by size and removals,
// with subnets whose bounds widen: the hot copies stay exact.
func TestHotCopiesFollowEntries(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := newStore(300, time.Hour, time.Hour, time.Minute, nil)
	now := time.Now()
	for i := range 5000 {
		id := uint64(rng.IntN(600))
		k := mkKey(111111111111, id, 17, 1)
		switch op := rng.IntN(10); {
		case op == 0:
			s.put(k, nil, now)
		case op == 1:
			s.pos.Remove(k)
			s.neg.Remove(k)
		default:
			sn := id % 7
			e := &flowlog.ENI{SubnetID: fmt.Sprintf("subnet-%d", sn), Addresses: []netip.Addr{
				netip.AddrFrom4([4]byte{10, byte(sn), byte(id >> 8), byte(id)})}}
			if rng.IntN(3) == 0 { // a secondary far away widens the subnet's bounds
				e.Addresses = append(e.Addresses, netip.AddrFrom4([4]byte{100, 64 + byte(rng.IntN(60)), byte(sn), byte(id)}))
			}
			s.put(k, e, now.Add(time.Duration(i)))
		}
		if i%250 == 0 {
			checkHot(t, s)
		}
	}
	checkHot(t, s)
	if len(s.hot) < 512 {
		t.Errorf("hot table did not grow: %d slots", len(s.hot))
	}
}

// Batches are enriched while other goroutines put and evict entries (a
// cache much smaller than the set of interfaces): every record gets its
// own interface or none, never another's (run with -race).
func TestHotCopiesUnderChurn(t *testing.T) {
	enis := ec2stub.Synthetic(acctA, "us-east-1", 400)
	e := newEnv(t, enis, func(c *Config) { c.CacheSize = 100 })
	s := e.stage
	region, _ := s.regions.idString("us-east-1")
	keyOf := func(i int) key {
		lo, hi, _ := parseID([]byte(enis[i].InterfaceID))
		return mkKey(parseAccount([]byte(acctA)), lo, hi, region)
	}
	stop := make(chan struct{})
	var writer, wg sync.WaitGroup
	writer.Go(func() {
		rng := rand.New(rand.NewPCG(5, 6))
		for {
			select {
			case <-stop:
				return
			default:
			}
			i := rng.IntN(len(enis))
			s.store.put(keyOf(i), enis[i], time.Now())
		}
	})
	var bad atomic.Int64
	for w := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range 200 {
				recs := make([]flowlog.Record, 64)
				for j := range recs {
					i := rng.IntN(len(enis))
					recs[j] = rec(t, v2, line2(acctA, enis[i].InterfaceID, ec2stub.SyntheticAddr(i).String(), "203.0.113.1", "OK"), nil)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
				_ = s.Process(ctx, &flowlog.Batch{Records: recs})
				cancel()
				for _, r := range recs {
					if r.ENI != nil && r.ENI.InterfaceID != string(r.Text(flowlog.FInterfaceID)) {
						bad.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	writer.Wait()
	if n := bad.Load(); n != 0 {
		t.Fatalf("%d records enriched with another interface", n)
	}
	checkHot(t, s.store)
}
