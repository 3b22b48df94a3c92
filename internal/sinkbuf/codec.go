package sinkbuf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"sort"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// A frame's body is a batch in a compact binary form: the line of each
// record, where its fields lie in the line, the parsed values, and indexes
// into per-frame tables of the origins and ENIs the records share; or, for
// a batch of an .errors output, its failures. The body is compressed with
// S2 (github.com/klauspost/compress/s2): flow-log lines compress three to
// five times, at several hundred MB/s per core.

const codecVersion = 2

var errShortBody = errors.New("sinkbuf: frame body truncated")

// encodeBatch appends the compressed compact form of b (records, or
// failures when b has no records) to dst. scratch is reused between calls.
func encodeBatch(dst, scratch []byte, b *flowlog.Batch) (out, scr []byte) {
	return encodeBatchAs(dst, scratch, b, true)
}

// encodeBatchAs is encodeBatch, with S2 compression or without.
func encodeBatchAs(dst, scratch []byte, b *flowlog.Batch, compress bool) (out, scr []byte) {
	// Uncompressed, the body is written straight into dst; compressed, into
	// scratch first.
	e := encoder{buf: scratch[:0], origins: map[*flowlog.Origin]uint64{}, enis: map[*flowlog.ENI]uint64{}, layouts: map[string]uint64{}}
	base := 0
	if !compress {
		e.buf, base = dst, len(dst)
	}
	// Room for the records (a line and at most about 50 bytes besides,
	// for the default format), so that appends rarely grow the buffer.
	need := 256
	for i := range b.Records {
		need += len(b.Records[i].Raw) + 64
	}
	if cap(e.buf)-len(e.buf) < need {
		e.buf = append(make([]byte, 0, len(e.buf)+need), e.buf...)
	}
	// The body is: version, records (or failures), then the tables the
	// records refer to, then where the tables start (4 bytes): one pass
	// over the records, with nothing to copy.
	e.uvarint(codecVersion)
	e.uvarint(uint64(len(b.Records)))
	for i := range b.Records {
		e.record(&b.Records[i])
	}
	if len(b.Records) == 0 {
		e.uvarint(uint64(len(b.Failed)))
		for i := range b.Failed {
			f := &b.Failed[i]
			e.str(f.Stage)
			if f.Err != nil {
				e.str(f.Err.Error())
			} else {
				e.str("")
			}
			e.bytes(f.Raw)
			e.uvarint(e.origin(f.Origin))
		}
	} else {
		e.uvarint(0)
	}
	tables := len(e.buf) - base
	e.str(b.Source)
	e.str(b.Partition)
	e.varint(b.Read.UnixNano())
	e.uvarint(uint64(len(e.originList)))
	for _, o := range e.originList {
		e.str(o.Name)
		e.str(o.LogGroup)
		e.str(o.LogStream)
		e.str(o.Account)
		e.str(o.Region)
	}
	e.uvarint(uint64(len(e.eniList)))
	for _, x := range e.eniList {
		e.eni(x)
	}
	e.uvarint(uint64(len(e.layoutList)))
	for _, l := range e.layoutList {
		e.str(l)
	}
	e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(tables))
	if !compress {
		return e.buf, scratch
	}
	n := s2.MaxEncodedLen(len(e.buf))
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	enc := s2.Encode(dst[start:], e.buf)
	return dst[:start+len(enc)], e.buf
}

// origin returns o's number in the frame's table (from 1; 0 for nil).
func (e *encoder) origin(o *flowlog.Origin) uint64 {
	if o == nil {
		return 0
	}
	if o == e.lastOrigin {
		return e.lastOriginID
	}
	id, ok := e.origins[o]
	if !ok {
		e.originList = append(e.originList, o)
		id = uint64(len(e.originList))
		e.origins[o] = id
	}
	e.lastOrigin, e.lastOriginID = o, id
	return id
}

// eniRef returns x's number in the frame's table (from 1; 0 for nil).
func (e *encoder) eniRef(x *flowlog.ENI) uint64 {
	if x == nil {
		return 0
	}
	if x == e.lastENI {
		return e.lastENIID
	}
	id, ok := e.enis[x]
	if !ok {
		e.eniList = append(e.eniList, x)
		id = uint64(len(e.eniList))
		e.enis[x] = id
	}
	e.lastENI, e.lastENIID = x, id
	return id
}

