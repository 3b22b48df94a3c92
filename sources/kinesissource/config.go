package kinesissource

import (
	"errors"
	"fmt"
	"time"
)

// Start positions for shards that have no checkpoint yet (start_from).
const (
	StartTrimHorizon = "trim_horizon"
	StartLatest      = "latest"
	StartAtTimestamp = "at_timestamp"
)

// Payloads (payload).
const (
	PayloadLines          = "lines"
	PayloadCloudWatchLogs = "cloudwatch_logs"
	PayloadKPL            = "kpl"
	PayloadAuto           = "auto"
)

// Config configures the Kinesis source. Zero values are replaced by
// NewDefaultConfig's.
type Config struct {
	// Stream is the name of the Kinesis data stream (or its ARN).
	Stream string `yaml:"stream"`
	// LeaseTable is the DynamoDB table holding shard leases and checkpoints,
	// created (on-demand billing) when absent. Instances that share a table
	// share the stream's shards. Empty means "vpcflow-<stream>".
	LeaseTable string `yaml:"lease_table"`
	// StartFrom is where a shard without checkpoint is read from:
	// trim_horizon (the oldest record kept), latest, or at_timestamp
	// (StartTimestamp). Shards born of a split or merge of leased shards are
	// always read from their start.
	StartFrom string `yaml:"start_from"`
	// StartTimestamp is the position for start_from: at_timestamp (RFC 3339).
	StartTimestamp time.Time `yaml:"start_timestamp"`
	// Payload is how a Kinesis record is decoded: lines (newline-separated
	// flow-log lines), cloudwatch_logs (gzip JSON subscription envelopes),
	// kpl (KPL aggregated records whose user records are decoded as auto),
	// or auto (recognised per record).
	Payload string `yaml:"payload"`
	// Region overrides the region of the default AWS configuration chain.
	Region string `yaml:"region"`
	// Endpoint overrides the Kinesis endpoint (AWS_ENDPOINT_URL_KINESIS
	// does the same from the environment).
	Endpoint string `yaml:"endpoint"`
	// DynamoDBEndpoint overrides the DynamoDB endpoint of the lease table
	// (AWS_ENDPOINT_URL_DYNAMODB does the same from the environment).
	DynamoDBEndpoint string `yaml:"dynamodb_endpoint"`
	// RoleARN is a role assumed (via STS) for Kinesis and DynamoDB calls.
	RoleARN string `yaml:"role_arn"`
	// FailoverTime is how long a lease stays valid without renewal: a
	// lease whose counter did not move for this long is taken by another
	// instance. Leases are renewed every FailoverTime/3.
	FailoverTime time.Duration `yaml:"failover_time"`
	// HandoffTimeout bounds a graceful hand-off, when a lease moves between
	// two live instances (one joins and takes its share, as KCL 3.x's
	// graceful lease handoff): the taker marks the lease (leaseOwner is the
	// taker, checkpointOwner the owner); the owner, at its next renewal,
	// stops handing out records of the shard, waits until the batches it
	// handed out are acknowledged, checkpoints and removes checkpointOwner;
	// only then does the taker start reading, from that checkpoint: nothing
	// is read twice. An owner whose batches are not all acknowledged within
	// handoff_timeout checkpoints what was and lets go (the rest is read
	// again); one that does not answer at all (an older vpcflow, a hung
	// process) loses the lease once its counter stands still for
	// failover_time, or handoff_timeout + failover_time after the mark.
	// Close drains within the same bound. 0 turns the hand-off off: a lease
	// is stolen at once and what its owner had not checkpointed is read
	// again.
	HandoffTimeout time.Duration `yaml:"handoff_timeout"`
	// WorkerID names this instance in the lease table. Empty means
	// hostname:pid:random, unique per process.
	WorkerID string `yaml:"worker_id"`
	// MaxRecordsPerCall is GetRecords' Limit, at most 10000; a call asks for
	// fewer when records are large, about 2 MiB (a shard's read rate for a
	// second), so that one answer never holds 10 MB.
	MaxRecordsPerCall int `yaml:"max_records_per_call"`
	// BatchMaxRecords closes a batch once it holds this many flow-log
	// records: one GetRecords answer (up to 10 MB, a million lines of
	// CloudWatch Logs envelopes) becomes several batches. A Kinesis record
	// is never split across batches.
	BatchMaxRecords int `yaml:"batch_max_records"`
	// MaxInFlightBytes bounds the memory of the batches read and not yet
	// acknowledged (decoded records, 456 B each, plus their lines): shards
	// wait before building more until acknowledgements bring it below; 0
	// turns the bound off. Peak ≈ 2 × (48 MiB in flight ≈ 85k lines + a
	// ~2 MiB answer per shard held twice by the SDK ≈ 16 MiB with 4
	// shards) (Go's GOGC 100) + ~60 MB runtime, sinks, SDK pools ≈ 190-260 MB.
	MaxInFlightBytes int `yaml:"max_in_flight_bytes"`
	// PollInterval is the wait between GetRecords calls on a shard that is
	// caught up (or returned nothing).
	PollInterval time.Duration `yaml:"poll_interval"`
	// MaxLeases caps the shards one instance reads at once; 0 means no cap
	// beyond an even share.
	MaxLeases int `yaml:"max_leases"`
	// ShardSyncInterval is how often the shard list is compared with the
	// lease table to add leases for new shards (a shard end triggers a sync
	// at once).
	ShardSyncInterval time.Duration `yaml:"shard_sync_interval"`
}

