package cidrfilter

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/processor/parse"
)

// line returns a default-format line from src to dst.
func line(src, dst string) string {
	return "2 123456789010 eni-1235b8ca123456789 " + src + " " + dst + " 49761 443 6 20 4249 1418530010 1418530070 ACCEPT OK"
}

const nodata = "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA"

func record(t testing.TB, f *parse.Format, l string) flowlog.Record {
	t.Helper()
	r := flowlog.Record{Raw: []byte(l)}
	if err := f.Parse(&r); err != nil {
		t.Fatalf("parse %q: %v", l, err)
	}
	return r
}

func newStage(t testing.TB, cfg *Config) (*Stage, *prometheus.Registry) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	reg := prometheus.NewRegistry()
	st, err := NewFactory().Create(context.Background(), cfg, component.Settings{ID: "f", Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return st.(*Stage), reg
}

// keeps runs one record through a stage built from cfg.
func keeps(t *testing.T, st *Stage, l string) bool {
	t.Helper()
	b := &flowlog.Batch{Records: []flowlog.Record{record(t, parse.Default(), l)}}
	if err := st.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return len(b.Records) == 1
}

func TestRules(t *testing.T) {
	private := []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"}
	for _, tc := range []struct {
		name string
		cfg  Config
		keep map[string]bool
	}{
		{"drop_when_both_in", Config{DropWhenBothIn: private}, map[string]bool{
			line("10.0.1.5", "10.20.3.4"):       false,
			line("10.0.1.5", "172.31.9.12"):     false, // different prefixes
			line("192.168.1.1", "172.16.0.1"):   false,
			line("fd00::1", "fd12:3456::1"):     false,
			line("10.0.1.5", "fd00::1"):         false, // mixed families, both inside
			line("10.0.1.5", "52.95.128.179"):   true,
			line("52.95.128.179", "10.0.1.5"):   true,
			line("172.32.0.1", "10.0.0.1"):      true, // 172.32 is outside 172.16/12
			line("::ffff:10.0.0.1", "10.0.0.2"): false,
			line("2600:1f18::1", "10.0.0.1"):    true,
			nodata:                              true,
		}},
		{"drop_when_either_in", Config{DropWhenEitherIn: []string{"169.254.169.254", "2600:1f18::/32"}}, map[string]bool{
			line("10.0.1.5", "169.254.169.254"):       false,
			line("169.254.169.254", "10.0.1.5"):       false,
			line("10.0.1.5", "169.254.169.253"):       true,
			line("2600:1f18:aaaa::1", "2a00:1450::1"): false,
			line("2600:1f19::1", "2a00:1450::1"):      true,
			nodata:                                    true,
		}},
		{"keep_when_either_in", Config{KeepWhenEitherIn: []string{"203.0.113.0/24", "2001:db8::/32"}}, map[string]bool{
			line("203.0.113.9", "10.0.0.1"): true,
			line("10.0.0.1", "203.0.113.9"): true,
			line("10.0.0.1", "10.0.0.2"):    false,
			line("2001:db8::5", "fd00::1"):  true,
			line("2001:db9::5", "fd00::1"):  false,
			nodata:                          true,
		}},
		{"combined", Config{DropWhenBothIn: private, DropWhenEitherIn: []string{"10.9.9.9/32"}}, map[string]bool{
			line("10.9.9.9", "52.1.2.3"): false,
			line("10.1.1.1", "10.2.2.2"): false,
			line("10.1.1.1", "52.1.2.3"): true,
		}},
		{"no rules keeps everything", Config{}, map[string]bool{
			line("10.0.1.5", "10.20.3.4"): true,
			nodata:                        true,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := newStage(t, &tc.cfg)
			for l, want := range tc.keep {
				if got := keeps(t, st, l); got != want {
					t.Errorf("%q: kept=%v, want %v", l, got, want)
				}
			}
		})
	}
}

// TestLambdaQuirks pins prefix_strings to the Sumo Logic Lambda's
// VPC_CIDR_PREFIX behaviour (reference §4), quirks included.
func TestLambdaQuirks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		prefixes []string
		src, dst string
		dropped  bool
	}{
		{"both match, different prefixes", []string{"10.0.", "172.16."}, "10.0.3.4", "172.16.9.1", true},
		{"both match the same prefix", []string{"10.0.", "172.16."}, "10.0.3.4", "10.0.200.1", true},
		{"only src matches", []string{"10.0.", "172.16."}, "10.0.3.4", "52.1.2.3", false},
		{"only dst matches", []string{"10.0.", "172.16."}, "52.1.2.3", "172.16.0.1", false},
		{"10.1 also matches 10.10.x", []string{"10.1"}, "10.10.0.1", "10.100.2.3", true},
		{"10.1 also matches 10.1.x", []string{"10.1"}, "10.1.0.1", "10.19.2.3", true},
		{"a full address matches only itself", []string{"10.8.0.0"}, "10.8.0.0", "10.8.0.0", true},
		{"a full address does not match its network", []string{"10.8.0.0"}, "10.8.0.1", "10.8.0.2", false},
		{"CIDR notation matches nothing", []string{"10.0.0.0/16"}, "10.0.0.1", "10.0.0.2", false},
		{"IPv6 textual prefix", []string{"2600:1f18:"}, "2600:1f18:abcd::1", "2600:1f18:1::2", true},
		{"IPv6 prefix depends on the written form", []string{"2600:1f18:0:"}, "2600:1f18::1", "2600:1f18::2", false},
		{"items trimmed, empty items ignored", []string{" 10.0. ", "", "  "}, "10.0.1.1", "10.0.2.2", true},
		{"empty items do not match everything", []string{"", " "}, "52.1.2.3", "8.8.8.8", false},
		{"no prefix of 172.16 in 172.160", []string{"172.16."}, "172.160.0.1", "172.16.0.1", false},
		{"172.16 without dot matches 172.160", []string{"172.16"}, "172.160.0.1", "172.16.0.1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := newStage(t, &Config{PrefixStrings: tc.prefixes})
			if got := !keeps(t, st, line(tc.src, tc.dst)); got != tc.dropped {
				t.Errorf("%s → %s with %q: dropped=%v, want %v", tc.src, tc.dst, tc.prefixes, got, tc.dropped)
			}
		})
	}
	// NODATA and SKIPDATA records ("-" addresses) pass, as in the Lambda.
	st, _ := newStage(t, &Config{PrefixStrings: []string{"10.", "-"}})
	if !keeps(t, st, nodata) {
		t.Error("NODATA record dropped")
	}
	// The text is matched as written in the line, not as parsed: a
	// non-canonical IPv6 spelling matches its textual prefix.
	st, _ = newStage(t, &Config{PrefixStrings: []string{"2600:1F18:"}})
	if !keeps(t, st, line("2600:1f18::1", "2600:1f18::2")) || keeps(t, st, line("2600:1F18::1", "2600:1F18::2")) {
		t.Error("prefix_strings must compare the text of the line, case included")
	}
}

