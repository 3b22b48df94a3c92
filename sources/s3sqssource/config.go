package s3sqssource

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/vpcflow/vpcflow/processor/flowlog"
	"github.com/vpcflow/vpcflow/sources/internal/linelimit"
)

// Config configures the s3_sqs source. Zero values are replaced by
// NewDefaultConfig; every key is documented there with its default.
type Config struct {
	// QueueURL is the SQS queue that receives the S3 event notifications
	// (directly, through SNS, or from EventBridge). Required.
	QueueURL string `yaml:"queue_url"`
	// Region overrides the region of the default AWS configuration chain.
	// When neither is set, the region is taken from QueueURL's host.
	Region string `yaml:"region"`
	// Endpoint overrides the endpoint of both the SQS and the S3 client
	// (S3-compatible stores, local stand-ins). AWS_ENDPOINT_URL,
	// AWS_ENDPOINT_URL_SQS and AWS_ENDPOINT_URL_S3 are honoured without it.
	Endpoint string `yaml:"endpoint"`
	// SQSEndpoint and S3Endpoint override Endpoint for one client.
	SQSEndpoint string `yaml:"sqs_endpoint"`
	S3Endpoint  string `yaml:"s3_endpoint"`
	// RoleARN, when set, is assumed (STS AssumeRole) with the credentials of
	// the default chain for both clients.
	RoleARN string `yaml:"role_arn"`
	// ForcePathStyle addresses buckets as https://host/bucket/key.
	ForcePathStyle bool `yaml:"force_path_style"`

	// Receivers is the number of parallel ReceiveMessage long-poll loops.
	Receivers int `yaml:"receivers"`
	// WaitTime is the long-poll wait of ReceiveMessage (0 to 20s).
	WaitTime time.Duration `yaml:"wait_time"`
	// MaxInFlightObjects bounds the SQS messages (hence objects) being read
	// at once; a receiver asks for more only when a slot is free.
	MaxInFlightObjects int `yaml:"max_in_flight_objects"`
	// VisibilityTimeout is asked for on receipt and renewed every half of
	// it while a message's objects are in flight, ten messages a
	// ChangeMessageVisibilityBatch call (the calls run concurrently, each
	// bounded by half the timeout or 30s, whichever is less).
	VisibilityTimeout time.Duration `yaml:"visibility_timeout"`

	// KeyPrefix and KeySuffix filter objects by key; notifications for
	// other keys are deleted and counted.
	KeyPrefix string `yaml:"key_prefix"`
	KeySuffix string `yaml:"key_suffix"`

	// MaxObjectBytes bounds the decompressed bytes read from one object
	// (a guard against decompression bombs); 0 means no limit.
	MaxObjectBytes int64 `yaml:"max_object_bytes"`
	// MaxLineBytes is the longest line accepted; a longer one is put in the
	// batch's Failed list and the rest of the object flows. It is between
	// 64 and 65535, the longest line a record holds, which is the default.
	MaxLineBytes int `yaml:"max_line_bytes"`
	// BatchMaxRecords and BatchMaxBytes bound one batch.
	BatchMaxRecords int `yaml:"batch_max_records"`
	BatchMaxBytes   int `yaml:"batch_max_bytes"`

	// DeadLetterQueueURL, when set, receives the notifications whose
	// objects could not be read (missing, access denied, corrupt, too
	// large) and those given up after max_receive_attempts, with a
	// vpcflow_error message attribute saying why; the original message is
	// then deleted. When empty, such a message is left on the queue,
	// invisible for a visibility timeout, until its max_receive_attempts-th
	// receipt; then it is abandoned: logged at error level naming bucket,
	// key and receive count, counted in
	// vpcflow_s3sqs_messages_total{outcome="abandoned"}, and deleted.
	DeadLetterQueueURL string `yaml:"dead_letter_queue_url"`
	// MaxReceiveAttempts is how many times a notification is received
	// (its ApproximateReceiveCount) before the source gives up on it and
	// moves it to dead_letter_queue_url or, without one, abandons it (see
	// there), rather than retrying it until the queue's retention period
	// drops it silently. Every receipt counts, whatever ended it: a failed
	// or transient read, a nack, a crash, a release at shutdown. A message
	// still failing on its last attempt is given up at once; one received
	// more often than this (its earlier attempts never finished, e.g. the
	// process crashed while reading it) is given up without being read.
	// A redrive policy on the queue with a lower maxReceiveCount takes
	// precedence: SQS moves the message to the policy's dead-letter queue
	// before this count is reached.
	MaxReceiveAttempts int `yaml:"max_receive_attempts"`
	// QueueStatsInterval is how often ApproximateNumberOfMessages is
	// polled for vpcflow_source_queue_messages; 0 disables the poll.
	QueueStatsInterval time.Duration `yaml:"queue_stats_interval"`
}

