package parse

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

const (
	lineA  = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
	lineB  = "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK"
	lineND = "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA"
	hdrV2  = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
)

func newTestStage(t *testing.T, format string) (*Stage, *prometheus.Registry, *bytes.Buffer) {
	t.Helper()
	cfg := NewDefaultConfig()
	cfg.Format = format
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	set := component.Settings{ID: "parse", Registerer: reg, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	st, err := NewFactory().Create(context.Background(), cfg, set)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return st.(*Stage), reg, &logs
}

func batchOf(o *flowlog.Origin, lines ...string) *flowlog.Batch {
	b := &flowlog.Batch{Source: "src", Partition: "p0"}
	for _, l := range lines {
		b.Records = append(b.Records, flowlog.Record{Raw: []byte(l), Origin: o})
	}
	return b
}

func raws(rs []flowlog.Record) []string {
	var out []string
	for i := range rs {
		out = append(out, string(rs[i].Raw))
	}
	return out
}

func TestStageDefault(t *testing.T) {
	st, reg, logs := newTestStage(t, "default")
	o := &flowlog.Origin{Name: "s3://bucket/AWSLogs/x.log.gz"}
	bad := strings.Replace(lineB, " 3389 ", " 70000 ", 1)
	b := batchOf(o, hdrV2, lineA, bad, lineND, "2 123456789010 short", lineB)
	if err := st.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if got, want := raws(b.Records), []string{lineA, lineND, lineB}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("records = %q, want %q", got, want)
	}
	if b.Records[0].DstPort != 22 || b.Records[2].DstPort != 3389 || !b.Records[1].Has(flowlog.FLogStatus) || b.Records[1].Has(flowlog.FSrcAddr) {
		t.Errorf("records not parsed: %+v", b.Records)
	}
	if len(b.Failed) != 2 {
		t.Fatalf("failed = %d, want 2", len(b.Failed))
	}
	f := b.Failed[0]
	if f.Stage != "parse" || string(f.Raw) != bad || f.Origin != o {
		t.Errorf("failure = %+v", f)
	}
	if want := "s3://bucket/AWSLogs/x.log.gz: dstport: 70000 out of range"; f.Err.Error() != want {
		t.Errorf("failure error %q, want %q", f.Err, want)
	}
	if !errors.Is(b.Failed[1].Err, ErrFieldCount) {
		t.Errorf("junk error = %v", b.Failed[1].Err)
	}
	if v := testutil.ToFloat64(st.metrics.headers); v != 1 {
		t.Errorf("headers metric = %v", v)
	}
	if v := testutil.ToFloat64(st.metrics.errors["range"]); v != 1 {
		t.Errorf("range errors = %v", v)
	}
	if v := testutil.ToFloat64(st.metrics.errors["field_count"]); v != 1 {
		t.Errorf("field_count errors = %v", v)
	}
	if n, err := testutil.GatherAndCount(reg, "vpcflow_parse_errors_total"); err != nil || n != len(reasons) {
		t.Errorf("error series = %d, %v", n, err)
	}
	// Rate limited: two bad lines within a second log once.
	if n := strings.Count(logs.String(), "does not parse"); n != 1 {
		t.Errorf("logged %d lines, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "x.log.gz") {
		t.Errorf("log lacks the input name: %s", logs)
	}
}

func TestStageAuto(t *testing.T) {
	st, _, _ := newTestStage(t, "auto")
	custom := "version srcaddr dstaddr action"
	o1 := &flowlog.Origin{Name: "s3://b/one"}
	o2 := &flowlog.Origin{Name: "s3://b/two"}
	o3 := &flowlog.Origin{Name: "cwl"} // no header: default format
	b := &flowlog.Batch{}
	add := func(o *flowlog.Origin, l string) {
		b.Records = append(b.Records, flowlog.Record{Raw: []byte(l), Origin: o})
	}
	add(o1, custom)
	add(o2, hdrV2)
	add(o1, "5 10.0.0.1 10.0.0.2 ACCEPT")
	add(o2, lineA)
	add(o3, lineB)
	add(o1, lineA) // wrong for o1's format
	if err := st.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 3 || len(b.Failed) != 1 {
		t.Fatalf("records %q failed %d", raws(b.Records), len(b.Failed))
	}
	r := &b.Records[0]
	if r.Version != 5 || r.SrcAddr.String() != "10.0.0.1" || string(r.Text(flowlog.FAction)) != "ACCEPT" {
		t.Errorf("custom record: %+v", r)
	}
	if b.Records[1].DstPort != 22 || b.Records[2].DstPort != 3389 {
		t.Errorf("default records wrong")
	}
	// The format is cached per input and used by later batches.
	b2 := batchOf(o1, "6 10.0.0.9 10.0.0.8 REJECT")
	if err := st.Process(context.Background(), b2); err != nil || len(b2.Records) != 1 || b2.Records[0].Version != 6 {
		t.Fatalf("second batch: %v %+v", err, b2)
	}
	if f, _ := o1.Format.Load().(*Format); f == nil || f.Header() != custom {
		t.Errorf("origin format = %v", f)
	}
}

func TestStageAutoBadHeader(t *testing.T) {
	st, _, _ := newTestStage(t, "auto")
	b := batchOf(&flowlog.Origin{Name: "x"}, "version version srcaddr", lineA)
	if err := st.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(b.Failed) != 1 || !strings.Contains(b.Failed[0].Err.Error(), "repeated") {
		t.Fatalf("failed = %+v", b.Failed)
	}
	if len(b.Records) != 1 {
		t.Fatalf("records = %d", len(b.Records))
	}
	if v := testutil.ToFloat64(st.metrics.errors["header"]); v != 1 {
		t.Errorf("header errors = %v", v)
	}
}

func TestStageCustomFormatDropsHeader(t *testing.T) {
	st, _, _ := newTestStage(t, fmtNAT)
	b := batchOf(nil, "instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr",
		"- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5")
	if err := st.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 1 || len(b.Failed) != 0 || b.Records[0].PktDstAddr.String() != "203.0.113.5" {
		t.Fatalf("records %q failed %+v", raws(b.Records), b.Failed)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct{ format, err string }{
		{"default", ""},
		{"auto", ""},
		{"${version} ${srcaddr}", ""},
		{"${version} ${bogus}", `format: unknown field "bogus"`},
		{"", "format: empty format"},
	} {
		c := &Config{Format: tc.format}
		err := c.Validate()
		if (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
			t.Errorf("Validate(%q) = %v, want %q", tc.format, err, tc.err)
		}
	}
}

func TestTwoStagesShareRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, id := range []string{"a", "b"} {
		if _, err := NewStage(*NewDefaultConfig(), component.Settings{ID: id, Registerer: reg}); err != nil {
			t.Fatalf("stage %s: %v", id, err)
		}
	}
}

func TestStageNothingLeft(t *testing.T) {
	st, _, _ := newTestStage(t, "auto")
	junk := strings.Repeat("x", 1<<20)
	b := batchOf(&flowlog.Origin{Name: "big"}, hdrV2, junk, "", "\x00\x00", hdrV2)
	if err := st.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != 0 || len(b.Failed) != 3 {
		t.Fatalf("records %d, failed %d", len(b.Records), len(b.Failed))
	}
	if !errors.Is(b.Failed[0].Err, ErrTooLong) || len(b.Failed[0].Raw) != 1<<20 {
		t.Errorf("1 MB line: %v", b.Failed[0].Err)
	}
	if !errors.Is(b.Failed[1].Err, ErrEmpty) || !errors.Is(b.Failed[2].Err, ErrControl) {
		t.Errorf("failures: %v, %v", b.Failed[1].Err, b.Failed[2].Err)
	}
	// An empty batch is fine too.
	empty := &flowlog.Batch{}
	if err := st.Process(context.Background(), empty); err != nil || len(empty.Records) != 0 {
		t.Fatal(err)
	}
}
