package eni

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// entry is one cached answer: an interface EC2 described (eni != nil) or
// one it does not know (eni == nil).
//
// The fields fit one 64-byte cache line.
type entry struct {
	k       key
	eni     *flowlog.ENI
	expires int64 // unix nanoseconds
	// subnet indexes the addresses of the cached interfaces of eni's subnet.
	subnet *subnet
	// v4 holds the first nv4 IPv4 addresses of eni inline, so that most
	// direction checks do not read eni; all4 says there are no others.
	v4 [2]uint32
	// lo4 and hi4 copy the bounds of the subnet's IPv4 addresses (kept in
	// step under mu), so that a peer outside the subnet is told without
	// reading the subnet.
	lo4, hi4 uint32
	// touched is when (unix seconds) the LRU's recency of this entry was
	// last refreshed.
	touched atomic.Uint32
	nv4     uint8
	all4    bool
}

// newEntry builds the entry of e (nil: negative).
func newEntry(e *flowlog.ENI, expires int64) *entry {
	ent := &entry{eni: e, expires: expires, all4: true}
	if e == nil {
		return ent
	}
	for _, a := range e.Addresses {
		if !a.Is4() {
			continue
		}
		if int(ent.nv4) == len(ent.v4) {
			ent.all4 = false
			break
		}
		ent.v4[ent.nv4] = v4(a)
		ent.nv4++
	}
	return ent
}

// has reports whether a is one of the interface's addresses.
func (ent *entry) has(a netip.Addr) bool {
	if a.Is4() && ent.all4 {
		return ent.mine4(v4(a)) != 0
	}
	return hasAddr(ent.eni.Addresses, a)
}

// mine4 is 1 when the IPv4 address of value x is one of the inline ones
// (all of the interface's when all4), else 0; without branches.
func (ent *entry) mine4(x uint32) uint8 {
	return b2u(x == ent.v4[0])&b2u(ent.nv4 > 0) | b2u(x == ent.v4[1])&b2u(ent.nv4 > 1)
}

// subnet indexes the addresses of the cached interfaces of one subnet, to
// tell whether the peer of a flow is an interface of the same subnet. IPv4
// addresses are keyed by their value (a cheaper map than one keyed by
// netip.Addr); lo4 and hi4 bound them (they only widen), so that the common
// case, a peer outside the subnet, is decided without a map look-up.
type subnet struct {
	addrs4   map[uint32]*entry
	addrs6   map[netip.Addr]*entry
	lo4, hi4 uint32
}

func (sn *subnet) get(a netip.Addr) *entry {
	if a.Is4() {
		return sn.addrs4[v4(a)]
	}
	return sn.addrs6[a]
}

func (sn *subnet) set(a netip.Addr, ent *entry) {
	if a.Is4() {
		sn.addrs4[v4(a)] = ent
	} else {
		sn.addrs6[a] = ent
	}
}

func (sn *subnet) remove(a netip.Addr) {
	if a.Is4() {
		delete(sn.addrs4, v4(a))
	} else {
		delete(sn.addrs6, a)
	}
}

func (sn *subnet) len() int { return len(sn.addrs4) + len(sn.addrs6) }

// v4 is the value of an IPv4 address (a.Is4()); small enough to inline.
func v4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// peer reports whether a is an address of a live interface of ent's
// subnet. The caller holds store.mu (read).
func (ent *entry) peer(a netip.Addr, now int64) bool {
	if a.Is4() {
		return ent.peer4(v4(a), now)
	}
	if ent.subnet == nil {
		return false
	}
	p := ent.subnet.addrs6[a]
	return p != nil && p.expires >= now
}

// peer4 is peer for the IPv4 address of value x.
func (ent *entry) peer4(x uint32, now int64) bool {
	if x < ent.lo4 || x > ent.hi4 || ent.subnet == nil {
		return false
	}
	p := ent.subnet.addrs4[x]
	return p != nil && p.expires >= now
}

// store is the cache. Two expirable LRUs (hashicorp/golang-lru/v2) own the
// policy: the size bound, the TTLs and eviction, one for interfaces EC2
// described (ttl) and one for interfaces it does not know (negative_ttl).
// entries mirrors their content in a plain map guarded by an RWMutex, and
// hot holds copies of the same entries in slots chosen by a hash of their
// key, so that the hit path costs one cache line read with no lock per
// record (Process holds the read lock for a whole batch), no pointer to
// follow and no clock read per record (the expiry time is kept in the
// entry and compared with the batch's time). The LRU callbacks keep
// entries, hot and the address index in step.
//
// A hit does not move the entry to the front of its LRU every time (that
// takes the LRU's mutex and reads the clock): it does so at most once per
// touchEvery, which keeps the LRU order right to within that time.
//
// Lock order: fetcher.mu → store.mu; LRU lock → store.mu (callbacks).
// store.mu is never held while taking another lock.
type store struct {
	mu      sync.RWMutex
	entries map[key]*entry
	subnets map[string]*subnet
	// hot is a two-way set-associative table of entry copies (one
	// 64-byte line each; an empty slot has the zero key, which no record
	// has: a key always names a region): a hit reads the slot of its hash,
	// else the other of the pair. When both slots of a pair are taken
	// the newest entry replaces the first; the map answers for the
	// entries that lost their slot. A copy differs from its entry only
	// in touched. hot grows with the number of entries (two slots an
	// entry, up to hotMax), so that a small cache keeps a small table in
	// the processor's caches. Pointers to slots are valid while mu is
	// held: they are never handed out beyond it.
	hot     []entry
	hotMask uint64
	hotMax  int

	pos, neg *expirable.LRU[key, *entry]
	// capacity is the positive LRU's size (ensure raises it).
	capacity    atomic.Int64
	resizeMu    sync.Mutex
	ttl, negTTL time.Duration
	touchEvery  uint32 // seconds
	onEvict     func()
}

