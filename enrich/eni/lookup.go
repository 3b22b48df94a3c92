package eni

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/vpcflow/vpcflow/processor/flowlog"
)

var (
	// errBackedOff is the answer for look-ups of a client that failed
	// recently: they are not tried until its back-off ends.
	errBackedOff = errors.New("ec2 backed off after failures")
	// errClosed is the answer for look-ups after Close.
	errClosed = errors.New("stage closed")
)

// call is one interface's look-up in flight. Every record that needs the
// interface while it is in flight waits for the same call (singleflight).
// ent and err are written before done is closed.
type call struct {
	k    key
	cl   *client
	done chan struct{}
	ent  *entry
	err  error
}

// queue gathers the calls of one client during batch_window.
type queue struct {
	cl    *client
	calls []*call
	timer *time.Timer
}

// fetcher coalesces misses: one call per interface in flight, calls of one
// client gathered for batch_window (or until max_ids_per_call) and asked
// together with the network-interface-id filter.
type fetcher struct {
	s        *Stage
	mu       sync.Mutex
	inflight map[key]*call
	queues   map[clientKey]*queue
	closed   bool
	wg       sync.WaitGroup
	ctx      context.Context
	cancel   context.CancelFunc
}

// request returns the live entry of k if one appeared meanwhile, or the
// call to wait for, or an error when k cannot be looked up now.
func (f *fetcher) request(k key, now time.Time) (*entry, *call, error) {
	s := f.s
	account, region := accountString(k.account()), s.regions.name(k.region())
	ck := clientKey{region: k.region()}
	if s.perAccount() {
		ck.account = k.account()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, nil, errClosed
	}
	if c := f.inflight[k]; c != nil {
		return nil, c, nil
	}
	// A call for k may have completed since the caller missed: it put the
	// entry before leaving inflight, so the store has it now.
	if ent := s.store.get(k, now.UnixNano()); ent != nil {
		return ent, nil, nil
	}
	if !s.perAccount() {
		account = ""
	}
	cl := s.clients.get(account, region, ck)
	if cl.backedOff(now.UnixNano()) {
		return nil, nil, errBackedOff
	}
	c := &call{k: k, cl: cl, done: make(chan struct{})}
	f.inflight[k] = c
	q := f.queues[ck]
	if q == nil {
		q = &queue{cl: cl}
		f.queues[ck] = q
		if s.cfg.BatchWindow > 0 {
			// The timer's goroutine counts in wg until it ran or was stopped.
			f.wg.Add(1)
			q.timer = time.AfterFunc(s.cfg.BatchWindow, func() {
				defer f.wg.Done()
				f.flush(ck, q)
			})
		}
	}
	q.calls = append(q.calls, c)
	if len(q.calls) >= s.cfg.MaxIDsPerCall || s.cfg.BatchWindow <= 0 {
		if q.timer != nil && q.timer.Stop() {
			f.wg.Done()
		}
		delete(f.queues, ck)
		f.dispatchLocked(q)
	}
	return nil, c, nil
}

// flush sends q when its window ends (unless it was sent because full).
func (f *fetcher) flush(ck clientKey, q *queue) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.queues[ck] != q || f.closed {
		return
	}
	delete(f.queues, ck)
	f.dispatchLocked(q)
}

func (f *fetcher) dispatchLocked(q *queue) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.run(q)
	}()
}

// run looks up q's interfaces and completes its calls.
func (f *fetcher) run(q *queue) {
	s := f.s
	ids := make([]string, len(q.calls))
	for i, c := range q.calls {
		ids[i] = c.k.interfaceID()
	}
	start := time.Now()
	found, err := s.describe(f.ctx, q.cl, ids)
	now := time.Now()
	s.m.lookup.Observe(now.Sub(start).Seconds())
	if err != nil && f.ctx.Err() != nil {
		err = errClosed
	} else if err != nil {
		if q.cl.failed(now, s.breakerBase, s.breakerMax) {
			s.set.Logger.Warn("describe network interfaces failed; records pass unenriched while it fails",
				"account", q.cl.account, "region", q.cl.region, "error", err)
		}
	} else if q.cl.succeeded() {
		s.set.Logger.Info("describe network interfaces works again", "account", q.cl.account, "region", q.cl.region)
	}
	for _, c := range q.calls {
		if err != nil {
			c.err = err
			continue
		}
		var e *flowlog.ENI
		if ni, ok := found[c.k.interfaceID()]; ok {
			e = s.convert(ni, q.cl.region, c.k.account())
		}
		c.ent = s.store.put(c.k, e, now)
	}
	f.mu.Lock()
	for _, c := range q.calls {
		delete(f.inflight, c.k)
		close(c.done)
	}
	f.mu.Unlock()
}

