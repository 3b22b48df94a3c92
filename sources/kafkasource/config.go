package kafkasource

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/vpcflow/vpcflow/sources/envelope"
)

// Config configures the kafka source. Zero values are replaced by
// NewDefaultConfig's.
type Config struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string `yaml:"brokers"`
	// Topic, Topics and TopicRegex choose what to consume: Topic and Topics
	// add up; TopicRegex (Go regexp syntax, matched against whole topic
	// names) excludes both.
	Topic      string   `yaml:"topic"`
	Topics     []string `yaml:"topics"`
	TopicRegex string   `yaml:"topic_regex"`
	// Group is the consumer group: every instance with the same group
	// shares the partitions.
	Group string `yaml:"group"`
	// ClientID is sent to the brokers, for their logs and quotas.
	ClientID string `yaml:"client_id"`
	// StartFrom is where a partition with no committed offset starts:
	// earliest or latest.
	StartFrom string `yaml:"start_from"`
	// Payload is lines, cloudwatch_logs or auto.
	Payload string `yaml:"payload"`

	TLS  TLSConfig  `yaml:"tls"`
	SASL SASLConfig `yaml:"sasl"`

	// FetchMaxBytes bounds one fetch response (all partitions of one
	// broker, compressed); FetchMaxPartitionBytes bounds one partition's
	// share. The client holds one fetch per broker, decompressed, next to
	// what max_in_flight_bytes bounds: 8 MiB ≈ 25-60 MiB decompressed.
	FetchMaxBytes          int `yaml:"fetch_max_bytes"`
	FetchMaxPartitionBytes int `yaml:"fetch_max_partition_bytes"`
	// MaxInFlightBytes bounds the memory of the batches read and not yet
	// acknowledged (decoded records, 456 B each, plus the payload they
	// point into): no more is polled until acknowledgements bring it
	// below; 0 turns the bound off. Peak ≈ 2 × (48 MiB in flight ≈ 85k
	// lines + one 8 MiB fetch ≈ 25-60 MiB decompressed) (Go's GOGC 100)
	// + ~40 MB runtime, ENI cache and sinks ≈ 190-260 MB.
	MaxInFlightBytes int `yaml:"max_in_flight_bytes"`
	// FetchMaxWait is how long a broker may hold a fetch when it has no data.
	FetchMaxWait time.Duration `yaml:"fetch_max_wait"`
	// MaxPollRecords bounds the Kafka records taken by one poll.
	MaxPollRecords int `yaml:"max_poll_records"`
	// BatchMaxRecords closes a batch once it holds this many flow-log
	// records. A Kafka record is never split across batches.
	BatchMaxRecords int `yaml:"batch_max_records"`
	// CommitInterval is how often acknowledged offsets are committed (they
	// are also committed when partitions are revoked and on Close, once the
	// batches in flight are acknowledged).
	CommitInterval time.Duration `yaml:"commit_interval"`
	// LagInterval is how often the lag and record-age gauges are refreshed.
	LagInterval time.Duration `yaml:"lag_interval"`
	// SessionTimeout is how long the group waits for a heartbeat before it
	// drops the member (its partitions are then lost, not handed over:
	// their uncommitted work is read again by the next owner).
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// RebalanceTimeout is how long the group waits for its members to
	// rejoin during a rebalance. It also bounds the hand-over of revoked
	// partitions (a member joins or leaves): the old owner stops handing out
	// their records and waits up to 90% of it for the batches already
	// handed out to be acknowledged, commits, and only then lets them go,
	// so the new owner starts exactly where delivery stopped. Close waits
	// the same, within its deadline. Set it above the time a batch takes
	// to be delivered when sinks are slow (retries included): batches not
	// acknowledged by then are delivered again by the new owner.
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
	// HeartbeatInterval is how often the member heartbeats; a rebalance is
	// noticed within one interval.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
}

// TLSConfig configures TLS to the brokers.
type TLSConfig struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of CAs to trust in addition to the system's
	// roots (as for every tls block); empty trusts the system's alone.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and key (mutual TLS).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the brokers' certificates.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify turns off certificate verification (tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASLConfig configures SASL authentication.
