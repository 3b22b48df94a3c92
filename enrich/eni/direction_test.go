package eni

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// refDirection is the direction rule written plainly, over the ENI's
// address list and the store's subnet index.
func refDirection(s *store, r *flowlog.Record, ent *entry, now int64) flowlog.Direction {
	if st := string(r.Text(flowlog.FLogStatus)); st == "NODATA" || st == "SKIPDATA" {
		return flowlog.DirUnknown
	}
	var srcMine, dstMine bool
	if ent != nil && ent.eni != nil {
		src, dst := r.SrcAddr, r.DstAddr
		srcMine = src.IsValid() && hasAddr(ent.eni.Addresses, src)
		dstMine = dst.IsValid() && hasAddr(ent.eni.Addresses, dst)
		peer := func(a netip.Addr) bool {
			sn := s.subnets[ent.eni.SubnetID]
			if !a.IsValid() || sn == nil {
				return false
			}
			p := sn.get(a)
			return p != nil && p.expires >= now
		}
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
// IPv6 ones, shared subnets and an expired neighbour: the fast paths of
// directionLocked agree with the plain rule on every one.
func TestDirectionMatchesRule(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := newStore(1000, time.Hour, time.Minute, nil)
	now := time.Now()
	var pool []netip.Addr // addresses records draw from
	var ents []*entry
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
			at = now.Add(-2 * time.Hour)
		}
		ents = append(ents, s.put(mkKey(1, uint64(i), 8, 1), e, at))
	}
	pool = append(pool, netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("10.1.200.9"),
		netip.MustParseAddr("2001:db8::99"), netip.MustParseAddr("::ffff:10.0.4.1"))
	ents = append(ents, s.put(mkKey(1, 999, 8, 1), nil, now), nil)
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
		ent := ents[rng.IntN(len(ents))]
		got, want := s.directionLocked(&r, ent, n), refDirection(s, &r, ent, n)
		if got != want {
			id := "nil"
			if ent != nil && ent.eni != nil {
				id = fmt.Sprint(ent.eni.Addresses)
			}
			t.Fatalf("record %d %q on %s: direction %v, rule says %v", i, line, id, got, want)
		}
	}
}
