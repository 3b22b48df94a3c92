package eni

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/vpcflow/vpcflow/enrich/eni/ec2stub"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

func TestMain(m *testing.M) {
	// hashicorp/golang-lru/v2 expirable starts an expiry goroutine per
	// cache that v2.0.7 cannot stop.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/hashicorp/golang-lru/v2/expirable.NewLRU[...].func1"))
}

// Formats used by the tests' own minimal line splitter (the real parser is
// processor/parse).
var (
	v2 = flowlog.DefaultFormat
	v5 = []flowlog.Field{flowlog.FVersion, flowlog.FAccountID, flowlog.FInterfaceID, flowlog.FSrcAddr, flowlog.FDstAddr,
		flowlog.FSrcPort, flowlog.FDstPort, flowlog.FProtocol, flowlog.FPackets, flowlog.FBytes, flowlog.FStart, flowlog.FEnd,
		flowlog.FAction, flowlog.FLogStatus, flowlog.FRegion, flowlog.FFlowDirection}
)

// rec builds a record from a line of the given format, as the parse stage
// would: spans for every field that is not "-", addresses parsed.
func rec(t testing.TB, format []flowlog.Field, line string, o *flowlog.Origin) flowlog.Record {
	t.Helper()
	r := flowlog.Record{Raw: []byte(line), Origin: o}
	toks := strings.Split(line, " ")
	if len(toks) != len(format) {
		t.Fatalf("line %q has %d fields, format %d", line, len(toks), len(format))
	}
	off := 0
	for i, tok := range toks {
		if tok != "-" {
			f := format[i]
			r.SetSpan(f, off, len(tok))
			switch f {
			case flowlog.FSrcAddr:
				r.SrcAddr = netip.MustParseAddr(tok)
			case flowlog.FDstAddr:
				r.DstAddr = netip.MustParseAddr(tok)
			}
		}
		off += len(tok) + 1
	}
	return r
}

// line2 writes a default-format line.
func line2(account, eni, src, dst, status string) string {
	return "2 " + account + " " + eni + " " + src + " " + dst + " 443 49152 6 10 840 1700000000 1700000060 ACCEPT " + status
}

func line5(account, eni, src, dst, region, dir string) string {
	return line2(account, eni, src, dst, "OK") + " " + region + " " + dir
}

type env struct {
	stub  *ec2stub.Server
	sts   *ec2stub.STS
	stage *Stage
	reg   *prometheus.Registry
}

const acctA, acctB = "111111111111", "222222222222"

// newEnv starts the EC2 and STS stand-ins and a stage using them through
// the real SDK clients, with static credentials and region us-east-1.
func newEnv(t testing.TB, enis []*flowlog.ENI, mod func(*Config)) *env {
	t.Helper()
	e := &env{stub: ec2stub.NewServer(enis), sts: ec2stub.NewSTS(), reg: prometheus.NewRegistry()}
	ec2Srv := httptest.NewServer(e.stub)
	stsSrv := httptest.NewServer(e.sts)
	cfg := NewDefaultConfig()
	cfg.Endpoint = ec2Srv.URL
	cfg.STSEndpoint = stsSrv.URL
	cfg.Region = "us-east-1"
	cfg.MaxWait = 10 * time.Second
	cfg.BatchWindow = 5 * time.Millisecond
	cfg.RateLimit = 1000
	cfg.RateBurst = 1000
	// The look-up tests count calls per interface: they run without
	// inventories unless mod turns them on (inventory_test.go).
	cfg.Inventory = false
	if mod != nil {
		mod(cfg)
	}
	s, err := newStage(context.Background(), cfg, component.Settings{ID: "eni", Registerer: e.reg},
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")),
		config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{}))
	if err != nil {
		t.Fatal(err)
	}
	s.backoffBase, s.backoffMax = time.Millisecond, 4*time.Millisecond
	s.breakerBase, s.breakerMax = 50*time.Millisecond, 50*time.Millisecond
	s.invRetry = 50 * time.Millisecond
	e.stage = s
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
		ec2Srv.Close()
		stsSrv.Close()
	})
	return e
}

func (e *env) process(t testing.TB, recs ...flowlog.Record) []flowlog.Record {
	t.Helper()
	b := &flowlog.Batch{Records: recs}
	if err := e.stage.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(b.Records) != len(recs) {
		t.Fatalf("%d records out, %d in", len(b.Records), len(recs))
	}
	return b.Records
}

func (e *env) unenriched(reason string) float64 {
	return testutil.ToFloat64(e.stage.m.unenriched.WithLabelValues(reason))
}

func (e *env) calls(outcome string) float64 {
	return testutil.ToFloat64(e.stage.m.calls.WithLabelValues(outcome))
}

// waitFor polls cond (no sleeping as synchronisation beyond a short poll).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}
