package eni

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/sync/errgroup"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

// errInventoryTimeout is the answer for records whose inventory was still
// being listed inventory_wait after the listing started.
var errInventoryTimeout = errors.New("inventory still listing after inventory_wait")

// inventory is the local copy of the interfaces one client sees: those of
// an account and region when role_arn names each account, else those the
// default credentials (or the one role) see in a region. It is listed
// whole (DescribeNetworkInterfaces without an id filter, every page) when
// first needed, then every refresh_interval, by one goroutine that lives
// as long as the stage.
type inventory struct {
	ck clientKey
	cl *client
	// owner is the account its interfaces are cached under; 0: each
	// interface's OwnerId.
	owner uint64
	// ready is closed when the first listing ended, complete or not.
	ready chan struct{}
	// deadline (unix ns) is when records stop waiting for the first
	// listing: its start plus inventory_wait.
	deadline int64
	// complete says a listing went through to its last page at least once.
	complete atomic.Bool
	// count is the interfaces of the last complete listing, or of the one
	// in progress when it has listed more.
	count atomic.Int64
}

// listing reports whether the first listing is still running.
func (inv *inventory) listing() bool {
	select {
	case <-inv.ready:
		return false
	default:
		return true
	}
}

// inventories holds the stage's inventories by client.
type inventories struct {
	mu sync.Mutex
	m  map[clientKey]*inventory
	// inProgress counts listings running (first ones and refreshes);
	// waiting counts records parked in Process for a first listing.
	inProgress atomic.Int64
	waiting    atomic.Int64
}

// known is the sum of the inventories' interfaces.
func (is *inventories) known() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	n := 0
	for _, inv := range is.m {
		n += int(inv.count.Load())
	}
	return n
}

// inventoryFor returns the inventory of k's client, starting it (its first
// listing) when k is the first key of that client.
func (s *Stage) inventoryFor(k key) *inventory {
	ck := clientKey{region: k.region()}
	account := ""
	if s.perAccount() {
		ck.account = k.account()
		account = accountString(k.account())
	}
	return s.startInventory(ck, account, s.regions.name(k.region()))
}

// startInventory returns the inventory of ck, creating and starting it
// when there is none. account is "" for the default credentials.
func (s *Stage) startInventory(ck clientKey, account, region string) *inventory {
	is := &s.invs
	is.mu.Lock()
	defer is.mu.Unlock()
	if inv := is.m[ck]; inv != nil {
		return inv
	}
	inv := &inventory{
		ck:       ck,
		cl:       s.clients.get(account, region, ck),
		owner:    ck.account,
		ready:    make(chan struct{}),
		deadline: time.Now().Add(s.cfg.InventoryWait).UnixNano(),
	}
	is.m[ck] = inv
	s.f.mu.Lock()
	closed := s.f.closed
	if !closed {
		s.f.wg.Add(1)
	}
	s.f.mu.Unlock()
	if closed {
		close(inv.ready)
		return inv
	}
	go func() {
		defer s.f.wg.Done()
		s.keepInventory(inv)
	}()
	return inv
}