// NewDefaultConfig returns the defaults:
//
//   - receivers: 2. One long poll returns up to 10 messages; two loops keep
//     a receive outstanding while the other one's messages are dispatched.
//   - wait_time: 20s, the SQS maximum, so an idle queue costs 3 requests a
//     minute per receiver.
//   - max_in_flight_objects: 4. AWS rotates flow-log objects every 5 or 10
//     minutes and caps them at 75 MB; 4 objects read in parallel keep 2
//     cores busy parsing while S3 latency is hidden. Memory: 4 objects ×
//     (1 batch being filled + a share of the 4-batch hand-off channel) ×
//     (4096 records × 456 B + 1 MiB) ≈ 4 × 2 × 3 MiB ≈ 24 MiB.
//   - visibility_timeout: 5m, renewed every 2m30s while in flight, so a
//     crashed process's messages come back within 5 minutes.
//   - max_object_bytes: 4 GiB decompressed: a 75 MB gzip flow-log object
//     inflates ~10×, well below; a decompression bomb stops there.
//   - max_line_bytes: 65535, the longest line a record can hold
//     (flowlog.MaxLineLen); a v8 line with every field is under 1 KiB.
//   - batch_max_records: 4096, batch_max_bytes: 1 MiB (4096 lines of
//     ~110 bytes ≈ 450 KiB, so the record count usually closes a batch).
//   - max_receive_attempts: 5. A transient failure (throttling, 5xx) is
//     retried after 5s, 10s, 20s and 40s, so an S3 outage of about a
//     minute and a quarter is ridden out; without a dead-letter queue, an
//     object that cannot be read is retried every visibility timeout, four
//     times (20 minutes by default), before it is abandoned.
//   - queue_stats_interval: 30s.
func NewDefaultConfig() *Config {
	return &Config{
		Receivers:          2,
		WaitTime:           20 * time.Second,
		MaxInFlightObjects: 4,
		VisibilityTimeout:  5 * time.Minute,
		MaxObjectBytes:     4 << 30,
		MaxLineBytes:       flowlog.MaxLineLen,
		BatchMaxRecords:    4096,
		BatchMaxBytes:      1 << 20,
		MaxReceiveAttempts: 5,
		QueueStatsInterval: 30 * time.Second,
	}
}

// Validate reports every problem of the config, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	if c.QueueURL == "" {
		errs = append(errs, errors.New("queue_url must be set"))
	} else if err := checkURL(c.QueueURL); err != nil {
		errs = append(errs, fmt.Errorf("queue_url: %w", err))
	}
	if c.DeadLetterQueueURL != "" {
		if err := checkURL(c.DeadLetterQueueURL); err != nil {
			errs = append(errs, fmt.Errorf("dead_letter_queue_url: %w", err))
		} else if c.DeadLetterQueueURL == c.QueueURL {
			errs = append(errs, errors.New("dead_letter_queue_url must differ from queue_url"))
		}
	}
	for _, e := range []struct{ key, v string }{{"endpoint", c.Endpoint}, {"sqs_endpoint", c.SQSEndpoint}, {"s3_endpoint", c.S3Endpoint}} {
		if e.v != "" {
			if err := checkURL(e.v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", e.key, err))
			}
		}
	}
	if c.RoleARN != "" && !strings.HasPrefix(c.RoleARN, "arn:") {
		errs = append(errs, fmt.Errorf("role_arn must be an ARN (arn:aws:iam::…:role/…), got %q", c.RoleARN))
	}
	if c.Receivers <= 0 {
		errs = append(errs, fmt.Errorf("receivers must be positive, got %d", c.Receivers))
	}
	if c.WaitTime < 0 || c.WaitTime > 20*time.Second || c.WaitTime%time.Second != 0 {
		errs = append(errs, fmt.Errorf("wait_time must be whole seconds between 0s and 20s, got %s", c.WaitTime))
	}
	if c.MaxInFlightObjects <= 0 {
		errs = append(errs, fmt.Errorf("max_in_flight_objects must be positive, got %d", c.MaxInFlightObjects))
	}
	if c.VisibilityTimeout < 2*time.Second || c.VisibilityTimeout > 12*time.Hour || c.VisibilityTimeout%time.Second != 0 {
		errs = append(errs, fmt.Errorf("visibility_timeout must be whole seconds between 2s and 12h, got %s", c.VisibilityTimeout))
	}
	if c.MaxObjectBytes < 0 {
		errs = append(errs, fmt.Errorf("max_object_bytes must not be negative, got %d", c.MaxObjectBytes))
	}
	if err := linelimit.Check(c.MaxLineBytes); err != nil {
		errs = append(errs, err)
	}
	if c.BatchMaxRecords <= 0 {
		errs = append(errs, fmt.Errorf("batch_max_records must be positive, got %d", c.BatchMaxRecords))
	}
	if c.BatchMaxBytes < c.MaxLineBytes {
		errs = append(errs, fmt.Errorf("batch_max_bytes must be at least max_line_bytes (%d), got %d", c.MaxLineBytes, c.BatchMaxBytes))
	}
	if c.MaxReceiveAttempts < 1 || c.MaxReceiveAttempts > 1000 {
		errs = append(errs, fmt.Errorf("max_receive_attempts must be between 1 and 1000, got %d", c.MaxReceiveAttempts))
	}
	if c.QueueStatsInterval < 0 {
		errs = append(errs, fmt.Errorf("queue_stats_interval must not be negative, got %s", c.QueueStatsInterval))
	}
	return errors.Join(errs...)
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %q", s)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be an http(s) URL with a host, got %q", s)
	}
	return nil
}
