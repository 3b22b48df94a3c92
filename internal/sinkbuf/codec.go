package sinkbuf

import (
	"encoding/binary"
	"errors"
	"fmt"
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

const codecVersion = 1

var errShortBody = errors.New("sinkbuf: frame body truncated")

// encodeBatch appends the compressed compact form of b (records, or
// failures when b has no records) to dst. scratch is reused between calls.
func encodeBatch(dst, scratch []byte, b *flowlog.Batch) (out, scr []byte) {
	e := encoder{buf: scratch[:0], origins: map[*flowlog.Origin]uint64{}, enis: map[*flowlog.ENI]uint64{}}
	e.uvarint(codecVersion)
	e.str(b.Source)
	e.str(b.Partition)
	e.varint(b.Read.UnixNano())
	// Tables first: collect the distinct origins and ENIs in order.
	var origins []*flowlog.Origin
	var enis []*flowlog.ENI
	addOrigin := func(o *flowlog.Origin) {
		if o != nil {
			if _, ok := e.origins[o]; !ok {
				origins = append(origins, o)
				e.origins[o] = uint64(len(origins))
			}
		}
	}
	for i := range b.Records {
		addOrigin(b.Records[i].Origin)
		if x := b.Records[i].ENI; x != nil {
			if _, ok := e.enis[x]; !ok {
				enis = append(enis, x)
				e.enis[x] = uint64(len(enis))
			}
		}
	}
	if len(b.Records) == 0 {
		for i := range b.Failed {
			addOrigin(b.Failed[i].Origin)
		}
	}
	e.uvarint(uint64(len(origins)))
	for _, o := range origins {
		e.str(o.Name)
		e.str(o.LogGroup)
		e.str(o.LogStream)
		e.str(o.Account)
		e.str(o.Region)
	}
	e.uvarint(uint64(len(enis)))
	for _, x := range enis {
		e.eni(x)
	}
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
			e.uvarint(e.origins[f.Origin])
		}
	} else {
		e.uvarint(0)
	}
	n := s2.MaxEncodedLen(len(e.buf))
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	enc := s2.Encode(dst[start:], e.buf)
	return dst[:start+len(enc)], e.buf
}

type encoder struct {
	buf     []byte
	origins map[*flowlog.Origin]uint64
	enis    map[*flowlog.ENI]uint64
}

func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *encoder) varint(v int64)   { e.buf = binary.AppendVarint(e.buf, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.buf = append(e.buf, s...) }
func (e *encoder) bytes(s []byte)   { e.uvarint(uint64(len(s))); e.buf = append(e.buf, s...) }

func (e *encoder) addr(a netip.Addr) {
	switch {
	case !a.IsValid():
		e.buf = append(e.buf, 0)
	case a.Is4():
		v := a.As4()
		e.buf = append(e.buf, 4)
		e.buf = append(e.buf, v[:]...)
	default:
		v := a.As16()
		e.buf = append(e.buf, 16)
		e.buf = append(e.buf, v[:]...)
	}
}

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
	e.uvarint(e.origins[r.Origin])
	e.uvarint(e.enis[r.ENI])
	e.uvarint(uint64(r.Present))
	for f := range flowlog.NumFields {
		if r.Present.Has(f) {
			s := r.Span(f)
			e.uvarint(uint64(s.Off))
			e.uvarint(uint64(s.Len))
		}
	}
	e.buf = append(e.buf, r.Version, r.Protocol, r.TrafficPath, byte(r.Direction))
	e.uvarint(uint64(r.SrcPort))
	e.uvarint(uint64(r.DstPort))
	e.uvarint(uint64(r.TCPFlags))
	e.uvarint(r.Packets)
	e.uvarint(r.Bytes)
	e.varint(r.Start)
	e.varint(r.End)
	for _, v := range r.PacketsLost {
		e.uvarint(v)
	}
	e.addr(r.SrcAddr)
	e.addr(r.DstAddr)
	e.addr(r.PktSrcAddr)
	e.addr(r.PktDstAddr)
}

// decodeBatch rebuilds a batch from a compressed frame body. Records' Raw
// lines point into one buffer held by the batch.
func decodeBatch(body []byte) (*flowlog.Batch, error) {
	raw, err := s2.Decode(nil, body)
	if err != nil {
		return nil, fmt.Errorf("sinkbuf: decompress frame: %w", err)
	}
	d := decoder{buf: raw}
	b, err := d.batch()
	if err != nil {
		return nil, err
	}
	if d.err != nil {
		return nil, d.err
	}
	return b, nil
}

type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errShortBody
	}
	d.buf = nil
}

func (d *decoder) uvarint() uint64 {
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
	case 4, 16:
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

func (d *decoder) batch() (*flowlog.Batch, error) {
	if v := d.uvarint(); v != codecVersion {
		return nil, fmt.Errorf("sinkbuf: frame body version %d, want %d", v, codecVersion)
	}
	b := &flowlog.Batch{Source: d.str(), Partition: d.str()}
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
	b.Records = make([]flowlog.Record, d.count())
	for i := range b.Records {
		r := &b.Records[i]
		r.Raw = d.bytes()
		if o := ref(d.uvarint(), len(origins)); o > 0 {
			r.Origin = origins[o-1]
		}
		if x := ref(d.uvarint(), len(enis)); x > 0 {
			r.ENI = enis[x-1]
		}
		present := flowlog.FieldSet(d.uvarint())
		for f := range flowlog.NumFields {
			if present.Has(f) {
				off, n := d.uvarint(), d.uvarint()
				if off+n > uint64(len(r.Raw)) {
					d.fail()
					break
				}
				r.SetSpan(f, int(off), int(n))
			}
		}
		r.Version, r.Protocol, r.TrafficPath, r.Direction = d.byte1(), d.byte1(), d.byte1(), flowlog.Direction(d.byte1())
		r.SrcPort, r.DstPort, r.TCPFlags = uint16(d.uvarint()), uint16(d.uvarint()), uint16(d.uvarint())
		r.Packets, r.Bytes = d.uvarint(), d.uvarint()
		r.Start, r.End = d.varint(), d.varint()
		for j := range r.PacketsLost {
			r.PacketsLost[j] = d.uvarint()
		}
		r.SrcAddr, r.DstAddr, r.PktSrcAddr, r.PktDstAddr = d.addr(), d.addr(), d.addr(), d.addr()
		if d.err != nil {
			return nil, d.err
		}
	}
	if len(b.Records) == 0 {
		b.Records = nil
	}
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
	return b, d.err
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