type encoder struct {
	buf     []byte
	origins map[*flowlog.Origin]uint64
	enis    map[*flowlog.ENI]uint64
	// layouts maps a record layout (present fields and the space-separated
	// token each one is) to its number in the frame, from 1.
	layouts    map[string]uint64
	layoutList []string
	key        []byte

	last         lastLayout
	originList   []*flowlog.Origin
	eniList      []*flowlog.ENI
	lastOrigin   *flowlog.Origin
	lastOriginID uint64
	lastENI      *flowlog.ENI
	lastENIID    uint64
}

func (e *encoder) uvarint(v uint64) { e.buf = appendUvarint(e.buf, v) }

// appendUvarint is binary.AppendUvarint, with the one-byte case inlined.
func appendUvarint(buf []byte, v uint64) []byte {
	if v < 0x80 {
		return append(buf, byte(v))
	}
	return binary.AppendUvarint(buf, v)
}

// appendAddr appends a as a length byte (0, 4 or 16) and its bytes.
func appendAddr(buf []byte, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		return append(buf, 4, v[0], v[1], v[2], v[3])
	}
	if !a.IsValid() {
		return append(buf, 0)
	}
	v := a.As16()
	return append(append(buf, 16), v[:]...)
}

// readUvarint reads a varint from buf when ok, and says whether all went
// well.
func readUvarint(buf []byte, ok bool) (uint64, []byte, bool) {
	if !ok {
		return 0, buf, false
	}
	if len(buf) > 0 && buf[0] < 0x80 {
		return uint64(buf[0]), buf[1:], true
	}
	v, n := binary.Uvarint(buf)
	if n <= 0 {
		return 0, buf, false
	}
	return v, buf[n:], true
}

// readAddr reads what appendAddr wrote, when ok.
func readAddr(buf []byte, ok bool) (netip.Addr, []byte, bool) {
	if !ok || len(buf) == 0 {
		return netip.Addr{}, buf, false
	}
	switch buf[0] {
	case 0:
		return netip.Addr{}, buf[1:], true
	case 4:
		if len(buf) >= 5 {
			return netip.AddrFrom4([4]byte(buf[1:5])), buf[5:], true
		}
	case 16:
		if len(buf) >= 17 {
			return netip.AddrFrom16([16]byte(buf[1:17])), buf[17:], true
		}
	}
	return netip.Addr{}, buf, false
}

func (e *encoder) varint(v int64) { e.buf = binary.AppendVarint(e.buf, v) }
func (e *encoder) str(s string)   { e.uvarint(uint64(len(s))); e.buf = append(e.buf, s...) }
func (e *encoder) bytes(s []byte) { e.uvarint(uint64(len(s))); e.buf = append(e.buf, s...) }

func (e *encoder) addr(a netip.Addr) { e.buf = appendAddr(e.buf, a) }

func (e *encoder) eni(x *flowlog.ENI) {
	for _, s := range []string{x.InterfaceID, x.AccountID, x.Region, x.VPCID, x.SubnetID, x.AvailabilityZone, x.InstanceID, x.InterfaceType} {
		e.str(s)
	}
	e.uvarint(uint64(len(x.SecurityGroupIDs)))
	for _, s := range x.SecurityGroupIDs {
		e.str(s)
	}
	e.uvarint(uint64(len(x.Addresses)))
	for _, a := range x.Addresses {
		e.addr(a)
	}
	keys := make([]string, 0, len(x.Tags))
	for k := range x.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(x.Tags[k])
	}
}

func (e *encoder) record(r *flowlog.Record) {
	e.bytes(r.Raw)
	e.uvarint(e.origin(r.Origin))
	e.uvarint(e.eniRef(r.ENI))
	l := e.layout(r)
	e.uvarint(l)
	if l == 0 {
		e.uvarint(uint64(r.Present))
		for p := uint64(r.Present); p != 0; p &= p - 1 {
			s := r.Span(flowlog.Field(bits.TrailingZeros64(p)))
			e.uvarint(uint64(s.Off))
			e.uvarint(uint64(s.Len))
		}
	}
	e.buf = append(e.buf, byte(r.Direction))
	e.values(r)
}

