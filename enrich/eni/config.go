package eni

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config configures the eni_enrich stage. NewDefaultConfig holds the
// defaults; the engine decodes the component's YAML over it.
type Config struct {
	// CacheSize is the room for interfaces looked up one by one (positive
	// entries); the cache grows beyond it by what the inventories list, up
	// to max_memory_mib. As many negative entries (interfaces EC2 does not
	// know) may be kept besides.
	CacheSize int `yaml:"cache_size"`
	// TTL is how long what EC2 said about an interface is trusted.
	TTL time.Duration `yaml:"ttl"`
	// NegativeTTL is how long "EC2 does not know this interface" is trusted.
	NegativeTTL time.Duration `yaml:"negative_ttl"`
	// RoleARN, when set, is assumed (STS AssumeRole) for the look-ups. The
	// text {account-id} is replaced by the record's account, so one role
	// per account can be named: arn:aws:iam::{account-id}:role/vpcflow-reader.
	RoleARN string `yaml:"role_arn"`
	// Region is used for records that carry no region (neither a region
	// field nor one known from their input). Empty: the SDK's default
	// (AWS_REGION, shared config).
	Region string `yaml:"region"`
	// Endpoint overrides the EC2 endpoint (AWS_ENDPOINT_URL_EC2 does too).
	Endpoint string `yaml:"endpoint"`
	// STSEndpoint overrides the STS endpoint used to assume role_arn
	// (AWS_ENDPOINT_URL_STS does too).
	STSEndpoint string `yaml:"sts_endpoint"`
	// MaxWait bounds how long a batch waits for look-ups of interfaces it
	// misses; then its records pass unenriched (and are counted).
	MaxWait time.Duration `yaml:"max_wait"`
	// BatchWindow is how long misses are gathered before being asked to EC2
	// together.
	BatchWindow time.Duration `yaml:"batch_window"`
	// MaxIDsPerCall bounds the interface ids of one DescribeNetworkInterfaces
	// call (values of the network-interface-id filter).
	MaxIDsPerCall int `yaml:"max_ids_per_call"`
	// RateLimit is the number of EC2 calls per second allowed per account
	// and region (a token bucket of RateBurst).
	RateLimit float64 `yaml:"rate_limit"`
	// RateBurst is the token bucket's size.
	RateBurst int `yaml:"rate_burst"`
	// MaxRetries bounds the retries of a call that was throttled or failed
	// with a 5xx or a network error.
	MaxRetries int `yaml:"max_retries"`
	// CallTimeout bounds one EC2 call attempt (all pages of one attempt).
	CallTimeout time.Duration `yaml:"call_timeout"`
	// Inventory, when true, keeps a local copy of every interface of each
	// account and region met: the first record of an (account, region),
	// or warm_up at start, lists all its interfaces (1000 a page, every
	// page followed, under the client's rate limit), refreshed every
	// refresh_interval. Interfaces that appear between refreshes are looked
	// up one by one. False: every interface is looked up one by one.
	Inventory bool `yaml:"inventory"`
	// InventoryWait bounds how long records of an (account, region) wait
	// for its first listing, counted from the listing's start; then they
	// pass unenriched (reason inventory_timeout) until it ends.
	InventoryWait time.Duration `yaml:"inventory_wait"`
	// RefreshInterval is the time between two listings of an inventory.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// MaxMemoryMiB caps the memory of the cache (positive entries, their
	// index and the interfaces' data, at the measured bytes per interface):
	// beyond it the least recently seen interfaces are evicted.
	MaxMemoryMiB int `yaml:"max_memory_mib"`
	// Tags lists the tag keys copied into the enrichment (e.g. Name).
	Tags []string `yaml:"tags"`
	// WarmUp lists the inventories of some accounts and regions at start.
	WarmUp WarmUpConfig `yaml:"warm_up"`
}

// WarmUpConfig configures the optional warm-up at start.
type WarmUpConfig struct {
	// Accounts to describe. An empty list turns warm-up off. The account's
	// role comes from role_arn; the word "default" means the default
	// credentials (no role).
	Accounts []string `yaml:"accounts"`
	// Regions to describe; empty means the stage's region.
	Regions []string `yaml:"regions"`
	// Timeout bounds the whole warm-up; what is not described by then is
	// looked up on demand.
	Timeout time.Duration `yaml:"timeout"`
}