// close fails queued calls and stops new ones; calls in flight end when
// f.ctx is cancelled.
func (f *fetcher) close() {
	f.mu.Lock()
	f.closed = true
	for ck, q := range f.queues {
		if q.timer != nil && q.timer.Stop() {
			f.wg.Done()
		}
		delete(f.queues, ck)
		for _, c := range q.calls {
			c.err = errClosed
			delete(f.inflight, c.k)
			close(c.done)
		}
	}
	f.mu.Unlock()
	f.cancel()
}

// describe asks EC2 about ids (network-interface-id filter, every page) and
// returns what it knows by id.
func (s *Stage) describe(ctx context.Context, cl *client, ids []string) (map[string]types.NetworkInterface, error) {
	in := &ec2.DescribeNetworkInterfacesInput{
		Filters:    []types.Filter{{Name: aws.String("network-interface-id"), Values: ids}},
		MaxResults: aws.Int32(1000),
	}
	found := make(map[string]types.NetworkInterface, len(ids))
	err := s.pages(ctx, cl, in, func(ni types.NetworkInterface) {
		if ni.NetworkInterfaceId != nil {
			found[*ni.NetworkInterfaceId] = ni
		}
	})
	return found, err
}

// pages calls DescribeNetworkInterfaces for in and each following page,
// rate limited and retried.
func (s *Stage) pages(ctx context.Context, cl *client, in *ec2.DescribeNetworkInterfacesInput, each func(types.NetworkInterface)) error {
	for {
		out, err := s.callWithRetry(ctx, cl, in)
		if err != nil {
			return err
		}
		for _, ni := range out.NetworkInterfaces {
			each(ni)
		}
		if out.NextToken == nil || *out.NextToken == "" {
			return nil
		}
		in.NextToken = out.NextToken
	}
}

// callWithRetry makes one call, retrying throttling, 5xx and network errors
// with exponential backoff and jitter (base backoffBase, at most
// backoffMax), up to max_retries times. Every attempt waits for the rate
// limiter.
func (s *Stage) callWithRetry(ctx context.Context, cl *client, in *ec2.DescribeNetworkInterfacesInput) (*ec2.DescribeNetworkInterfacesOutput, error) {
	for attempt := 0; ; attempt++ {
		if err := cl.limiter.Wait(ctx); err != nil {
			return nil, fmt.Errorf("describe network interfaces (%s %s): rate limit wait: %w", cl.account, cl.region, err)
		}
		actx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
		out, err := cl.api.DescribeNetworkInterfaces(actx, in)
		cancel()
		outcome := classify(ctx, err)
		s.m.calls.WithLabelValues(outcome).Inc()
		if err == nil {
			return out, nil
		}
		if outcome == outcomeThrottled {
			s.m.throttles.Inc()
		}
		retryable := outcome == outcomeThrottled || outcome == outcomeServerError || outcome == outcomeNetwork
		if !retryable || attempt >= s.cfg.MaxRetries {
			return nil, fmt.Errorf("describe network interfaces (account %q, region %s) after %d attempts: %w", cl.account, cl.region, attempt+1, err)
		}
		d := min(s.backoffBase<<attempt, s.backoffMax)
		d = d/2 + rand.N(d/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("describe network interfaces (account %q, region %s): %w", cl.account, cl.region, ctx.Err())
		case <-t.C:
		}
	}
}

var throttleCodes = map[string]bool{
	"RequestLimitExceeded":                   true,
	"Throttling":                             true,
	"ThrottlingException":                    true,
	"ThrottledException":                     true,
	"RequestThrottledException":              true,
	"TooManyRequestsException":               true,
	"ProvisionedThroughputExceededException": true,
	"TransactionInProgressException":         true,
	"SlowDown":                               true,
	"EC2ThrottledException":                  true,
}