// valueFields are the numeric and address fields, whose parsed values a
// frame stores (in field order), as values and setValues handle them.
const valueFields = 1<<flowlog.FVersion | 1<<flowlog.FSrcAddr | 1<<flowlog.FDstAddr | 1<<flowlog.FSrcPort |
	1<<flowlog.FDstPort | 1<<flowlog.FProtocol | 1<<flowlog.FPackets | 1<<flowlog.FBytes | 1<<flowlog.FStart |
	1<<flowlog.FEnd | 1<<flowlog.FTCPFlags | 1<<flowlog.FPktSrcAddr | 1<<flowlog.FPktDstAddr |
	1<<flowlog.FTrafficPath | 1<<flowlog.FPacketsLostNoRoute | 1<<flowlog.FPacketsLostBlackhole |
	1<<flowlog.FPacketsLostMTUExceeded | 1<<flowlog.FPacketsLostTTLExpired

// defaultValues are the value fields of the default format.
const defaultValues = 1<<flowlog.FVersion | 1<<flowlog.FSrcAddr | 1<<flowlog.FDstAddr | 1<<flowlog.FSrcPort |
	1<<flowlog.FDstPort | 1<<flowlog.FProtocol | 1<<flowlog.FPackets | 1<<flowlog.FBytes | 1<<flowlog.FStart |
	1<<flowlog.FEnd

// values writes the parsed values of the present numeric and address
// fields, in field order: one test a field, no lookups.
func (e *encoder) values(r *flowlog.Record) {
	p := r.Present
	if p&valueFields == defaultValues {
		// The common case, straight through, on a local slice.
		buf := appendUvarint(e.buf, uint64(r.Version))
		buf = appendAddr(buf, r.SrcAddr)
		buf = appendAddr(buf, r.DstAddr)
		buf = appendUvarint(buf, uint64(r.SrcPort))
		buf = appendUvarint(buf, uint64(r.DstPort))
		buf = appendUvarint(buf, uint64(r.Protocol))
		buf = appendUvarint(buf, r.Packets)
		buf = appendUvarint(buf, r.Bytes)
		buf = appendUvarint(buf, uint64(r.Start))
		e.buf = appendUvarint(buf, uint64(r.End))
		return
	}
	if p.Has(flowlog.FVersion) {
		e.uvarint(uint64(r.Version))
	}
	if p.Has(flowlog.FSrcAddr) {
		e.addr(r.SrcAddr)
	}
	if p.Has(flowlog.FDstAddr) {
		e.addr(r.DstAddr)
	}
	if p.Has(flowlog.FSrcPort) {
		e.uvarint(uint64(r.SrcPort))
	}
	if p.Has(flowlog.FDstPort) {
		e.uvarint(uint64(r.DstPort))
	}
	if p.Has(flowlog.FProtocol) {
		e.uvarint(uint64(r.Protocol))
	}
	if p.Has(flowlog.FPackets) {
		e.uvarint(r.Packets)
	}
	if p.Has(flowlog.FBytes) {
		e.uvarint(r.Bytes)
	}
	if p.Has(flowlog.FStart) {
		e.uvarint(uint64(r.Start))
	}
	if p.Has(flowlog.FEnd) {
		e.uvarint(uint64(r.End))
	}
	if p.Has(flowlog.FTCPFlags) {
		e.uvarint(uint64(r.TCPFlags))
	}
	if p.Has(flowlog.FPktSrcAddr) {
		e.addr(r.PktSrcAddr)
	}
	if p.Has(flowlog.FPktDstAddr) {
		e.addr(r.PktDstAddr)
	}
	if p.Has(flowlog.FTrafficPath) {
		e.uvarint(uint64(r.TrafficPath))
	}
	for f := flowlog.FPacketsLostNoRoute; f <= flowlog.FPacketsLostTTLExpired; f++ {
		if p.Has(f) {
			e.uvarint(r.PacketsLost[f-flowlog.FPacketsLostNoRoute])
		}
	}
}