// NewDefaultConfig returns the defaults:
//   - start_from trim_horizon: nothing already in the stream is skipped on a
//     first start.
//   - payload auto: CloudWatch Logs envelopes, KPL aggregates and plain lines
//     are recognised per record.
//   - failover_time 10s, renewal every 3.3s: a dead instance's shards are
//     read again ~10-13s later, while three missed renewals in a row (a
//     DynamoDB hiccup) are needed to lose a lease.
//   - handoff_timeout 30s (KCL 3.x's default): room for a sink's retries to
//     end before a moving lease is let go, while a shard waits at most this
//     long for its new owner to start.
//   - max_records_per_call 10000 (the API maximum): one call per shard per
//     200ms (the 5 reads/s limit) then drains a busy shard's 1000 records/s.
//   - batch_max_records 4096, as the kafka source: a batch of ~1.9 MB of
//     records, so that the engine's max_in_flight batches bound memory
//     whatever one GetRecords answer holds.
//   - max_in_flight_bytes 48 MiB: about 85k lines decoded and in flight
//     over all shards, 0.1-0.2 s of work for the pipeline, under 300 MB
//     resident with the Go collector's headroom.
//   - poll_interval 1s: an idle shard costs one GetRecords a second, a fifth
//     of its read budget, leaving room for a second consumer.
//   - shard_sync_interval 60s: ListShards is limited to 100 calls/s per
//     stream, and resharding is also noticed at each shard end.
func NewDefaultConfig() *Config {
	return &Config{
		StartFrom:         StartTrimHorizon,
		Payload:           PayloadAuto,
		FailoverTime:      10 * time.Second,
		HandoffTimeout:    30 * time.Second,
		MaxRecordsPerCall: 10000,
		BatchMaxRecords:   4096,
		MaxInFlightBytes:  48 << 20,
		PollInterval:      time.Second,
		ShardSyncInterval: 60 * time.Second,
	}
}

// Validate reports every problem, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	if c.Stream == "" {
		errs = append(errs, errors.New("stream must be set"))
	}
	switch c.StartFrom {
	case StartTrimHorizon, StartLatest:
		if !c.StartTimestamp.IsZero() {
			errs = append(errs, fmt.Errorf("start_timestamp is only used with start_from: at_timestamp, got start_from %q", c.StartFrom))
		}
	case StartAtTimestamp:
		if c.StartTimestamp.IsZero() {
			errs = append(errs, errors.New("start_timestamp must be set when start_from is at_timestamp"))
		}
	default:
		errs = append(errs, fmt.Errorf("start_from must be trim_horizon, latest or at_timestamp, got %q", c.StartFrom))
	}
	switch c.Payload {
	case PayloadLines, PayloadCloudWatchLogs, PayloadKPL, PayloadAuto:
	default:
		errs = append(errs, fmt.Errorf("payload must be lines, cloudwatch_logs, kpl or auto, got %q", c.Payload))
	}
	if c.FailoverTime < 300*time.Millisecond {
		errs = append(errs, fmt.Errorf("failover_time must be at least 300ms, got %s", c.FailoverTime))
	}
	if c.HandoffTimeout < 0 {
		errs = append(errs, fmt.Errorf("handoff_timeout must not be negative, got %s", c.HandoffTimeout))
	}
	if c.MaxRecordsPerCall < 1 || c.MaxRecordsPerCall > 10000 {
		errs = append(errs, fmt.Errorf("max_records_per_call must be between 1 and 10000, got %d", c.MaxRecordsPerCall))
	}
	if c.BatchMaxRecords <= 0 {
		errs = append(errs, fmt.Errorf("batch_max_records must be positive, got %d", c.BatchMaxRecords))
	}
	if c.MaxInFlightBytes < 0 {
		errs = append(errs, fmt.Errorf("max_in_flight_bytes must not be negative (0: no bound), got %d", c.MaxInFlightBytes))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("poll_interval must be positive, got %s", c.PollInterval))
	}
	if c.MaxLeases < 0 {
		errs = append(errs, fmt.Errorf("max_leases must not be negative, got %d", c.MaxLeases))
	}
	if c.ShardSyncInterval <= 0 {
		errs = append(errs, fmt.Errorf("shard_sync_interval must be positive, got %s", c.ShardSyncInterval))
	}
	return errors.Join(errs...)
}

// drainTimeout bounds how long in-flight batches are waited for when a
// lease is let go (hand-off, Close).
func (c *Config) drainTimeout() time.Duration {
	if c.HandoffTimeout > 0 {
		return c.HandoffTimeout
	}
	return c.FailoverTime
}

// leaseTable returns the lease table name.
func (c *Config) leaseTable() string {
	if c.LeaseTable != "" {
		return c.LeaseTable
	}
	return "vpcflow-" + streamName(c.Stream)
}

// streamName returns the name part of a stream ARN, or s.
func streamName(s string) string {
	const prefix = ":stream/"
	for i := len(s) - len(prefix); i >= 0; i-- {
		if s[i:i+len(prefix)] == prefix {
			return s[i+len(prefix):]
		}
	}
	return s
}
