package eni

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vpcflow/vpcflow/enrich/eni/ec2stub"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// withInventory turns inventories on (newEnv turns them off).
func withInventory(more ...func(*Config)) func(*Config) {
	return func(c *Config) {
		c.Inventory = true
		for _, m := range more {
			m(c)
		}
	}
}

// synthRecs returns n records of account over random interfaces of
// Synthetic(n of enis), outbound from the interface.
func synthRecs(t testing.TB, account string, enis, n int, seed uint64) []flowlog.Record {
	rng := rand.New(rand.NewPCG(seed, 3))
	recs := make([]flowlog.Record, 0, n)
	for range n {
		i := rng.IntN(enis)
		recs = append(recs, rec(t, v2, line2(account, ec2stub.SyntheticID(i), ec2stub.SyntheticAddr(i).String(), "203.0.113.1", "OK"), nil))
	}
	return recs
}

// listingCalls is the calls one listing of enis makes with pages of size:
// one page, and when there are more, every page of each prefix of
// invShards.
func listingCalls(enis []*flowlog.ENI, size int) int {
	if len(enis) <= size {
		return 1
	}
	n := 1
	for _, p := range invShards {
		k := 0
		for _, e := range enis {
			if strings.HasPrefix(e.InterfaceID, strings.TrimSuffix(p, "*")) {
				k++
			}
		}
		n += max(1, (k+size-1)/size)
	}
	return n
}

// checkEnriched fails unless every record carries its own interface.
func checkEnriched(t testing.TB, recs []flowlog.Record) {
	t.Helper()
	for i, r := range recs {
		if r.ENI == nil || r.ENI.InterfaceID != string(r.Text(flowlog.FInterfaceID)) || r.Direction != flowlog.DirOutbound {
			t.Fatalf("record %d (%s): ENI %+v, direction %v", i, r.Text(flowlog.FInterfaceID), r.ENI, r.Direction)
		}
	}
}

func TestInventoryListsEveryPageOnce(t *testing.T) {
	const n = 2500
	e := newEnv(t, ec2stub.Synthetic(acctA, "us-east-1", n), withInventory())
	out := e.process(t, synthRecs(t, acctA, n, 500, 1)...)
	checkEnriched(t, out)
	checkEnriched(t, e.process(t, synthRecs(t, acctA, n, 500, 2)...))
	// 1000 a page: the first, then by prefix; no look-up by id.
	want := listingCalls(ec2stub.Synthetic(acctA, "us-east-1", n), 1000)
	if c, l := e.stub.Calls(), e.stub.Listings(); c != want || l != want {
		t.Fatalf("calls %d, listing pages %d; want %d and %d", c, l, want, want)
	}
	if p := testutil.ToFloat64(e.stage.m.invPages); p != float64(want) {
		t.Errorf("pages = %v, want %d", p, want)
	}
	if got := testutil.ToFloat64(e.stage.m.invListings.WithLabelValues(outcomeOK)); got != 1 {
		t.Errorf("listings ok = %v", got)
	}
	if k := e.stage.invs.known(); k != n {
		t.Errorf("interfaces known = %d", k)
	}
	if c := e.stage.store.capacity.Load(); c != int64(e.stage.cfg.CacheSize+n) {
		t.Errorf("capacity = %d", c)
	}
	if w := e.stage.invs.waiting.Load(); w != 0 {
		t.Errorf("waiting = %d", w)
	}
}

