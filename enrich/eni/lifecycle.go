// Start (warm-up of the inventories) and Close of the eni_enrich stage.

package eni

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Start runs the warm-up, when configured: the inventories of the
// configured accounts and regions are listed (all pages) into the cache,
// Start waiting for them at most warm_up.timeout (listings go on after
// it). With inventory off, they are listed once. Failures are logged, not
// returned: what is missing is looked up on demand.
func (s *Stage) Start(ctx context.Context) error {
	if len(s.cfg.WarmUp.Accounts) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WarmUp.Timeout)
	defer cancel()
	stop := context.AfterFunc(s.f.ctx, cancel)
	defer stop()
	regions := s.cfg.WarmUp.Regions
	if len(regions) == 0 {
		regions = []string{s.regions.name(s.defRegion)}
	}
	if s.cfg.Inventory {
		return s.warmInventories(ctx, regions)
	}
	for _, acct := range s.cfg.WarmUp.Accounts {
		for _, region := range regions {
			n, err := s.warm(ctx, acct, region)
			if err != nil {
				s.set.Logger.Warn("eni: warm-up incomplete", "account", acct, "region", region, "interfaces", n, "error", err)
				continue
			}
			s.set.Logger.Info("eni: warm-up done", "account", acct, "region", region, "interfaces", n)
		}
	}
	return nil
}

// warmInventories starts the inventories of the warm-up accounts and
// regions together and waits for their first listings (within ctx).
func (s *Stage) warmInventories(ctx context.Context, regions []string) error {
	var invs []*inventory
	for _, acct := range s.cfg.WarmUp.Accounts {
		for _, region := range regions {
			rid, ok := s.regions.idString(region)
			if !ok || rid == 0 {
				s.set.Logger.Warn("eni: no region for warm-up (warm_up.regions, region)", "account", acct)
				continue
			}
			ck := clientKey{region: rid}
			clAcct := ""
			if s.perAccount() && acct != "default" {
				ck.account = parseAccount([]byte(acct))
				clAcct = acct
			}
			invs = append(invs, s.startInventory(ck, clAcct, region))
		}
	}
	for _, inv := range invs {
		select {
		case <-inv.ready:
		case <-ctx.Done():
			s.set.Logger.Warn("eni: warm-up timeout; the listings go on", "timeout", s.cfg.WarmUp.Timeout)
			return nil
		}
	}
	return nil
}

func (s *Stage) warm(ctx context.Context, acct, region string) (int, error) {
	if acct == "default" {
		acct = ""
	}
	rid, ok := s.regions.idString(region)
	if !ok || rid == 0 {
		return 0, fmt.Errorf("no region for warm-up (warm_up.regions, region)")
	}
	ck := clientKey{region: rid}
	clAcct := ""
	if s.perAccount() {
		ck.account = parseAccount([]byte(acct))
		clAcct = acct
	}
	cl := s.clients.get(clAcct, region, ck)
	in := &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(1000)}
	n := 0
	err := s.pages(ctx, cl, in, func(ni types.NetworkInterface) {
		lo, hi, ok := parseID([]byte(aws.ToString(ni.NetworkInterfaceId)))
		if !ok {
			return
		}
		owner := parseAccount([]byte(aws.ToString(ni.OwnerId)))
		if acct != "" {
			owner = parseAccount([]byte(acct))
		}
		k := mkKey(owner, lo, hi, rid)
		s.store.put(k, s.convert(ni, region, owner), time.Now())
		n++
	})
	return n, err
}

// Close stops look-ups in flight and waits for their goroutines (within
// ctx). It is idempotent and safe before Start. The LRUs' expiry goroutines
// (hashicorp/golang-lru/v2 expirable has no Close yet) stay.
func (s *Stage) Close(ctx context.Context) error {
	s.closeOnce.Do(s.f.close)
	done := make(chan struct{})
	go func() {
		s.f.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("look-ups still running: %w", ctx.Err())
	}
}