// newStore returns a cache of size positive and size negative entries;
// positive entries live at most posLife in the LRU (an entry's own expiry,
// ttl or a listing's, may be shorter), negative ones negTTL.
func newStore(size int, ttl, posLife, negTTL time.Duration, onEvict func()) *store {
	s := &store{
		entries:    make(map[key]*entry),
		subnets:    make(map[string]*subnet),
		ttl:        ttl,
		negTTL:     negTTL,
		touchEvery: uint32(max(ttl/16, time.Second) / time.Second),
		hot:        make([]entry, hotMin),
		hotMax:     hotSize(size),
		onEvict:    onEvict,
	}
	s.hotMask = uint64(len(s.hot) - 1)
	s.pos = expirable.NewLRU[key, *entry](size, s.evicted, max(posLife, ttl))
	s.capacity.Store(int64(size))
	s.neg = expirable.NewLRU[key, *entry](size, s.evicted, negTTL)
	return s
}

// put caches e (nil: EC2 does not know the interface) under k.
func (s *store) put(k key, e *flowlog.ENI, now time.Time) *entry {
	ttl := s.ttl
	if e == nil {
		ttl = s.negTTL
	}
	ent := newEntry(e, now.Add(ttl).UnixNano())
	ent.k = k
	ent.touched.Store(uint32(now.Unix()))
	s.mu.Lock()
	old := s.replaceLocked(ent)
	s.mu.Unlock()
	if e == nil {
		if old != nil && old.eni != nil {
			s.pos.Remove(k)
		}
		s.neg.Add(k, ent)
	} else {
		if old != nil && old.eni == nil {
			s.neg.Remove(k)
		}
		s.pos.Add(k, ent)
	}
	return ent
}

// putMany caches the interfaces of a listing page, each expiring at
// expires (unix ns), under one lock.
func (s *store) putMany(items []listed, expires int64, now time.Time) {
	if len(items) == 0 {
		return
	}
	sec := uint32(now.Unix())
	ents := make([]*entry, len(items))
	wasNeg := make([]bool, len(items))
	s.mu.Lock()
	for i, it := range items {
		ent := newEntry(it.eni, expires)
		ent.k = it.k
		ent.touched.Store(sec)
		if old := s.replaceLocked(ent); old != nil {
			wasNeg[i] = old.eni == nil
		}
		ents[i] = ent
	}
	s.mu.Unlock()
	for i, ent := range ents {
		if wasNeg[i] {
			s.neg.Remove(ent.k)
		}
		s.pos.Add(ent.k, ent)
	}
}

// replaceLocked puts ent in the map, the address index and the hot table
// in place of the entry of its key, which it returns (nil when there was
// none). The caller holds mu and updates the LRUs.
func (s *store) replaceLocked(ent *entry) (old *entry) {
	old = s.entries[ent.k]
	if old != nil {
		s.unindex(old)
	}
	s.entries[ent.k] = ent
	if len(s.entries) > len(s.hot)/2 && len(s.hot) < s.hotMax {
		s.growHot()
	}
	s.index(ent)
	s.setHot(ent)
	return old
}

// ensure raises the positive LRU's capacity to want entries, at most
// limit; it reports whether want was above limit. It never shrinks.
func (s *store) ensure(want, limit int) (capped bool) {
	capped = want > limit
	want = min(want, limit)
	if want <= int(s.capacity.Load()) {
		return capped
	}
	s.resizeMu.Lock()
	defer s.resizeMu.Unlock()
	if want <= int(s.capacity.Load()) {
		return capped
	}
	s.pos.Resize(want)
	s.capacity.Store(int64(want))
	s.mu.Lock()
	s.hotMax = hotSize(want)
	s.mu.Unlock()
	return capped
}

// growHot doubles the hot table and puts the entries in their new slots.
// The caller holds mu.
func (s *store) growHot() {
	s.hot = make([]entry, 2*len(s.hot))
	s.hotMask = uint64(len(s.hot) - 1)
	for _, ent := range s.entries {
		s.setHot(ent)
	}
}

