package eni

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vpcflow/vpcflow/enrich/eni/ec2stub"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

var (
	web = &flowlog.ENI{
		InterfaceID: "eni-0123456789abcdef0", AccountID: acctA, Region: "us-east-1",
		VPCID: "vpc-0a1b2c3d4e5f60718", SubnetID: "subnet-0aaaaaaaaaaaaaaaa", AvailabilityZone: "us-east-1a",
		InstanceID: "i-0fedcba9876543210", InterfaceType: "interface",
		SecurityGroupIDs: []string{"sg-0000000000000000a", "sg-0000000000000000b"},
		Addresses:        addrs("10.0.1.10", "10.0.1.11", "2001:db8:0:1::10"),
		Tags:             map[string]string{"Name": "web-1", "team": "edge"},
	}
	db = &flowlog.ENI{ // same subnet as web
		InterfaceID: "eni-0d0d0d0d0d0d0d0d0", AccountID: acctA, Region: "us-east-1",
		VPCID: web.VPCID, SubnetID: web.SubnetID, AvailabilityZone: "us-east-1a", InterfaceType: "interface",
		Addresses: addrs("10.0.1.20"),
	}
	other = &flowlog.ENI{ // other subnet
		InterfaceID: "eni-0e0e0e0e0e0e0e0e0", AccountID: acctA, Region: "us-east-1",
		VPCID: web.VPCID, SubnetID: "subnet-0bbbbbbbbbbbbbbbb", AvailabilityZone: "us-east-1b", InterfaceType: "interface",
		Addresses: addrs("10.0.2.30"),
	}
	nat = &flowlog.ENI{ // account B, us-west-2, short id
		InterfaceID: "eni-8f8f8f8f", AccountID: acctB, Region: "us-west-2",
		VPCID: "vpc-b", SubnetID: "subnet-b", AvailabilityZone: "us-west-2c", InterfaceType: "nat_gateway",
		SecurityGroupIDs: nil, Addresses: addrs("172.16.0.5"),
	}
	table = []*flowlog.ENI{web, db, other, nat}
)

func TestEnrichEveryField(t *testing.T) {
	e := newEnv(t, table, nil)
	out := e.process(t, rec(t, v2, line2(acctA, web.InterfaceID, "198.51.100.7", "10.0.1.10", "OK"), nil))
	got := out[0].ENI
	want := &flowlog.ENI{
		InterfaceID: web.InterfaceID, AccountID: acctA, Region: "us-east-1", VPCID: web.VPCID, SubnetID: web.SubnetID,
		AvailabilityZone: "us-east-1a", InstanceID: "i-0fedcba9876543210", InterfaceType: "interface",
		SecurityGroupIDs: []string{"sg-0000000000000000a", "sg-0000000000000000b"},
		Addresses:        addrs("10.0.1.10", "10.0.1.11", "2001:db8:0:1::10"),
		Tags:             map[string]string{"Name": "web-1"}, // only the configured keys
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ENI =\n%+v\nwant\n%+v", got, want)
	}
	if out[0].Direction != flowlog.DirInbound {
		t.Errorf("direction = %v, want inbound", out[0].Direction)
	}
	// The second record of the interface shares the same value.
	out2 := e.process(t, rec(t, v2, line2(acctA, web.InterfaceID, "10.0.1.10", "198.51.100.7", "OK"), nil))
	if out2[0].ENI != got {
		t.Error("a cache hit returned a different *ENI")
	}
	if h := testutil.ToFloat64(e.stage.m.hits); h != 1 {
		t.Errorf("hits = %v, want 1", h)
	}
	if m := testutil.ToFloat64(e.stage.m.misses); m != 1 {
		t.Errorf("misses = %v, want 1", m)
	}
}

