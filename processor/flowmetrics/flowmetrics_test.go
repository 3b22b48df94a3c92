package flowmetrics

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/component/componenttest"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// flow describes a record to build; empty strings are absent fields.
type flow struct {
	vpc, action, status, flowDir string
	proto                        int // -1: absent
	dstport                      int // -1: absent
	packets, bytes               uint64
	dir                          flowlog.Direction
	eni                          *flowlog.ENI
}

// record builds a Record the way the parser does: string fields as spans
// into Raw, numbers typed, every given field marked present.
func record(f flow) flowlog.Record {
	var raw strings.Builder
	type span struct {
		f        flowlog.Field
		off, len int
	}
	var spans []span
	text := func(fl flowlog.Field, v string) {
		if v == "" {
			return
		}
		if raw.Len() > 0 {
			raw.WriteByte(' ')
		}
		spans = append(spans, span{fl, raw.Len(), len(v)})
		raw.WriteString(v)
	}
	text(flowlog.FVPCID, f.vpc)
	text(flowlog.FAction, f.action)
	text(flowlog.FLogStatus, f.status)
	text(flowlog.FFlowDirection, f.flowDir)
	if f.proto >= 0 {
		text(flowlog.FProtocol, strconv.Itoa(f.proto))
	}
	if f.dstport >= 0 {
		text(flowlog.FDstPort, strconv.Itoa(f.dstport))
	}
	if f.status == "OK" {
		text(flowlog.FPackets, strconv.FormatUint(f.packets, 10))
		text(flowlog.FBytes, strconv.FormatUint(f.bytes, 10))
	}
	r := flowlog.Record{Raw: []byte(raw.String()), ENI: f.eni, Direction: f.dir}
	for _, s := range spans {
		r.SetSpan(s.f, s.off, s.len)
	}
	if f.proto >= 0 {
		r.Protocol = uint8(f.proto)
	}
	if f.dstport >= 0 {
		r.DstPort = uint16(f.dstport)
	}
	if f.status == "OK" {
		r.Packets, r.Bytes = f.packets, f.bytes
	}
	return r
}

func ok(vpc, action string, proto, dstport int, packets, bytes uint64) flow {
	return flow{vpc: vpc, action: action, status: "OK", proto: proto, dstport: dstport, packets: packets, bytes: bytes}
}

