package eni

import (
	"net/netip"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// directionLocked decides the direction of r relative to its cache entry
// ent (nil when unknown). The caller holds s.mu (read). In order:
//
//  1. NODATA and SKIPDATA records have no direction.
//  2. internal: one end is an address of e and the other end is an address
//     of e too, or of a known interface (a live cache entry) of e's subnet.
//  3. flow-direction (version 5), when present: ingress is inbound, egress
//     is outbound.
//  4. inbound when dstaddr is one of e's addresses (primary or secondary
//     private IPv4, IPv6), outbound when srcaddr is.
//  5. otherwise unknown: no direction is guessed.
func (s *store) directionLocked(r *flowlog.Record, ent *entry, now int64) flowlog.Direction {
	// Comparisons with constant strings compile to a few word compares.
	if st := r.Text(flowlog.FLogStatus); len(st) >= 6 && (string(st) == "NODATA" || string(st) == "SKIPDATA") {
		return flowlog.DirUnknown
	}
	var mine uint8 // bit 0: srcaddr is one of the interface's, bit 1: dstaddr
	if ent != nil && ent.eni != nil {
		// Absent addresses are the zero Addr, which no interface has.
		src, dst := r.SrcAddr, r.DstAddr
		if src.Is4() && dst.Is4() && ent.all4 {
			// The usual case, worked without branches on the addresses:
			// which end is the interface's is as random as the traffic.
			s4, d4 := v4(src), v4(dst)
			mine = ent.mine4(s4) | ent.mine4(d4)<<1
			other := d4
			if mine == 2 {
				other = s4
			}
			if mine == 3 || mine != 0 && ent.peer4(other, now) {
				return flowlog.DirInternal
			}
		} else {
			srcMine, dstMine := ent.has(src), ent.has(dst)
			if srcMine && dstMine ||
				srcMine && dst.IsValid() && ent.peer(dst, now) ||
				dstMine && src.IsValid() && ent.peer(src, now) {
				return flowlog.DirInternal
			}
			mine = b2u(srcMine) | b2u(dstMine)<<1
		}
	}
	if fd := r.Text(flowlog.FFlowDirection); fd != nil {
		switch {
		case string(fd) == "ingress":
			return flowlog.DirInbound
		case string(fd) == "egress":
			return flowlog.DirOutbound
		}
	}
	return byEnds[mine]
}

// byEnds is the direction by which ends are the interface's (bit 0:
// srcaddr, bit 1: dstaddr), both being handled before.
var byEnds = [4]flowlog.Direction{flowlog.DirUnknown, flowlog.DirOutbound, flowlog.DirInbound, flowlog.DirInternal}

// b2u is 1 for true; the compiler makes it a flag move, not a branch.
func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func hasAddr(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}