func TestRegionAndAccountFallbacks(t *testing.T) {
	e := newEnv(t, table, func(c *Config) { c.Tags = nil })
	// Region from the record's region field: nat is only visible in us-west-2.
	r1 := rec(t, v5, line5(acctB, nat.InterfaceID, "172.16.0.5", "203.0.113.9", "us-west-2", "egress"), nil)
	// Region and account from the input (an S3 key) when the record lacks them.
	o := &flowlog.Origin{Name: "s3://b/k", Account: acctB, Region: "us-west-2"}
	r2 := rec(t, []flowlog.Field{flowlog.FInterfaceID, flowlog.FSrcAddr, flowlog.FDstAddr},
		nat.InterfaceID+" 172.16.0.5 203.0.113.9", o)
	// Stage region (us-east-1) by default: nat is not there.
	r3 := rec(t, v2, line2(acctB, nat.InterfaceID, "172.16.0.5", "203.0.113.9", "OK"), nil)
	out := e.process(t, r1, r2, r3)
	for i, r := range out[:2] {
		if r.ENI == nil || r.ENI.Region != "us-west-2" || r.ENI.AccountID != acctB || r.ENI.InterfaceType != "nat_gateway" || r.ENI.Tags != nil {
			t.Errorf("record %d: ENI = %+v", i, r.ENI)
		}
		if r.Direction != flowlog.DirOutbound {
			t.Errorf("record %d: direction %v", i, r.Direction)
		}
	}
	if out[0].ENI != out[1].ENI {
		t.Error("one key, two values")
	}
	if out[2].ENI != nil {
		t.Errorf("us-east-1 record enriched with %+v", out[2].ENI)
	}
	if got := e.unenriched(reasonUnknownENI); got != 1 {
		t.Errorf("unknown_eni = %v", got)
	}
}

func TestEachENIAskedOncePerTTL(t *testing.T) {
	enis := ec2stub.Synthetic(acctA, "us-east-1", 50)
	e := newEnv(t, enis, func(c *Config) {
		c.MaxIDsPerCall = 20
		c.BatchWindow = 20 * time.Millisecond
		c.TTL = time.Hour
	})
	release := e.stub.Hold()
	batch := func(seed uint64) []flowlog.Record {
		rng := rand.New(rand.NewPCG(seed, 1))
		recs := make([]flowlog.Record, 0, 200)
		for range 200 {
			i := rng.IntN(len(enis))
			recs = append(recs, rec(t, v2, line2(acctA, enis[i].InterfaceID, ec2stub.SyntheticAddr(i).String(), "203.0.113.1", "OK"), nil))
		}
		return recs
	}
	const workers, rounds = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			for n := range rounds {
				b := &flowlog.Batch{Records: batch(uint64(w*100 + n))}
				if err := e.stage.Process(context.Background(), b); err != nil {
					errs <- err
					return
				}
				for i, r := range b.Records {
					if r.ENI == nil || string(r.Text(flowlog.FInterfaceID)) != r.ENI.InterfaceID || r.Direction != flowlog.DirOutbound {
						errs <- fmt.Errorf("worker %d round %d record %d: ENI %+v direction %v", w, n, i, r.ENI, r.Direction)
						return
					}
				}
			}
		})
	}
	// Let every interface be requested while EC2 holds the first calls,
	// so that concurrent batches meet in flight.
	waitFor(t, "all interfaces in flight", func() bool {
		e.stage.f.mu.Lock()
		defer e.stage.f.mu.Unlock()
		return len(e.stage.f.inflight) == len(enis)
	})
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, x := range enis {
		if n := e.stub.CallsFor(x.InterfaceID); n != 1 {
			t.Fatalf("%s asked %d times", x.InterfaceID, n)
		}
	}
	if c := e.stub.Calls(); c < 3 || c > 50 {
		t.Errorf("calls = %d, want ≥ 3 (20 ids a call)", c)
	}
	if got := testutil.ToFloat64(e.stage.m.hits) + testutil.ToFloat64(e.stage.m.misses); got != workers*rounds*200 {
		t.Errorf("hits+misses = %v", got)
	}
}

func TestAskedAgainAfterTTL(t *testing.T) {
	e := newEnv(t, table, func(c *Config) { c.TTL = 500 * time.Millisecond })
	r := func() flowlog.Record {
		return rec(t, v2, line2(acctA, web.InterfaceID, "198.51.100.7", "10.0.1.10", "OK"), nil)
	}
	for range 3 {
		e.process(t, r(), r())
	}
	if n := e.stub.CallsFor(web.InterfaceID); n != 1 {
		t.Fatalf("asked %d times within the TTL", n)
	}
	lo, hi, _ := parseID([]byte(web.InterfaceID))
	k := mkKey(parseAccount([]byte(acctA)), lo, hi, e.stage.defRegion)
	waitFor(t, "expiry", func() bool { return e.stage.store.get(k, time.Now().UnixNano()) == nil })
	out := e.process(t, r(), r())
	if n := e.stub.CallsFor(web.InterfaceID); n != 2 || out[1].ENI == nil {
		t.Fatalf("after the TTL: asked %d times, ENI %v", n, out[1].ENI)
	}
}