func newStage(t *testing.T, cfg *Config) (*Stage, *prometheus.Registry) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s, err := NewStage(*cfg, component.Settings{ID: "fm", Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

func process(t *testing.T, s *Stage, flows ...flow) *flowlog.Batch {
	t.Helper()
	b := &flowlog.Batch{Source: "src", Partition: "0"}
	for _, f := range flows {
		b.Records = append(b.Records, record(f))
	}
	if err := s.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCountsByLabels(t *testing.T) {
	s, reg := newStage(t, NewDefaultConfig())
	eni := &flowlog.ENI{InterfaceID: "eni-1", VPCID: "vpc-eni"}

	inbound := ok("vpc-a", "ACCEPT", 6, 443, 10, 1000)
	inbound.dir = flowlog.DirInbound
	egress := ok("vpc-b", "REJECT", 17, 53, 1, 80)
	egress.flowDir = "egress"
	fromENI := ok("", "ACCEPT", 1, 0, 2, 168)
	fromENI.eni = eni
	fromENI.dir = flowlog.DirInternal
	flows := []flow{
		inbound, inbound,
		egress,
		ok("vpc-a", "REJECT", 6, 22, 3, 180),
		ok("vpc-a", "REJECT", 47, -1, 4, 400), // GRE: protocol other, no port
		ok("vpc-a", "ACCEPT", 58, 0, 1, 64),
		fromENI,
		{vpc: "vpc-a", status: "NODATA", proto: -1, dstport: -1},
		{vpc: "vpc-a", status: "SKIPDATA", proto: -1, dstport: -1},
		{vpc: "vpc-b", status: "SKIPDATA", proto: -1, dstport: -1},
		{proto: -1, dstport: -1}, // nothing known
	}
	b := process(t, s, flows...)

	// Records pass through unchanged and in order.
	if len(b.Records) != len(flows) || len(b.Failed) != 0 {
		t.Fatalf("got %d records, %d failed; want %d, 0", len(b.Records), len(b.Failed), len(flows))
	}
	for i, f := range flows {
		if want := record(f); !reflect.DeepEqual(b.Records[i], want) {
			t.Errorf("record %d changed: got %+v, want %+v", i, b.Records[i], want)
		}
	}

	const flowsWant = `
# HELP vpcflow_flows_total Flow-log records seen by the flow_metrics stage, by VPC (top max_vpcs, the rest "other"), action, direction, protocol and log status.
# TYPE vpcflow_flows_total counter
vpcflow_flows_total{action="ACCEPT",direction="inbound",log_status="OK",protocol="tcp",stage="fm",vpc_id="vpc-a"} 2
vpcflow_flows_total{action="ACCEPT",direction="internal",log_status="OK",protocol="icmp",stage="fm",vpc_id="vpc-eni"} 1
vpcflow_flows_total{action="ACCEPT",direction="unknown",log_status="OK",protocol="icmpv6",stage="fm",vpc_id="vpc-a"} 1
vpcflow_flows_total{action="REJECT",direction="outbound",log_status="OK",protocol="udp",stage="fm",vpc_id="vpc-b"} 1
vpcflow_flows_total{action="REJECT",direction="unknown",log_status="OK",protocol="other",stage="fm",vpc_id="vpc-a"} 1
vpcflow_flows_total{action="REJECT",direction="unknown",log_status="OK",protocol="tcp",stage="fm",vpc_id="vpc-a"} 1
vpcflow_flows_total{action="unknown",direction="unknown",log_status="NODATA",protocol="unknown",stage="fm",vpc_id="vpc-a"} 1
vpcflow_flows_total{action="unknown",direction="unknown",log_status="SKIPDATA",protocol="unknown",stage="fm",vpc_id="vpc-a"} 1
vpcflow_flows_total{action="unknown",direction="unknown",log_status="SKIPDATA",protocol="unknown",stage="fm",vpc_id="vpc-b"} 1
vpcflow_flows_total{action="unknown",direction="unknown",log_status="unknown",protocol="unknown",stage="fm",vpc_id="unknown"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(flowsWant), "vpcflow_flows_total"); err != nil {
		t.Error(err)
	}

	m := s.metrics
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"packets vpc-a tcp inbound", testutil.ToFloat64(m.packets.WithLabelValues("fm", "vpc-a", "ACCEPT", "inbound", "tcp")), 20},
		{"bytes vpc-a tcp inbound", testutil.ToFloat64(m.bytes.WithLabelValues("fm", "vpc-a", "ACCEPT", "inbound", "tcp")), 2000},
		{"bytes vpc-b udp outbound", testutil.ToFloat64(m.bytes.WithLabelValues("fm", "vpc-b", "REJECT", "outbound", "udp")), 80},
		{"bytes vpc-eni", testutil.ToFloat64(m.bytes.WithLabelValues("fm", "vpc-eni", "ACCEPT", "internal", "icmp")), 168},
		{"packets GRE", testutil.ToFloat64(m.packets.WithLabelValues("fm", "vpc-a", "REJECT", "unknown", "other")), 4},
		{"nodata vpc-a", testutil.ToFloat64(m.nodata.WithLabelValues("fm", "vpc-a")), 1},
		{"skipdata vpc-a", testutil.ToFloat64(m.skipdata.WithLabelValues("fm", "vpc-a")), 1},
		{"skipdata vpc-b", testutil.ToFloat64(m.skipdata.WithLabelValues("fm", "vpc-b")), 1},
		{"rejected 22", testutil.ToFloat64(m.rejected.WithLabelValues("fm", "22")), 1},
		{"rejected 53", testutil.ToFloat64(m.rejected.WithLabelValues("fm", "53")), 1},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	// NODATA/SKIPDATA records carry no packets: no series for them.
	if n := testutil.CollectAndCount(m.packets); n != 6 {
		t.Errorf("vpcflow_flow_packets_total has %d series, want 6", n)
	}
	// The GRE reject had no port; only the two rejects with one count.
	if n := testutil.CollectAndCount(m.rejected); n != 2 {
		t.Errorf("vpcflow_flow_rejected_dstport_total has %d series, want 2", n)
	}

	// A second batch adds to the same series.
	process(t, s, inbound)
	if got := testutil.ToFloat64(m.flows.WithLabelValues("fm", "vpc-a", "ACCEPT", "inbound", "tcp", "OK")); got != 3 {
		t.Errorf("after a second batch, flows = %v, want 3", got)
	}
}

func TestVPCLabelsAreBounded(t *testing.T) {
	cfg := NewDefaultConfig()
	cfg.MaxVPCs = 2
	s, _ := newStage(t, cfg)
	eni := &flowlog.ENI{VPCID: "vpc-4"}
	viaENI := ok("", "ACCEPT", 6, 443, 1, 1)
	viaENI.eni = eni
	// vpc-1 and vpc-2 are seen first and keep their labels; vpc-3 and the
	// ENI's vpc-4 come after the limit.
	process(t, s, ok("vpc-1", "ACCEPT", 6, 443, 1, 1), ok("vpc-2", "ACCEPT", 6, 443, 1, 1),
		ok("vpc-3", "ACCEPT", 6, 443, 1, 1), ok("vpc-3", "ACCEPT", 6, 443, 1, 1), viaENI)
	process(t, s, ok("vpc-1", "ACCEPT", 6, 443, 1, 1), ok("vpc-3", "ACCEPT", 6, 443, 1, 1), viaENI)

	m := s.metrics
	for vpc, want := range map[string]float64{"vpc-1": 2, "vpc-2": 1, "other": 5} {
		if got := testutil.ToFloat64(m.flows.WithLabelValues("fm", vpc, "ACCEPT", "unknown", "tcp", "OK")); got != want {
			t.Errorf("flows{vpc_id=%q} = %v, want %v", vpc, got, want)
		}
	}
	if got := testutil.ToFloat64(m.vpcOverflow); got != 5 {
		t.Errorf("overflow{label=vpc_id} = %v, want 5", got)
	}
	if n := testutil.CollectAndCount(m.flows); n != 3 {
		t.Errorf("vpcflow_flows_total has %d series, want 3 (vpc-1, vpc-2, other)", n)
	}
}

func TestVPCLimitZeroCountsEveryVPCAsOther(t *testing.T) {
	cfg := NewDefaultConfig()
	cfg.MaxVPCs = 0
	s, _ := newStage(t, cfg)
	process(t, s, ok("vpc-1", "ACCEPT", 6, 443, 1, 1), ok("vpc-2", "ACCEPT", 6, 443, 1, 1))
	if got := testutil.ToFloat64(s.metrics.flows.WithLabelValues("fm", "other", "ACCEPT", "unknown", "tcp", "OK")); got != 2 {
		t.Errorf("flows{vpc_id=other} = %v, want 2", got)
	}
}

func TestRejectedPortsAreBounded(t *testing.T) {
	cfg := NewDefaultConfig()
	cfg.AlwaysTrackDstPorts = []int{22}
	cfg.MaxRejectedDstPorts = 1
	s, _ := newStage(t, cfg)
	// 8081 takes the one free place; 9999 and 10000 then fold into other,
	// while 22 is always tracked. Accepted flows do not count.
	process(t, s,
		ok("vpc-1", "REJECT", 6, 8081, 1, 40),
		ok("vpc-1", "REJECT", 6, 9999, 1, 40),
		ok("vpc-1", "REJECT", 6, 22, 1, 40),
		ok("vpc-1", "REJECT", 17, 10000, 1, 40),
		ok("vpc-1", "REJECT", 6, 22, 1, 40),
		ok("vpc-1", "ACCEPT", 6, 443, 1, 40),
	)
	m := s.metrics
	for port, want := range map[string]float64{"22": 2, "8081": 1, "other": 2} {
		if got := testutil.ToFloat64(m.rejected.WithLabelValues("fm", port)); got != want {
			t.Errorf("rejected{dstport=%s} = %v, want %v", port, got, want)
		}
	}
	if n := testutil.CollectAndCount(m.rejected); n != 3 {
		t.Errorf("rejected has %d series, want 3", n)
	}
	if got := testutil.ToFloat64(m.portOverflow); got != 2 {
		t.Errorf("overflow{label=dstport} = %v, want 2", got)
	}
}

func TestConcurrentBatches(t *testing.T) {
	cfg := NewDefaultConfig()
	cfg.MaxVPCs = 5
	s, reg := newStage(t, cfg)
	const workers, batches, perBatch = 4, 50, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range batches {
				b := &flowlog.Batch{}
				for j := range perBatch {
					f := ok(fmt.Sprintf("vpc-%d", (w+i+j)%8), "REJECT", 6, 1000+j, 2, 100)
					b.Records = append(b.Records, record(f))
				}
				if err := s.Process(context.Background(), b); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	const total = workers * batches * perBatch
	sums := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			sums[mf.GetName()] += m.GetCounter().GetValue()
		}
	}
	flows, bytes, ports := sums["vpcflow_flows_total"], sums["vpcflow_flow_bytes_total"], sums["vpcflow_flow_rejected_dstport_total"]
	if flows != total || bytes != total*100 || ports != total {
		t.Errorf("flows %v, bytes %v, rejected %v; want %d, %d, %d", flows, bytes, ports, total, total*100, total)
	}
	if n := testutil.CollectAndCount(s.metrics.flows); n != 6 {
		t.Errorf("vpcflow_flows_total has %d series, want 6 (5 VPCs + other)", n)
	}
	if n := testutil.CollectAndCount(s.metrics.rejected); n != 40 {
		t.Errorf("rejected has %d series, want 40 (40 ports admitted of 100, none other)", n)
	}
}

func TestTwoStagesShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	var stages []*Stage
	for _, id := range []string{"a", "b"} {
		s, err := NewStage(*NewDefaultConfig(), component.Settings{ID: id, Registerer: reg})
		if err != nil {
			t.Fatalf("stage %s: %v", id, err)
		}
		stages = append(stages, s)
	}
	process(t, stages[0], ok("vpc-1", "ACCEPT", 6, 443, 1, 1))
	process(t, stages[1], ok("vpc-1", "ACCEPT", 6, 443, 1, 1), ok("vpc-1", "ACCEPT", 6, 443, 1, 1))
	want := `
# HELP vpcflow_flows_total Flow-log records seen by the flow_metrics stage, by VPC (top max_vpcs, the rest "other"), action, direction, protocol and log status.
# TYPE vpcflow_flows_total counter
vpcflow_flows_total{action="ACCEPT",direction="unknown",log_status="OK",protocol="tcp",stage="a",vpc_id="vpc-1"} 1
vpcflow_flows_total{action="ACCEPT",direction="unknown",log_status="OK",protocol="tcp",stage="b",vpc_id="vpc-1"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "vpcflow_flows_total"); err != nil {
		t.Error(err)
	}
}

func TestEmptyBatch(t *testing.T) {
	s, reg := newStage(t, NewDefaultConfig())
	process(t, s)
	if n, err := testutil.GatherAndCount(reg, "vpcflow_flows_total"); err != nil || n != 0 {
		t.Errorf("series after an empty batch: %d, %v; want 0", n, err)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, wantErr string
		check               func(*Config) bool
	}{
		{name: "defaults", yaml: "{}", check: func(c *Config) bool {
			return c.MaxVPCs == 100 && c.MaxRejectedDstPorts == 100 && len(c.AlwaysTrackDstPorts) == len(defaultTrackedPorts)
		}},
		{name: "override", yaml: "max_vpcs: 5\nmax_rejected_dstports: 0\nalways_track_dstports: [22, 3389]", check: func(c *Config) bool {
			return c.MaxVPCs == 5 && c.MaxRejectedDstPorts == 0 && reflect.DeepEqual(c.AlwaysTrackDstPorts, []int{22, 3389})
		}},
		{name: "negative vpcs", yaml: "max_vpcs: -1", wantErr: "max_vpcs must be between 0 and 10000, got -1"},
		{name: "too many vpcs", yaml: "max_vpcs: 20000", wantErr: "max_vpcs must be between"},
		{name: "negative ports", yaml: "max_rejected_dstports: -3", wantErr: "max_rejected_dstports must be between 0 and 65536, got -3"},
		{name: "bad port", yaml: "always_track_dstports: [22, 70000]", wantErr: "always_track_dstports[1]: port must be between 0 and 65535, got 70000"},
		{name: "unknown key", yaml: "max_vpc: 3", wantErr: "field max_vpc not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewDefaultConfig()
			err := componenttest.Decode([]byte(tc.yaml), c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type != "flow_metrics" {
		t.Errorf("Type = %q", f.Type)
	}
	cfg := f.NewDefaultConfig()
	if _, ok := cfg.(*Config); !ok {
		t.Fatalf("NewDefaultConfig returned %T", cfg)
	}
	st, err := f.Create(context.Background(), cfg, component.Settings{ID: "fm"})
	if err != nil || st == nil {
		t.Fatalf("Create: %v, %v", st, err)
	}
	if _, err := f.Create(context.Background(), struct{}{}, component.Settings{}); err == nil {
		t.Error("Create accepted a foreign config")
	}
}
