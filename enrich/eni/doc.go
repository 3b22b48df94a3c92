// Package eni is the eni_enrich stage: it adds to each flow-log record what
// EC2 knows about its network interface (Record.ENI: VPC, subnet, security
// groups, instance, availability zone, interface type, chosen tags) and the
// flow's direction (Record.Direction).
//
// # Look-ups
//
// Interfaces are described with EC2 DescribeNetworkInterfaces
// (aws-sdk-go-v2), the client built from the SDK's default configuration
// chain, so AWS_REGION, AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_EC2 (and _STS)
// work with no switch of ours; `region`, `endpoint` and `sts_endpoint` in
// the file take precedence. With `role_arn` the look-ups assume that role
// through STS (credentials cached and refreshed before they expire); the
// text {account-id} in it is replaced by the record's account, so each
// account is read with its own role. There is one client per account and
// region, each with its own rate limit (token bucket: `rate_limit` calls/s,
// `rate_burst`), since EC2 throttles per account and region.
//
// A record's key is (account, region, interface-id): the account from the
// record's account-id, else its input's (an S3 key); the region from the
// record's region field, else its input's, else `region`, else the SDK's.
// A record without a usable interface-id (transit-gateway records, "-") or
// without any region passes unenriched.
//
// Misses are coalesced: while an interface is being looked up every record
// that needs it waits for the same call (singleflight); the misses of all
// batches are gathered for `batch_window` and described together with the
// filter network-interface-id (an unknown id does not fail the call, as
// NetworkInterfaceIds would), at most `max_ids_per_call` ids a call, every
// page followed. Throttling (RequestLimitExceeded, Throttling, HTTP 429),
// 5xx and network errors are retried up to `max_retries` times with
// exponential backoff and jitter, each attempt waiting for the rate
// limiter; other errors (e.g. UnauthorizedOperation) are not.
//
// # Never stopping, never dropping
//
// A batch waits for its misses at most `max_wait`; records whose look-up
// is not done by then pass unenriched (the look-up goes on and fills the
// cache for later batches). When a look-up fails, its account and region
// back off (1 s, doubling to 30 s): meanwhile their misses pass unenriched
// at once instead of each batch waiting. Process never drops a record and
// never returns an error. vpcflow_eni_unenriched_records_total{reason}
// counts what passed unenriched: no_interface, no_region, unknown_eni,
// timeout, ec2_error, closed.
//
// # Cache
//
// Answers are kept in two hashicorp/golang-lru/v2 expirable LRUs: described
// interfaces for `ttl` (at most `cache_size`), interfaces EC2 does not know
// for `negative_ttl` (deleted interfaces keep appearing in flow logs for
// minutes). The LRUs own size, expiry and eviction; a plain map mirrors
// them, fronted for the hit path by a two-way set-associative table of
// 64-byte entry copies by key hash (two slots an entry, growing with the
// cache up to 2 × cache_size slots and 8 MiB), read under one read lock per
// batch, so that a hit costs no lock, no clock read, no allocation and one
// cache line per record. Hits refresh an entry's LRU position at most
// every ttl/16. The ENI values are shared and
// immutable: every record of an interface points to the same *flowlog.ENI.
// Addresses are ordered primary private IPv4, secondary IPv4, then IPv6.
// Optional warm-up (`warm_up`) describes every interface of some accounts
// and regions at Start, all pages.
//
// # Direction
//
// Decided in this order, never guessed:
//
//  1. NODATA and SKIPDATA records: no direction.
//  2. internal: one end is an address of the record's interface and the
//     other end is an address of the same interface or of a known
//     interface of the same subnet. "Known" means a live cache entry
//     (looked up because it appeared in flow logs, or loaded by the
//     warm-up); a peer never seen is not assumed. Internal wins over
//     flow-direction: the same flow is egress on one interface and ingress
//     on the other, and both records say internal.
//  3. flow-direction (version 5), when present: ingress is inbound, egress
//     is outbound. This holds for records whose interface is unknown too:
//     it is the record's own data.
//  4. inbound when dstaddr is one of the interface's addresses (primary or
//     secondary private IPv4, IPv6), outbound when srcaddr is.
//  5. otherwise no direction (DirUnknown).
//
// # Metrics
//
// vpcflow_eni_cache_hits_total, _misses_total, _negative_hits_total,
// _evictions_total (counted per record for hits and misses),
// vpcflow_eni_cache_size{kind="positive"|"negative"},
// vpcflow_eni_ec2_calls_total{outcome} (every attempt and page: ok,
// throttled, server_error, client_error, network_error, canceled),
// vpcflow_eni_ec2_throttles_total, vpcflow_eni_lookup_duration_seconds (one
// coalesced look-up: pages, retries, rate-limit waits),
// vpcflow_eni_unenriched_records_total{reason}; each with stage=<id>.
//
// The package ec2stub answers DescribeNetworkInterfaces and AssumeRole over
// their real wire protocols for tests and `vpcflow dev`.
package eni