func TestUnknownENICachedNegatively(t *testing.T) {
	e := newEnv(t, table, nil)
	const gone = "eni-0999999999999999f"
	for range 4 {
		out := e.process(t,
			rec(t, v2, line2(acctA, gone, "10.0.9.9", "203.0.113.1", "OK"), nil),
			rec(t, v2, line2(acctA, web.InterfaceID, "10.0.1.10", "203.0.113.1", "OK"), nil))
		if out[0].ENI != nil || out[0].Direction != flowlog.DirUnknown {
			t.Fatalf("unknown interface enriched: %+v %v", out[0].ENI, out[0].Direction)
		}
		if out[1].ENI == nil {
			t.Fatal("a known interface asked in the same call was not enriched")
		}
	}
	if n := e.stub.CallsFor(gone); n != 1 {
		t.Fatalf("unknown interface asked %d times", n)
	}
	if got := testutil.ToFloat64(e.stage.m.negHits); got != 3 {
		t.Errorf("negative hits = %v, want 3", got)
	}
	if got := e.unenriched(reasonUnknownENI); got != 4 {
		t.Errorf("unknown_eni = %v, want 4", got)
	}
	// The interface appears later (EC2 eventual consistency): after
	// negative_ttl it is asked again; until then it stays negative.
	if p, n := e.stage.store.len(); p != 1 || n != 1 {
		t.Errorf("cache size = %d/%d", p, n)
	}
}

func TestThrottlingRetried(t *testing.T) {
	e := newEnv(t, table, nil)
	e.stub.FailNext(2, ec2stub.Throttle)
	out := e.process(t, rec(t, v2, line2(acctA, web.InterfaceID, "10.0.1.10", "203.0.113.1", "OK"), nil))
	if out[0].ENI == nil {
		t.Fatal("not enriched after throttling")
	}
	if got := testutil.ToFloat64(e.stage.m.throttles); got != 2 {
		t.Errorf("throttles = %v, want 2", got)
	}
	if e.calls(outcomeThrottled) != 2 || e.calls(outcomeOK) != 1 {
		t.Errorf("calls throttled %v ok %v", e.calls(outcomeThrottled), e.calls(outcomeOK))
	}
	e.stub.FailNext(1, ec2stub.ServerError)
	out = e.process(t, rec(t, v2, line2(acctA, db.InterfaceID, "10.0.1.20", "203.0.113.1", "OK"), nil))
	if out[0].ENI == nil || e.calls(outcomeServerError) != 1 {
		t.Fatalf("5xx not retried: %+v, %v", out[0].ENI, e.calls(outcomeServerError))
	}
}

func TestEC2DownRecordsFlowUnenriched(t *testing.T) {
	e := newEnv(t, table, func(c *Config) {
		c.MaxWait = 100 * time.Millisecond
		c.MaxRetries = 2
	})
	// Long enough that the next batch surely comes while backed off.
	e.stage.breakerBase, e.stage.breakerMax = time.Second, time.Second
	r := func(id string) flowlog.Record {
		return rec(t, v5, line5(acctA, id, "10.0.1.10", "203.0.113.1", "us-east-1", "egress"), nil)
	}

	// EC2 hangs: the batch waits max_wait, then passes unenriched.
	release := e.stub.Hold()
	start := time.Now()
	out := e.process(t, r(web.InterfaceID), r(web.InterfaceID))
	if d := time.Since(start); d < 100*time.Millisecond || d > 5*time.Second {
		t.Errorf("waited %v, want about max_wait", d)
	}
	if out[0].ENI != nil || out[1].ENI != nil || e.unenriched(reasonTimeout) != 2 {
		t.Fatalf("ENI %v, timeout count %v", out[0].ENI, e.unenriched(reasonTimeout))
	}
	// flow-direction is the record's own data: kept without enrichment.
	if out[0].Direction != flowlog.DirOutbound {
		t.Errorf("direction %v", out[0].Direction)
	}
	release()

	// EC2 down: retried, then failed; records pass with reason ec2_error.
	e.stub.SetMode(ec2stub.Down)
	out = e.process(t, r(db.InterfaceID))
	if out[0].ENI != nil || e.unenriched(reasonEC2Error) != 1 || e.calls(outcomeNetwork) != 3 {
		t.Fatalf("down: ENI %v, ec2_error %v, network calls %v", out[0].ENI, e.unenriched(reasonEC2Error), e.calls(outcomeNetwork))
	}
	// Backed off: no call and no wait for the next batch (ec2_error at
	// once, not a timeout).
	calls := e.stub.Calls()
	out = e.process(t, r(other.InterfaceID))
	if out[0].ENI != nil || e.stub.Calls() != calls || e.unenriched(reasonEC2Error) != 2 || e.unenriched(reasonTimeout) != 2 {
		t.Fatalf("backed off: ENI %v, calls %d→%d, ec2_error %v, timeout %v", out[0].ENI, calls, e.stub.Calls(),
			e.unenriched(reasonEC2Error), e.unenriched(reasonTimeout))
	}
	// EC2 is back: after the back-off, look-ups resume.
	e.stub.SetMode(ec2stub.OK)
	waitFor(t, "enrichment after recovery", func() bool {
		return e.process(t, r(other.InterfaceID))[0].ENI != nil
	})
}

