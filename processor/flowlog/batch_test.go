package flowlog

import (
	"errors"
	"net/netip"
	"testing"
)

// A batch put back keeps nothing that would hold its lines (fetch
// buffers), origins or enrichment alive, and comes back empty with its
// capacity.
func TestBatchPoolPut(t *testing.T) {
	var bp BatchPool
	b := &Batch{Records: make([]Record, 0, 8), Buf: make([]byte, 0, 64)}
	o, e := &Origin{Name: "t/0@1"}, &ENI{InterfaceID: "eni-1"}
	for range 5 {
		b.Records = append(b.Records, Record{Raw: []byte("line"), Origin: o, ENI: e, Packets: 7})
	}
	b.Fail("k", errors.New("bad"), []byte("raw"), o)
	b.Source, b.Partition, b.Buf = "k", "t/0", append(b.Buf, "data"...)
	bp.Put(b)
	if len(b.Records) != 0 || cap(b.Records) != 8 || len(b.Failed) != 0 || len(b.Buf) != 0 || cap(b.Buf) != 64 || b.Source != "" || b.Partition != "" {
		t.Fatalf("batch not emptied with its capacity kept: %+v", b)
	}
	for i, r := range b.Records[:5] {
		if r.Raw != nil || r.Origin != nil || r.ENI != nil {
			t.Fatalf("record %d still points at its line, origin or ENI", i)
		}
	}
	if f := b.Failed[:1][0]; f.Raw != nil || f.Origin != nil || f.Err != nil {
		t.Fatalf("failure still held: %+v", f)
	}
	// The pool may drop what it holds (at a collection, or at random under
	// the race detector): Get returns the batch or nil, never another.
	if got := bp.Get(); got != nil && got != b {
		t.Fatalf("Get returned a batch never put")
	}
}

// SetInt and SetAddr store what Int and Addr read back, for every integer
// and address field.
func TestSetIntAddrRoundTrip(t *testing.T) {
	a := netip.MustParseAddr("10.1.2.3")
	for f := range NumFields {
		var r Record
		switch f.Kind() {
		case KindInt:
			r.SetInt(f, 200)
			r.SetSpan(f, 0, 0)
			if v, ok := r.Int(f); !ok || v != 200 {
				t.Errorf("%s: Int = %d, %v after SetInt(200)", f, v, ok)
			}
		case KindAddr:
			r.SetAddr(f, a)
			r.SetSpan(f, 0, 0)
			if got, ok := r.Addr(f); !ok || got != a {
				t.Errorf("%s: Addr = %v, %v after SetAddr", f, got, ok)
			}
		}
	}
}
