package httpsink

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/vpcflow/vpcflow/sinks/encoding"
)

// Config configures an http sink. The engine decodes the component's YAML
// into NewDefaultConfig's value (after substituting ${VAR}s) and calls
// Validate.
type Config struct {
	// URL is where batches are sent. It usually carries a secret (a Sumo
	// Logic collector token): it is never logged, only scheme://host/….
	URL string `yaml:"url"`
	// Method is the HTTP method, POST by default.
	Method string `yaml:"method"`
	// Headers are sent with every request. Values may hold {field}
	// placeholders (see Template); requests are then grouped by value.
	Headers map[string]string `yaml:"headers"`
	// Encoding is json, sumo_vpc_json or raw; empty means json, or
	// sumo_vpc_json with preset sumologic.
	Encoding string `yaml:"encoding"`
	// Compression is gzip (default), deflate (zlib, as HTTP defines it),
	// zstd or none.
	Compression string `yaml:"compression"`
	// CompressionLevel is the gzip/deflate level (1–9) or the zstd level
	// (1–22); 0 picks the fastest setting (gzip 1, zstd 1), which keeps
	// encode + compress above 700k records/s per core at a ratio near 10.
	CompressionLevel int `yaml:"compression_level"`
	// Batch bounds one request.
	Batch BatchConfig `yaml:"batch"`
	// Concurrency is the number of requests in flight, 4 by default.
	// Memory for bodies stays below about (concurrency + 2) × batch.max_bytes.
	Concurrency int `yaml:"concurrency"`
	// RequestTimeout bounds one attempt (connect, send, response), 30s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// TLS configures server verification.
	TLS TLSConfig `yaml:"tls"`
	// Auth adds an Authorization header.
	Auth AuthConfig `yaml:"auth"`
	// MaxRetryDuration bounds how long one request is retried while its
	// destination fails (network, 401, 403, 404, 5xx…); past it the records
	// fail permanently (dead_letter). 0, the default, retries for ever and
	// holds the pipeline back while the intake is down or refuses the
	// token: nothing is lost. Records the intake refuses for their content
	// (400, 422, 413 for one record) are not retried: they go to
	// dead_letter, or on_rejected applies.
	MaxRetryDuration time.Duration `yaml:"max_retry_duration"`
	// Retry shapes the backoff between attempts.
	Retry RetryConfig `yaml:"retry"`
	// Preset is "" or sumologic (X-Sumo-* headers, sumo_vpc_json, gzip).
	Preset string `yaml:"preset"`
	// Sumologic holds the X-Sumo-* header templates of preset sumologic.
	Sumologic SumologicConfig `yaml:"sumologic"`
	// IncludeLogInfo adds the CloudWatch Logs group and stream to each
	// record (logGroup/logStream in sumo_vpc_json, as the Lambda's
	// INCLUDE_LOG_INFO; log-group/log-stream in json).
	IncludeLogInfo bool `yaml:"include_log_info"`
	// TrailingNewline ends each body with "\n" (NDJSON bulk intakes want
	// it). False by default: records are joined by "\n", as the Sumo Logic
	// Lambda does.
	TrailingNewline bool `yaml:"trailing_newline"`
}