// While account A's inventory is being listed (slowly: 60 pages at 20/s),
// its batches wait, and account B's flow: B's batch is done while A's is
// still parked.
func TestInventoryParksOnlyItsAccount(t *testing.T) {
	enis := append(ec2stub.Synthetic(acctA, "", 600), ec2stub.Synthetic(acctB, "", 5)...)
	for i, x := range enis[600:] { // other ids than A's
		x.InterfaceID = fmt.Sprintf("eni-f8%015x", i)
	}
	e := newEnv(t, enis, withInventory(func(c *Config) {
		c.RoleARN = "arn:aws:iam::{account-id}:role/vpcflow-reader"
		c.RateLimit, c.RateBurst = 20, 1
	}))
	e.stub.SetPageSize(10)
	parkedA := make(chan []flowlog.Record)
	go func() {
		b := &flowlog.Batch{Records: synthRecs(t, acctA, 600, 200, 1)}
		_ = e.stage.Process(context.Background(), b)
		parkedA <- b.Records
	}()
	waitFor(t, "A's records parked", func() bool { return e.stage.invs.waiting.Load() > 0 })
	start := time.Now()
	var recsB []flowlog.Record
	for i := range 5 {
		recsB = append(recsB, rec(t, v2, line2(acctB, enis[600+i].InterfaceID, ec2stub.SyntheticAddr(i).String(), "203.0.113.1", "OK"), nil))
	}
	checkEnriched(t, e.process(t, recsB...))
	if d := time.Since(start); d > time.Second {
		t.Errorf("account B's batch took %v", d)
	}
	select {
	case <-parkedA:
		t.Fatal("account A's batch did not wait for its inventory")
	default:
	}
	if w := e.stage.invs.waiting.Load(); w != 200 {
		t.Errorf("waiting records = %d, want 200", w)
	}
	if l := e.stage.invs.inProgress.Load(); l != 1 {
		t.Errorf("listings in progress = %d, want 1", l)
	}
	checkEnriched(t, <-parkedA)
	if c, want := e.stub.Calls(), listingCalls(enis[:600], 10)+1; c != want {
		t.Errorf("calls = %d, want %d pages", c, want)
	}
}

// Past inventory_wait, records of a listing that is not done pass at once,
// counted; when it is done they are enriched.
func TestInventoryWaitBound(t *testing.T) {
	e := newEnv(t, table, withInventory(func(c *Config) { c.InventoryWait = 150 * time.Millisecond }))
	release := e.stub.Hold()
	r := func() flowlog.Record {
		return rec(t, v2, line2(acctA, web.InterfaceID, "10.0.1.10", "203.0.113.1", "OK"), nil)
	}
	start := time.Now()
	out := e.process(t, r(), r())
	if d := time.Since(start); d < 100*time.Millisecond || d > 5*time.Second {
		t.Errorf("waited %v, want about inventory_wait", d)
	}
	start = time.Now()
	out = append(out, e.process(t, r())...)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("past the bound a batch still waited %v", d)
	}
	for _, x := range out {
		if x.ENI != nil {
			t.Fatal("enriched while the listing is held")
		}
	}
	if got := e.unenriched(reasonInventoryTimeout); got != 3 {
		t.Errorf("inventory_timeout = %v, want 3", got)
	}
	release()
	waitFor(t, "listing", func() bool { return !e.stage.inventoryFor(e.key(web.InterfaceID, acctA)).listing() })
	if out := e.process(t, r()); out[0].ENI == nil || e.stub.CallsFor(web.InterfaceID) != 0 {
		t.Fatalf("after the listing: ENI %v, asked by id %d times", out[0].ENI, e.stub.CallsFor(web.InterfaceID))
	}
}

func (e *env) key(id, account string) key {
	lo, hi, _ := parseID([]byte(id))
	return mkKey(parseAccount([]byte(account)), lo, hi, e.stage.defRegion)
}

// An interface created after the listing is looked up by id (once); one
// EC2 does not know is cached negatively.
func TestInventoryNewInterfaceAskedByID(t *testing.T) {
	e := newEnv(t, []*flowlog.ENI{web, db}, withInventory())
	checkEnriched(t, e.process(t, rec(t, v2, line2(acctA, web.InterfaceID, "10.0.1.10", "203.0.113.1", "OK"), nil)))
	e.stub.Put(other)
	const gone = "eni-0999999999999999f"
	for range 3 {
		out := e.process(t,
			rec(t, v2, line2(acctA, other.InterfaceID, "10.0.2.30", "203.0.113.1", "OK"), nil),
			rec(t, v2, line2(acctA, gone, "10.0.9.9", "203.0.113.1", "OK"), nil))
		checkEnriched(t, out[:1])
		if out[1].ENI != nil {
			t.Fatal("an unknown interface was enriched")
		}
	}
	if a, b := e.stub.CallsFor(other.InterfaceID), e.stub.CallsFor(gone); a != 1 || b != 1 {
		t.Fatalf("asked by id: new %d, unknown %d; want 1 and 1", a, b)
	}
	if l := e.stub.Listings(); l != 1 {
		t.Errorf("listings = %d", l)
	}
}