type SASLConfig struct {
	// Mechanism is empty (no SASL), PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or
	// AWS_MSK_IAM (credentials from the AWS SDK's default chain, or the
	// role of role_arn assumed with them).
	Mechanism string `yaml:"mechanism"`
	// Region overrides the AWS default chain's region (AWS_REGION) for
	// AWS_MSK_IAM: the region of the STS calls that assume role_arn.
	Region string `yaml:"region"`
	// RoleARN, when set, is assumed (STS AssumeRole, session
	// "vpcflow-<source id>") for AWS_MSK_IAM.
	RoleARN string `yaml:"role_arn"`
	// User and Password for PLAIN and SCRAM; write the password as
	// ${KAFKA_PASSWORD} so that it comes from the environment.
	User     string `yaml:"user"`
	Password string `yaml:"password"`
}

// maxWireTimeout is the longest timeout the protocol carries (int32 ms).
const maxWireTimeout = math.MaxInt32 * time.Millisecond

// NewDefaultConfig returns the defaults:
//
//   - group "vpcflow", client_id "vpcflow".
//   - start_from earliest: a new group reads what the topic retains rather
//     than skipping it (at least once, nothing lost).
//   - payload auto: gzip or base64 gzip or JSON is a CloudWatch Logs
//     envelope, anything else is lines.
//   - fetch_max_bytes 8 MiB; fetch_max_partition_bytes 1 MiB: at ~110
//     bytes a line (compressed 3-8 times) that is 30-80k lines per
//     partition per fetch, enough to keep a core busy between round trips;
//     memory held is at most one fetch per broker, 25-60 MiB decompressed.
//   - max_in_flight_bytes 48 MiB: batches pending or handed out, records
//     and payload (~570 B a line), about 85k lines, 0.1-0.2 s of work for
//     the pipeline; polls are sized to what is left. With one fetch
//     buffered that is 75-110 MiB live, under 300 MB resident with the Go
//     collector's headroom.
//   - fetch_max_wait 5s, the time an idle fetch waits at the broker.
//   - max_poll_records 10000 Kafka records per poll (fewer when
//     max_in_flight_bytes has less room); batch_max_records 4096 flow
//     records per batch (4096 × ~110 B ≈ 450 KiB of lines).
//   - commit_interval 5s: after a crash at most 5 s of acknowledged work
//     is read again.
//   - lag_interval 5s: the lag gauge is never older than 10 s.
//   - session_timeout 45s, rebalance_timeout 60s, heartbeat_interval 3s
//     (Kafka's defaults). A revocation waits up to 54 s for batches in
//     flight: with 64 batches in flight and a sink taking 0.3 s a request,
//     they drain in seconds; the wait only runs out when a sink is down,
//     and then what was not delivered is read again by the next owner.
func NewDefaultConfig() *Config {
	return &Config{
		Group:                  "vpcflow",
		ClientID:               "vpcflow",
		StartFrom:              "earliest",
		Payload:                "auto",
		FetchMaxBytes:          8 << 20,
		FetchMaxPartitionBytes: 1 << 20,
		MaxInFlightBytes:       48 << 20,
		FetchMaxWait:           5 * time.Second,
		MaxPollRecords:         10000,
		BatchMaxRecords:        4096,
		CommitInterval:         5 * time.Second,
		LagInterval:            5 * time.Second,
		SessionTimeout:         45 * time.Second,
		RebalanceTimeout:       60 * time.Second,
		HeartbeatInterval:      3 * time.Second,
	}
}

