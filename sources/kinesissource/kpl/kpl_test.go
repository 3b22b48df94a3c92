package kpl

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 3, 500} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var in [][]byte
			for i := range n {
				in = append(in, fmt.Appendf(nil, "2 123456789012 eni-%d 10.0.0.1 10.0.0.2 443 5000 6 1 40 1 2 ACCEPT OK", i))
			}
			agg := Aggregate("pk", in)
			if !IsAggregated(agg) {
				t.Fatal("IsAggregated = false")
			}
			got, err := Deaggregate(agg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("got %d records, want %d", len(got), n)
			}
			for i := range got {
				if !bytes.Equal(got[i], in[i]) {
					t.Fatalf("record %d = %q, want %q", i, got[i], in[i])
				}
			}
		})
	}
}

// reseal replaces the digest of an aggregated record after msg was edited.
func reseal(msg []byte) []byte {
	out := append(Magic[:], msg...)
	sum := md5.Sum(msg)
	return append(out, sum[:]...)
}

func TestDeaggregateErrors(t *testing.T) {
	good := Aggregate("pk", [][]byte{[]byte("a"), []byte("b")})
	body := good[4 : len(good)-16]
	badSum := bytes.Clone(good)
	badSum[len(badSum)-1] ^= 1
	for _, tc := range []struct {
		name string
		in   []byte
		want error
		msg  string
	}{
		{name: "plain", in: []byte("2 123456789012 eni-1 …"), want: ErrNotAggregated},
		{name: "short", in: Magic[:], want: ErrNotAggregated},
		{name: "checksum", in: badSum, want: ErrChecksum},
		{name: "truncated", in: reseal(body[:len(body)-1]), msg: "truncated"},
		{name: "no key table", in: reseal(body[len("\x0a\x02pk"):]), msg: "out of range"},
		{name: "missing data", in: reseal([]byte{0x0a, 0x01, 'k', 0x1a, 0x02, 0x08, 0x00}), msg: "missing data"},
		{name: "bad wire type", in: reseal([]byte{0x0f}), msg: "wire type"},
		{name: "field zero", in: reseal([]byte{0x00, 0x00}), msg: "field number 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Deaggregate(tc.in, nil)
			if err == nil {
				t.Fatalf("no error, got %q", got)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.msg != "" && !bytes.Contains([]byte(err.Error()), []byte(tc.msg)) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.msg)
			}
			if len(got) != 0 {
				t.Fatalf("got %d records with an error", len(got))
			}
		})
	}
}

func TestDeaggregateSkipsUnknownFields(t *testing.T) {
	// explicit hash key table (2), a record with an explicit hash key index
	// (2) and a tag (4), and an unknown fixed64 field (9).
	rec := []byte{0x08, 0x00, 0x10, 0x00, 0x1a, 0x01, 'x', 0x22, 0x03, 0x0a, 0x01, 't'}
	msg := []byte{0x0a, 0x01, 'k', 0x12, 0x01, '1', 0x49, 1, 2, 3, 4, 5, 6, 7, 8, 0x1a, byte(len(rec))}
	msg = append(msg, rec...)
	got, err := Deaggregate(reseal(msg), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got[0]) != "x" {
		t.Fatalf("got %q", got)
	}
}

func FuzzDeaggregate(f *testing.F) {
	f.Add(Aggregate("pk", [][]byte{[]byte("a"), []byte("bc")}))
	f.Add([]byte("plain line"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Deaggregate(data, nil)
		_, _ = Deaggregate(reseal(data), nil)
	})
}

// BenchmarkDeaggregate de-aggregates a 500-record aggregate of default-format
// flow-log lines.
//
//	go test -run '^$' -bench Deaggregate -benchtime=1s -count=3 ./sources/kinesissource/kpl/
func BenchmarkDeaggregate(b *testing.B) {
	var in [][]byte
	for i := range 500 {
		in = append(in, fmt.Appendf(nil, "2 123456789012 eni-0a1b2c3d%08d 10.0.%d.%d 172.31.16.139 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK", i, i/256, i%256))
	}
	agg := Aggregate("pk", in)
	var dst [][]byte
	b.SetBytes(int64(len(agg)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		dst, err = Deaggregate(agg, dst[:0])
		if err != nil || len(dst) != 500 {
			b.Fatal(err, len(dst))
		}
	}
	b.ReportMetric(float64(b.N)*500/b.Elapsed().Seconds(), "records/s")
}