// keepInventory lists inv now and then every refresh_interval (after a
// failed listing: every invRetry, at most refresh_interval), until the
// stage closes.
func (s *Stage) keepInventory(inv *inventory) {
	ctx := s.f.ctx
	first := true
	for {
		err := s.listInventory(ctx, inv)
		if first {
			first = false
			close(inv.ready)
		}
		if ctx.Err() != nil {
			return
		}
		wait := s.cfg.RefreshInterval
		if err != nil {
			wait = min(wait, s.invRetry)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// listed is one interface of a listing page, converted and keyed.
type listed struct {
	k   key
	eni *flowlog.ENI
}

// invShards are the id prefixes a large inventory is listed by, several
// at once: an interface id is "eni-" and hex digits, the first as evenly
// spread as the rest. EC2 filters take * as a wildcard.
var invShards = func() []string {
	out := make([]string, 16)
	for i := range out {
		out[i] = "eni-" + "0123456789abcdef"[i:i+1] + "*"
	}
	return out
}()

// invShardListings is how many shards are listed at once: enough to make
// the token bucket, not EC2's answer time, the bound; few enough that
// decoding the pages (about 1.5 MB of XML each) in a burst does not starve
// a small pod's CPU past call_timeout.
const invShardListings = 8

// listInventory lists every interface inv's client sees into the cache,
// page by page (each page usable as soon as it is in), under the client's
// rate limit, each page retried as any call. A first page that is not the
// last (more than 1000 interfaces) makes it list the whole inventory again
// by invShards, invShardListings at once: with EC2 answering a page in a
// second or more, one page after the other would take minutes for a few
// hundred thousand interfaces. Should the shards find fewer interfaces
// than the first page held (an EC2 that would not honour the wildcard),
// the listing goes on from the first page, one page after the other.
func (s *Stage) listInventory(ctx context.Context, inv *inventory) error {
	s.invs.inProgress.Add(1)
	defer s.invs.inProgress.Add(-1)
	start := time.Now()
	l := &lister{s: s, inv: inv, expires: start.Add(s.invLife).UnixNano()}
	first := &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(1000)}
	n, next, err := l.list(ctx, first, true)
	if err == nil && next != nil {
		// The shards list the first page again: count from zero.
		l.seen.Store(0)
		var sharded atomic.Int64
		var g errgroup.Group
		g.SetLimit(invShardListings)
		for _, prefix := range invShards {
			g.Go(func() error {
				k, _, err := l.list(ctx, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(1000),
					Filters: []types.Filter{{Name: aws.String("network-interface-id"), Values: []string{prefix}}}}, false)
				sharded.Add(int64(k))
				return err
			})
		}
		err = g.Wait()
		if m := int(sharded.Load()); err == nil && m >= n {
			n = m
		} else if err == nil {
			s.set.Logger.Warn("eni: listing by interface id prefix found fewer interfaces than one page; listing page after page",
				"account", inv.cl.account, "region", inv.cl.region, "by_prefix", m, "first_page", n)
			first.NextToken = next
			var k int
			k, _, err = l.list(ctx, first, false)
			n += k
		}
	}
	d := time.Since(start)
	s.m.invDuration.Observe(d.Seconds())
	pages := l.pages.Load()
	if err != nil {
		s.m.invListings.WithLabelValues(outcomeError).Inc()
		if ctx.Err() == nil {
			s.set.Logger.Warn("eni: inventory listing failed; interfaces not listed are looked up one by one",
				"account", inv.cl.account, "region", inv.cl.region, "interfaces", l.seen.Load(), "pages", pages, "error", err)
		}
		return err
	}
	inv.count.Store(int64(n))
	inv.complete.Store(true)
	s.m.invListings.WithLabelValues(outcomeOK).Inc()
	s.set.Logger.Info("eni: inventory listed", "account", inv.cl.account, "region", inv.cl.region,
		"interfaces", n, "pages", pages, "duration", d.Round(time.Millisecond))
	return nil
}

// lister stores the pages of one inventory listing into the cache; its
// list may run on several goroutines at once.
type lister struct {
	s       *Stage
	inv     *inventory
	expires int64
	// seen counts the interfaces stored (from zero again when the shards
	// start), pages the pages read.
	seen, pages atomic.Int64
}

// list reads the pages of in (only the first when one is set), storing
// each, and returns the interfaces read and the token of the page after
// the last one read (nil once there is none).
func (l *lister) list(ctx context.Context, in *ec2.DescribeNetworkInterfacesInput, one bool) (int, *string, error) {
	s, inv := l.s, l.inv
	region, rid := inv.cl.region, inv.ck.region
	var page []listed
	n := 0
	for {
		out, err := s.callWithRetry(ctx, inv.cl, in)
		if err != nil {
			return n, nil, err
		}
		l.pages.Add(1)
		s.m.invPages.Inc()
		page = page[:0]
		for _, ni := range out.NetworkInterfaces {
			lo, hi, ok := parseID([]byte(aws.ToString(ni.NetworkInterfaceId)))
			if !ok {
				continue
			}
			owner := inv.owner
			if owner == 0 {
				owner = parseAccount([]byte(aws.ToString(ni.OwnerId)))
			}
			page = append(page, listed{mkKey(owner, lo, hi, rid), s.convert(ni, region, owner)})
		}
		n += len(page)
		// While listing, count is the most read so far (it sizes the
		// cache); the shards' goroutines raise it, never lower it.
		seen := l.seen.Add(int64(len(page)))
		for c := inv.count.Load(); seen > c && !inv.count.CompareAndSwap(c, seen); c = inv.count.Load() {
		}
		s.grow()
		s.store.putMany(page, l.expires, time.Now())
		if out.NextToken == nil || *out.NextToken == "" {
			return n, nil, nil
		}
		if one {
			return n, out.NextToken, nil
		}
		in.NextToken = out.NextToken
	}
}

// grow raises the cache's capacity to cache_size plus what the
// inventories hold, within max_memory_mib.
func (s *Stage) grow() {
	want := s.cfg.CacheSize + s.invs.known()
	if s.store.ensure(want, s.maxEntries) && s.capWarned.CompareAndSwap(false, true) {
		s.set.Logger.Warn("eni: the inventories hold more interfaces than max_memory_mib allows; the least recently seen are evicted",
			"interfaces", want, "max_entries", s.maxEntries, "max_memory_mib", s.cfg.MaxMemoryMiB)
	}
}

// bytesPerInterface is the memory one cached interface takes, measured by
// TestMemoryPerInterface with synthetic interfaces (two or three addresses,
// one or two security groups, a Name tag): its *flowlog.ENI, entry, LRU
// element, map and subnet index entries and hot-table slots. max_memory_mib
// is turned into a number of entries with it.
const bytesPerInterface = 1200