// setValues reads what values wrote into r, whose Present is set.
func (d *decoder) setValues(r *flowlog.Record) {
	p := r.Present
	if p&valueFields == defaultValues {
		// The common case, on a local slice; any error ends it.
		buf, ok := d.buf, true
		var v uint64
		v, buf, ok = readUvarint(buf, ok)
		r.Version = uint8(v)
		r.SrcAddr, buf, ok = readAddr(buf, ok)
		r.DstAddr, buf, ok = readAddr(buf, ok)
		v, buf, ok = readUvarint(buf, ok)
		r.SrcPort = uint16(v)
		v, buf, ok = readUvarint(buf, ok)
		r.DstPort = uint16(v)
		v, buf, ok = readUvarint(buf, ok)
		r.Protocol = uint8(v)
		r.Packets, buf, ok = readUvarint(buf, ok)
		r.Bytes, buf, ok = readUvarint(buf, ok)
		v, buf, ok = readUvarint(buf, ok)
		r.Start = int64(v)
		v, buf, ok = readUvarint(buf, ok)
		r.End = int64(v)
		if !ok {
			d.fail()
			return
		}
		d.buf = buf
		return
	}
	if p.Has(flowlog.FVersion) {
		r.Version = uint8(d.uvarint())
	}
	if p.Has(flowlog.FSrcAddr) {
		r.SrcAddr = d.addr()
	}
	if p.Has(flowlog.FDstAddr) {
		r.DstAddr = d.addr()
	}
	if p.Has(flowlog.FSrcPort) {
		r.SrcPort = uint16(d.uvarint())
	}
	if p.Has(flowlog.FDstPort) {
		r.DstPort = uint16(d.uvarint())
	}
	if p.Has(flowlog.FProtocol) {
		r.Protocol = uint8(d.uvarint())
	}
	if p.Has(flowlog.FPackets) {
		r.Packets = d.uvarint()
	}
	if p.Has(flowlog.FBytes) {
		r.Bytes = d.uvarint()
	}
	if p.Has(flowlog.FStart) {
		r.Start = int64(d.uvarint())
	}
	if p.Has(flowlog.FEnd) {
		r.End = int64(d.uvarint())
	}
	if p.Has(flowlog.FTCPFlags) {
		r.TCPFlags = uint16(d.uvarint())
	}
	if p.Has(flowlog.FPktSrcAddr) {
		r.PktSrcAddr = d.addr()
	}
	if p.Has(flowlog.FPktDstAddr) {
		r.PktDstAddr = d.addr()
	}
	if p.Has(flowlog.FTrafficPath) {
		r.TrafficPath = uint8(d.uvarint())
	}
	for f := flowlog.FPacketsLostNoRoute; f <= flowlog.FPacketsLostTTLExpired; f++ {
		if p.Has(f) {
			r.PacketsLost[f-flowlog.FPacketsLostNoRoute] = d.uvarint()
		}
	}
}