func TestAssumeRolePerAccount(t *testing.T) {
	const role = "arn:aws:iam::{account-id}:role/vpcflow-reader"
	webB := *web
	webB.InterfaceID, webB.AccountID, webB.Region = "eni-0b0b0b0b0b0b0b0b0", acctB, ""
	e := newEnv(t, []*flowlog.ENI{web, &webB}, func(c *Config) { c.RoleARN = role })
	for range 3 {
		out := e.process(t,
			rec(t, v2, line2(acctA, web.InterfaceID, "10.0.1.10", "203.0.113.1", "OK"), nil),
			rec(t, v2, line2(acctB, webB.InterfaceID, "10.0.1.10", "203.0.113.1", "OK"), nil),
			// Account A's role does not see account B's interface.
			rec(t, v2, line2(acctA, webB.InterfaceID, "10.0.1.10", "203.0.113.1", "OK"), nil))
		if out[0].ENI == nil || out[0].ENI.AccountID != acctA || out[1].ENI == nil || out[1].ENI.AccountID != acctB {
			t.Fatalf("ENIs %+v / %+v", out[0].ENI, out[1].ENI)
		}
		if out[2].ENI != nil {
			t.Fatalf("account A saw account B's interface")
		}
	}
	for _, a := range []string{acctA, acctB} {
		arn := "arn:aws:iam::" + a + ":role/vpcflow-reader"
		if n := e.sts.Calls(arn); n != 1 {
			t.Errorf("AssumeRole %s: %d calls, want 1 (credentials cached)", arn, n)
		}
	}
}