// A refresh picks up changes without look-ups by id.
func TestInventoryRefresh(t *testing.T) {
	e := newEnv(t, []*flowlog.ENI{web, db}, withInventory())
	e.stage.cfg.RefreshInterval = 50 * time.Millisecond
	out := e.process(t, rec(t, v2, line2(acctA, web.InterfaceID, "10.0.1.10", "203.0.113.1", "OK"), nil))
	if out[0].ENI == nil || len(out[0].ENI.SecurityGroupIDs) != 2 {
		t.Fatalf("ENI %+v", out[0].ENI)
	}
	changed := *web
	changed.SecurityGroupIDs = []string{"sg-0000000000000000c"}
	e.stub.Put(&changed)
	e.stub.Put(other)
	waitFor(t, "a refresh", func() bool {
		out := e.process(t,
			rec(t, v2, line2(acctA, web.InterfaceID, "10.0.1.10", "203.0.113.1", "OK"), nil),
			rec(t, v2, line2(acctA, other.InterfaceID, "10.0.2.30", "203.0.113.1", "OK"), nil))
		return out[0].ENI != nil && len(out[0].ENI.SecurityGroupIDs) == 1 && out[1].ENI != nil
	})
	if e.stub.CallsFor(web.InterfaceID) != 0 || e.stub.Listings() < 2 {
		t.Fatalf("asked by id %d times, %d listings", e.stub.CallsFor(web.InterfaceID), e.stub.Listings())
	}
}

// When the listing fails, records do not wait for it again: they are
// looked up by id, and the listing is retried.
func TestInventoryFailureFallsBackToLookUps(t *testing.T) {
	e := newEnv(t, table, withInventory(func(c *Config) { c.MaxRetries = 1 }))
	e.stub.FailNext(2, ec2stub.ServerError)
	out := e.process(t, rec(t, v2, line2(acctA, web.InterfaceID, "10.0.1.10", "203.0.113.1", "OK"), nil))
	if out[0].ENI == nil || e.stub.CallsFor(web.InterfaceID) != 1 {
		t.Fatalf("ENI %v, asked by id %d times", out[0].ENI, e.stub.CallsFor(web.InterfaceID))
	}
	if got := testutil.ToFloat64(e.stage.m.invListings.WithLabelValues(outcomeError)); got != 1 {
		t.Errorf("failed listings = %v", got)
	}
	waitFor(t, "the listing retried", func() bool {
		return testutil.ToFloat64(e.stage.m.invListings.WithLabelValues(outcomeOK)) == 1
	})
}

// The warm-up lists its accounts' inventories at Start; records then hit.
func TestInventoryWarmUp(t *testing.T) {
	enis := ec2stub.Synthetic(acctA, "us-east-1", 1200)
	e := newEnv(t, enis, withInventory(func(c *Config) { c.WarmUp.Accounts = []string{acctA} }))
	if err := e.stage.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := listingCalls(enis, 1000)
	if c := e.stub.Calls(); c != want {
		t.Fatalf("warm-up made %d calls, want %d pages", c, want)
	}
	checkEnriched(t, e.process(t, synthRecs(t, acctA, 1200, 300, 5)...))
	if c := e.stub.Calls(); c != want || testutil.ToFloat64(e.stage.m.misses) != 0 {
		t.Fatalf("calls %d, misses %v after the warm-up", c, testutil.ToFloat64(e.stage.m.misses))
	}
}

