package flowlog

import (
	"net/netip"
	"sync/atomic"
)

// Span locates a field's text inside Record.Raw.
type Span struct{ Off, Len uint16 }

// MaxLineLen is the longest line a Record can hold (spans are 16-bit).
const MaxLineLen = 1<<16 - 1

// Record is one flow-log record. It is a value type: stages and sinks
// work on a Batch's []Record in place. String-typed fields are not copied:
// their text is a Span into Raw, read with Text. Numeric fields are parsed
// into integers, addresses into netip.Addr. Present marks the fields that
// were in the format and not "-" in the line; a field not in Present holds
// its zero value.
type Record struct {
	// Raw is the original line with surrounding spaces and a trailing \r
	// removed. It points into the batch's buffer: copy it to keep it.
	Raw []byte
	// Origin describes where the line came from (shared, never nil after a
	// source built the batch).
	Origin *Origin
	// ENI is the enrichment of the record's interface, shared and immutable;
	// nil when unknown.
	ENI *ENI

	Present FieldSet
	spans   [NumFields]Span

	Version     uint8
	Protocol    uint8
	TrafficPath uint8
	// Direction is set by enrichment; DirUnknown means no direction key.
	Direction Direction
	SrcPort   uint16
	DstPort   uint16
	TCPFlags  uint16
	Packets   uint64
	Bytes     uint64
	Start     int64
	End       int64
	// PacketsLost holds the transit-gateway counters no-route, blackhole,
	// mtu-exceeded and ttl-expired, in that order.
	PacketsLost [4]uint64

	SrcAddr    netip.Addr
	DstAddr    netip.Addr
	PktSrcAddr netip.Addr
	PktDstAddr netip.Addr
}

// Has reports whether f is present in the record.
func (r *Record) Has(f Field) bool { return r.Present.Has(f) }

// Text returns the text of field f as it appeared in the line, or nil when
// the field is absent. The slice aliases Raw.
func (r *Record) Text(f Field) []byte {
	if f >= NumFields || !r.Present.Has(f) {
		return nil
	}
	s := r.spans[f]
	return r.Raw[s.Off : s.Off+s.Len : s.Off+s.Len]
}

// Span returns where field f's text lies in Raw (zero when f is absent),
// for code that stores a record and rebuilds it with SetSpan.
func (r *Record) Span(f Field) Span {
	if f >= NumFields || !r.Present.Has(f) {
		return Span{}
	}
	return r.spans[f]
}

// SetSpan records that field f is present, with its text at Raw[off:off+n].
// Parsers call it; the caller guarantees the span lies inside Raw.
func (r *Record) SetSpan(f Field, off, n int) {
	r.spans[f] = Span{uint16(off), uint16(n)}
	r.Present |= 1 << f
}

// Reset clears every parsed field, keeping Raw and Origin.
func (r *Record) Reset() {
	raw, o := r.Raw, r.Origin
	*r = Record{Raw: raw, Origin: o}
}

// Int returns the value of an integer-typed field (KindInt) and whether it
// is present.
func (r *Record) Int(f Field) (int64, bool) {
	if !r.Present.Has(f) {
		return 0, false
	}
	switch f {
	case FVersion:
		return int64(r.Version), true
	case FSrcPort:
		return int64(r.SrcPort), true
	case FDstPort:
		return int64(r.DstPort), true
	case FProtocol:
		return int64(r.Protocol), true
	case FPackets:
		return int64(r.Packets), true
	case FBytes:
		return int64(r.Bytes), true
	case FStart:
		return r.Start, true
	case FEnd:
		return r.End, true
	case FTCPFlags:
		return int64(r.TCPFlags), true
	case FTrafficPath:
		return int64(r.TrafficPath), true
	case FPacketsLostNoRoute, FPacketsLostBlackhole, FPacketsLostMTUExceeded, FPacketsLostTTLExpired:
		return int64(r.PacketsLost[f-FPacketsLostNoRoute]), true
	}
	return 0, false
}

// Addr returns the value of an address field (KindAddr) and whether it is
// present.
func (r *Record) Addr(f Field) (netip.Addr, bool) {
	if !r.Present.Has(f) {
		return netip.Addr{}, false
	}
	switch f {
	case FSrcAddr:
		return r.SrcAddr, true
	case FDstAddr:
		return r.DstAddr, true
	case FPktSrcAddr:
		return r.PktSrcAddr, true
	case FPktDstAddr:
		return r.PktDstAddr, true
	}
	return netip.Addr{}, false
}

// SetInt stores v into integer field f (KindInt), truncated to the field's
// width: the caller checks ranges. It does not mark f present (SetSpan
// does). Other fields are ignored.
func (r *Record) SetInt(f Field, v uint64) {
	switch f {
	case FVersion:
		r.Version = uint8(v)
	case FSrcPort:
		r.SrcPort = uint16(v)
	case FDstPort:
		r.DstPort = uint16(v)
	case FProtocol:
		r.Protocol = uint8(v)
	case FPackets:
		r.Packets = v
	case FBytes:
		r.Bytes = v
	case FStart:
		r.Start = int64(v)
	case FEnd:
		r.End = int64(v)
	case FTCPFlags:
		r.TCPFlags = uint16(v)
	case FTrafficPath:
		r.TrafficPath = uint8(v)
	case FPacketsLostNoRoute, FPacketsLostBlackhole, FPacketsLostMTUExceeded, FPacketsLostTTLExpired:
		r.PacketsLost[f-FPacketsLostNoRoute] = v
	}
}

// SetAddr stores a into address field f (KindAddr). It does not mark f
// present (SetSpan does). Other fields are ignored.
func (r *Record) SetAddr(f Field, a netip.Addr) {
	switch f {
	case FSrcAddr:
		r.SrcAddr = a
	case FDstAddr:
		r.DstAddr = a
	case FPktSrcAddr:
		r.PktSrcAddr = a
	case FPktDstAddr:
		r.PktDstAddr = a
	}
}

// Direction of a flow relative to its network interface.
type Direction uint8

const (
	DirUnknown Direction = iota
	DirInbound
	DirOutbound
	DirInternal
)

// String returns "inbound", "outbound", "internal" or "" for DirUnknown.
func (d Direction) String() string {
	switch d {
	case DirInbound:
		return "inbound"
	case DirOutbound:
		return "outbound"
	case DirInternal:
		return "internal"
	}
	return ""
}

// Origin describes the input a record came from. One Origin is shared by
// every record of one input (a file, an S3 object, a CloudWatch Logs
// envelope); it is created by the source and is read-only afterwards, but
// for Format.
type Origin struct {
	// Name names the input for error messages: a file path, s3://bucket/key,
	// topic/partition@offset. It never holds secrets.
	Name string
	// LogGroup and LogStream are set for records that came in a CloudWatch
	// Logs subscription envelope.
	LogGroup  string
	LogStream string
	// Account and Region are known from the input (an S3 key) and fill in
	// for records that lack account-id or region.
	Account string
	Region  string
	// Format holds the parser's state for this input: the format named by
	// the input's header line, set by the parse stage (format: auto).
	Format atomic.Value
}

// ENI is what EC2 knows about a network interface. Values are shared by
// every record of that interface and must not be modified.
type ENI struct {
	InterfaceID      string
	AccountID        string
	Region           string
	VPCID            string
	SubnetID         string
	AvailabilityZone string
	InstanceID       string
	InterfaceType    string
	SecurityGroupIDs []string
	// Addresses holds every private IPv4 (primary first) and IPv6 address.
	Addresses []netip.Addr
	Tags      map[string]string
}
