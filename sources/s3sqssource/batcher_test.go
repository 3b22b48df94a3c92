package s3sqssource

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// TestBatcher checks that records keep pointing at their own bytes while
// batch buffers grow, move and fill, for both ways of adding lines.
func TestBatcher(t *testing.T) {
	var got []string
	var failed []string
	bt := &batcher{
		source: "s3", partition: "p", origin: &flowlog.Origin{Name: "p"},
		maxRecords: 5, maxBytes: 64, hint: 20,
		emit: func(b *flowlog.Batch) error {
			if len(b.Buf) > 64 || len(b.Records) > 5 {
				t.Errorf("batch of %d records, %d bytes", len(b.Records), len(b.Buf))
			}
			for _, r := range b.Records {
				got = append(got, string(r.Raw))
			}
			for _, f := range b.Failed {
				failed = append(failed, f.Err.Error())
			}
			return nil
		},
		pool: &flowlog.BatchPool{},
	}
	var want []string
	for i := range 40 {
		line := strings.Repeat(string(rune('a'+i%26)), 1+i%15)
		if i%3 == 0 {
			if err := bt.add([]byte("  " + line + "\r\n")); err != nil {
				t.Fatal(err)
			}
			want = append(want, line)
			continue
		}
		maxLine := 12
		rejected, n, err := bt.appendLine(maxLine, func(dst []byte) []byte { return append(dst, line...) })
		if err != nil {
			t.Fatal(err)
		}
		if len(line) > maxLine {
			if rejected == nil || n != len(line) {
				t.Fatalf("line of %d bytes not rejected", len(line))
			}
			continue
		}
		want = append(want, line)
	}
	// A render that outgrows the buffer's capacity moves it; the records
	// already in the batch follow.
	if _, _, err := bt.appendLine(4, func(dst []byte) []byte { return append(dst, "yy"...) }); err != nil {
		t.Fatal(err)
	}
	want = append(want, "yy")
	before := unsafe.SliceData(bt.batch().Buf)
	rejected, n, err := bt.appendLine(4, func(dst []byte) []byte { return append(dst, strings.Repeat("q", 100)...) })
	if err != nil || n != 100 || len(rejected) != 100 {
		t.Fatalf("over-long render: %d %d %v", len(rejected), n, err)
	}
	nb := bt.batch()
	if unsafe.SliceData(nb.Buf) == before || cap(nb.Buf) > 64 {
		t.Fatalf("buffer not moved or beyond 64 bytes (capacity %d)", cap(nb.Buf))
	}
	for _, r := range nb.Records {
		if p := uintptr(unsafe.Pointer(unsafe.SliceData(r.Raw))); p < uintptr(unsafe.Pointer(unsafe.SliceData(nb.Buf))) ||
			p >= uintptr(unsafe.Pointer(unsafe.SliceData(nb.Buf)))+uintptr(cap(nb.Buf)) {
			t.Fatalf("record %q does not point into the moved buffer", r.Raw)
		}
	}
	if _, _, err := bt.appendLine(4, func(dst []byte) []byte { return append(dst, "xx"...) }); err != nil {
		t.Fatal(err)
	}
	want = append(want, "xx")
	bt.fail(errNack, []byte("bad"))
	if err := bt.flush(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if len(failed) != 1 {
		t.Errorf("failed = %q", failed)
	}
	if bt.records != int64(len(want)) {
		t.Errorf("records = %d, want %d", bt.records, len(want))
	}
}