// topics returns the topics named by topic and topics, without duplicates.
func (c *Config) topics() []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range append([]string{c.Topic}, c.Topics...) {
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// Validate reports every problem, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Brokers) == 0 {
		add("brokers must name at least one broker")
	}
	for i, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			add("brokers[%d] is empty", i)
		}
	}
	for i, t := range c.Topics {
		if t == "" {
			add("topics[%d] is empty", i)
		}
	}
	switch {
	case c.TopicRegex != "" && len(c.topics()) > 0:
		add("topic_regex cannot be combined with topic or topics")
	case c.TopicRegex != "":
		if _, err := regexp.Compile(c.TopicRegex); err != nil {
			add("topic_regex: %v", err)
		}
	case len(c.topics()) == 0:
		add("one of topic, topics or topic_regex must be set")
	}
	if c.Group == "" {
		add("group must be set")
	}
	if c.StartFrom != "earliest" && c.StartFrom != "latest" {
		add("start_from must be earliest or latest, got %q", c.StartFrom)
	}
	if _, err := envelope.ParsePayload(c.Payload); err != nil {
		add("payload: %v", err)
	}
	if c.FetchMaxBytes <= 0 || c.FetchMaxBytes > math.MaxInt32 {
		add("fetch_max_bytes must be between 1 and %d, got %d", math.MaxInt32, c.FetchMaxBytes)
	}
	if c.FetchMaxPartitionBytes <= 0 || c.FetchMaxPartitionBytes > math.MaxInt32 {
		add("fetch_max_partition_bytes must be between 1 and %d, got %d", math.MaxInt32, c.FetchMaxPartitionBytes)
	}
	if c.MaxInFlightBytes < 0 {
		add("max_in_flight_bytes must not be negative (0: no bound), got %d", c.MaxInFlightBytes)
	}
	if c.FetchMaxWait < 10*time.Millisecond {
		add("fetch_max_wait must be at least 10ms, got %s", c.FetchMaxWait)
	}
	if c.MaxPollRecords <= 0 {
		add("max_poll_records must be positive, got %d", c.MaxPollRecords)
	}
	if c.BatchMaxRecords <= 0 {
		add("batch_max_records must be positive, got %d", c.BatchMaxRecords)
	}
	if c.CommitInterval < 100*time.Millisecond {
		add("commit_interval must be at least 100ms, got %s", c.CommitInterval)
	}
	if c.LagInterval <= 0 || c.LagInterval > 10*time.Second {
		add("lag_interval must be between 1ns and 10s, got %s", c.LagInterval)
	}
	if c.SessionTimeout < 100*time.Millisecond || c.SessionTimeout > maxWireTimeout {
		add("session_timeout must be between 100ms and %s, got %s", maxWireTimeout, c.SessionTimeout)
	}
	if c.RebalanceTimeout < 100*time.Millisecond || c.RebalanceTimeout > maxWireTimeout {
		add("rebalance_timeout must be between 100ms and %s, got %s", maxWireTimeout, c.RebalanceTimeout)
	}
	if c.HeartbeatInterval <= 0 || c.HeartbeatInterval >= c.SessionTimeout {
		add("heartbeat_interval must be positive and below session_timeout, got %s", c.HeartbeatInterval)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls.cert_file and tls.key_file must be set together")
	}
	if !c.TLS.Enabled && (c.TLS.CAFile != "" || c.TLS.CertFile != "" || c.TLS.InsecureSkipVerify || c.TLS.ServerName != "") {
		add("tls.enabled must be true when other tls keys are set")
	}
	if c.SASL.Mechanism != "AWS_MSK_IAM" && (c.SASL.Region != "" || c.SASL.RoleARN != "") {
		add("sasl.region and sasl.role_arn are only used with sasl.mechanism AWS_MSK_IAM")
	}
	switch c.SASL.Mechanism {
	case "":
		if c.SASL.User != "" || c.SASL.Password != "" {
			add("sasl.mechanism must be set when sasl.user or sasl.password is")
		}
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.SASL.User == "" {
			add("sasl.user must be set for %s", c.SASL.Mechanism)
		}
		if c.SASL.Password == "" {
			add("sasl.password must be set for %s (e.g. \"${KAFKA_PASSWORD}\")", c.SASL.Mechanism)
		}
	case "AWS_MSK_IAM":
		if !c.TLS.Enabled {
			add("sasl.mechanism AWS_MSK_IAM needs tls.enabled: true")
		}
		if c.SASL.User != "" || c.SASL.Password != "" {
			add("sasl.user and sasl.password are not used with AWS_MSK_IAM (credentials come from the AWS SDK's default chain)")
		}
		if c.SASL.RoleARN != "" && !strings.HasPrefix(c.SASL.RoleARN, "arn:") {
			add("sasl.role_arn must be an ARN (arn:aws:iam::…:role/…), got %q", c.SASL.RoleARN)
		}
	default:
		add("sasl.mechanism must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM, got %q", c.SASL.Mechanism)
	}
	return errors.Join(errs...)
}
