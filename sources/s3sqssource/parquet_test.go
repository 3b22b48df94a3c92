package s3sqssource

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// awsParquetRow has the columns AWS writes for a flow log with the
// default fields plus some v3–v5 ones, all optional as in AWS's schema.
type awsParquetRow struct {
	Version       *int32  `parquet:"version,optional"`
	AccountID     *string `parquet:"account_id,optional,dict"`
	InterfaceID   *string `parquet:"interface_id,optional"`
	Srcaddr       *string `parquet:"srcaddr,optional"`
	Dstaddr       *string `parquet:"dstaddr,optional"`
	Srcport       *int32  `parquet:"srcport,optional"`
	Dstport       *int32  `parquet:"dstport,optional"`
	Protocol      *int32  `parquet:"protocol,optional"`
	Packets       *int64  `parquet:"packets,optional"`
	Bytes         *int64  `parquet:"bytes,optional"`
	Start         *int64  `parquet:"start,optional"`
	End           *int64  `parquet:"end,optional"`
	Action        *string `parquet:"action,optional,dict"`
	LogStatus     *string `parquet:"log_status,optional,dict"`
	VPCID         *string `parquet:"vpc_id,optional,dict"`
	PktSrcaddr    *string `parquet:"pkt_srcaddr,optional"`
	FlowDirection *string `parquet:"flow_direction,optional,dict"`
	TrafficPath   *int32  `parquet:"traffic_path,optional"`
}

const parquetHeader = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id pkt-srcaddr flow-direction traffic-path"

func ptr[T any](v T) *T { return &v }