// setHot copies ent into a slot of its pair: the one holding its key,
// else a free one, else the first. The caller holds mu.
func (s *store) setHot(ent *entry) {
	h := s.slot(ent.k)
	switch a, b := &s.hot[h], &s.hot[h^1]; {
	case a.k == ent.k:
	case b.k == ent.k:
		h ^= 1
	case a.k == key{}:
	case b.k == key{}:
		h ^= 1
	}
	c := &s.hot[h]
	c.k, c.eni, c.expires, c.subnet = ent.k, ent.eni, ent.expires, ent.subnet
	c.v4, c.lo4, c.hi4, c.nv4, c.all4 = ent.v4, ent.lo4, ent.hi4, ent.nv4, ent.all4
	c.touched.Store(ent.touched.Load())
}

// hotCopy returns the slot holding the copy of k's entry, or nil. The
// caller holds mu.
func (s *store) hotCopy(k key) *entry {
	h := s.slot(k)
	if c := &s.hot[h]; c.k == k {
		return c
	}
	if c := &s.hot[h^1]; c.k == k {
		return c
	}
	return nil
}

const hotMin = 1 << 10

// hotSize is the largest number of hot slots: twice the cache size, a power
// of two, between 1<<10 and 1<<17 (8 MiB of slots).
func hotSize(size int) int {
	n := hotMin
	for n < 2*size && n < 1<<17 {
		n <<= 1
	}
	return n
}

// slot hashes k to its hot slot.
func (s *store) slot(k key) uint64 {
	h := k.idLo*0x9e3779b97f4a7c15 ^ k.meta*0xc2b2ae3d27d4eb4f
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return h & s.hotMask
}

// lookupLocked returns the entry of k (live or not): its hot copy, else
// the entry itself. The result is valid while the caller holds mu.
func (s *store) lookupLocked(k key) *entry {
	// hotCopy's probes, written out: calling it here would make this
	// function too large to be inlined into Process's loop.
	h := s.slot(k)
	if c := &s.hot[h]; c.k == k {
		return c
	}
	if c := &s.hot[h^1]; c.k == k {
		return c
	}
	return s.entries[k]
}

// get returns the live entry of k, if any (the entry, never a hot copy:
// it is used after mu is released).
func (s *store) get(k key, now int64) *entry {
	s.mu.RLock()
	ent := s.entries[k]
	s.mu.RUnlock()
	if ent == nil || ent.expires < now {
		return nil
	}
	return ent
}

// evicted is the LRUs' callback (expiry, size, Remove); it runs under the
// LRU's lock.
func (s *store) evicted(k key, ent *entry) {
	s.mu.Lock()
	if s.entries[k] == ent {
		delete(s.entries, k)
		if c := s.hotCopy(k); c != nil {
			*c = entry{}
		}
		s.unindex(ent)
	}
	s.mu.Unlock()
	if s.onEvict != nil {
		s.onEvict()
	}
}

// index adds ent's addresses to its subnet's index. The caller holds mu.
func (s *store) index(ent *entry) {
	if ent.eni == nil || ent.eni.SubnetID == "" {
		return
	}
	sn := s.subnets[ent.eni.SubnetID]
	if sn == nil {
		sn = &subnet{addrs4: map[uint32]*entry{}, addrs6: map[netip.Addr]*entry{}, lo4: ^uint32(0)}
		s.subnets[ent.eni.SubnetID] = sn
	}
	ent.subnet = sn
	lo, hi := sn.lo4, sn.hi4
	for _, a := range ent.eni.Addresses {
		sn.set(a, ent)
		if a.Is4() {
			sn.lo4, sn.hi4 = min(sn.lo4, v4(a)), max(sn.hi4, v4(a))
		}
	}
	ent.lo4, ent.hi4 = sn.lo4, sn.hi4
	if sn.lo4 != lo || sn.hi4 != hi {
		widen := func(e *entry) {
			e.lo4, e.hi4 = sn.lo4, sn.hi4
			if c := s.hotCopy(e.k); c != nil {
				c.lo4, c.hi4 = sn.lo4, sn.hi4
			}
		}
		for _, e := range sn.addrs4 {
			widen(e)
		}
		for _, e := range sn.addrs6 {
			widen(e)
		}
	}
}

// unindex removes ent's addresses from its subnet's index. The caller
// holds mu.
func (s *store) unindex(ent *entry) {
	sn := ent.subnet
	if sn == nil {
		return
	}
	for _, a := range ent.eni.Addresses {
		if sn.get(a) == ent {
			sn.remove(a)
		}
	}
	if sn.len() == 0 && s.subnets[ent.eni.SubnetID] == sn {
		delete(s.subnets, ent.eni.SubnetID)
	}
}

// touch moves k to the front of its LRU. The caller holds no store lock.
func (s *store) touch(k key, negative bool) {
	if negative {
		s.neg.Get(k)
	} else {
		s.pos.Get(k)
	}
}

func (s *store) len() (pos, neg int) { return s.pos.Len(), s.neg.Len() }