func TestDirection(t *testing.T) {
	e := newEnv(t, table, nil)
	// Cache db so that it is a known interface of web's subnet; other is
	// known too, in another subnet.
	e.process(t,
		rec(t, v2, line2(acctA, db.InterfaceID, "10.0.1.20", "203.0.113.1", "OK"), nil),
		rec(t, v2, line2(acctA, other.InterfaceID, "10.0.2.30", "203.0.113.1", "OK"), nil))
	id := web.InterfaceID
	for _, tc := range []struct {
		name   string
		format []flowlog.Field
		line   string
		want   flowlog.Direction
	}{
		{"dst primary", v2, line2(acctA, id, "198.51.100.7", "10.0.1.10", "OK"), flowlog.DirInbound},
		{"src primary", v2, line2(acctA, id, "10.0.1.10", "198.51.100.7", "OK"), flowlog.DirOutbound},
		{"dst secondary", v2, line2(acctA, id, "198.51.100.7", "10.0.1.11", "OK"), flowlog.DirInbound},
		{"src secondary", v2, line2(acctA, id, "10.0.1.11", "198.51.100.7", "OK"), flowlog.DirOutbound},
		{"dst ipv6", v2, line2(acctA, id, "2001:db8:ffff::1", "2001:db8:0:1::10", "OK"), flowlog.DirInbound},
		{"src ipv6", v2, line2(acctA, id, "2001:db8:0:1::10", "2001:db8:ffff::1", "OK"), flowlog.DirOutbound},
		{"neither end", v2, line2(acctA, id, "198.51.100.7", "198.51.100.8", "OK"), flowlog.DirUnknown},
		{"nodata", v2, "2 " + acctA + " " + id + " - - - - - - - 1700000000 1700000060 - NODATA", flowlog.DirUnknown},
		{"skipdata", v2, "2 " + acctA + " " + id + " - - - - - - - 1700000000 1700000060 - SKIPDATA", flowlog.DirUnknown},
		{"same subnet out", v2, line2(acctA, id, "10.0.1.10", "10.0.1.20", "OK"), flowlog.DirInternal},
		{"same subnet in", v2, line2(acctA, id, "10.0.1.20", "10.0.1.11", "OK"), flowlog.DirInternal},
		// db was cached before web widened the subnet's address range.
		{"same subnet from the older entry", v2, line2(acctA, db.InterfaceID, "10.0.1.20", "10.0.1.10", "OK"), flowlog.DirInternal},
		{"self", v2, line2(acctA, id, "10.0.1.10", "10.0.1.11", "OK"), flowlog.DirInternal},
		{"other subnet", v2, line2(acctA, id, "10.0.1.10", "10.0.2.30", "OK"), flowlog.DirOutbound},
		{"unknown peer in subnet range", v2, line2(acctA, id, "10.0.1.99", "10.0.1.10", "OK"), flowlog.DirInbound},
		{"v5 ingress", v5, line5(acctA, id, "198.51.100.7", "10.0.1.10", "us-east-1", "ingress"), flowlog.DirInbound},
		{"v5 egress", v5, line5(acctA, id, "10.0.1.10", "198.51.100.7", "us-east-1", "egress"), flowlog.DirOutbound},
		// flow-direction decides over the addresses (e.g. a NAT gateway's
		// records carry the translated ends).
		{"v5 ingress decides", v5, line5(acctA, id, "10.0.1.10", "198.51.100.7", "us-east-1", "ingress"), flowlog.DirInbound},
		{"v5 neither end", v5, line5(acctA, id, "198.51.100.7", "198.51.100.8", "us-east-1", "egress"), flowlog.DirOutbound},
		// Both ends in one subnet is internal whatever flow-direction says.
		{"v5 same subnet", v5, line5(acctA, id, "10.0.1.20", "10.0.1.10", "us-east-1", "ingress"), flowlog.DirInternal},
		{"v5 unknown interface", v5, line5(acctA, "eni-0ffffffffffffffff", "10.0.7.7", "198.51.100.7", "us-east-1", "egress"), flowlog.DirOutbound},
		{"v5 flow-direction absent", v5, line5(acctA, id, "198.51.100.7", "10.0.1.10", "us-east-1", "-"), flowlog.DirInbound},
		{"no interface", []flowlog.Field{flowlog.FSrcAddr, flowlog.FDstAddr}, "10.0.1.10 10.0.1.20", flowlog.DirUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := e.process(t, rec(t, tc.format, tc.line, nil))
			if out[0].Direction != tc.want {
				t.Errorf("direction = %q, want %q", out[0].Direction, tc.want)
			}
		})
	}
}

func TestNoInterfaceOrRegion(t *testing.T) {
	e := newEnv(t, table, func(c *Config) { c.Region = "" })
	// No region anywhere: the SDK default is empty here (no AWS_REGION in
	// the shared files we load), so the record passes.
	out := e.process(t,
		rec(t, []flowlog.Field{flowlog.FSrcAddr, flowlog.FDstAddr}, "10.0.1.10 10.0.1.20", nil),
		rec(t, v2, line2(acctA, "eni-XYZ", "10.0.1.10", "10.0.1.20", "OK"), nil),
	)
	if out[0].ENI != nil || out[1].ENI != nil || e.unenriched(reasonNoInterface) != 2 {
		t.Fatalf("no_interface = %v", e.unenriched(reasonNoInterface))
	}
	if e.stage.defRegion == 0 {
		out = e.process(t, rec(t, v2, line2(acctA, web.InterfaceID, "10.0.1.10", "10.0.1.20", "OK"), nil))
		if out[0].ENI != nil || e.unenriched(reasonNoRegion) != 1 {
			t.Fatalf("no_region = %v", e.unenriched(reasonNoRegion))
		}
	}
	if e.stub.Calls() != 0 {
		t.Errorf("EC2 called %d times", e.stub.Calls())
	}
}