func parquetRow(i int) (awsParquetRow, string) {
	r := awsParquetRow{
		Version:       ptr(int32(5)),
		AccountID:     ptr("123456789012"),
		InterfaceID:   ptr(fmt.Sprintf("eni-%08x", i)),
		Srcaddr:       ptr(fmt.Sprintf("10.0.%d.%d", i/256%256, i%256)),
		Dstaddr:       ptr("172.16.0.1"),
		Srcport:       ptr(int32(1024 + i%60000)),
		Dstport:       ptr(int32(443)),
		Protocol:      ptr(int32(6)),
		Packets:       ptr(int64(1 + i%50)),
		Bytes:         ptr(int64(40 + i%1500)),
		Start:         ptr(int64(1700000000)),
		End:           ptr(int64(1700000060)),
		Action:        ptr("ACCEPT"),
		LogStatus:     ptr("OK"),
		VPCID:         ptr("vpc-0abc"),
		PktSrcaddr:    ptr(fmt.Sprintf("10.0.%d.%d", i/256%256, i%256)),
		FlowDirection: ptr("ingress"),
		TrafficPath:   ptr(int32(1)),
	}
	if i%7 == 3 { // NODATA-like rows carry nulls
		r.Srcaddr, r.Srcport, r.TrafficPath, r.VPCID = nil, nil, nil, ptr("")
	}
	line := fmt.Sprintf("5 123456789012 %s %s 172.16.0.1 %s 443 6 %d %d 1700000000 1700000060 ACCEPT OK %s %s ingress %s",
		*r.InterfaceID, deref(r.Srcaddr), derefInt(r.Srcport), *r.Packets, *r.Bytes, nonEmpty(*r.VPCID), *r.PktSrcaddr, derefInt(r.TrafficPath))
	return r, line
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func nonEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func derefInt(v *int32) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

// parquetObject writes n rows in row groups of rowGroup rows, with data
// pages of version 2, or 1 (what most other writers produce) when v1.
// Pages are small (16 KiB) so that tests cross many page boundaries.
func parquetObject(t testing.TB, n, rowGroup int, v1 ...bool) ([]byte, []string) {
	version := 2
	if len(v1) > 0 && v1[0] {
		version = 1
	}
	return parquetObjectWith(t, n, rowGroup, parquet.DataPageVersion(version), parquet.PageBufferSize(16<<10))
}

func parquetObjectWith(t testing.TB, n, rowGroup int, opts ...parquet.WriterOption) ([]byte, []string) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[awsParquetRow](&buf, append([]parquet.WriterOption{
		parquet.MaxRowsPerRowGroup(int64(rowGroup)), parquet.Compression(&parquet.Snappy)}, opts...)...)
	lines := []string{parquetHeader}
	rows := make([]awsParquetRow, 0, 1000)
	for i := range n {
		r, l := parquetRow(i)
		rows = append(rows, r)
		lines = append(lines, l)
		if len(rows) == cap(rows) || i == n-1 {
			if _, err := w.Write(rows); err != nil {
				t.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), lines
}

// TestParquet reads Parquet objects (named .parquet, or detected by their
// magic bytes) as a header line plus one text line per row.
func TestParquet(t *testing.T) {
	e := newEnv(t)
	data, want := parquetObject(t, 5000, 1500)
	data1, want1 := parquetObject(t, 5000, 1500, true)
	if strings.Join(want, "\n") != strings.Join(want1, "\n") {
		t.Fatal("test data differs between page versions")
	}
	k1 := "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2026/month=11/day=25/hour=10/a.log.parquet"
	k2 := "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/25/b.log"
	e.put(k1, data)
	e.put(k2, data1)
	e.send(snsWrap(s3Event(k1)))
	e.send(s3Event(k2))
	const bad = "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/25/bad.log.parquet"
	e.put(bad, append(append([]byte("PAR1"), bytes.Repeat([]byte{7}, 500)...), []byte("\x10\x00\x00\x00PAR1")...))
	e.send(s3Event(bad))

	s, reg := e.source(e.config(func(c *Config) { c.BatchMaxRecords = 700; c.DeadLetterQueueURL = e.dlqURL }))
	got := consume(t, s, 20*time.Second, func(c *collected) bool { return c.records >= 2*len(want) && len(c.failed) > 0 }, nil)
	for _, k := range []string{k1, k2} {
		name := "s3://" + testBucket + "/" + k
		g := got.lines[name]
		if len(g) != len(want) {
			t.Fatalf("%s: %d lines, want %d", k, len(g), len(want))
		}
		for i := range want {
			if g[i] != want[i] {
				t.Fatalf("%s: line %d = %q, want %q", k, i, g[i], want[i])
			}
		}
		if o := got.origins[name]; o.Account != "123456789012" || o.Region != "eu-west-1" {
			t.Errorf("%s: origin %+v", k, o)
		}
	}
	if !strings.Contains(got.failed[0].Err.Error(), "corrupt") || !strings.Contains(got.failed[0].Err.Error(), "bad.log.parquet") {
		t.Errorf("failure = %v", got.failed[0].Err)
	}
	waitFor(t, "good deleted, bad dead-lettered", 10*time.Second, func() bool {
		return e.depth(e.queueURL) == 0 && e.depth(e.dlqURL) == 1
	})
	if c := counter(t, reg, "vpcflow_s3sqs_objects_total", "outcome", "done"); c != 2 {
		t.Errorf("objects done = %v", c)
	}
}

func TestAppendRowTypes(t *testing.T) {
	type row struct {
		A *uint32  `parquet:"a,optional"`
		B float64  `parquet:"b"`
		C bool     `parquet:"c"`
		D []byte   `parquet:"d"`
		E *float32 `parquet:"e,optional"`
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[row](&buf)
	w.Write([]row{{A: ptr(uint32(4000000000)), B: 2.5, C: true, D: []byte("x"), E: ptr(float32(3))}, {B: 7}})
	w.Close()
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	cols, hdr, err := parquetColumns(f.Schema())
	if err != nil {
		t.Fatal(err)
	}
	if string(hdr) != "a b c d e" {
		t.Errorf("header %q", hdr)
	}
	rows := make([]parquet.Row, 2)
	rr := f.RowGroups()[0].Rows()
	n, _ := rr.ReadRows(rows)
	rr.Close()
	var got []string
	for _, r := range rows[:n] {
		l, ok := appendRow(nil, r, cols)
		if !ok {
			t.Fatal("row does not match columns")
		}
		got = append(got, string(l))
	}
	if want := []string{"4000000000 2.5 true x 3", "- 7 false - -"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("rows %q, want %q", got, want)
	}
}

// TestParquetQuietStderr reads a Parquet object (ranged GETs without a
// whole-object checksum) and checks that nothing, the AWS SDK's own log
// lines included, was written to stderr.
func TestParquetQuietStderr(t *testing.T) {
	e := newEnv(t)
	e.noChecksums.Store(true)
	data, want := parquetObject(t, 2000, 1000)
	const k = "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/25/q.log.parquet"
	e.put(k, data)
	e.send(s3Event(k))

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	restored := false
	restore := func() {
		if !restored {
			os.Stderr = stderr
			w.Close()
			restored = true
		}
	}
	t.Cleanup(restore)
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { _, _ = out.ReadFrom(r); close(done) }()

	s, _ := e.source(e.config(nil))
	got := consume(t, s, 20*time.Second, records(len(want)), nil)
	restore()
	<-done
	if got.records != len(want) {
		t.Fatalf("read %d records, want %d", got.records, len(want))
	}
	if out.Len() > 0 {
		t.Errorf("stderr got %q", out.String())
	}
}
