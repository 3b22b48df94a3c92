package parse

import (
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