func TestPacketAddresses(t *testing.T) {
	f, err := parse.Compile("${version} ${interface-id} ${srcaddr} ${dstaddr} ${pkt-srcaddr} ${pkt-dstaddr} ${action}")
	if err != nil {
		t.Fatal(err)
	}
	// Through a NAT gateway: flow addresses are private, packet addresses
	// are the real peers.
	nat := "3 eni-1 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5 ACCEPT"
	for _, tc := range []struct {
		addresses string
		keep      bool
	}{{"flow", false}, {"", false}, {"packet", true}} {
		st, _ := newStage(t, &Config{DropWhenBothIn: []string{"10.0.0.0/8"}, Addresses: tc.addresses, PrefixStrings: nil})
		b := &flowlog.Batch{Records: []flowlog.Record{record(t, f, nat)}}
		if err := st.Process(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		if got := len(b.Records) == 1; got != tc.keep {
			t.Errorf("addresses %q: kept=%v, want %v", tc.addresses, got, tc.keep)
		}
	}
	st, _ := newStage(t, &Config{PrefixStrings: []string{"10.0."}, Addresses: "packet"})
	b := &flowlog.Batch{Records: []flowlog.Record{record(t, f, nat)}}
	_ = st.Process(context.Background(), b)
	if len(b.Records) != 1 {
		t.Error("prefix_strings ignored addresses: packet")
	}
}

func TestProcessKeepsOrderAndCounts(t *testing.T) {
	st, reg := newStage(t, &Config{DropWhenBothIn: []string{"10.0.0.0/8"}, PrefixStrings: []string{"192.168."}})
	lines := []string{
		line("10.0.0.1", "52.1.2.3"),
		line("10.0.0.1", "10.0.0.2"),
		nodata,
		line("192.168.1.1", "192.168.1.2"),
		line("52.1.2.3", "10.0.0.9"),
		line("10.3.0.1", "10.4.0.2"),
	}
	b := &flowlog.Batch{}
	for _, l := range lines {
		b.Records = append(b.Records, record(t, parse.Default(), l))
	}
	if err := st.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range b.Records {
		got = append(got, string(b.Records[i].Raw))
	}
	if want := []string{lines[0], lines[2], lines[4]}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("kept %q, want %q", got, want)
	}
	if b.Records[2].DstAddr.String() != "10.0.0.9" {
		t.Errorf("record fields not moved with the record")
	}
	if v := testutil.ToFloat64(st.metrics.dropped[ruleBoth]); v != 2 {
		t.Errorf("both-in drops = %v", v)
	}
	if v := testutil.ToFloat64(st.metrics.dropped[rulePrefix]); v != 1 {
		t.Errorf("prefix drops = %v", v)
	}
	if n, _ := testutil.GatherAndCount(reg, "vpcflow_cidr_filter_dropped_total"); n != numRules {
		t.Errorf("series = %d", n)
	}
	// A second stage on the same registry shares the collector.
	if _, err := New(*NewDefaultConfig(), component.Settings{ID: "g", Registerer: reg}); err != nil {
		t.Errorf("second stage: %v", err)
	}
}

