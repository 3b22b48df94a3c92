package eni

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// refModel is what the cache holds, kept by the test itself: every
// interface put and when its entry expires. It shares nothing with the
// store's subnet index, so that a fault in that index cannot hide behind
// the same fault in the reference.
type refModel []refENI

type refENI struct {
	eni     *flowlog.ENI
	expires int64
}

// peer reports whether a is an address of a live interface of subnet.
func (m refModel) peer(subnet string, a netip.Addr, now int64) bool {
	if !a.IsValid() {
		return false
	}
	for _, x := range m {
		if x.eni != nil && x.eni.SubnetID == subnet && x.expires >= now && slices.Contains(x.eni.Addresses, a) {
			return true
		}
	}
	return false
}

// refDirection is the direction rule written plainly, over the interface's
// address list and the test's own model of the cache.
func refDirection(m refModel, r *flowlog.Record, e *flowlog.ENI, now int64) flowlog.Direction {
	if st := string(r.Text(flowlog.FLogStatus)); st == "NODATA" || st == "SKIPDATA" {
		return flowlog.DirUnknown
	}
	var srcMine, dstMine bool
	if e != nil {
		src, dst := r.SrcAddr, r.DstAddr
		srcMine = src.IsValid() && slices.Contains(e.Addresses, src)
		dstMine = dst.IsValid() && slices.Contains(e.Addresses, dst)
		peer := func(a netip.Addr) bool { return m.peer(e.SubnetID, a, now) }
		if srcMine && dstMine || srcMine && peer(dst) || dstMine && peer(src) {
			return flowlog.DirInternal
		}
	}
	switch string(r.Text(flowlog.FFlowDirection)) {
	case "ingress":
		return flowlog.DirInbound
	case "egress":
		return flowlog.DirOutbound
	}
	switch {
	case dstMine:
		return flowlog.DirInbound
	case srcMine:
		return flowlog.DirOutbound
	}
	return flowlog.DirUnknown
}

// Random records against interfaces with zero to three IPv4 addresses,
// IPv6 ones, shared subnets and an expired neighbour, looked up both as
// the entry and as its hot copy: the fast paths of directionLocked agree
// with the plain rule on every one.
func TestDirectionMatchesRule(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const ttl = time.Hour
	s := newStore(1000, ttl, ttl, time.Minute, nil)
	now := time.Now()
	var pool []netip.Addr // addresses records draw from
	var model refModel
	var keys []key
	for i := range 60 {
		e := &flowlog.ENI{InterfaceID: fmt.Sprintf("eni-%08x", i), SubnetID: fmt.Sprintf("subnet-%d", i%4)}
		for j := range i % 4 { // 0..3 IPv4 addresses
			e.Addresses = append(e.Addresses, netip.AddrFrom4([4]byte{10, byte(i % 4), byte(i), byte(j + 1)}))
		}
		if i%3 == 0 {
			e.Addresses = append(e.Addresses, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}))
		}
		if i%7 == 0 {
			e.Addresses = append(e.Addresses, netip.AddrFrom4([4]byte{0, 0, 0, 0}))
		}
		pool = append(pool, e.Addresses...)
		at := now
		if i%11 == 0 { // expired: not a live neighbour
			at = now.Add(-2 * ttl)
		}
		k := mkKey(1, uint64(i), 8, 1)
		s.put(k, e, at)
		model = append(model, refENI{eni: e, expires: at.Add(ttl).UnixNano()})
		keys = append(keys, k)
	}
	pool = append(pool, netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("10.1.200.9"),
		netip.MustParseAddr("2001:db8::99"), netip.MustParseAddr("::ffff:10.0.4.1"))
	negative := mkKey(1, 999, 8, 1)
	s.put(negative, nil, now)
	keys = append(keys, negative, key{}) // EC2 does not know it; not cached
	enis := make(map[key]*flowlog.ENI, len(model))
	for i, x := range model {
		enis[keys[i]] = x.eni
	}
	pick := func() string {
		if rng.IntN(20) == 0 {
			return "-"
		}
		return pool[rng.IntN(len(pool))].String()
	}
	statuses := []string{"OK", "OK", "OK", "NODATA", "SKIPDATA", "-"}
	dirs := []string{"-", "-", "ingress", "egress", "sideways"}
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := now.UnixNano()
	for i := range 20000 {
		line := fmt.Sprintf("2 111111111111 eni-00000001 %s %s 443 49152 6 10 840 1700000000 1700000060 ACCEPT %s us-east-1 %s",
			pick(), pick(), statuses[rng.IntN(len(statuses))], dirs[rng.IntN(len(dirs))])
		r := rec(t, v5, line, nil)
		k := keys[rng.IntN(len(keys))]
		var ent *entry
		switch {
		case k == key{}:
		case i%2 == 0:
			ent = s.entries[k]
		default:
			if ent = s.hotCopy(k); ent == nil {
				t.Fatalf("no hot copy of %v", k)
			}
		}
		got, want := s.directionLocked(&r, ent, n), refDirection(model, &r, enis[k], n)
		if got != want {
			t.Fatalf("record %d %q on %v: direction %v, rule says %v", i, line, enis[k], got, want)
		}
	}
}
