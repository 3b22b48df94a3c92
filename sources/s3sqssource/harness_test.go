package s3sqssource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/vpcflow/vpcflow/internal/testkit"
	"github.com/vpcflow/vpcflow/processor/component"
	"github.com/vpcflow/vpcflow/processor/flowlog"
)

func TestMain(m *testing.M) {
	// Static credentials and a region for the stand-ins; no shared files.
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "test",
		"AWS_SECRET_ACCESS_KEY":       "test",
		"AWS_REGION":                  "us-east-1",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
	} {
		os.Setenv(k, v)
	}
	goleak.VerifyTestMain(m)
}

const testBucket = "flow-logs"

// env is one test's SQS (goaws, in process) and S3 (gofakes3, in
// process) with real SDK clients.
type env struct {
	t        testing.TB
	sqsURL   string
	s3URL    string
	sqs      *sqs.Client
	s3       *s3.Client
	queueURL string
	dlqURL   string
	denied   sync.Map // keys answered with 403 AccessDenied
	failing  sync.Map // keys answered with 500 InternalError
	proxy    *sqsProxy
	// noChecksums removes the x-amz-checksum-* headers from S3 responses,
	// as S3 does for ranged GETs.
	noChecksums atomic.Bool
}

var queueSeq atomic.Int64

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t}

	// goaws keeps its queues in package state: one server per test, queue
	// names unique per test.
	quit := make(chan bool)
	var ticks sync.WaitGroup
	ticks.Go(func() { gosqs.PeriodicTasks(200*time.Millisecond, quit) })
	e.proxy = newSQSProxy(router.New())
	sqsSrv := httptest.NewServer(e.proxy)
	t.Cleanup(func() { sqsSrv.Close(); close(quit); ticks.Wait() })
	e.sqsURL = sqsSrv.URL

	faker := gofakes3.New(s3mem.New())
	s3h := faker.Server()
	s3Srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/"+testBucket+"/")
		if _, ok := e.denied.Load(key); ok && r.Method == http.MethodGet {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		if _, ok := e.failing.Load(key); ok && r.Method == http.MethodGet {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`)
			return
		}
		if e.noChecksums.Load() {
			w = &noChecksumWriter{ResponseWriter: w}
		}
		s3h.ServeHTTP(w, r)
	}))
	t.Cleanup(s3Srv.Close)
	e.s3URL = s3Srv.URL

	awsCfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.sqs = sqs.NewFromConfig(awsCfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(e.sqsURL) })
	e.s3 = s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(e.s3URL); o.UsePathStyle = true })

	n := queueSeq.Add(1)
	e.queueURL = e.createQueue(fmt.Sprintf("flows-%d", n))
	e.dlqURL = e.createQueue(fmt.Sprintf("flows-%d-dlq", n))
	if _, err := e.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(testBucket)}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) createQueue(name string) string {
	if _, err := e.sqs.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name)}); err != nil {
		e.t.Fatalf("create queue %s: %v", name, err)
	}
	// goaws names queues by the URL's last segment and builds URLs from
	// placeholder settings; address it on the test server instead.
	return e.sqsURL + "/000000000000/" + name
}

func (e *env) put(key string, data []byte) {
	e.t.Helper()
	_, err := e.s3.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String(key), Body: bytes.NewReader(data),
	})
	if err != nil {
		e.t.Fatalf("put %s: %v", key, err)
	}
}

func (e *env) send(body string) {
	e.t.Helper()
	if _, err := e.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl: aws.String(e.queueURL), MessageBody: aws.String(body),
	}); err != nil {
		e.t.Fatalf("send: %v", err)
	}
}

// depth counts the messages of a queue, in flight or not (goaws counts
// every message not deleted).
func (e *env) depth(queueURL string) int {
	e.t.Helper()
	out, err := e.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		e.t.Fatalf("queue attributes: %v", err)
	}
	n, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	return n
}

// receiveAll drains a queue with the test's client (for the DLQ).
func (e *env) receiveAll(queueURL string) []types.Message {
	e.t.Helper()
	out, err := e.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		e.t.Fatalf("receive: %v", err)
	}
	return out.Messages
}

func (e *env) config(mut func(*Config)) *Config {
	c := NewDefaultConfig()
	c.QueueURL = e.queueURL
	c.SQSEndpoint = e.sqsURL
	c.S3Endpoint = e.s3URL
	c.ForcePathStyle = true
	c.WaitTime = time.Second
	c.QueueStatsInterval = 0
	if mut != nil {
		mut(c)
	}
	return c
}

func (e *env) source(cfg *Config) (*Source, *prometheus.Registry) {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	s, err := New(context.Background(), cfg, component.Settings{ID: "s3", Registerer: reg})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			e.t.Errorf("close: %v", err)
		}
	})
	return s, reg
}

// collected is what a consumer saw.
type collected struct {
	lines    map[string][]string // by partition, in order
	origins  map[string]*flowlog.Origin
	failed   []flowlog.Failure
	records  int
	batches  int
	maxBatch int
}

// consume reads from s until stop says enough, acking each batch with
// ackErr(batch).
func consume(t *testing.T, s *Source, timeout time.Duration, stop func(*collected) bool, ackErr func(*flowlog.Batch) error) *collected {
	t.Helper()
	c := &collected{lines: map[string][]string{}, origins: map[string]*flowlog.Origin{}}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !stop(c) {
		seen := map[string]*flowlog.Origin{}
		b, ack, err := s.Read(ctx)
		if err != nil {
			t.Fatalf("read after %d records: %v", c.records, err)
		}
		c.batches++
		c.maxBatch = max(c.maxBatch, len(b.Records))
		for i := range b.Records {
			r := &b.Records[i]
			c.lines[b.Partition] = append(c.lines[b.Partition], string(r.Raw))
			if o, ok := seen[b.Partition]; ok && o != r.Origin {
				t.Errorf("%s: records of a batch do not share one Origin", b.Partition)
			}
			seen[b.Partition] = r.Origin
			c.origins[b.Partition] = r.Origin
		}
		c.records += len(b.Records)
		c.failed = append(c.failed, b.Failed...)
		var aerr error
		if ackErr != nil {
			aerr = ackErr(b)
		}
		if err := ack(ctx, aerr); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
	return c
}

func records(n int) func(*collected) bool { return func(c *collected) bool { return c.records >= n } }

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	v, _, err := testkit.MetricValue(reg, name, labels...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Flow-log test data.

const header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"

func flowLine(i int) string {
	return fmt.Sprintf("2 123456789012 eni-%08x 10.0.%d.%d 172.16.%d.%d %d 443 6 %d %d 1700000000 1700000060 ACCEPT OK",
		i, i/256%256, i%256, i/256%256, (i+7)%256, 1024+i%60000, 1+i%50, 40+i%1500)
}

// textObject returns header + n lines (starting at line number from).
func textObject(from, n int) []byte {
	var b bytes.Buffer
	b.WriteString(header + "\n")
	for i := from; i < from+n; i++ {
		b.WriteString(flowLine(i))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func gz(data []byte) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

func s3Event(keys ...string) string {
	var recs []string
	for _, k := range keys {
		recs = append(recs, fmt.Sprintf(`{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-25T10:00:00.000Z","eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},"object":{"key":%q,"size":1}}}`,
			testBucket, testBucket, url.QueryEscape(k)))
	}
	return `{"Records":[` + strings.Join(recs, ",") + `]}`
}

func snsWrap(body string) string {
	return fmt.Sprintf(`{"Type":"Notification","MessageId":"1","TopicArn":"arn:aws:sns:us-east-1:123456789012:flow-logs","Subject":"Amazon S3 Notification","Message":%q,"Timestamp":"2026-11-25T10:00:00.000Z"}`, body)
}

func ebEvent(key string) string {
	return fmt.Sprintf(`{"version":"0","id":"1","detail-type":"Object Created","source":"aws.s3","account":"123456789012","time":"2026-11-25T10:00:00Z","region":"us-east-1","resources":["arn:aws:s3:::%s"],"detail":{"version":"0","bucket":{"name":%q},"object":{"key":%q,"size":1},"reason":"PutObject"}}`,
		testBucket, testBucket, key)
}

var errNack = errors.New("sink failed")

// noChecksumWriter drops the checksum headers of a response.
type noChecksumWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *noChecksumWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	for k := range w.Header() {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum-") {
			w.Header().Del(k)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *noChecksumWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.ResponseWriter.Write(p)
}