// Cold, defaults, EC2 throttling as documented: 30,000 interfaces, 60,000
// records from two workers. Every record is enriched with its own
// interface, with 30 calls and no throttling.
func TestInventoryColdStartThrottled(t *testing.T) {
	if testing.Short() {
		t.Skip("lists 30,000 interfaces")
	}
	const n = 30_000
	e := newEnv(t, ec2stub.Synthetic(acctA, "us-east-1", n), func(c *Config) {
		d := NewDefaultConfig()
		c.Inventory, c.RateLimit, c.RateBurst, c.MaxWait, c.BatchWindow = d.Inventory, d.RateLimit, d.RateBurst, d.MaxWait, d.BatchWindow
	})
	e.stub.SetRateLimit(20, 100)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := range 10 {
				b := &flowlog.Batch{Records: synthRecs(t, acctA, n, 3000, uint64(w*100+i))}
				if err := e.stage.Process(context.Background(), b); err != nil {
					t.Error(err)
					return
				}
				for j, r := range b.Records {
					if r.ENI == nil || r.ENI.InterfaceID != string(r.Text(flowlog.FInterfaceID)) {
						t.Errorf("worker %d batch %d record %d: ENI %v", w, i, j, r.ENI)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if c, th, want := e.stub.Calls(), e.stub.Throttled(), listingCalls(ec2stub.Synthetic(acctA, "us-east-1", n), 1000); c != want || th != 0 {
		t.Errorf("calls %d, throttled %d; want %d calls", c, th, want)
	}
}

// TestMemoryPerInterface measures the heap one listed interface takes in
// the cache (everything the stage keeps for it) and checks that
// bytesPerInterface, from which max_memory_mib is turned into entries,
// is not below it.
func TestMemoryPerInterface(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("lists 100,000 interfaces; heap figures without the race detector")
	}
	const n = 100_000
	enis := ec2stub.Synthetic(acctA, "us-east-1", n)
	e := newEnv(t, enis, withInventory())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e.process(t, synthRecs(t, acctA, n, 10, 1)...)
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%d interfaces: %.0f bytes each (%.1f MiB per 100,000)", n, per, per*100_000/(1<<20))
	if per > bytesPerInterface {
		t.Errorf("an interface takes %.0f bytes, more than bytesPerInterface (%d)", per, bytesPerInterface)
	}
	runtime.KeepAlive(enis)
}

// A large inventory is listed by id prefix, invShardListings at once (EC2
// takes a second or more a page: one page after the other would take
// minutes for a few hundred thousand interfaces), and every interface is
// known once, exactly.
func TestInventoryListsPrefixesAtOnce(t *testing.T) {
	const n = 5000
	enis := ec2stub.Synthetic(acctA, "us-east-1", n)
	e := newEnv(t, enis, withInventory())
	e.stub.SetLatency(50 * time.Millisecond)
	checkEnriched(t, e.process(t, synthRecs(t, acctA, n, 1000, 1)...))
	if c, want := e.stub.Calls(), listingCalls(enis, 1000); c != want {
		t.Errorf("calls %d, want %d", c, want)
	}
	if m := e.stub.MaxConcurrent(); m < invShardListings/2 || m > invShardListings {
		t.Errorf("at most %d calls at once; want the prefixes listed together, at most %d at once", m, invShardListings)
	}
	if k := e.stage.invs.known(); k != n {
		t.Errorf("interfaces known = %d, want %d", k, n)
	}
}

// An EC2 that would not honour the wildcard (every prefix lists nothing)
// is noticed: the listing goes on page after page from the first page, and
// every interface is known.
func TestInventoryWithoutWildcardsListsPageByPage(t *testing.T) {
	const n = 2500
	enis := ec2stub.Synthetic(acctA, "us-east-1", n)
	e := newEnv(t, enis, withInventory())
	e.stub.SetWildcards(false)
	checkEnriched(t, e.process(t, synthRecs(t, acctA, n, 500, 1)...))
	// The first page, 16 empty prefixes, the two pages after the first.
	if c := e.stub.Calls(); c != 1+16+2 {
		t.Errorf("calls %d, want 19", c)
	}
	if k := e.stage.invs.known(); k != n {
		t.Errorf("interfaces known = %d, want %d", k, n)
	}
	if got := testutil.ToFloat64(e.stage.m.invListings.WithLabelValues(outcomeOK)); got != 1 {
		t.Errorf("listings ok = %v", got)
	}
}