// classify names the outcome of one attempt.
func classify(ctx context.Context, err error) string {
	if err == nil {
		return outcomeOK
	}
	if ctx.Err() != nil {
		return outcomeCanceled
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && throttleCodes[ae.ErrorCode()] {
		return outcomeThrottled
	}
	// A connection closed or reset while the answer was read (net/http can
	// close a kept-alive connection under a reader; the SDK's own retryer
	// retries net.ErrClosed too) is a network failure even after a 200.
	if errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return outcomeNetwork
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch c := re.HTTPStatusCode(); {
		case c == 429:
			return outcomeThrottled
		case c >= 500:
			return outcomeServerError
		case c > 0:
			return outcomeClientError
		}
	}
	if errors.As(err, &ae) {
		return outcomeClientError
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return outcomeNetwork
	}
	// Connection resets, EOF and the like surface as wrapped
	// transport errors; treat anything else as a network failure.
	return outcomeNetwork
}

// convert builds the shared ENI value from EC2's description.
func (s *Stage) convert(ni types.NetworkInterface, region string, account uint64) *flowlog.ENI {
	// Texts that many interfaces share (account, region, VPC, subnet,
	// zone, type, security groups) are kept once.
	in := s.strs.intern
	e := &flowlog.ENI{
		InterfaceID:      aws.ToString(ni.NetworkInterfaceId),
		AccountID:        in(aws.ToString(ni.OwnerId)),
		Region:           in(region),
		VPCID:            in(aws.ToString(ni.VpcId)),
		SubnetID:         in(aws.ToString(ni.SubnetId)),
		AvailabilityZone: in(aws.ToString(ni.AvailabilityZone)),
		InterfaceType:    in(string(ni.InterfaceType)),
	}
	if e.AccountID == "" {
		e.AccountID = in(accountString(account))
	}
	if ni.Attachment != nil {
		e.InstanceID = aws.ToString(ni.Attachment.InstanceId)
	}
	if len(ni.Groups) > 0 {
		e.SecurityGroupIDs = make([]string, 0, len(ni.Groups))
	}
	for _, g := range ni.Groups {
		if g.GroupId != nil {
			e.SecurityGroupIDs = append(e.SecurityGroupIDs, in(*g.GroupId))
		}
	}
	add := func(p *string) {
		if p == nil {
			return
		}
		a, err := netip.ParseAddr(*p)
		if err != nil {
			return
		}
		a = a.Unmap()
		if !hasAddr(e.Addresses, a) {
			e.Addresses = append(e.Addresses, a)
		}
	}
	e.Addresses = make([]netip.Addr, 0, 1+len(ni.PrivateIpAddresses)+len(ni.Ipv6Addresses))
	// Primary private IPv4 first, then the secondary ones, then IPv6.
	add(ni.PrivateIpAddress)
	for _, p := range ni.PrivateIpAddresses {
		if aws.ToBool(p.Primary) {
			add(p.PrivateIpAddress)
		}
	}
	for _, p := range ni.PrivateIpAddresses {
		add(p.PrivateIpAddress)
	}
	for _, p := range ni.Ipv6Addresses {
		add(p.Ipv6Address)
	}
	add(ni.Ipv6Address)
	for _, t := range ni.TagSet {
		k := aws.ToString(t.Key)
		for _, want := range s.cfg.Tags {
			if k == want {
				if e.Tags == nil {
					e.Tags = make(map[string]string, len(s.cfg.Tags))
				}
				e.Tags[want] = aws.ToString(t.Value)
			}
		}
	}
	return e
}

// interner keeps one copy of texts that many interfaces share. It holds at
// most maxInterned texts (then new ones are not interned), so that garbage
// cannot grow it without bound.
type interner struct {
	mu sync.Mutex
	m  map[string]string
}

const maxInterned = 1 << 20

func (in *interner) intern(s string) string {
	if s == "" {
		return ""
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if v, ok := in.m[s]; ok {
		return v
	}
	if len(in.m) < maxInterned {
		in.m[s] = s
	}
	return s
}