// layout returns the number of r's layout in the frame, or 0 when the
// present fields are not exactly the space-separated tokens of the line
// (their spans are then written out). A layout says which token each
// present field is.
func (e *encoder) layout(r *flowlog.Record) uint64 {
	// Most records of a frame have the layout of the one before: check
	// that the fields, in that layout's token order, tile the line.
	if l := &e.last; l.id != 0 && l.present == r.Present {
		end := -1
		ok := true
		for _, f := range l.order {
			s := r.Span(f)
			if int(s.Off) != end+1 {
				ok = false
				break
			}
			end = int(s.Off) + int(s.Len)
		}
		if ok && end == len(r.Raw) {
			return l.id
		}
	}
	var spans [flowlog.NumFields]struct {
		off, end int
		f        flowlog.Field
	}
	n := 0
	for p := uint64(r.Present); p != 0; p &= p - 1 {
		f := flowlog.Field(bits.TrailingZeros64(p))
		s := r.Span(f)
		// Insertion by offset: fields mostly come in line order.
		i := n
		for i > 0 && spans[i-1].off > int(s.Off) {
			spans[i] = spans[i-1]
			i--
		}
		spans[i].off, spans[i].end, spans[i].f = int(s.Off), int(s.Off)+int(s.Len), f
		n++
	}
	if n == 0 || n > maxTokens || spans[0].off != 0 || spans[n-1].end != len(r.Raw) {
		return 0
	}
	var tok [flowlog.NumFields]byte
	order := make([]flowlog.Field, 0, n)
	for i := range n {
		if i > 0 && spans[i].off != spans[i-1].end+1 {
			return 0
		}
		tok[spans[i].f] = byte(i)
		order = append(order, spans[i].f)
	}
	key := binary.LittleEndian.AppendUint64(e.key[:0], uint64(r.Present))
	for p := uint64(r.Present); p != 0; p &= p - 1 {
		key = append(key, tok[bits.TrailingZeros64(p)])
	}
	e.key = key
	id, ok := e.layouts[string(key)]
	if !ok {
		if len(e.layoutList) >= 1024 {
			return 0
		}
		e.layoutList = append(e.layoutList, string(key))
		id = uint64(len(e.layoutList))
		e.layouts[string(key)] = id
	}
	e.last = lastLayout{id: id, present: r.Present, order: order}
	return id
}

// lastLayout is the layout of the previous record, with its fields in
// token order.
type lastLayout struct {
	id      uint64
	present flowlog.FieldSet
	order   []flowlog.Field
}

// maxTokens bounds the tokens of a line that layouts describe.
const maxTokens = 250

// decodeBatch rebuilds a batch from a compressed frame body into b (its
// slices are reused; nil allocates one). Records' Raw lines point into
// b.Buf.
func decodeBatch(body []byte, b *flowlog.Batch) (*flowlog.Batch, error) {
	return decodeBatchAs(body, b, codecS2)
}

// decodeBatchAs is decodeBatch for a body in codec (codecS2 or
// codecNone; an uncompressed body is used in place).
func decodeBatchAs(body []byte, b *flowlog.Batch, codec byte) (*flowlog.Batch, error) {
	if b == nil {
		b = &flowlog.Batch{}
	}
	if codec == codecNone {
		return decodeRaw(body, b)
	}
	n, err := s2.DecodedLen(body)
	if err != nil {
		return nil, fmt.Errorf("sinkbuf: decompress frame: %w", err)
	}
	if cap(b.Buf) < n {
		b.Buf = make([]byte, n)
	}
	raw, err := s2.Decode(b.Buf[:cap(b.Buf)], body)
	if err != nil {
		return nil, fmt.Errorf("sinkbuf: decompress frame: %w", err)
	}
	b.Buf = raw
	return decodeRaw(raw, b)
}

// decodeRaw decodes an uncompressed body into b.
func decodeRaw(raw []byte, b *flowlog.Batch) (*flowlog.Batch, error) {
	if len(raw) < 4 {
		return nil, errShortBody
	}
	t := int(binary.LittleEndian.Uint32(raw[len(raw)-4:]))
	if t > len(raw)-4 {
		return nil, errShortBody
	}
	d := decoder{buf: raw[:t], tables: raw[t : len(raw)-4]}
	if err := d.batch(b); err != nil {
		return nil, err
	}
	if d.err != nil {
		return nil, d.err
	}
	return b, nil
}

type layout struct {
	present flowlog.FieldSet
	// order is the field of each space-separated token of the line, in
	// line order (the fields tile the line: one token each).
	order []flowlog.Field
}

// newLayout checks a layout read from a frame: tokens, the token of each
// present field in field order, must number the fields' tokens 0..n-1.
func newLayout(present flowlog.FieldSet, tokens []byte) (layout, bool) {
	n := bits.OnesCount64(uint64(present))
	if len(tokens) != n || n == 0 || n > maxTokens {
		return layout{}, false
	}
	order := make([]flowlog.Field, n)
	var seen [maxTokens]bool
	j := 0
	for p := uint64(present); p != 0; p &= p - 1 {
		k := int(tokens[j])
		if k >= n || seen[k] {
			return layout{}, false
		}
		seen[k] = true
		order[k] = flowlog.Field(bits.TrailingZeros64(p))
		j++
	}
	return layout{present: present, order: order}, true
}