// BatchConfig bounds one request.
type BatchConfig struct {
	// MaxBytes is the largest uncompressed body, 1000000 by default (Sumo
	// Logic asks for 100 KB–1 MB). A single larger record goes alone.
	MaxBytes int `yaml:"max_bytes"`
	// MaxRecords caps the records of one request; 0 means no cap.
	MaxRecords int `yaml:"max_records"`
	// Timeout is how long a record may wait for its request to fill, 1s.
	Timeout time.Duration `yaml:"timeout"`
	// IdleTimeout sends every body that is not full once no record has
	// been added for this long, 10ms by default; 0 turns it off. The engine
	// holds a bounded number of batches in flight: once they all wait on
	// this sink, no record comes until one is delivered, and waiting for
	// timeout would only add latency (and cap throughput at max_in_flight
	// batches per timeout).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// TLSConfig configures how the intake's certificate is checked.
type TLSConfig struct {
	// CAFile is a PEM bundle of CAs to trust in addition to the system's
	// roots (as for every tls block); empty trusts the system's alone.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify disables verification (tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// AuthConfig adds an Authorization header: basic (username/password) or
// bearer (a token read from the environment variable BearerTokenEnv).
type AuthConfig struct {
	Username       string `yaml:"username"`
	Password       string `yaml:"password"`
	BearerTokenEnv string `yaml:"bearer_token_env"`
}

// RetryConfig shapes the exponential backoff (with jitter) between
// attempts; a Retry-After header overrides it.
type RetryConfig struct {
	// InitialInterval is the first wait, 250ms; it doubles at each attempt.
	InitialInterval time.Duration `yaml:"initial_interval"`
	// MaxInterval caps the wait, 30s; at most 1m. A Retry-After header is
	// honoured up to 1m too.
	MaxInterval time.Duration `yaml:"max_interval"`
}

// SumologicConfig holds preset sumologic's header templates. Empty values
// after expansion are not sent (the source's own settings then apply).
type SumologicConfig struct {
	// Category is X-Sumo-Category, e.g. "aws/vpc/{account-id}"; empty by
	// default (the Lambda's SOURCE_CATEGORY_OVERRIDE).
	Category string `yaml:"category"`
	// Name is X-Sumo-Name, "{log-stream}" by default as in the Lambda
	// (SOURCE_NAME_OVERRIDE).
	Name string `yaml:"name"`
	// Host is X-Sumo-Host, "{log-group}" by default as in the Lambda
	// (SOURCE_HOST_OVERRIDE).
	Host string `yaml:"host"`
	// Fields is X-Sumo-Fields, e.g. "account={account-id},region={region}"
	// (SOURCE_FIELDS_OVERRIDE).
	Fields string `yaml:"fields"`
	// Client is X-Sumo-Client, "vpcflow" by default.
	Client string `yaml:"client"`
}

// PresetSumologic is the value of preset for Sumo Logic HTTP Sources.
const PresetSumologic = "sumologic"

// NewDefaultConfig returns the defaults: POST, gzip at the fastest level,
// 1 MB / 1 s batches (sent after 10 ms without new records), 4 requests in flight (4 × 1 MB of bodies at most),
// a 30 s request timeout and retries for ever with backoff from 250 ms to
// 30 s.
func NewDefaultConfig() *Config {
	return &Config{
		Method:         "POST",
		Compression:    "gzip",
		Batch:          BatchConfig{MaxBytes: 1_000_000, Timeout: time.Second, IdleTimeout: 10 * time.Millisecond},
		Concurrency:    4,
		RequestTimeout: 30 * time.Second,
		Retry:          RetryConfig{InitialInterval: 250 * time.Millisecond, MaxInterval: 30 * time.Second},
		Sumologic:      SumologicConfig{Name: "{log-stream}", Host: "{log-group}", Client: "vpcflow"},
	}
}

// encodingName returns the effective encoding.
func (c *Config) encodingName() string {
	if c.Encoding != "" {
		return c.Encoding
	}
	if c.Preset == PresetSumologic {
		return encoding.SumoVPCJSON
	}
	return encoding.JSON
}

// headerTemplates returns every header to send, preset ones included
// (later entries win): the preset's, then the user's headers.
func (c *Config) headerTemplates() [][2]string {
	var hs [][2]string
	if c.Preset == PresetSumologic {
		s := c.Sumologic
		hs = append(hs,
			[2]string{"X-Sumo-Category", s.Category}, [2]string{"X-Sumo-Name", s.Name},
			[2]string{"X-Sumo-Host", s.Host}, [2]string{"X-Sumo-Fields", s.Fields},
			[2]string{"X-Sumo-Client", s.Client})
	}
	keys := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		hs = append(hs, [2]string{k, c.Headers[k]})
	}
	return hs
}

// Validate reports every problem, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.URL == "" {
		add("url must be set")
	} else if u, err := url.Parse(c.URL); err != nil {
		add("url does not parse (value hidden: it may hold a token)")
	} else if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		add("url must be http:// or https:// with a host (value hidden: it may hold a token)")
	}
	if c.Method == "" {
		add("method must be set")
	}
	if !slices.Contains(encoding.Names, c.encodingName()) {
		add("encoding must be json, sumo_vpc_json or raw, got %q", c.Encoding)
	}
	switch c.Compression {
	case "gzip", "deflate":
		if c.CompressionLevel < 0 || c.CompressionLevel > 9 {
			add("compression_level must be 0–9 for %s, got %d", c.Compression, c.CompressionLevel)
		}
	case "zstd":
		if c.CompressionLevel < 0 || c.CompressionLevel > 22 {
			add("compression_level must be 0–22 for zstd, got %d", c.CompressionLevel)
		}
	case "none":
	default:
		add("compression must be gzip, deflate, zstd or none, got %q", c.Compression)
	}
	if c.Batch.MaxBytes <= 0 {
		add("batch.max_bytes must be positive, got %d", c.Batch.MaxBytes)
	}
	if c.Batch.MaxRecords < 0 {
		add("batch.max_records must be 0 (no cap) or positive, got %d", c.Batch.MaxRecords)
	}
	if c.Batch.Timeout <= 0 {
		add("batch.timeout must be positive, got %s", c.Batch.Timeout)
	}
	if c.Batch.IdleTimeout < 0 {
		add("batch.idle_timeout must be 0 (off) or positive, got %s", c.Batch.IdleTimeout)
	}
	if c.Concurrency <= 0 {
		add("concurrency must be positive, got %d", c.Concurrency)
	}
	if c.RequestTimeout <= 0 {
		add("request_timeout must be positive, got %s", c.RequestTimeout)
	}
	if c.MaxRetryDuration < 0 {
		add("max_retry_duration must be 0 (retry for ever) or positive, got %s", c.MaxRetryDuration)
	}
	if c.Retry.InitialInterval <= 0 {
		add("retry.initial_interval must be positive, got %s", c.Retry.InitialInterval)
	}
	if c.Retry.MaxInterval < c.Retry.InitialInterval {
		add("retry.max_interval must be at least retry.initial_interval, got %s", c.Retry.MaxInterval)
	}
	if c.Retry.MaxInterval > maxRetryAfter {
		add("retry.max_interval must be at most %s, got %s", maxRetryAfter, c.Retry.MaxInterval)
	}
	if c.TLS.CAFile != "" {
		if _, err := os.Stat(c.TLS.CAFile); err != nil {
			add("tls.ca_file: %v", err)
		}
	}
	if c.Auth.BearerTokenEnv != "" && (c.Auth.Username != "" || c.Auth.Password != "") {
		add("auth: set either username/password or bearer_token_env, not both")
	}
	if c.Auth.Password != "" && c.Auth.Username == "" {
		add("auth.username must be set with auth.password")
	}
	switch c.Preset {
	case "", PresetSumologic:
	default:
		add("preset must be empty or sumologic, got %q", c.Preset)
	}
	if c.Preset != PresetSumologic && c.Sumologic != NewDefaultConfig().Sumologic {
		add("sumologic: only used with preset: sumologic")
	}
	for _, h := range c.headerTemplates() {
		if h[0] == "" {
			add("headers: empty header name")
			continue
		}
		if _, err := parseTemplate(h[1]); err != nil {
			key := "headers." + h[0]
			if c.Preset == PresetSumologic && len(h[0]) > 7 && h[0][:7] == "X-Sumo-" {
				key = "sumologic (" + h[0] + ")"
			}
			add("%s: %v", key, err)
		}
	}
	return errors.Join(errs...)
}
