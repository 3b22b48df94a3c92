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
// # Inventory
//
// With `inventory` on (the default) the stage keeps a local copy of every
// interface of each account and region it meets, the way a join against a
// slowly changing table is done: the first record of an (account, region)
// (or `warm_up` at Start) starts a full listing, DescribeNetworkInterfaces
// without an id filter, 1000 a page, every page followed, under that
// client's token bucket (`rate_limit` 20/s, `rate_burst` 100: EC2's own
// figures for non-mutating calls). Each page is in the cache as soon as it
// is read. When the first page is not the last, the inventory is listed
// again by the first hex digit of the interface id (network-interface-id
// eni-0* … eni-f*), 8 listings at a time: EC2 takes a second or more a
// page, so one page after the other would take minutes for a few hundred
// thousand interfaces, while 8 at a time come close to the token bucket's
// 20/s. Should
// the 16 find fewer interfaces than the first page held (wildcards not
// honoured), the listing goes on page after page from the first. The inventory is listed again every `refresh_interval` (10m) by
// a goroutine that lives as long as the stage; listed interfaces are
// trusted for max(ttl, refresh_interval + inventory_wait), so that they do
// not expire between two listings. An interface missing from the
// inventory (created since the last listing, or one EC2 does not know) is
// looked up by id as described below, so one listing per refresh plus a
// few id look-ups replace one call per 200 misses. A listing that fails
// (after the retries of its page) is logged and counted; records of its
// account and region are then looked up by id, and the listing is tried
// again a minute later.
//
// The cache is sized from what the inventories list: its positive part
// holds `cache_size` (room for interfaces looked up by id) plus every
// listed interface, up to `max_memory_mib` at the measured bytes per
// interface (about 1.1 KiB with a Name tag: the ENI value, the entry,
// the LRU element, the maps and the subnet index); beyond it the least
// recently seen interfaces are evicted and a warning is logged once.
//
// # Waiting for a first listing: parking, and its trade-offs
//
// The engine calls Process from a few sharded workers (batches of one
// partition always on the same worker, GOMAXPROCS workers by default) and
// sends the batch on when it returns; a stage cannot hand a batch back
// later. So a record can only be enriched by its first listing if the
// Process call that carries it waits for that listing. The stage does
// this, and only this, in a bounded way:
//
//   - A batch waits (is parked in Process) only when some of its records
//     miss and their (account, region) is in its first listing. Batches
//     whose records hit, or whose accounts are listed already, never wait;
//     nor do refreshes make anyone wait (the previous listing answers).
//   - The bound is the listing's start plus `inventory_wait` (2m), not a
//     per-batch timer: past it every batch of that inventory passes at
//     once, its missing records unenriched and counted (reason
//     inventory_timeout), while the listing goes on filling the cache.
//   - Parking costs a goroutine, no CPU and no EC2 call; records of the
//     same batch that hit are already enriched when it waits.
//   - Partition order is kept: the parked batch holds its worker, so the
//     partition's later batches queue behind it, as they must.
//
// The cost: partitions that the engine maps to the same worker as a
// parked batch wait with it (the engine has one queue per worker), and a
// worker that waits is one less running. Other workers, and so other
// partitions, go on. Where one input carries several accounts, raise the
// engine's `workers` above the number of cores: parked workers cost
// nothing, and the others keep the cores busy. The alternative of passing
// every record of an inventory being listed unenriched would not hold a
// worker, but a cold start of a large account would then be mostly
// unenriched (a listing of 300 pages takes 15 s at EC2's rate, in which
// the pipeline moves millions of records); returning an error so that the
// engine retries the batch would hold the worker just the same, with
// back-off on top.
//
// # Look-ups by id
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
// A batch waits for its look-ups by id at most `max_wait`; records whose
// look-up is not done by then pass unenriched (the look-up goes on and
// fills the cache for later batches). A batch does not wait at all for a
// look-up whose client's token bucket owes more than max_wait of calls
// (the budget is spent, e.g. by a listing): waiting could not help. When a look-up fails, its account and region
// back off (1 s, doubling to 30 s): meanwhile their misses pass unenriched
// at once instead of each batch waiting. Process never drops a record and
// never returns an error. vpcflow_eni_unenriched_records_total{reason}
// counts what passed unenriched: no_interface, no_region, unknown_eni,
// timeout, ec2_error, closed, inventory_timeout.
//
// # Cache
//
// Answers are kept in two hashicorp/golang-lru/v2 expirable LRUs: described
// interfaces for `ttl` (at most the capacity above), interfaces EC2 does not know
// for `negative_ttl` (deleted interfaces keep appearing in flow logs for
// minutes). The LRUs own size, expiry and eviction; a plain map mirrors
// them, fronted for the hit path by a two-way set-associative table of
// 64-byte entry copies by key hash (two slots an entry, growing with the
// cache up to twice its capacity and 8 MiB), read under one read lock per
// batch, so that a hit costs no lock, no clock read, no allocation and one
// cache line per record. Hits refresh an entry's LRU position at most
// every ttl/16. The ENI values are shared and
// immutable: every record of an interface points to the same *flowlog.ENI.
// Addresses are ordered primary private IPv4, secondary IPv4, then IPv6.
// Optional warm-up (`warm_up`) lists the inventories of some accounts and
// regions at Start (Start waits for them up to warm_up.timeout).
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
// vpcflow_eni_unenriched_records_total{reason};
// vpcflow_eni_cache_capacity (positive entries allowed now),
// vpcflow_eni_inventory_interfaces (interfaces known from listings),
// vpcflow_eni_inventory_listings_in_progress,
// vpcflow_eni_inventory_listing_duration_seconds,
// vpcflow_eni_inventory_pages_total,
// vpcflow_eni_inventory_listings_total{outcome="ok"|"error"},
// vpcflow_eni_inventory_waiting_records (records parked for a first
// listing); each with stage=<id>, never an account or region.
//
// The package ec2stub answers DescribeNetworkInterfaces and AssumeRole over
// their real wire protocols for tests and `vpcflow dev`.
package eni