// setSpans gives each field of order the span of its token of r.Raw, in
// one pass over the line; false when the line has another number of
// tokens.
func setSpans(r *flowlog.Record, order []flowlog.Field) bool {
	const lows, spaces = 0x7f7f7f7f7f7f7f7f, 0x2020202020202020
	raw := r.Raw
	t, start, i := 0, 0, 0
	// Eight bytes at a time: the high bit of each byte that is a space,
	// exactly (x is zero there; adding 0x7f to the low bits of any other
	// byte, or its own high bit, sets its high bit).
	for ; i+8 <= len(raw); i += 8 {
		x := binary.LittleEndian.Uint64(raw[i:]) ^ spaces
		for m := ^((x&lows + lows) | x | lows); m != 0; m &= m - 1 {
			j := i + bits.TrailingZeros64(m)/8
			if t >= len(order)-1 {
				return false
			}
			r.SetSpan(order[t], start, j-start)
			t++
			start = j + 1
		}
	}
	for ; i < len(raw); i++ {
		if raw[i] == ' ' {
			if t >= len(order)-1 {
				return false
			}
			r.SetSpan(order[t], start, i-start)
			t++
			start = i + 1
		}
	}
	if t != len(order)-1 {
		return false
	}
	r.SetSpan(order[t], start, len(raw)-start)
	return true
}

type decoder struct {
	buf    []byte
	tables []byte
	err    error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errShortBody
	}
	d.buf = nil
}

func (d *decoder) uvarint() uint64 {
	if len(d.buf) > 0 && d.buf[0] < 0x80 {
		v := d.buf[0]
		d.buf = d.buf[1:]
		return uint64(v)
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.buf)) {
		d.fail()
		return nil
	}
	v := d.buf[:n:n]
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) byte1() byte {
	if len(d.buf) < 1 {
		d.fail()
		return 0
	}
	v := d.buf[0]
	d.buf = d.buf[1:]
	return v
}

func (d *decoder) addr() netip.Addr {
	switch n := d.byte1(); n {
	case 0:
		return netip.Addr{}
	case 4:
		if len(d.buf) < 4 {
			d.fail()
			return netip.Addr{}
		}
		a := netip.AddrFrom4([4]byte(d.buf[:4]))
		d.buf = d.buf[4:]
		return a
	case 16:
		if len(d.buf) < int(n) {
			d.fail()
			return netip.Addr{}
		}
		a, _ := netip.AddrFromSlice(d.buf[:n])
		d.buf = d.buf[n:]
		return a
	default:
		d.fail()
		return netip.Addr{}
	}
}

