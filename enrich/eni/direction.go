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
	var srcMine, dstMine bool
	if ent != nil && ent.eni != nil {
		// Absent addresses are the zero Addr, which no interface has.
		src, dst := r.SrcAddr, r.DstAddr
		var src4, dst4 uint32
		if src.Is4() {
			src4 = v4(src)
		}
		if dst.Is4() {
			dst4 = v4(dst)
		}
		srcMine = ent.has(src, src4)
		dstMine = ent.has(dst, dst4)
		switch {
		case srcMine && dstMine,
			srcMine && dst.IsValid() && ent.peer(dst, dst4, now),
			dstMine && src.IsValid() && ent.peer(src, src4, now):
			return flowlog.DirInternal
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
	switch {
	case dstMine:
		return flowlog.DirInbound
	case srcMine:
		return flowlog.DirOutbound
	}
	return flowlog.DirUnknown
}

func hasAddr(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}