func TestWarmUp(t *testing.T) {
	enis := ec2stub.Synthetic(acctA, "us-east-1", 120)
	e := newEnv(t, enis, func(c *Config) {
		c.WarmUp.Accounts = []string{acctA}
	})
	e.stub.SetPageSize(50)
	if err := e.stage.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := e.stub.Calls(); c != 3 {
		t.Fatalf("warm-up made %d calls, want 3 pages", c)
	}
	if p, _ := e.stage.store.len(); p != 120 {
		t.Fatalf("cache holds %d, want 120", p)
	}
	// Synthetic interfaces 0 and 1 share a subnet: internal without any
	// look-up.
	out := e.process(t, rec(t, v2, line2(acctA, enis[0].InterfaceID, ec2stub.SyntheticAddr(0).String(), ec2stub.SyntheticAddr(1).String(), "OK"), nil))
	if out[0].ENI != enis0(e, out) || out[0].Direction != flowlog.DirInternal || e.stub.Calls() != 3 {
		t.Fatalf("ENI %+v direction %v calls %d", out[0].ENI, out[0].Direction, e.stub.Calls())
	}
}

func enis0(_ *env, out []flowlog.Record) *flowlog.ENI {
	if out[0].ENI == nil || out[0].ENI.InterfaceID != ec2stub.SyntheticID(0) {
		return nil
	}
	return out[0].ENI
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t, table, nil)
	ctx := context.Background()
	if err := e.stage.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.stage.Close(ctx); err != nil {
		t.Fatal(err)
	}
	out := e.process(t, rec(t, v2, line2(acctA, web.InterfaceID, "10.0.1.10", "203.0.113.1", "OK"), nil))
	if out[0].ENI != nil || e.unenriched(reasonClosed) != 1 || out[0].Direction != flowlog.DirUnknown {
		t.Fatalf("after close: %+v closed=%v", out[0].ENI, e.unenriched(reasonClosed))
	}
	if err := e.stage.Process(ctx, &flowlog.Batch{}); err != nil {
		t.Fatal(err)
	}
}

func TestCloseWhileLookingUp(t *testing.T) {
	e := newEnv(t, table, func(c *Config) { c.MaxWait = 20 * time.Millisecond })
	release := e.stub.Hold()
	defer release()
	e.process(t, rec(t, v2, line2(acctA, web.InterfaceID, "10.0.1.10", "203.0.113.1", "OK"), nil))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.stage.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestCacheSizeBound(t *testing.T) {
	enis := ec2stub.Synthetic(acctA, "us-east-1", 30)
	e := newEnv(t, enis, func(c *Config) { c.CacheSize = 10 })
	var recs []flowlog.Record
	for i, x := range enis {
		recs = append(recs, rec(t, v2, line2(acctA, x.InterfaceID, ec2stub.SyntheticAddr(i).String(), "203.0.113.1", "OK"), nil))
	}
	out := e.process(t, recs...)
	for i, r := range out {
		if r.ENI == nil {
			t.Fatalf("record %d not enriched", i)
		}
	}
	p, _ := e.stage.store.len()
	e.stage.store.mu.RLock()
	n, idx := len(e.stage.store.entries), 0
	for _, sn := range e.stage.store.subnets {
		idx += sn.len()
	}
	e.stage.store.mu.RUnlock()
	if p != 10 || n != 10 || idx != 10*2+3 { // 2 addresses each, 3 of 10 with a secondary (i%4==0: 20,24,28)
		t.Fatalf("lru %d, entries %d, index %d", p, n, idx)
	}
	if ev := testutil.ToFloat64(e.stage.m.evictions); ev != 20 {
		t.Errorf("evictions = %v, want 20", ev)
	}
}

// The SDK's own endpoint variables work with no key of ours.
func TestEndpointFromEnvironment(t *testing.T) {
	e := newEnv(t, table, nil) // only for its stand-in's URL
	t.Setenv("AWS_ENDPOINT_URL_EC2", e.stage.cfg.Endpoint)
	t.Setenv("AWS_REGION", "us-west-2")
	f := newEnv(t, table, func(c *Config) { c.Endpoint, c.Region = "", "" })
	out := f.process(t, rec(t, v2, line2(acctB, nat.InterfaceID, "172.16.0.5", "203.0.113.9", "OK"), nil))
	if out[0].ENI == nil || out[0].ENI.Region != "us-west-2" {
		t.Fatalf("ENI %+v", out[0].ENI)
	}
	if e.stub.CallsFor(nat.InterfaceID) != 1 {
		t.Fatalf("the stand-in named by AWS_ENDPOINT_URL_EC2 was asked %d times", e.stub.CallsFor(nat.InterfaceID))
	}
}