// count reads a length and checks it against what is left (each element
// takes at least one byte), so a corrupt length cannot allocate gigabytes.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.buf)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) batch(b *flowlog.Batch) error {
	if v := d.uvarint(); v != codecVersion {
		return fmt.Errorf("sinkbuf: frame body version %d, want %d", v, codecVersion)
	}
	// The tables, at the end of the body.
	recs := d.buf
	d.buf = d.tables
	b.Source, b.Partition = d.str(), d.str()
	b.Read = time.Time{}
	if ns := d.varint(); ns != 0 {
		b.Read = time.Unix(0, ns)
	}
	origins := make([]*flowlog.Origin, d.count())
	for i := range origins {
		origins[i] = &flowlog.Origin{Name: d.str(), LogGroup: d.str(), LogStream: d.str(), Account: d.str(), Region: d.str()}
	}
	enis := make([]*flowlog.ENI, d.count())
	for i := range enis {
		enis[i] = d.eni()
	}
	ref := func(n uint64, max int) int {
		if n > uint64(max) {
			d.fail()
			return 0
		}
		return int(n)
	}
	layouts := make([]layout, d.count())
	for i := range layouts {
		k := d.bytes()
		if len(k) < 8 {
			d.fail()
			break
		}
		lay, ok := newLayout(flowlog.FieldSet(binary.LittleEndian.Uint64(k)), k[8:])
		if !ok {
			d.fail()
			break
		}
		layouts[i] = lay
	}
	if d.err != nil {
		return d.err
	}
	d.buf = recs
	n := d.count()
	if cap(b.Records) < n {
		b.Records = make([]flowlog.Record, n)
	} else {
		b.Records = b.Records[:n]
		clear(b.Records)
	}
	for i := range b.Records {
		r := &b.Records[i]
		r.Raw = d.bytes()
		if o := ref(d.uvarint(), len(origins)); o > 0 {
			r.Origin = origins[o-1]
		}
		if x := ref(d.uvarint(), len(enis)); x > 0 {
			r.ENI = enis[x-1]
		}
		if l := ref(d.uvarint(), len(layouts)); l > 0 {
			if !setSpans(r, layouts[l-1].order) {
				d.fail()
			}
		} else {
			present := flowlog.FieldSet(d.uvarint())
			for p := uint64(present); p != 0; p &= p - 1 {
				off, n := d.uvarint(), d.uvarint()
				if off+n > uint64(len(r.Raw)) {
					d.fail()
					break
				}
				r.SetSpan(flowlog.Field(bits.TrailingZeros64(p)), int(off), int(n))
			}
		}
		r.Direction = flowlog.Direction(d.byte1())
		d.setValues(r)
		if d.err != nil {
			return d.err
		}
	}
	b.Failed = b.Failed[:0]
	if n := d.count(); n > 0 {
		b.Failed = make([]flowlog.Failure, n)
		for i := range b.Failed {
			f := &b.Failed[i]
			f.Stage = d.str()
			if msg := d.str(); msg != "" {
				f.Err = errors.New(msg)
			}
			f.Raw = d.bytes()
			if o := ref(d.uvarint(), len(origins)); o > 0 {
				f.Origin = origins[o-1]
			}
		}
	}
	return d.err
}

func (d *decoder) eni() *flowlog.ENI {
	x := &flowlog.ENI{InterfaceID: d.str(), AccountID: d.str(), Region: d.str(), VPCID: d.str(), SubnetID: d.str(),
		AvailabilityZone: d.str(), InstanceID: d.str(), InterfaceType: d.str()}
	if n := d.count(); n > 0 {
		x.SecurityGroupIDs = make([]string, n)
		for i := range x.SecurityGroupIDs {
			x.SecurityGroupIDs[i] = d.str()
		}
	}
	if n := d.count(); n > 0 {
		x.Addresses = make([]netip.Addr, n)
		for i := range x.Addresses {
			x.Addresses[i] = d.addr()
		}
	}
	if n := d.count(); n > 0 {
		x.Tags = make(map[string]string, n)
		for range n {
			k := d.str()
			x.Tags[k] = d.str()
		}
	}
	return x
}

// copyBatch copies src into dst (from a pool, or nil): its records and
// failures, with their lines in one buffer; origins and ENIs are shared
// (immutable).
func copyBatch(dst, src *flowlog.Batch) *flowlog.Batch {
	if dst == nil {
		dst = &flowlog.Batch{}
	}
	total := 0
	for i := range src.Records {
		total += len(src.Records[i].Raw)
	}
	for i := range src.Failed {
		total += len(src.Failed[i].Raw)
	}
	buf := dst.Buf[:0]
	if cap(buf) < total {
		buf = make([]byte, 0, total)
	}
	dst.Source, dst.Partition, dst.Read, dst.Span = src.Source, src.Partition, src.Read, src.Span
	dst.Records = append(dst.Records[:0], src.Records...)
	for i := range dst.Records {
		r := &dst.Records[i]
		start := len(buf)
		buf = append(buf, r.Raw...)
		r.Raw = buf[start:len(buf):len(buf)]
	}
	dst.Failed = append(dst.Failed[:0], src.Failed...)
	for i := range dst.Failed {
		f := &dst.Failed[i]
		start := len(buf)
		buf = append(buf, f.Raw...)
		f.Raw = buf[start:len(buf):len(buf)]
	}
	dst.Buf = buf
	return dst
}
