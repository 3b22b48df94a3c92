package parse

import (
	"net/netip"
	"strconv"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// Append appends r as one line of format f (without a newline) to dst and
// returns the extended slice. Fields absent from r are written "-";
// integer and address fields are written from their typed values, string
// fields from their text (r.Text). Parsing the result with f yields a
// record with the same Present set and values. It does not allocate
// beyond growing dst.
func (f *Format) Append(dst []byte, r *flowlog.Record) []byte {
	if f.fast {
		return appendDefault(dst, r)
	}
	for i, fl := range f.fields {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = appendField(dst, r, fl)
	}
	return dst
}

func appendField(dst []byte, r *flowlog.Record, fl flowlog.Field) []byte {
	if !r.Has(fl) {
		return append(dst, '-')
	}
	switch fl.Kind() {
	case flowlog.KindInt:
		v, _ := r.Int(fl)
		if fl == flowlog.FPackets || fl == flowlog.FBytes || fl >= flowlog.FPacketsLostNoRoute {
			// Unsigned counters may exceed MaxInt64.
			return strconv.AppendUint(dst, uintValue(r, fl), 10)
		}
		return strconv.AppendInt(dst, v, 10)
	case flowlog.KindAddr:
		a, _ := r.Addr(fl)
		if !a.IsValid() {
			return append(dst, '-')
		}
		return a.AppendTo(dst)
	}
	t := r.Text(fl)
	if len(t) == 0 {
		return append(dst, '-')
	}
	return append(dst, t...)
}

func uintValue(r *flowlog.Record, fl flowlog.Field) uint64 {
	switch fl {
	case flowlog.FPackets:
		return r.Packets
	case flowlog.FBytes:
		return r.Bytes
	case flowlog.FPacketsLostNoRoute, flowlog.FPacketsLostBlackhole,
		flowlog.FPacketsLostMTUExceeded, flowlog.FPacketsLostTTLExpired:
		return r.PacketsLost[fl-flowlog.FPacketsLostNoRoute]
	}
	return 0
}

// appendDefault is Append for the default field list, without the
// per-field dispatch.
func appendDefault(dst []byte, r *flowlog.Record) []byte {
	p := r.Present
	dst = appendUint(dst, p.Has(flowlog.FVersion), uint64(r.Version))
	dst = appendText(append(dst, ' '), r, flowlog.FAccountID)
	dst = appendText(append(dst, ' '), r, flowlog.FInterfaceID)
	dst = appendAddr(append(dst, ' '), p.Has(flowlog.FSrcAddr), r.SrcAddr)
	dst = appendAddr(append(dst, ' '), p.Has(flowlog.FDstAddr), r.DstAddr)
	dst = appendUint(append(dst, ' '), p.Has(flowlog.FSrcPort), uint64(r.SrcPort))
	dst = appendUint(append(dst, ' '), p.Has(flowlog.FDstPort), uint64(r.DstPort))
	dst = appendUint(append(dst, ' '), p.Has(flowlog.FProtocol), uint64(r.Protocol))
	dst = appendUint(append(dst, ' '), p.Has(flowlog.FPackets), r.Packets)
	dst = appendUint(append(dst, ' '), p.Has(flowlog.FBytes), r.Bytes)
	dst = appendInt(append(dst, ' '), p.Has(flowlog.FStart), r.Start)
	dst = appendInt(append(dst, ' '), p.Has(flowlog.FEnd), r.End)
	dst = appendText(append(dst, ' '), r, flowlog.FAction)
	return appendText(append(dst, ' '), r, flowlog.FLogStatus)
}

func appendUint(dst []byte, ok bool, v uint64) []byte {
	if !ok {
		return append(dst, '-')
	}
	return strconv.AppendUint(dst, v, 10)
}

func appendInt(dst []byte, ok bool, v int64) []byte {
	if !ok {
		return append(dst, '-')
	}
	return strconv.AppendInt(dst, v, 10)
}

func appendAddr(dst []byte, ok bool, a netip.Addr) []byte {
	if !ok || !a.IsValid() {
		return append(dst, '-')
	}
	return a.AppendTo(dst)
}

func appendText(dst []byte, r *flowlog.Record, fl flowlog.Field) []byte {
	t := r.Text(fl)
	if len(t) == 0 {
		return append(dst, '-')
	}
	return append(dst, t...)
}
