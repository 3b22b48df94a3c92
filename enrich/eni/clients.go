package eni

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"golang.org/x/time/rate"

	"github.com/vpcflow/vpcflow/internal/awsconf"
)

// ec2API is the part of the EC2 client the stage uses.
type ec2API interface {
	DescribeNetworkInterfaces(ctx context.Context, in *ec2.DescribeNetworkInterfacesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error)
}

// clientKey names one EC2 client: the account whose role is assumed (0 when
// the default credentials or a fixed role are used) and the region.
type clientKey struct {
	account uint64
	region  uint32
}

// client is an EC2 client for one account and region, with its rate limit
// and its back-off state after failures.
type client struct {
	api     ec2API
	account string // 12 digits, "" for the default credentials
	region  string
	limiter *rate.Limiter

	mu        sync.Mutex
	failures  int
	openUntil atomic.Int64 // unix nanoseconds; look-ups are not tried before
}

// failed records a failed look-up and backs the client off: base (1 s)
// after the first failure in a row, doubling up to limit (30 s). It reports
// whether the client was healthy before.
func (c *client) failed(now time.Time, base, limit time.Duration) (wasHealthy bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures++
	d := base << min(c.failures-1, 5)
	c.openUntil.Store(now.Add(min(d, limit)).UnixNano())
	return c.failures == 1
}

// succeeded resets the back-off; it reports whether the client was failing.
func (c *client) succeeded() (wasFailing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	wasFailing = c.failures > 0
	c.failures = 0
	c.openUntil.Store(0)
	return wasFailing
}

func (c *client) backedOff(now int64) bool { return now < c.openUntil.Load() }

// backlog estimates how long a call made now waits for the rate limiter:
// the tokens owed by calls already waiting, at the limiter's rate.
func (c *client) backlog() time.Duration {
	tokens := c.limiter.Tokens()
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(c.limiter.Limit()) * float64(time.Second))
}

// clients builds and caches one client per account and region.
type clients struct {
	mu     sync.Mutex
	m      map[clientKey]*client
	newAPI func(account, region string) ec2API
	rate   rate.Limit
	burst  int
}

func (cs *clients) get(account, region string, k clientKey) *client {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c := cs.m[k]; c != nil {
		return c
	}
	c := &client{api: cs.newAPI(account, region), account: account, region: region, limiter: rate.NewLimiter(cs.rate, cs.burst)}
	cs.m[k] = c
	return c
}

// roleFor returns the role to assume for account ("" when none).
func (s *Stage) roleFor(account string) string {
	arn := s.cfg.RoleARN
	if !strings.Contains(arn, "{account-id}") {
		return arn
	}
	if account == "" {
		return ""
	}
	return strings.ReplaceAll(arn, "{account-id}", account)
}

// perAccount reports whether clients differ by account (role_arn is a
// template).
func (s *Stage) perAccount() bool { return strings.Contains(s.cfg.RoleARN, "{account-id}") }

// newEC2 builds the EC2 client for account and region from the SDK's
// default configuration (loaded once), the file's region and endpoint, and
// an assumed role when role_arn is set. Retries are the stage's own (so
// each attempt is rate limited and throttles are counted): the SDK's
// retryer is off.
func (s *Stage) newEC2(account, region string) ec2API {
	var creds aws.CredentialsProvider
	if arn := s.roleFor(account); arn != "" {
		creds = awsconf.AssumeRole(s.awsCfg, arn, s.set.ID, func(o *sts.Options) {
			if region != "" {
				o.Region = region
			}
			if s.cfg.STSEndpoint != "" {
				o.BaseEndpoint = awsconf.Endpoint(s.cfg.STSEndpoint)
			}
		})
	}
	return ec2.NewFromConfig(s.awsCfg, func(o *ec2.Options) {
		if region != "" {
			o.Region = region
		}
		if s.cfg.Endpoint != "" {
			o.BaseEndpoint = awsconf.Endpoint(s.cfg.Endpoint)
		}
		if creds != nil {
			o.Credentials = creds
		}
		o.Retryer = aws.NopRetryer{}
	})
}

// closeGuard hides the request body's Close from net/http. smithy-go closes
// a request's body once the response arrives; when net/http's write loop
// closes it afterwards, the second Close fails and net/http closes the
// connection under the reader of the response ("use of closed network
// connection" after a 200, aws/aws-sdk-go-v2#2737). The bodies of EC2 and
// STS Query requests are in-memory readers: nothing is left unclosed.
type closeGuard struct{ c aws.HTTPClient }

func (g closeGuard) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = io.NopCloser(r.Body)
	}
	return g.c.Do(r)
}

func guardHTTPClient(c aws.HTTPClient) aws.HTTPClient {
	if c == nil {
		c = awshttp.NewBuildableClient()
	}
	return closeGuard{c}
}
