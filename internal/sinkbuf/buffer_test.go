package sinkbuf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

func testBatch(n, start int) *flowlog.Batch {
	o := &flowlog.Origin{Name: "flows/0@12", LogGroup: "g", Account: "123456789012", Region: "eu-west-1"}
	e := &flowlog.ENI{InterfaceID: "eni-1", VPCID: "vpc-1", SecurityGroupIDs: []string{"sg-1", "sg-2"},
		Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")}, Tags: map[string]string{"a": "b"}}
	b := &flowlog.Batch{Source: "k", Partition: "flows/0", Read: time.Unix(1700000000, 5)}
	fields := []flowlog.Field{flowlog.FVersion, flowlog.FAccountID, flowlog.FInterfaceID, flowlog.FSrcAddr, flowlog.FDstAddr,
		flowlog.FSrcPort, flowlog.FDstPort, flowlog.FProtocol, flowlog.FPackets, flowlog.FBytes, flowlog.FStart, flowlog.FEnd,
		flowlog.FAction, flowlog.FLogStatus}
	for i := range n {
		line := fmt.Sprintf("2 123456789012 eni-1 10.0.0.1 10.0.0.%d 443 %d 6 10 840 1700000000 1700000060 ACCEPT OK", (start+i)%250, start+i)
		if i%7 == 3 {
			line = strings.Replace(line, " 443 ", "  443 ", 1) // two spaces: spans written out
		}
		r := flowlog.Record{Raw: []byte(line), Origin: o, Version: 2, Protocol: 6, SrcPort: 443, DstPort: uint16(start + i),
			Packets: 10, Bytes: 840, Start: 1700000000, End: 1700000060, Direction: flowlog.DirInbound,
			SrcAddr: netip.MustParseAddr("10.0.0.1"), DstAddr: netip.MustParseAddr(fmt.Sprintf("10.0.0.%d", (start+i)%250))}
		off := 0
		for j, tok := range strings.Fields(line) {
			off += strings.Index(line[off:], tok)
			r.SetSpan(fields[j], off, len(tok))
			off += len(tok)
		}
		if i%2 == 0 {
			r.ENI = e
		}
		b.Records = append(b.Records, r)
	}
	return b
}

func TestCodecRoundTrip(t *testing.T) {
	b := testBatch(100, 0)
	enc, _ := encodeBatch(nil, nil, b)
	got, err := decodeBatch(enc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Records) != 100 || got.Source != "k" || got.Partition != "flows/0" || !got.Read.Equal(b.Read) {
		t.Fatalf("batch: %+v", got)
	}
	for i := range b.Records {
		w, g := b.Records[i], got.Records[i]
		if string(w.Text(flowlog.FAction)) != string(g.Text(flowlog.FAction)) || string(g.Text(flowlog.FAction)) != "ACCEPT" {
			t.Fatalf("record %d: span lost: %q", i, g.Text(flowlog.FAction))
		}
		if !reflect.DeepEqual(*w.Origin, *g.Origin) && w.Origin.Name != g.Origin.Name {
			t.Fatalf("origin differs")
		}
		if (w.ENI == nil) != (g.ENI == nil) || w.ENI != nil && !reflect.DeepEqual(*w.ENI, *g.ENI) {
			t.Fatalf("record %d: ENI %+v, want %+v", i, g.ENI, w.ENI)
		}
		w.Origin, g.Origin, w.ENI, g.ENI = nil, nil, nil, nil
		if !reflect.DeepEqual(w, g) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if per := len(enc) / 100; per > 60 {
		t.Errorf("%d bytes per record stored; want a compact form", per)
	}
	fb := &flowlog.Batch{Failed: []flowlog.Failure{{Stage: "parse", Err: errors.New("bad line"), Raw: []byte("xx"), Origin: b.Records[0].Origin}}}
	enc, _ = encodeBatch(nil, nil, fb)
	got, err = decodeBatch(enc, nil)
	if err != nil || len(got.Failed) != 1 || got.Failed[0].Err.Error() != "bad line" || string(got.Failed[0].Raw) != "xx" || got.Failed[0].Origin.Name != "flows/0@12" {
		t.Fatalf("failures: %+v %v", got, err)
	}
}

func drainN(t *testing.T, b *Buffer, n int) []int {
	t.Helper()
	var ports []int
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(ports) < n {
		it, batch, err := b.Next(ctx)
		if err != nil {
			t.Fatalf("next after %d records: %v", len(ports), err)
		}
		for _, r := range batch.Records {
			ports = append(ports, int(r.DstPort))
		}
		b.Done(it, nil)
	}
	return ports
}

func TestDiskPutDrainReopen(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Type: TypeDisk, Path: dir, MaxBytes: 4 << 20}
	b, err := Open(cfg, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	acked := make(chan error, 100)
	for i := range 10 {
		if err := b.Put(context.Background(), testBatch(500, i*500), func(err error) { acked <- err }); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		if err := <-acked; err != nil {
			t.Fatal(err)
		}
	}
	if s := b.Stats(); s.Records != 5000 || s.Bytes <= 0 || s.Oldest.IsZero() {
		t.Fatalf("stats %+v", s)
	}
	got := drainN(t, b, 2000)
	if got[0] != 0 || got[1999] != 1999 {
		t.Fatalf("order: %d..%d", got[0], got[1999])
	}
	// A crash: nothing closed; open the same directory again.
	b2, err := Open(cfg, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rec := b2.Recovery(); rec.Records < 3000 || rec.Records > 5000 {
		t.Fatalf("recovered %+v", rec)
	}
	n := int(b2.Stats().Records)
	got = drainN(t, b2, n)
	if got[len(got)-1] != 4999 {
		t.Fatalf("last record %d", got[len(got)-1])
	}
	if s := b2.Stats(); s.Records != 0 || !s.Oldest.IsZero() {
		t.Fatalf("stats after drain %+v", s)
	}
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}
	b.Close()
	// A clean close leaves nothing to deliver again.
	b3, err := Open(cfg, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b3.Close()
	if s := b3.Stats(); s.Records != 0 {
		t.Fatalf("after a clean close %d records are delivered again", s.Records)
	}
}

func TestDiskCorruptTailIsReportedAndSkipped(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Type: TypeDisk, Path: dir, MaxBytes: 4 << 20}
	b, err := Open(cfg, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 10)
	for i := range 4 {
		if err := b.Put(context.Background(), testBatch(100, i*100), func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		<-done
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "s", "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments %v", segs)
	}
	st, _ := os.Stat(segs[0])
	f, _ := os.OpenFile(segs[0], os.O_RDWR, 0)
	f.WriteAt([]byte("garbage!"), st.Size()-20) // inside the last frame
	f.Write(nil)
	f.Close()
	var logs testkit.Buffer
	b2, err := Open(cfg, "s", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if rec := b2.Recovery(); rec.Records != 300 || len(rec.Lost) != 1 {
		t.Fatalf("recovery %+v", rec)
	}
	if !strings.Contains(logs.String(), "corrupt segment tail skipped") || !strings.Contains(logs.String(), "lost_records_at_least") {
		t.Fatalf("damage not reported:\n%s", logs.String())
	}
	if got := drainN(t, b2, 300); got[299] != 299 {
		t.Fatalf("got %v", got[290:])
	}
	// New writes after the damaged segment are intact.
	if err := b2.Put(context.Background(), testBatch(10, 1000), func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	<-done
	if got := drainN(t, b2, 10); got[0] != 1000 {
		t.Fatalf("got %v", got)
	}
}

func TestFullBufferBlocksOrDrops(t *testing.T) {
	for _, typ := range []string{TypeMemory, TypeDisk} {
		t.Run(typ, func(t *testing.T) {
			cfg := Config{Type: typ, MaxBytes: MinBytes, WhenFull: WhenFullDropNewest}
			if typ == TypeDisk {
				cfg.Path = t.TempDir()
			}
			b, err := Open(cfg, "s", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			acks := make(chan error, 1000)
			var stored int
			for i := 0; ; i++ {
				err := b.Put(context.Background(), testBatch(1000, i*1000), func(err error) { acks <- err })
				if errors.Is(err, ErrFull) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				stored += 1000
			}
			if s := b.Stats(); s.Bytes > MinBytes || s.Records != int64(stored) {
				t.Fatalf("stats %+v, stored %d", s, stored)
			}
			b.cfg.WhenFull = WhenFullBlock
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if err := b.Put(ctx, testBatch(1000, 0), func(error) {}); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("a full blocking buffer returned %v", err)
			}
			// Room made by the drain lets a blocked Put through.
			put := make(chan error, 1)
			go func() { put <- b.Put(context.Background(), testBatch(1000, 0), func(err error) { acks <- err }) }()
			drainN(t, b, stored)
			if err := <-put; err != nil {
				t.Fatal(err)
			}
			drainN(t, b, 1000)
		})
	}
}

func TestMemoryAcksOnlyWhenDelivered(t *testing.T) {
	b, err := Open(Config{Type: TypeMemory}, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	acked := make(chan error, 10)
	if err := b.Put(context.Background(), testBatch(5000, 0), func(err error) { acked <- err }); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(context.Background(), testBatch(10, 0), func(err error) { acked <- err }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-acked:
		t.Fatalf("acknowledged (%v) before delivery", err)
	default:
	}
	ctx := context.Background()
	var its []*Item
	for range 3 { // 5000 records: 3 frames
		it, _, err := b.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		its = append(its, it)
	}
	b.Done(its[2], nil)
	b.Done(its[0], nil)
	select {
	case err := <-acked:
		t.Fatalf("acknowledged (%v) with a frame out", err)
	default:
	}
	b.Done(its[1], nil)
	if err := <-acked; err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := <-acked; !errors.Is(err, ErrClosed) {
		t.Fatalf("undelivered batch acked with %v on close, want a nack", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ro := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(ro, 0o500)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Type: "tape"}, "type: must be memory or disk"},
		{Config{Type: TypeDisk}, "path: missing"},
		{Config{Type: TypeMemory, Path: "/x"}, "path: only a disk buffer"},
		{Config{Type: TypeMemory, MaxBytes: 10}, "max_bytes: 10 is below"},
		{Config{Type: TypeMemory, WhenFull: "drop_oldest"}, "when_full: must be block or drop_newest"},
		{Config{Type: TypeDisk, Path: t.TempDir(), MaxBytes: 1 << 60}, "more than the whole file system"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if os.Getuid() != 0 {
		if err := (&Config{Type: TypeDisk, Path: ro}).Validate(); err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Errorf("read-only path: %v", err)
		}
	}
	for in, want := range map[string]Size{"1048576": 1 << 20, "64MiB": 64 << 20, "2 GB": 2e9, "1GiB": 1 << 30} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v", in, got, err)
		}
	}
}

func TestSetSpans(t *testing.T) {
	for _, line := range []string{"a", "a b", "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 1 6 10 840 1 2 ACCEPT OK",
		"  two  spaces  ", "abcdefgh ijklmnop qrstuvwx", "!!!!!!!! !!!!!!!!\x20\x21\x20", "\xa0\xa0\xa0\xa0\xa0\xa0\xa0\xa0 \xa0"} {
		toks := strings.Split(line, " ")
		order := make([]flowlog.Field, len(toks))
		for k := range order {
			order[k] = flowlog.Field(len(toks) - 1 - k) // fields in reverse line order
		}
		r := flowlog.Record{Raw: []byte(line)}
		if !setSpans(&r, order) {
			t.Fatalf("%q: setSpans failed", line)
		}
		for k, tok := range toks {
			if got := string(r.Text(order[k])); got != tok {
				t.Errorf("%q: token %d = %q, want %q", line, k, got, tok)
			}
		}
		// Another number of tokens than the layout has is refused.
		if len(order) > 1 && setSpans(&flowlog.Record{Raw: []byte(line)}, order[1:]) {
			t.Errorf("%q: setSpans accepted a layout of one token fewer", line)
		}
		if setSpans(&flowlog.Record{Raw: []byte(line)}, append(order, flowlog.FAction)) {
			t.Errorf("%q: setSpans accepted a layout of one token more", line)
		}
	}
	// A layout whose tokens do not number the fields is refused.
	present := flowlog.FieldSet(0).With(flowlog.FVersion).With(flowlog.FAction)
	for _, tokens := range [][]byte{{0, 0}, {0, 2}, {0}, {1, 0, 2}} {
		if _, ok := newLayout(present, tokens); ok {
			t.Errorf("layout %v accepted", tokens)
		}
	}
	if l, ok := newLayout(present, []byte{1, 0}); !ok || !reflect.DeepEqual(l.order, []flowlog.Field{flowlog.FAction, flowlog.FVersion}) {
		t.Errorf("layout {1, 0}: %v %v", l.order, ok)
	}
}

// valueFields names exactly the numeric and address fields: a field added
// to flowlog must be added to the codec's values and setValues too.
func TestValueFieldsMatchKinds(t *testing.T) {
	var want uint64
	for f := range flowlog.NumFields {
		if k := f.Kind(); k == flowlog.KindInt || k == flowlog.KindAddr {
			want |= 1 << f
		}
	}
	if want != valueFields {
		t.Fatalf("valueFields = %#x, the numeric and address fields are %#x", uint64(valueFields), want)
	}
}

// Every numeric and address field survives a frame, compressed or not,
// IPv6 included.
func TestCodecRoundTripAllValueFields(t *testing.T) {
	b := &flowlog.Batch{Source: "k"}
	for i := range 3 {
		r := flowlog.Record{Raw: []byte("some line")}
		for f := range flowlog.NumFields {
			if i == 1 && f%3 == 0 {
				continue // some absent
			}
			r.SetSpan(f, 0, 4)
			switch f.Kind() {
			case flowlog.KindInt:
				r.SetInt(f, uint64(1000*int(f)+i))
			case flowlog.KindAddr:
				if f%2 == 0 {
					r.SetAddr(f, netip.MustParseAddr(fmt.Sprintf("fd00::%d", int(f)+i)))
				} else {
					r.SetAddr(f, netip.MustParseAddr(fmt.Sprintf("10.0.%d.%d", f, i)))
				}
			}
		}
		b.Records = append(b.Records, r)
	}
	for _, compress := range []bool{true, false} {
		enc, _ := encodeBatchAs(nil, nil, b, compress)
		codec := byte(codecNone)
		if compress {
			codec = codecS2
		}
		got, err := decodeBatchAs(enc, nil, codec)
		if err != nil {
			t.Fatal(err)
		}
		for i := range b.Records {
			if !reflect.DeepEqual(b.Records[i], got.Records[i]) {
				t.Fatalf("compress %v, record %d:\n got %+v\nwant %+v", compress, i, got.Records[i], b.Records[i])
			}
		}
	}
}

// A write failing partway through a batch of several frames: Put returns
// the error and never acknowledges; the frames stored before it stay, with
// their ready copies, which stay theirs (a later Put does not reuse them);
// the buffer takes batches again once writes succeed.
func TestDiskWriteFailsPartwayThroughBatch(t *testing.T) {
	dir := t.TempDir()
	// 4MiB: 256KiB segments, so each 2048-record frame starts a segment.
	b, err := Open(Config{Type: TypeDisk, Path: dir, MaxBytes: 4 << 20}, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.disk.segSize != 256<<10 {
		t.Fatalf("segments of %d bytes; the test needs 256KiB", b.disk.segSize)
	}
	// The second frame's segment cannot be created: its name is taken.
	blocker := filepath.Join(dir, "s", fmt.Sprintf("%016x%s", 2, segExt))
	if err := os.Mkdir(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	batch := testBatch(3*maxFrameRecords, 0)
	want := make([]string, maxFrameRecords)
	for i := range want {
		want[i] = string(batch.Records[i].Raw)
	}
	acked := make(chan error, 1)
	err = b.Put(context.Background(), batch, func(err error) { acked <- err })
	if err == nil || !strings.Contains(err.Error(), "new segment") {
		t.Fatalf("Put = %v, want the segment error", err)
	}
	// The caller may reuse its batch at once.
	for i := range batch.Records {
		clear(batch.Records[i].Raw)
	}
	if s := b.Stats(); s.Records != maxFrameRecords {
		t.Fatalf("%d records stored, want the first frame's %d", s.Records, maxFrameRecords)
	}
	it, err := b.Take(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	first, err := b.Load(it)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		if len(first.Records) != len(want) {
			t.Fatalf("%s: %d records, want %d", what, len(first.Records), len(want))
		}
		for i, r := range first.Records {
			if string(r.Raw) != want[i] {
				t.Fatalf("%s: record %d is %q, want %q", what, i, r.Raw, want[i])
			}
		}
	}
	check("the stored frame")

	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := b.Put(context.Background(), testBatch(maxFrameRecords, 50000+i*maxFrameRecords), func(err error) { acked <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-acked; err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-acked:
		t.Fatalf("the failed Put was acknowledged: %v", err)
	default:
	}
	check("the stored frame, after more puts")
	b.Done(it, nil)
	b.Release(first)
	if got := drainN(t, b, 4*maxFrameRecords); got[0] != 50000 {
		t.Fatalf("next record %d, want 50000", got[0])
	}
}