func TestValidate(t *testing.T) {
	c := &Config{
		DropWhenBothIn:   []string{"10.0.0.0/8", "10.0.0.0/33"},
		DropWhenEitherIn: []string{"not-an-ip"},
		KeepWhenEitherIn: []string{"fe80::1%eth0", "2001:db8::/129"},
		Addresses:        "both",
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted bad config")
	}
	for _, want := range []string{
		`drop_when_both_in[1]: invalid CIDR "10.0.0.0/33"`,
		`drop_when_either_in[0]: invalid CIDR "not-an-ip"`,
		`keep_when_either_in[0]: invalid CIDR "fe80::1%eth0"`,
		`keep_when_either_in[1]: invalid CIDR "2001:db8::/129"`,
		`addresses: must be flow or packet, got "both"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	good := &Config{DropWhenBothIn: []string{"10.1.2.3/8", "2600:1f18::/32", "192.0.2.1", "::ffff:10.0.0.0/104"}, Addresses: "packet"}
	if err := good.Validate(); err != nil {
		t.Errorf("good config: %v", err)
	}
	if p, _ := parsePrefix("::ffff:10.0.0.0/104"); p.String() != "10.0.0.0/8" {
		t.Errorf("mapped prefix = %v", p)
	}
	if p, _ := parsePrefix("10.1.2.3/8"); p.String() != "10.0.0.0/8" {
		t.Errorf("masked prefix = %v", p)
	}
}

// BenchmarkFilter runs the filter over the parse corpus in batches of
// 1000; ns/record is the per-record cost.
//
//	go test -run '^$' -bench . -benchmem -count 6 ./processor/cidrfilter/ | tee new.txt
func BenchmarkFilter(b *testing.B) {
	data, err := os.ReadFile("../parse/testdata/flowlogs/default.log")
	if err != nil {
		b.Fatal(err)
	}
	var recs []flowlog.Record
	for _, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n"))[:1000] {
		recs = append(recs, record(b, parse.Default(), string(l)))
	}
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"both_in_private", Config{DropWhenBothIn: []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"}}},
		{"all_rules", Config{
			DropWhenBothIn:   []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"},
			DropWhenEitherIn: []string{"169.254.169.254/32", "100.64.0.0/10"},
			KeepWhenEitherIn: []string{"0.0.0.0/0", "::/0"},
		}},
		{"prefix_strings", Config{PrefixStrings: []string{"10.0.", "10.1.", "172.16."}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st, _ := newStage(b, &bc.cfg)
			batch := &flowlog.Batch{Records: make([]flowlog.Record, len(recs))}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer() // refilling the batch is not the filter's work
				batch.Records = batch.Records[:len(recs)]
				copy(batch.Records, recs)
				b.StartTimer()
				if err := st.Process(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
		})
	}
}

// BenchmarkMatch is the per-record decision alone, without moving records.
func BenchmarkMatch(b *testing.B) {
	st, _ := newStage(b, &Config{DropWhenBothIn: []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fd00::/8"}})
	recs := []flowlog.Record{
		record(b, parse.Default(), line("10.0.1.5", "52.95.128.179")),
		record(b, parse.Default(), line("10.0.1.5", "10.0.3.4")),
		record(b, parse.Default(), line("2600:1f18::1", "2a00:1450::1")),
		record(b, parse.Default(), nodata),
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		st.Match(&recs[i&3])
		i++
	}
}