// NewDefaultConfig returns the defaults:
//   - cache_size 100000: room for 100,000 interfaces looked up one by one
//     (~110 MiB at most), besides what inventories list.
//   - ttl 15m: security groups and tags change rarely; an interface's VPC,
//     subnet and addresses never change while it exists.
//   - negative_ttl 5m: deleted interfaces keep appearing in flow logs for
//     minutes (aggregation interval plus delivery delay).
//   - max_wait 2s: a batch stalls at most that long when EC2 is slow.
//   - batch_window 10ms, max_ids_per_call 200: up to 200 misses per call.
//   - rate_limit 20/s, rate_burst 100: what EC2 allows for non-mutating
//     calls per account and region (a bucket of 100 refilled at 20/s). A
//     listing of 300,000 interfaces is 300 pages: 100 at once, then 10 s.
//     Several replicas share that budget: throttled calls are retried.
//   - inventory on; inventory_wait 2m: long enough to list 300,000
//     interfaces (15 s of rate limit) several times over on a slow
//     endpoint; refresh_interval 10m, below ttl so that listed
//     interfaces never expire between two listings.
//   - max_memory_mib 1024: at 1.1 KiB per interface (measured with a Name
//     tag, see docs/operations.md) about 890,000 interfaces.
//   - max_retries 4 with jittered backoff 200ms…5s: about 10 s at worst.
//   - call_timeout 10s.
//   - tags [Name].
//   - warm_up off; its timeout 1m.
func NewDefaultConfig() *Config {
	return &Config{
		CacheSize:     100_000,
		TTL:           15 * time.Minute,
		NegativeTTL:   5 * time.Minute,
		MaxWait:       2 * time.Second,
		BatchWindow:   10 * time.Millisecond,
		MaxIDsPerCall: 200,
		RateLimit:     20,
		RateBurst:     100,
		MaxRetries:    4,
		CallTimeout:   10 * time.Second,
		Tags:          []string{"Name"},
		WarmUp:        WarmUpConfig{Timeout: time.Minute},

		Inventory:       true,
		InventoryWait:   2 * time.Minute,
		RefreshInterval: 10 * time.Minute,
		MaxMemoryMiB:    1024,
	}
}

// Validate reports every problem of c, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	if c.CacheSize <= 0 {
		errs = append(errs, fmt.Errorf("cache_size must be positive, got %d", c.CacheSize))
	}
	if c.TTL <= 0 {
		errs = append(errs, fmt.Errorf("ttl must be positive, got %s", c.TTL))
	}
	if c.NegativeTTL <= 0 {
		errs = append(errs, fmt.Errorf("negative_ttl must be positive, got %s", c.NegativeTTL))
	}
	if c.MaxWait < 0 {
		errs = append(errs, fmt.Errorf("max_wait must not be negative, got %s", c.MaxWait))
	}
	if c.BatchWindow < 0 {
		errs = append(errs, fmt.Errorf("batch_window must not be negative, got %s", c.BatchWindow))
	}
	if c.MaxIDsPerCall < 1 || c.MaxIDsPerCall > 200 {
		errs = append(errs, fmt.Errorf("max_ids_per_call must be between 1 and 200, got %d", c.MaxIDsPerCall))
	}
	if c.RateLimit <= 0 {
		errs = append(errs, fmt.Errorf("rate_limit must be positive, got %g", c.RateLimit))
	}
	if c.RateBurst < 1 {
		errs = append(errs, fmt.Errorf("rate_burst must be at least 1, got %d", c.RateBurst))
	}
	if c.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("max_retries must not be negative, got %d", c.MaxRetries))
	}
	if c.CallTimeout <= 0 {
		errs = append(errs, fmt.Errorf("call_timeout must be positive, got %s", c.CallTimeout))
	}
	if c.InventoryWait < 0 {
		errs = append(errs, fmt.Errorf("inventory_wait must not be negative, got %s", c.InventoryWait))
	}
	if c.RefreshInterval < time.Minute {
		errs = append(errs, fmt.Errorf("refresh_interval must be at least 1m, got %s", c.RefreshInterval))
	}
	if c.MaxMemoryMiB < 1 {
		errs = append(errs, fmt.Errorf("max_memory_mib must be positive, got %d", c.MaxMemoryMiB))
	}
	if c.RoleARN != "" {
		probe := strings.ReplaceAll(c.RoleARN, "{account-id}", "123456789012")
		if !strings.HasPrefix(probe, "arn:") || strings.Count(probe, ":") < 5 {
			errs = append(errs, fmt.Errorf("role_arn %q is not an IAM role ARN", c.RoleARN))
		} else if strings.ContainsAny(probe, "{}") {
			errs = append(errs, fmt.Errorf("role_arn %q: the only placeholder is {account-id}", c.RoleARN))
		}
	}
	for i, t := range c.Tags {
		if t == "" {
			errs = append(errs, fmt.Errorf("tags[%d] must not be empty", i))
		}
	}
	for i, a := range c.WarmUp.Accounts {
		if a != "default" && !validAccount(a) {
			errs = append(errs, fmt.Errorf("warm_up.accounts[%d] %q must be a 12-digit account id or \"default\"", i, a))
		}
	}
	for i, r := range c.WarmUp.Regions {
		if r == "" {
			errs = append(errs, fmt.Errorf("warm_up.regions[%d] must not be empty", i))
		}
	}
	if len(c.WarmUp.Accounts) > 0 && c.WarmUp.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("warm_up.timeout must be positive, got %s", c.WarmUp.Timeout))
	}
	return errors.Join(errs...)
}

func validAccount(a string) bool {
	if len(a) != 12 {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] < '0' || a[i] > '9' {
			return false
		}
	}
	return true
}
